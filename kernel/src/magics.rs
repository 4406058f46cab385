//! Magic commands: lines starting with `%`, answered by the kernel itself without compiling anything.
//!
//! Parsing is separate from running so that the shell can ask for a password over the stdin channel
//! between the two (a password never appears in a cell, its history or its outputs).

use jupyter_protocol::Media;
use veil::{LaunchOptions, NewUser};
pub use veil_kernel_input::magic::{MAGICS, Magic};

use crate::message::{KernelError, bundle, render};
use crate::session::{Session, Site};

/// Everything a magic can print.
#[derive(Debug, Clone)]
pub enum Output {
    /// Plain text on stdout.
    Text(String),
    /// A rich display.
    Display(Media),
}

/// Parses one magic line (starting with `%`).
pub fn parse(line: &str) -> Result<Magic, KernelError> {
    veil_kernel_input::magic::parse(line).map_err(|e| KernelError::new("UsageError", e.0))
}

/// Running a parsed [`Magic`] (parsed in `veil-kernel-input`, which knows no session).
pub trait Run {
    /// Runs the magic on the session. `passwords` are what the stdin channel returned for the
    /// magic's prompts ([`Magic::password_prompts`]), in their order.
    fn run(self, session: &mut Session, passwords: Vec<String>)
    -> Result<Vec<Output>, KernelError>;
}

impl Run for Magic {
    fn run(
        self,
        session: &mut Session,
        passwords: Vec<String>,
    ) -> Result<Vec<Output>, KernelError> {
        let password = passwords.first().cloned().unwrap_or_default();
        let out = match self {
            Magic::Launch {
                name,
                reset,
                dir,
                serve,
            } => {
                let mut options = LaunchOptions::new(&name).reset(reset);
                if let Some(dir) = dir {
                    options = options.dir(dir);
                }
                // The old datasite is let go of first, so relaunching one that is served works.
                session.land();
                let site = options.launch()?;
                let shown = render(&site);
                session.set_site(Site::Embedded(site));
                let mut out = vec![Output::Display(shown)];
                if let Some((host, port)) = serve {
                    if let Err(e) = session.serve(host, port) {
                        session.land();
                        return Err(e);
                    }
                    out.push(Output::Text(served_line(session)));
                }
                out
            }
            Magic::Connect { url } => {
                let site = veil::connect(&url)?;
                let shown = render(&site);
                session.set_site(Site::Served(site));
                vec![
                    Output::Display(shown),
                    Output::Text("connected; log in with `%login EMAIL`\n".into()),
                ]
            }
            Magic::ShowSite => {
                let mut out = vec![Output::Display(render(session.site()?))];
                if session.served_at().is_some() {
                    out.push(Output::Text(served_line(session)));
                }
                out
            }
            Magic::Login { email } => {
                let client = session.site()?.login(&email, &password)?;
                let mut out = Vec::new();
                for notice in client.notices() {
                    out.push(Output::Text(format!("warning: {notice}\n")));
                }
                out.push(Output::Text(format!(
                    "logged in as {} ({}) on {}\n",
                    client.email(),
                    client.role(),
                    client.site_name()
                )));
                session.set_client(client);
                out
            }
            Magic::Password => {
                let [current, new, again] = <[String; 3]>::try_from(passwords).map_err(|_| {
                    KernelError::new(
                        "UsageError",
                        "%password needs the current password and the new one twice",
                    )
                })?;
                if new != again {
                    return Err(KernelError::new(
                        "UsageError",
                        "the new password and its repetition differ; nothing was changed: run %password again",
                    ));
                }
                let client = session.client()?;
                client.change_password(&current, &new)?;
                vec![Output::Text(format!(
                    "password changed for {}\n",
                    client.email()
                ))]
            }
            Magic::Whoami => vec![Output::Display(render(&session.client()?.whoami()?))],
            Magic::Datasets => vec![Output::Display(render(&session.client()?.datasets()?))],
            Magic::Users => vec![Output::Display(render(&session.client()?.users()?))],
            Magic::Audit { verify: false } => {
                vec![Output::Display(render(&session.client()?.audit_log()?))]
            }
            Magic::Audit { verify: true } => {
                let log = session.client()?.audit_log()?;
                veil::audit::verify(&log.0)?;
                vec![Output::Text(format!(
                    "audit log: {} entries, hash chain verified from the first to the last\n",
                    log.0.len()
                ))]
            }
            Magic::Receipt { id } => {
                let client = session.client()?;
                let receipt = client.request(&id)?.receipt()?;
                let verified = client.verify_receipt(&receipt)?;
                vec![
                    Output::Display(render(&receipt)),
                    Output::Display(render(&verified)),
                ]
            }
            Magic::Budgets => vec![Output::Display(render(&session.client()?.budgets()?))],
            Magic::SetBudget {
                email,
                epsilon,
                dataset,
            } => {
                let budget = session.client()?.set_budget(&email, &dataset, epsilon)?;
                vec![Output::Display(render(&budget))]
            }
            Magic::Register {
                name,
                email,
                institution,
                website,
                role,
            } => {
                let user = session.client()?.register(
                    NewUser::new(name, email, password)
                        .institution(institution)
                        .website(website)
                        .role(role),
                )?;
                vec![Output::Display(render(&user))]
            }
            Magic::Requests { all } => {
                let mut requests = session.client()?.requests()?;
                if !all {
                    requests
                        .0
                        .retain(|r| r.status == veil::RequestStatus::Pending);
                }
                vec![Output::Display(render(&requests))]
            }
            Magic::Review { id, run } => {
                let request = session.client()?.request(&id)?;
                let mut review = request.review()?;
                if run && review.code.is_some() {
                    review.real = Some(request.run_privately()?);
                }
                vec![Output::Display(render(&review))]
            }
            Magic::Approve { id, overriding } => {
                let request = session.client()?.request(&id)?;
                let request = match overriding {
                    None => request.approve()?,
                    Some(reason) => request.approve_overriding(&reason)?,
                };
                vec![
                    Output::Text(if request.status == veil::RequestStatus::Pending {
                        format!(
                            "approved request {}: {}; another owner must approve it too before anything is released\n",
                            request.id,
                            request.decision.clone().unwrap_or_default()
                        )
                    } else if request.kind == veil::RequestKind::Code {
                        format!(
                            "approved request {}: {} may now run it on the real data and get the result\n",
                            request.id, request.requester
                        )
                    } else {
                        format!(
                            "approved request {}: the result is released to {}\n",
                            request.id, request.requester
                        )
                    }),
                    Output::Display(render(&request)),
                ]
            }
            Magic::Deny { id, reason } => {
                let request = session.client()?.request(&id)?.deny(&reason)?;
                vec![
                    Output::Text(format!(
                        "denied request {}; {} sees your reason\n",
                        request.id, request.requester
                    )),
                    Output::Display(render(&request)),
                ]
            }
            Magic::Changes { id, message } => {
                let request = session.client()?.request(&id)?.request_changes(&message)?;
                vec![
                    Output::Text(format!(
                        "sent request {} back for changes; {} sees your message and may submit again\n",
                        request.id, request.requester
                    )),
                    Output::Display(render(&request)),
                ]
            }
            Magic::Land => match session.land() {
                Some(done) => vec![Output::Text(format!("{done}\n"))],
                None => vec![Output::Text("no datasite to land\n".into())],
            },
            Magic::Help => vec![Output::Display(help())],
            Magic::HelpPysyft => vec![Output::Text(crate::pysyft::table())],
            Magic::HelpApi => {
                let role = match session.client() {
                    Ok(client) => Some(client.whoami()?.role),
                    Err(_) => None,
                };
                let mut out = vec![Output::Display(render(&veil::Calls(role)))];
                if role.is_none() {
                    out.push(Output::Text(
                        "log in (`%login EMAIL`) to see only the calls your role may make\n".into(),
                    ));
                }
                out
            }
        };
        Ok(out)
    }
}

