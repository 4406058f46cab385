//! Magic commands: lines starting with `%`, answered by the kernel itself without compiling anything.
//!
//! Parsing is separate from running so that the shell can ask for a password over the stdin channel
//! between the two (a password never appears in a cell, its history or its outputs).

use std::net::IpAddr;
use std::path::PathBuf;

use jupyter_protocol::Media;
use veil::{LaunchOptions, NewUser, Role};

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

/// A parsed magic command. Field names follow the usage lines in [`MAGICS`].
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Magic {
    /// `%datasite launch NAME [--reset] [--dir D] [--port P [--host H]]`
    Launch {
        name: String,
        reset: bool,
        dir: Option<PathBuf>,
        serve: Option<(IpAddr, u16)>,
    },
    /// `%datasite connect URL`
    Connect { url: String },
    /// `%datasite` with no arguments: show the session's datasite.
    ShowSite,
    /// `%login EMAIL` (password asked over stdin)
    Login { email: String },
    /// `%whoami`
    Whoami,
    /// `%datasets`
    Datasets,
    /// `%users`
    Users,
    /// `%register NAME EMAIL [--institution I] [--website W] [--role R]` (password asked over stdin)
    Register {
        name: String,
        email: String,
        institution: String,
        website: String,
        role: Role,
    },
    /// `%requests [--all]`
    Requests { all: bool },
    /// `%review ID [--run]`
    Review { id: String, run: bool },
    /// `%approve ID [--override REASON]`
    Approve {
        id: String,
        overriding: Option<String>,
    },
    /// `%deny ID REASON`
    Deny { id: String, reason: String },
    /// `%audit [verify]`: the log, or only its hash chain's check.
    Audit { verify: bool },
    /// `%receipt ID`: a released request's receipt, checked against the audit log.
    Receipt { id: String },
    /// `%budget`: the privacy budgets (an owner: everyone's).
    Budgets,
    /// `%budget set EMAIL EPSILON DATASET`
    SetBudget {
        email: String,
        epsilon: f64,
        dataset: String,
    },
    /// `%land`
    Land,
    /// `%help`
    Help,
}

/// One line of help per magic: (name, usage, what it does).
pub const MAGICS: &[(&str, &str, &str)] = &[
    (
        "%datasite",
        "%datasite launch NAME [--reset] [--dir D] [--port P [--host H]] | %datasite connect URL | %datasite",
        "launch (or reopen) a datasite in this kernel (--port: also serve it over HTTP, on 127.0.0.1 unless --host says where; 0 takes a free port), connect to a served one, or show the current one",
    ),
    (
        "%login",
        "%login EMAIL",
        "log in; the password is asked for and never echoed",
    ),
    ("%whoami", "%whoami", "show the logged-in user"),
    ("%datasets", "%datasets", "list the datasite's datasets"),
    ("%users", "%users", "list users (owners)"),
    (
        "%register",
        "%register NAME EMAIL [--institution I] [--website W] [--role R]",
        "register a user (owners); the password is asked for",
    ),
    (
        "%requests",
        "%requests [--all]",
        "list pending requests (--all: every request)",
    ),
    (
        "%review",
        "%review ID [--run]",
        "show a request: who asked, why, code or steps, results (--run: run a code request on the real data, for your eyes only)",
    ),
    (
        "%approve",
        "%approve ID [--override REASON]",
        "approve a request: ID is its number (#3) or id (a unique prefix will do)",
    ),
    (
        "%deny",
        "%deny ID REASON",
        "deny a request with a reason the requester sees",
    ),
    (
        "%audit",
        "%audit [verify]",
        "show the audit log and check its hash chain (owners); verify: only check the chain",
    ),
    (
        "%receipt",
        "%receipt ID",
        "show a released request's receipt (what produced it, who released it) and check it against the audit log",
    ),
    (
        "%budget",
        "%budget | %budget set EMAIL EPSILON DATASET",
        "show privacy budgets and what was spent (owners: everyone's); set a scientist's ε on a dataset (owners)",
    ),
    (
        "%land",
        "%land",
        "close the session's datasite (stop serving it), or disconnect from a served one",
    ),
    ("%help", "%help", "this list"),
];

/// The usage line of a magic, for error messages and inspection.
pub fn usage(name: &str) -> Option<&'static str> {
    MAGICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, u, _)| *u)
}

fn usage_error(name: &str, problem: &str) -> KernelError {
    let usage = usage(name).unwrap_or("%help");
    KernelError::new("UsageError", format!("{name}: {problem}; usage: {usage}"))
}

/// Splits a magic line into words, honouring single and double quotes.
pub fn split(line: &str) -> Result<Vec<String>, KernelError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(KernelError::new(
            "UsageError",
            format!("unclosed {q} quote in `{line}`"),
        ));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Takes `--flag VALUE` out of `args`.
