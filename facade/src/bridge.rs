//! Calls to the kernel process: one line of JSON over the session's Unix socket each way.
//!
//! The kernel names the socket and a token in the environment of the process that runs cells
//! (`VEIL_BRIDGE_SOCKET`, `VEIL_BRIDGE_TOKEN`). Each call opens its own connection, so nothing here
//! depends on state shared between cells.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
pub use veil_api::kernel::Rendered;
pub(crate) use veil_api::kernel::{Held, KernelCall, Shown};

const SOCKET_ENV: &str = "VEIL_BRIDGE_SOCKET";
const TOKEN_ENV: &str = "VEIL_BRIDGE_TOKEN";

/// What went wrong, as the datasite or kernel said it: a short name (`PermissionDenied`, `NotFound`,
/// ...) and a message that names the problem and the fix.
///
/// A cell that returns one with `?` shows it as a Jupyter error with that name.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    name: String,
    message: String,
}

impl Error {
    /// The error `name`, saying `message`. In a notebook the kernel is told of it at once (a marker
    /// line on stderr, which it takes off the cell's output): the same line printed later, when the
    /// cell returns it with `?`, makes it the cell's error, so the cell stops there and *Run All*
    /// with it, whether the error came from the datasite, the kernel or this facade itself (a
    /// typo'd asset name, a lost connection to the kernel).
    pub(crate) fn new(name: impl Into<String>, message: impl Into<String>) -> Error {
        let error = Error {
            name: name.into(),
            message: message.into(),
        };
        if in_notebook() {
            crate::mark_failure(&error.name, &error.message);
        }
        error
    }

    /// The error's name, e.g. `PermissionDenied` (the kernel's own errors have names of their own,
    /// such as `KernelError`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of error, to branch on, when its name is one of the vocabulary's: the datasite's
    /// errors, and the kernel's that mean the same (a bad argument is `InvalidInput`); `None` for
    /// the kernel's own (`KernelUnavailable`, `TypeMismatch`, ...).
    pub fn kind(&self) -> Option<veil_api::call::ErrorKind> {
        veil_api::call::ErrorKind::parse(&self.name)
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// `Name: message`, so `unwrap` shows the kind too. (evcxr prints a `?`-returned error with Display, the
// message alone, and the kernel recognises that line as the cell's error.)
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for Error {}

/// `Result` with Veil's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

static OVERRIDE: Mutex<Option<(PathBuf, String)>> = Mutex::new(None);

/// Points this process at a bridge explicitly, instead of the environment the kernel sets. For tests
/// that serve a bridge in-process.
#[doc(hidden)]
pub fn use_bridge(socket: impl Into<PathBuf>, token: impl Into<String>) {
    *OVERRIDE.lock().unwrap_or_else(|p| p.into_inner()) = Some((socket.into(), token.into()));
}

/// Whether this process runs a notebook's cells (the kernel named its bridge, or a test did).
fn in_notebook() -> bool {
    std::env::var_os(SOCKET_ENV).is_some()
        || OVERRIDE.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

fn endpoint() -> Result<(PathBuf, String)> {
    if let Some(e) = OVERRIDE.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        return Ok(e);
    }
    match (std::env::var_os(SOCKET_ENV), std::env::var(TOKEN_ENV)) {
        (Some(socket), Ok(token)) => Ok((socket.into(), token)),
        _ => Err(Error::new(
            "NoKernel",
            "this needs the Veil kernel: run it in a notebook on the \"Rust (Veil)\" kernel (install it with `veil-kernel install`); programs outside a notebook use the `veil` crate itself",
        )),
    }
}

/// Sends `call` to the kernel and reads its answer as the type the vocabulary gives that call's
/// reply (see [`KernelCall`]'s replies).
pub(crate) fn call<R: DeserializeOwned>(call: KernelCall) -> Result<R> {
    let op = call.name();
    let (socket, token) = endpoint()?;
    let unreachable = |e: std::io::Error| {
        Error::new(
            "KernelUnavailable",
            format!("lost the connection to the Veil kernel ({e}); restart the kernel"),
        )
    };
    let stream = UnixStream::connect(&socket).map_err(unreachable)?;
    let mut line = serde_json::to_value(&call)
        .map(|mut v| {
            v["token"] = json!(token);
            v.to_string()
        })
        .map_err(|e| Error::new("InvalidInput", format!("`{op}` cannot be sent: {e}")))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(unreachable)?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(unreachable)?;
    let answer: Value = serde_json::from_str(&answer).map_err(|e| {
        Error::new(
            "KernelUnavailable",
            format!("the Veil kernel's answer to `{op}` was unreadable ({e}); restart the kernel"),
        )
    })?;
    if let Some(err) = answer.get("err") {
        return Err(Error::new(
            err["name"].as_str().unwrap_or("KernelError"),
            err["message"]
                .as_str()
                .unwrap_or("the kernel gave no message"),
        ));
    }
    serde_json::from_value(answer.get("ok").cloned().unwrap_or(Value::Null)).map_err(|e| {
        Error::new(
            "KernelError",
            format!(
                "the kernel's answer to `{op}` is not what this facade reads ({e}); the facade and kernel versions may differ: reinstall with `veil-kernel install`"
            ),
        )
    })
}

/// A value the kernel holds for this session. The last clone to go releases it in the kernel.
#[derive(Debug)]
pub(crate) struct Handle(u64);

impl Handle {
    pub(crate) fn id(&self) -> u64 {
        self.0
    }

    /// The handle of a value the kernel says it now holds, and what the reply tells of it.
    pub(crate) fn held<I>(held: Held<I>) -> (Arc<Handle>, I) {
        (Arc::new(Handle(held.handle)), held.info)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _: Result<()> = call(KernelCall::Release {
            handles: vec![self.0],
        });
    }
}

/// The display of `handle` as the kernel renders it now, or the error in its place.
pub(crate) fn live(handle: &Handle) -> Rendered {
    call(KernelCall::Render {
        handle: handle.id(),
    })
    .unwrap_or_else(|e: Error| Rendered {
        text: format!("{e:?}"),
        html: String::new(),
    })
}

/// Implements [`Rich`](crate::Rich) and evcxr's display hook from a method returning [`Rendered`].
macro_rules! rich_via_rendered {
    ($($t:ty => $render:expr),* $(,)?) => {$(
        impl $crate::Rich for $t {
            fn bundle(&self) -> Vec<(&'static str, String)> {
                let r: $crate::bridge::Rendered = ($render)(self);
                let mut b = vec![("text/plain", r.text)];
                if !r.html.is_empty() {
                    b.push(("text/html", r.html));
                }
                b
            }
        }

        impl $t {
            /// evcxr's display hook: a cell whose value is this shows it rendered.
            pub fn evcxr_display(&self) {
                $crate::evcxr_show(self);
            }
        }
    )*};
}
pub(crate) use rich_via_rendered;

impl From<veil_api::code::Invalid> for Error {
    fn from(i: veil_api::code::Invalid) -> Error {
        Error::new(
            "InvalidInput",
            format!("invalid {}: {}; {}", i.what, i.problem, i.fix),
        )
    }
}