/// Where the session serves its datasite, and how scientists reach it.
fn served_line(session: &Session) -> String {
    let url = session.served_at().unwrap_or_default();
    format!(
        "served at {url}: scientists connect with `veil::connect(\"{url}\")?.login(email, password)` or `%datasite connect {url}`; `%land` stops serving\n"
    )
}

fn help() -> Media {
    let mut text = String::from("Veil magics (answered by the kernel, no compilation):\n");
    let mut html =
        String::from("<table><thead><tr><th>magic</th><th>what it does</th></tr></thead><tbody>");
    for (_, usage, what) in MAGICS {
        text.push_str(&format!("  {usage}\n      {what}\n"));
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            veil::display::escape(usage),
            veil::display::escape(what)
        ));
    }
    html.push_str("</tbody></table>");
    text.push_str("Rust cells run with `use veil::prelude::*;` in scope.\n");
    bundle(text, Some(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_run_against_a_real_datasite() {
        let tmp = tempfile::tempdir().unwrap();
        let mut session = Session::default();
        let err = parse("%datasets")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap_err();
        assert_eq!(err.ename, "NoDatasite");
        let launch = format!(
            "%datasite launch magic-test --reset --dir {}",
            tmp.path().display()
        );
        parse(&launch).unwrap().run(&mut session, vec![]).unwrap();
        let err = parse("%whoami")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap_err();
        assert_eq!(err.ename, "NotLoggedIn");
        let err = parse("%login info@openmined.org")
            .unwrap()
            .run(&mut session, vec!["wrong-pw".into()])
            .unwrap_err();
        assert_eq!(err.ename, "AuthenticationFailed");
        let out = parse("%login info@openmined.org")
            .unwrap()
            .run(&mut session, vec!["changethis".into()])
            .unwrap();
        assert!(
            matches!(&out[0], Output::Text(t) if t.contains("default password") && t.contains("%password"))
        );
        // `%password`: the two new ones must agree, the current one must be right; then the
        // next login takes the new one, and no notice follows it.
        let change = |passwords: [&str; 3], session: &mut Session| {
            parse("%password")
                .unwrap()
                .run(session, passwords.map(String::from).to_vec())
        };
        let err = change(["changethis", "s3cret-one", "s3cret-two"], &mut session).unwrap_err();
        assert!(
            err.ename == "UsageError" && err.evalue.contains("differ"),
            "{err:?}"
        );
        let err = change(["wrong-pw", "s3cret-one", "s3cret-one"], &mut session).unwrap_err();
        assert_eq!(err.ename, "AuthenticationFailed", "{err:?}");
        let out = change(["changethis", "s3cret-one", "s3cret-one"], &mut session).unwrap();
        assert!(matches!(&out[0], Output::Text(t) if t.contains("password changed")));
        let out = parse("%login info@openmined.org")
            .unwrap()
            .run(&mut session, vec!["s3cret-one".into()])
            .unwrap();
        assert!(
            out.iter()
                .all(|o| !matches!(o, Output::Text(t) if t.contains("default password"))),
            "{out:?}"
        );
        parse("%register 'Jane Doe' jane@caltech.edu")
            .unwrap()
            .run(&mut session, vec!["abc123".into()])
            .unwrap();
        let out = parse("%users").unwrap().run(&mut session, vec![]).unwrap();
        let Output::Display(media) = &out[0] else {
            panic!()
        };
        assert!(
            serde_json::to_string(media)
                .unwrap()
                .contains("jane@caltech.edu")
        );
        let err = parse("%approve 123")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap_err();
        assert_eq!(err.ename, "NotFound");

        // Jane asks for two results; the owner reviews and decides with magics.
        let jane = session
            .site()
            .unwrap()
            .login("jane@caltech.edu", "abc123")
            .unwrap();
        let owner = session.client().unwrap().clone();
        owner
            .upload_dataset(
                veil::Dataset::new("numbers").asset(
                    veil::Asset::new("n")
                        .data(veil::ndarray::array![1.0, 2.0, 3.0])
                        .mock(veil::ndarray::array![1.0, 1.0, 1.0]),
                ),
            )
            .unwrap();
        let pointer = jane
            .dataset("numbers")
            .unwrap()
            .asset("n")
            .unwrap()
            .pointer()
            .unwrap();
        let sum = pointer.sum().unwrap();
        let first = sum.request("the total").unwrap();
        let second = pointer.max().unwrap().request("the largest").unwrap();
        let third = pointer.mean().unwrap().request("the mean").unwrap();
        let text = |out: &[Output]| {
            serde_json::to_string(
                &out.iter()
                    .map(|o| match o {
                        Output::Text(t) => t.clone(),
                        Output::Display(m) => serde_json::to_string(m).unwrap(),
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        };
        let out = parse("%requests")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert!(text(&out).contains("Requests (3)"), "{}", text(&out));
        // The third outcome: sent back with a message the requester sees.
        let out = parse("%changes #3 ask for the total instead")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert!(text(&out).contains("sent request"), "{}", text(&out));
        assert_eq!(
            third.status,
            veil::RequestStatus::Pending,
            "the handle keeps what it read"
        );
        let seen = session.client().unwrap().request(&third.id).unwrap();
        assert_eq!(seen.status, veil::RequestStatus::ChangesRequested);
        assert_eq!(seen.decision.as_deref(), Some("ask for the total instead"));
        let out = parse("%review #1")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert!(text(&out).contains("sum(asset"), "{}", text(&out));
        // Three numbers are under the minimum cell count: a plain approval names the check, and
        // one with an override releases it.
        let refused = parse(&format!("%approve {}", first.id))
            .unwrap()
            .run(&mut session, vec![])
            .unwrap_err();
        assert!(refused.evalue.contains("minimum cell count"), "{refused:?}");
        parse(&format!("%approve {} --override test data", first.id))
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        parse(&format!("%deny {} 'too revealing'", second.id))
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert_eq!(sum.get().unwrap().as_f64().unwrap().sum(), 6.0);
        let out = parse("%requests")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert!(
            text(&out).contains("Requests (0)"),
            "pending only: {}",
            text(&out)
        );
        let out = parse("%requests --all")
            .unwrap()
            .run(&mut session, vec![])
            .unwrap();
        assert!(text(&out).contains("too revealing") || text(&out).contains("denied"));
        let err = parse(&format!("%approve {}", second.id))
            .unwrap()
            .run(&mut session, vec![])
            .unwrap_err();
        assert!(err.evalue.contains("already denied"), "{}", err.evalue);
        let out = parse("%land").unwrap().run(&mut session, vec![]).unwrap();
        assert!(matches!(&out[0], Output::Text(t) if t.contains("landed")));
    }
}