fn take_option(
    name: &str,
    args: &mut Vec<String>,
    flag: &str,
) -> Result<Option<String>, KernelError> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => Err(usage_error(name, &format!("{flag} needs a value"))),
    }
}

/// Takes a bare `--flag` out of `args`.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

fn no_unknown_options(name: &str, args: &[String]) -> Result<(), KernelError> {
    if let Some(opt) = args.iter().find(|a| a.starts_with("--")) {
        return Err(usage_error(name, &format!("unknown option {opt}")));
    }
    Ok(())
}

fn exactly<const N: usize>(
    name: &str,
    args: Vec<String>,
    what: &str,
) -> Result<[String; N], KernelError> {
    no_unknown_options(name, &args)?;
    let n = args.len();
    args.try_into()
        .map_err(|_| usage_error(name, &format!("expected {what}, got {n} argument(s)")))
}

/// Parses one magic line (starting with `%`).
pub fn parse(line: &str) -> Result<Magic, KernelError> {
    let mut words = split(line.trim())?;
    if words.is_empty() {
        return Err(KernelError::new("UsageError", "empty magic; see %help"));
    }
    let name = words.remove(0);
    let mut args = words;
    let magic = match name.as_str() {
        "%datasite" => match args.first().map(String::as_str) {
            None => Magic::ShowSite,
            Some("launch") => {
                args.remove(0);
                let reset = take_flag(&mut args, "--reset");
                let dir = take_option(&name, &mut args, "--dir")?.map(PathBuf::from);
                let port = take_option(&name, &mut args, "--port")?
                    .map(|p| {
                        p.parse::<u16>().map_err(|_| {
                            usage_error(&name, &format!("`{p}` is not a port (0 to 65535)"))
                        })
                    })
                    .transpose()?;
                let host = take_option(&name, &mut args, "--host")?
                    .map(|h| {
                        h.parse::<IpAddr>().map_err(|_| {
                            usage_error(
                                &name,
                                &format!(
                                    "`{h}` is not an IP address, such as 127.0.0.1 or 0.0.0.0"
                                ),
                            )
                        })
                    })
                    .transpose()?;
                let serve = match (port, host) {
                    (Some(port), host) => {
                        Some((host.unwrap_or(IpAddr::from([127, 0, 0, 1])), port))
                    }
                    (None, Some(_)) => {
                        return Err(usage_error(&name, "--host needs --port"));
                    }
                    (None, None) => None,
                };
                let [name] = exactly(&name, args, "a datasite name")?;
                Magic::Launch {
                    name,
                    reset,
                    dir,
                    serve,
                }
            }
            Some("connect") => {
                args.remove(0);
                let [url] = exactly(&name, args, "a URL")?;
                Magic::Connect { url }
            }
            Some(other) => {
                return Err(usage_error(&name, &format!("unknown subcommand `{other}`")));
            }
        },
        "%login" => {
            let [email] = exactly(&name, args, "an email")?;
            Magic::Login { email }
        }
        "%whoami" => exactly::<0>(&name, args, "no arguments").map(|_| Magic::Whoami)?,
        "%datasets" => exactly::<0>(&name, args, "no arguments").map(|_| Magic::Datasets)?,
        "%users" => exactly::<0>(&name, args, "no arguments").map(|_| Magic::Users)?,
        "%audit" => match args.first().map(String::as_str) {
            None => Magic::Audit { verify: false },
            Some("verify") if args.len() == 1 => Magic::Audit { verify: true },
            Some(_) => {
                return Err(usage_error(
                    &name,
                    "expected nothing (the log) or `verify` (only check its hash chain)",
                ));
            }
        },
        "%receipt" => {
            let [id] = exactly(&name, args, "a request's number or id")?;
            Magic::Receipt { id }
        }
        "%budget" => match args.first().map(String::as_str) {
            None => Magic::Budgets,
            Some("set") => {
                no_unknown_options(&name, &args)?;
                if args.len() < 4 {
                    return Err(usage_error(
                        &name,
                        "`set` takes a scientist's email, an ε and a dataset's name",
                    ));
                }
                let epsilon = args[2].parse::<f64>().map_err(|_| {
                    usage_error(&name, &format!("`{}` is not a number (the ε)", args[2]))
                })?;
                Magic::SetBudget {
                    email: args[1].clone(),
                    epsilon,
                    dataset: args[3..].join(" "),
                }
            }
            Some(other) => {
                return Err(usage_error(
                    &name,
                    &format!("`{other}` is not `set`; `%budget` alone lists the budgets"),
                ));
            }
        },
        "%land" => exactly::<0>(&name, args, "no arguments").map(|_| Magic::Land)?,
        "%help" => Magic::Help,
        "%register" => {
            let institution = take_option(&name, &mut args, "--institution")?.unwrap_or_default();
            let website = take_option(&name, &mut args, "--website")?.unwrap_or_default();
            let role = match take_option(&name, &mut args, "--role")? {
                Some(r) => Role::parse(&r).ok_or_else(|| {
                    usage_error(
                        &name,
                        &format!(
                            "`{r}` is not a role: use one of admin, data_owner, data_scientist, guest"
                        ),
                    )
                })?,
                None => Role::DataScientist,
            };
            let [user, email] =
                exactly(&name, args, "a name and an email (quote names with spaces)")?;
            Magic::Register {
                name: user,
                email,
                institution,
                website,
                role,
            }
        }
        "%requests" => {
            let all = take_flag(&mut args, "--all");
            exactly::<0>(&name, args, "no arguments besides --all")?;
            Magic::Requests { all }
        }
        "%review" => {
            let run = take_flag(&mut args, "--run");
            let [id] = exactly(&name, args, "a request id (and --run)")?;
            Magic::Review { id, run }
        }
        "%approve" => {
            let overriding = match args.iter().position(|a| a == "--override") {
                None => None,
                Some(at) => {
                    let reason = args.split_off(at).split_off(1).join(" ");
                    if reason.trim().is_empty() {
                        return Err(usage_error(
                            &name,
                            "--override needs a reason: why the result may be released although a check fails",
                        ));
                    }
                    Some(reason)
                }
            };
            let [id] = exactly(&name, args, "a request id (and --override REASON)")?;
            Magic::Approve { id, overriding }
        }
        "%deny" => {
            no_unknown_options(&name, &args)?;
            if args.len() < 2 {
                return Err(usage_error(&name, "expected a request id and a reason"));
            }
            let id = args.remove(0);
            Magic::Deny {
                id,
                reason: args.join(" "),
            }
        }
        other => {
            let names: Vec<&str> = MAGICS.iter().map(|(n, _, _)| *n).collect();
            return Err(KernelError::new(
                "UsageError",
                format!("unknown magic `{other}`; magics are {}", names.join(", ")),
            ));
        }
    };
    Ok(magic)
}

