//! Magic lines (`%login EMAIL`, `%datasite launch NAME --reset`, ...) parsed into [`Magic`]: what a
//! cell's first line asks the kernel to do, before the kernel does any of it.

use std::net::IpAddr;
use std::path::PathBuf;

use veil_api::view::Role;

/// A magic line that does not parse: the message names the problem and the magic's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

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
    /// `%password`: changes the logged-in user's password (the current one and the new one,
    /// twice, asked over stdin).
    Password,
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
    /// `%changes ID MESSAGE`: sends a request back with the changes it needs.
    Changes { id: String, message: String },
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
    /// `%help api`: the datasite calls the logged-in user's role may make (every call, with who may
    /// make it, when nobody is logged in).
    HelpApi,
    /// `%help pysyft`: PySyft's names and Veil's for the same things.
    HelpPysyft,
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
    (
        "%password",
        "%password",
        "change your password: the current one and the new one (twice) are asked for, never echoed",
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
        "%changes",
        "%changes ID MESSAGE",
        "send a request back with the changes it needs; the requester sees your message and may submit again",
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
    (
        "%help",
        "%help [api | pysyft]",
        "this list; api: the datasite calls your role may make, by area, with how a cell makes each; pysyft: PySyft's names and Veil's",
    ),
];

/// The usage line of a magic, for error messages and inspection.
pub fn usage(name: &str) -> Option<&'static str> {
    MAGICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, u, _)| *u)
}

fn usage_error(name: &str, problem: &str) -> UsageError {
    let usage = usage(name).unwrap_or("%help");
    UsageError::new(format!("{name}: {problem}; usage: {usage}"))
}

/// Splits a magic line into words, honouring single and double quotes.
pub fn split(line: &str) -> Result<Vec<String>, UsageError> {
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
        return Err(UsageError::new(format!("unclosed {q} quote in `{line}`")));
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
) -> Result<Option<String>, UsageError> {
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

fn no_unknown_options(name: &str, args: &[String]) -> Result<(), UsageError> {
    if let Some(opt) = args.iter().find(|a| a.starts_with("--")) {
        return Err(usage_error(name, &format!("unknown option {opt}")));
    }
    Ok(())
}

fn exactly<const N: usize>(
    name: &str,
    args: Vec<String>,
    what: &str,
) -> Result<[String; N], UsageError> {
    no_unknown_options(name, &args)?;
    let n = args.len();
    args.try_into()
        .map_err(|_| usage_error(name, &format!("expected {what}, got {n} argument(s)")))
}

/// Parses one magic line (starting with `%`).
pub fn parse(line: &str) -> Result<Magic, UsageError> {
    let mut words = split(line.trim())?;
    if words.is_empty() {
        return Err(UsageError::new("empty magic; see %help"));
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
        "%password" => exactly::<0>(&name, args, "no arguments").map(|_| Magic::Password)?,
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
        "%help" => match args.as_slice() {
            [] => Magic::Help,
            [topic] if topic == "api" => Magic::HelpApi,
            [topic] if topic == "pysyft" => Magic::HelpPysyft,
            _ => {
                return Err(usage_error(
                    &name,
                    &format!(
                        "no help on `{}`: `%help` lists the magics, `%help api` the calls, `%help pysyft` PySyft's names and Veil's",
                        args.join(" ")
                    ),
                ));
            }
        },
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
        "%changes" => {
            no_unknown_options(&name, &args)?;
            if args.len() < 2 {
                return Err(usage_error(
                    &name,
                    "expected a request id and a message saying what to change",
                ));
            }
            let id = args.remove(0);
            Magic::Changes {
                id,
                message: args.join(" "),
            }
        }
        other => {
            let names: Vec<&str> = MAGICS.iter().map(|(n, _, _)| *n).collect();
            return Err(UsageError::new(format!(
                "unknown magic `{other}`; magics are {}",
                names.join(", ")
            )));
        }
    };
    Ok(magic)
}

impl Magic {
    /// The prompts to show, one password each, when this magic needs passwords, asked over the
    /// stdin channel in this order; none for a magic that needs none.
    pub fn password_prompts(&self) -> Vec<String> {
        match self {
            Magic::Login { email } => vec![format!("password for {email}: ")],
            Magic::Register { email, .. } => vec![format!("new password for {email}: ")],
            Magic::Password => vec![
                "current password: ".into(),
                "new password: ".into(),
                "new password again: ".into(),
            ],
            _ => Vec::new(),
        }
    }
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
            parse("%changes #3 group by diagnosis instead").unwrap(),
            Magic::Changes {
                id: "#3".into(),
                message: "group by diagnosis instead".into()
            }
        );
        let e = parse("%changes #3").unwrap_err();
        assert!(e.0.contains("a message saying what to change"), "{e}");
        assert_eq!(
            parse("%requests --all").unwrap(),
            Magic::Requests { all: true }
        );
        assert_eq!(parse("%help").unwrap(), Magic::Help);
        assert_eq!(parse("%help api").unwrap(), Magic::HelpApi);
        assert_eq!(parse("%help pysyft").unwrap(), Magic::HelpPysyft);
        let e = parse("%help apis").unwrap_err();
        assert!(e.0.contains("`%help api`"), "{e}");
        assert_eq!(
            parse("%receipt #2").unwrap(),
            Magic::Receipt { id: "#2".into() }
        );
        assert_eq!(
            parse("%audit verify").unwrap(),
            Magic::Audit { verify: true }
        );
        assert_eq!(parse("%audit").unwrap(), Magic::Audit { verify: false });
        assert_eq!(parse("%password").unwrap(), Magic::Password);
        // Three prompts: the current password, the new one and the new one again.
        assert_eq!(Magic::Password.password_prompts().len(), 3);
        assert_eq!(Magic::Whoami.password_prompts(), Vec::<String>::new());
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
            ("%password hunter2", "no arguments"),
            ("%receipt", "a request's number or id"),
            ("%audit all", "`verify`"),
            ("%login 'unclosed", "unclosed"),
            ("%frobnicate", "unknown magic"),
        ] {
            let err = parse(line).unwrap_err();
            assert!(err.0.contains(says), "{line}: {err}");
        }
        assert!(
            parse("%login")
                .unwrap_err()
                .0
                .contains("usage: %login EMAIL")
        );
    }
}
