//! Building replies and outputs: the typed message structs of `jupyter-protocol`, plus what Veil adds
//! (MIME bundles from [`veil::Render`], errors with `ename`/`evalue`/`traceback`).

use jupyter_protocol::{
    ErrorOutput, JupyterMessage, JupyterMessageContent, Media, MediaType, ReplyError,
};

/// A MIME bundle with `text/plain` and, when given, `text/html`.
pub fn bundle(plain: impl Into<String>, html: Option<String>) -> Media {
    let mut content = vec![MediaType::Plain(plain.into())];
    if let Some(html) = html {
        content.push(MediaType::Html(html));
    }
    Media::new(content)
}

/// The bundle of anything Veil can render.
pub fn render(value: &dyn veil::Render) -> Media {
    bundle(value.text(), Some(value.html()))
}

/// An error as Jupyter shows it: a type name, a one-line value and a traceback (here: the lines of the
/// message, which is what a reader needs; Rust errors have no Python-style stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Short type name, e.g. `PermissionDenied`, `CompileError`, `UsageError`.
    pub ename: String,
    /// The message.
    pub evalue: String,
    /// Lines shown under it.
    pub traceback: Vec<String>,
}

impl KernelError {
    /// An error whose traceback is its message.
    pub fn new(ename: impl Into<String>, evalue: impl Into<String>) -> Self {
        let ename = ename.into();
        let evalue = evalue.into();
        let traceback = vec![format!("\x1b[0;31m{ename}\x1b[0m: {evalue}")];
        KernelError {
            ename,
            evalue,
            traceback,
        }
    }

    /// The error as an iopub `error` output.
    pub fn output(&self) -> ErrorOutput {
        ErrorOutput {
            ename: self.ename.clone(),
            evalue: self.evalue.clone(),
            traceback: self.traceback.clone(),
        }
    }

    /// The error for a reply's `status: error` fields.
    pub fn reply(&self) -> Box<ReplyError> {
        Box::new(ReplyError {
            ename: self.ename.clone(),
            evalue: self.evalue.clone(),
            traceback: self.traceback.clone(),
        })
    }
}

impl From<veil::Error> for KernelError {
    fn from(e: veil::Error) -> Self {
        KernelError::new(e.name(), e.to_string())
    }
}

/// A message of `content` replying to `parent` (same identities and session).
pub fn child(content: impl Into<JupyterMessageContent>, parent: &JupyterMessage) -> JupyterMessage {
    JupyterMessage::new(content.into(), Some(parent))
}