impl Magic {
    /// The prompt to show when this magic needs a password, asked over the stdin channel.
    pub fn password_prompt(&self) -> Option<String> {
        match self {
            Magic::Login { email } => Some(format!("password for {email}: ")),
            Magic::Register { email, .. } => Some(format!("new password for {email}: ")),
            _ => None,
        }
    }

    /// Runs the magic on the session. `password` is what the stdin channel returned, if it was asked.
    pub fn run(
        self,
        session: &mut Session,
        password: Option<String>,
    ) -> Result<Vec<Output>, KernelError> {
        let password = password.unwrap_or_default();
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
                    Output::Text(if request.kind == veil::RequestKind::Code {
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
            Magic::Land => match session.land() {
                Some(done) => vec![Output::Text(format!("{done}\n"))],
                None => vec![Output::Text("no datasite to land\n".into())],
            },
            Magic::Help => vec![Output::Display(help())],
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
    fn parses_every_magic() {
        assert_eq!(
            parse("%datasite launch cancer-research-centre --reset").unwrap(),
            Magic::Launch {
                name: "cancer-research-centre".into(),
                reset: true,
                dir: None,
                serve: None
            }
        );
        assert_eq!(
            parse("%datasite launch pandas-test-domain-1 --port 8083 --reset").unwrap(),
            Magic::Launch {
                name: "pandas-test-domain-1".into(),
                reset: true,
                dir: None,
                serve: Some((IpAddr::from([127, 0, 0, 1]), 8083))
            }
        );
        assert_eq!(
            parse("%datasite connect http://127.0.0.1:8083").unwrap(),
            Magic::Connect {
                url: "http://127.0.0.1:8083".into()
            }
        );
        assert_eq!(
            parse("%datasite launch x --dir '/tmp/my dir'").unwrap(),
            Magic::Launch {
                name: "x".into(),
                reset: false,
                dir: Some("/tmp/my dir".into()),
                serve: None
            }
        );
        assert_eq!(
            parse("%login info@openmined.org").unwrap(),
            Magic::Login {
                email: "info@openmined.org".into()
            }
        );
        assert_eq!(
            parse("%register \"Jane Doe\" jane@caltech.edu --institution Caltech").unwrap(),
            Magic::Register {
                name: "Jane Doe".into(),
                email: "jane@caltech.edu".into(),
                institution: "Caltech".into(),
                website: String::new(),
                role: Role::DataScientist
            }
        );
        assert_eq!(
            parse("%deny ab12 not enough privacy").unwrap(),
            Magic::Deny {
                id: "ab12".into(),
                reason: "not enough privacy".into()
            }
        );
        assert_eq!(
            parse("%requests --all").unwrap(),
            Magic::Requests { all: true }
        );
        assert_eq!(parse("%help").unwrap(), Magic::Help);
        assert_eq!(
            parse("%receipt #2").unwrap(),
            Magic::Receipt { id: "#2".into() }
        );
        assert_eq!(
            parse("%audit verify").unwrap(),
            Magic::Audit { verify: true }
        );
        assert_eq!(parse("%audit").unwrap(), Magic::Audit { verify: false });
    }

    #[test]
    fn wrong_arguments_show_usage() {
        for (line, says) in [
            ("%login", "expected an email"),
            ("%datasite launch", "expected a datasite name"),
            ("%datasite fly", "unknown subcommand"),
            ("%datasite launch x --dir", "--dir needs a value"),
            ("%datasite launch x --bogus", "unknown option --bogus"),
            ("%datasite launch x --port 80000", "not a port"),
            (
                "%datasite launch x --port 8083 --host localhost",
                "not an IP address",
            ),
            ("%datasite launch x --host 0.0.0.0", "--host needs --port"),
            ("%datasite connect", "expected a URL"),
            ("%deny abc", "a request id and a reason"),
            ("%register Jane", "a name and an email"),
            ("%register Jane j@x.org --role king", "not a role"),
            ("%whoami extra", "no arguments"),
            ("%receipt", "a request's number or id"),
            ("%audit all", "`verify`"),
            ("%login 'unclosed", "unclosed"),
            ("%frobnicate", "unknown magic"),
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.ename, "UsageError", "{line}");
            assert!(err.evalue.contains(says), "{line}: {}", err.evalue);
        }
        assert!(
            parse("%login")
                .unwrap_err()
                .evalue
                .contains("usage: %login EMAIL")
        );
    }

    #[test]
    fn magics_run_against_a_real_datasite() {
        let tmp = tempfile::tempdir().unwrap();
        let mut session = Session::default();
        let err = parse("%datasets")
            .unwrap()
            .run(&mut session, None)
            .unwrap_err();
        assert_eq!(err.ename, "NoDatasite");
        let launch = format!(
            "%datasite launch magic-test --reset --dir {}",
            tmp.path().display()
        );
        parse(&launch).unwrap().run(&mut session, None).unwrap();
        let err = parse("%whoami")
            .unwrap()
            .run(&mut session, None)
            .unwrap_err();
        assert_eq!(err.ename, "NotLoggedIn");
        let err = parse("%login info@openmined.org")
            .unwrap()
            .run(&mut session, Some("wrong-pw".into()))
            .unwrap_err();
        assert_eq!(err.ename, "AuthenticationFailed");
        let out = parse("%login info@openmined.org")
            .unwrap()
            .run(&mut session, Some("changethis".into()))
            .unwrap();
        assert!(matches!(&out[0], Output::Text(t) if t.contains("default password")));
        parse("%register 'Jane Doe' jane@caltech.edu")
            .unwrap()
            .run(&mut session, Some("abc123".into()))
            .unwrap();
        let out = parse("%users").unwrap().run(&mut session, None).unwrap();
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
            .run(&mut session, None)
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
        let out = parse("%requests").unwrap().run(&mut session, None).unwrap();
        assert!(text(&out).contains("Requests (2)"), "{}", text(&out));
        let out = parse("%review #1")
            .unwrap()
            .run(&mut session, None)
            .unwrap();
        assert!(text(&out).contains("sum(asset"), "{}", text(&out));
        // Three numbers are under the minimum cell count: a plain approval names the check, and
        // one with an override releases it.
        let refused = parse(&format!("%approve {}", first.id))
            .unwrap()
            .run(&mut session, None)
            .unwrap_err();
        assert!(refused.evalue.contains("minimum cell count"), "{refused:?}");
        parse(&format!("%approve {} --override test data", first.id))
            .unwrap()
            .run(&mut session, None)
            .unwrap();
        parse(&format!("%deny {} 'too revealing'", second.id))
            .unwrap()
            .run(&mut session, None)
            .unwrap();
        assert_eq!(sum.get().unwrap().as_f64().unwrap().sum(), 6.0);
        let out = parse("%requests").unwrap().run(&mut session, None).unwrap();
        assert!(
            text(&out).contains("Requests (0)"),
            "pending only: {}",
            text(&out)
        );
        let out = parse("%requests --all")
            .unwrap()
            .run(&mut session, None)
            .unwrap();
        assert!(text(&out).contains("too revealing") || text(&out).contains("denied"));
        let err = parse(&format!("%approve {}", second.id))
            .unwrap()
            .run(&mut session, None)
            .unwrap_err();
        assert!(err.evalue.contains("already denied"), "{}", err.evalue);
        let out = parse("%land").unwrap().run(&mut session, None).unwrap();
        assert!(matches!(&out[0], Output::Text(t) if t.contains("landed")));
    }
}
