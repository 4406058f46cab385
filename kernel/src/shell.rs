//! The shell and control channels: requests in, replies out, outputs on IOPub.
//!
//! The shell loop handles one request at a time, in order, as Jupyter expects. The control loop runs
//! beside it so `kernel_info`, `interrupt` and `shutdown` are answered while a cell is running.

use std::sync::{Arc, Mutex};

use jupyter_protocol::{
    CodeMirrorMode, CommInfoReply, CompleteReply, ExecuteInput, ExecuteReply, ExecuteResult,
    ExecutionCount, HelpLink, HistoryReply, InputRequest, InspectReply, InterruptReply,
    IsCompleteReply, IsCompleteReplyStatus, JupyterMessage, JupyterMessageContent, KernelInfoReply,
    LanguageInfo, Media, ReplyStatus, ShutdownReply, StreamContent, UnknownMessage,
};
use jupyter_zmq_client::{
    Connection, KernelControlConnection, KernelStdinConnection, RouterRecvConnection,
    RouterSendConnection,
};

use veil_kernel_input::message::{PARSE_ERROR, decode};

use crate::history::History;
use crate::iopub::Iopub;
use crate::magics::{self, Output, Run};
use crate::message::{KernelError, bundle, child};
use crate::rust::RustCells;
use crate::session::Session;
use crate::syntax::{Completeness, completeness};

/// What the shell needs to run cells.
pub struct Shell {
    pub(crate) iopub: Iopub,
    pub(crate) replies: RouterSendConnection,
    pub(crate) stdin: KernelStdinConnection,
    pub(crate) session: Arc<Mutex<Session>>,
    pub(crate) rust: RustCells,
    pub(crate) history: History,
    pub(crate) execution_count: usize,
    pub(crate) activity: Activity,
}

/// Whether the shell is handling a request, and since when it has not been: work that would slow
/// the user's requests (warming the next kernel's spare) waits until they stop.
#[derive(Debug, Clone)]
pub struct Activity(Arc<Mutex<Option<tokio::time::Instant>>>);

/// Quiet from now on.
impl Default for Activity {
    fn default() -> Activity {
        Activity(Arc::new(Mutex::new(Some(tokio::time::Instant::now()))))
    }
}

impl Activity {
    pub(crate) fn set(&self, quiet_since: Option<tokio::time::Instant>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = quiet_since;
    }

    /// How long no request has been running: zero while one is.
    pub fn quiet_for(&self) -> std::time::Duration {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(std::time::Duration::ZERO, |since| since.elapsed())
    }
}

/// Where batch runs without stdin put the password for `%login` and `%register`.
pub const PASSWORD_ENV: &str = "VEIL_PASSWORD";

/// How long a password prompt waits for the front end before the cell gives up.
const PASSWORD_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Consecutive socket-level errors after which a channel is taken to be dead.
const MAX_SOCKET_FAILURES: usize = 64;

/// The next correctly signed message, or `None` once the socket is dead. Messages with a bad or missing
/// signature or no delimiter are dropped and logged, never handled. A signed message whose content does
/// not parse comes back as an `UnknownMessage` carrying the parse error, so the shell can answer it with
/// an error reply instead of leaving the client waiting.
async fn next_message<S: zeromq::SocketRecv>(
    connection: &mut Connection<S>,
    channel: &str,
    dropped: &mut u64,
) -> Option<JupyterMessage> {
    let mut socket_failures = 0;
    loop {
        let frames = match connection.socket.recv().await {
            Ok(frames) => frames,
            Err(e) => {
                eprintln!("veil-kernel: {channel} socket error: {e}");
                socket_failures += 1;
                if socket_failures >= MAX_SOCKET_FAILURES {
                    return None;
                }
                continue;
            }
        };
        match decode(frames, &connection.mac) {
            Ok(message) => return Some(message),
            // However many bad messages arrive, they cost no more than a log line now and then (the
            // count lives with the channel, so good messages between bad ones do not reset it).
            Err(e) => {
                *dropped += 1;
                if dropped.is_power_of_two() {
                    eprintln!(
                        "veil-kernel: dropped {dropped} bad {channel} message(s) so far; latest: {e}"
                    );
                }
            }
        }
    }
}

/// The error reply to a request this kernel cannot read (malformed content) or does not handle on
/// `channel` (a newer protocol, a typo, a shell request sent to control), so the client does not wait
/// forever.
fn error_reply(unknown: &UnknownMessage, channel: &str) -> JupyterMessageContent {
    let (ename, evalue) = match unknown.content.get(PARSE_ERROR) {
        Some(e) => (
            "BadRequest",
            format!(
                "malformed `{}`: {}",
                unknown.msg_type,
                e.as_str().unwrap_or_default()
            ),
        ),
        None => (
            "UnknownMessageType",
            format!(
                "veil-kernel does not handle `{}` on the {channel} channel",
                unknown.msg_type
            ),
        ),
    };
    eprintln!("veil-kernel: {evalue}");
    unknown.reply(serde_json::json!({
        "status": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [],
    }))
}

/// Handles shell requests in order until the socket dies.
pub async fn run_shell(mut shell: Shell, mut requests: RouterRecvConnection) {
    let mut dropped = 0;
    while let Some(message) = next_message(&mut requests, "shell", &mut dropped).await {
        shell.activity.set(None);
        shell.iopub.busy(&message);
        if let Err(e) = shell.handle(&message).await {
            eprintln!(
                "veil-kernel: replying to {}: {e:#}",
                message.header.msg_type
            );
        }
        shell.iopub.idle(&message);
        shell.activity.set(Some(tokio::time::Instant::now()));
    }
}

impl Shell {
    async fn reply(
        &mut self,
        content: impl Into<JupyterMessageContent>,
        parent: &JupyterMessage,
    ) -> anyhow::Result<()> {
        self.replies.send(child(content, parent)).await?;
        Ok(())
    }

    async fn handle(&mut self, message: &JupyterMessage) -> anyhow::Result<()> {
        match &message.content {
            JupyterMessageContent::KernelInfoRequest(_) => self.reply(kernel_info(), message).await,
            JupyterMessageContent::ExecuteRequest(req) => {
                let reply = self.execute(req, message).await;
                self.reply(reply, message).await
            }
            JupyterMessageContent::IsCompleteRequest(req) => {
                let reply = match completeness(&req.code) {
                    Completeness::Complete => {
                        IsCompleteReply::new(IsCompleteReplyStatus::Complete, String::new())
                    }
                    Completeness::Incomplete => {
                        IsCompleteReply::new(IsCompleteReplyStatus::Incomplete, "    ".into())
                    }
                    Completeness::Invalid => {
                        IsCompleteReply::new(IsCompleteReplyStatus::Invalid, String::new())
                    }
                };
                self.reply(reply, message).await
            }
            JupyterMessageContent::CompleteRequest(req) => {
                let found = match complete_magic(&req.code, req.cursor_pos) {
                    Some((matches, start, end)) => crate::rust::Completions {
                        matches,
                        start,
                        end,
                        ..Default::default()
                    },
                    None => self.rust.complete(&req.code, req.cursor_pos).await,
                };
                let reply = CompleteReply {
                    matches: found.matches,
                    cursor_start: found.start,
                    cursor_end: found.end,
                    metadata: found.metadata,
                    status: ReplyStatus::Ok,
                    error: None,
                };
                self.reply(reply, message).await
            }
            JupyterMessageContent::InspectRequest(req) => {
                let receiver = match method_call(&req.code, req.cursor_pos) {
                    Some(call) => self.rust.receiver(&call).await,
                    None => None,
                };
                let found = inspect(&req.code, req.cursor_pos, receiver.as_deref());
                let reply = InspectReply {
                    found: found.is_some(),
                    data: found.unwrap_or_default(),
                    metadata: Default::default(),
                    status: ReplyStatus::Ok,
                    error: None,
                };
                self.reply(reply, message).await
            }
            JupyterMessageContent::HistoryRequest(req) => {
                let reply = HistoryReply {
                    history: self.history.query(req),
                    status: ReplyStatus::Ok,
                    error: None,
                };
                self.reply(reply, message).await
            }
            JupyterMessageContent::CommInfoRequest(_) => {
                self.reply(CommInfoReply::default(), message).await
            }
            JupyterMessageContent::CommOpen(_)
            | JupyterMessageContent::CommMsg(_)
            | JupyterMessageContent::CommClose(_) => {
                // No comm targets: per the spec, unknown comms are ignored.
                Ok(())
            }
            JupyterMessageContent::UnknownMessage(unknown)
                if unknown.msg_type.ends_with("_request") =>
            {
                self.reply(error_reply(unknown, "shell"), message).await
            }
            other => {
                eprintln!(
                    "veil-kernel: ignored shell message `{}`",
                    other.message_type()
                );
                Ok(())
            }
        }
    }

    async fn execute(
        &mut self,
        req: &jupyter_protocol::ExecuteRequest,
        parent: &JupyterMessage,
    ) -> ExecuteReply {
        let store = req.store_history && !req.silent;
        if store {
            self.execution_count += 1;
        }
        let count = ExecutionCount::new(self.execution_count);
        if !req.silent {
            self.iopub.send(
                ExecuteInput {
                    code: req.code.clone(),
                    execution_count: count,
                },
                parent,
            );
        }
        if store {
            self.history.push(self.execution_count, &req.code);
        }
        self.iopub.set_current(Some(parent));
        let outcome = if is_magic_cell(&req.code) {
            self.run_magics(&req.code, req.allow_stdin, parent).await
        } else {
            self.rust.execute(&req.code, parent).await
        };
        self.iopub.set_current(None);
        match outcome {
            Ok(result) => {
                if let (Some(data), true) = (&result, store) {
                    let text = data.content.iter().find_map(|m| match m {
                        jupyter_protocol::MediaType::Plain(t) => Some(t.as_str()),
                        _ => None,
                    });
                    self.history
                        .set_output(self.execution_count, text.unwrap_or_default());
                }
                if let (Some(data), false) = (result, req.silent) {
                    self.iopub.send(
                        ExecuteResult {
                            execution_count: count,
                            data,
                            metadata: Default::default(),
                            // The spec's schema wants an object here, never null.
                            transient: Some(Default::default()),
                        },
                        parent,
                    );
                }
                ExecuteReply {
                    status: ReplyStatus::Ok,
                    execution_count: count,
                    payload: Vec::new(),
                    user_expressions: Some(Default::default()),
                    error: None,
                }
            }
            Err(error) => {
                if !req.silent {
                    self.iopub.send(error.output(), parent);
                }
                ExecuteReply {
                    status: ReplyStatus::Error,
                    execution_count: count,
                    payload: Vec::new(),
                    user_expressions: Some(Default::default()),
                    error: Some(error.reply()),
                }
            }
        }
    }

    /// Runs each non-empty line of a magic cell in order, stopping at the first error.
    async fn run_magics(
        &mut self,
        code: &str,
        allow_stdin: bool,
        parent: &JupyterMessage,
    ) -> Result<Option<Media>, KernelError> {
        for line in code.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !line.starts_with('%') {
                return Err(KernelError::new(
                    "UsageError",
                    format!(
                        "`{line}` is not a magic: a cell holds either magics (lines starting with %) or Rust code, not both"
                    ),
                ));
            }
            let magic = magics::parse(line)?;
            let prompts = magic.password_prompts();
            // One password may come from the environment in a batch run; a change of password
            // needs three, which only a person answers.
            let from_env = prompts.len() == 1;
            let mut passwords = Vec::with_capacity(prompts.len());
            for prompt in &prompts {
                passwords.push(
                    self.ask_password(prompt, allow_stdin, from_env, parent)
                        .await?,
                );
            }
            let outputs = {
                let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
                magic.run(&mut session, passwords)?
            };
            for output in outputs {
                match output {
                    Output::Text(text) => self.iopub.send(StreamContent::stdout(&text), parent),
                    Output::Display(data) => self
                        .iopub
                        .send(jupyter_protocol::DisplayData::new(data), parent),
                }
            }
        }
        Ok(None)
    }

    /// Asks the front end for a password over the stdin channel (`password: true`, so it is not echoed).
    async fn ask_password(
        &mut self,
        prompt: &str,
        allow_stdin: bool,
        from_env: bool,
        parent: &JupyterMessage,
    ) -> Result<String, KernelError> {
        if !allow_stdin {
            // Batch runs (nbclient, papermill) have no stdin; they may pass the password in the
            // kernel's environment instead, which keeps it out of the notebook all the same.
            if let Some(password) =
                std::env::var_os(PASSWORD_ENV).filter(|p| from_env && !p.is_empty())
            {
                return Ok(password.to_string_lossy().into_owned());
            }
            return Err(KernelError::new(
                "StdinNotAllowed",
                format!(
                    "this front end does not accept input, so no password can be asked for; run the cell where input is allowed, or start the kernel with the password in ${PASSWORD_ENV}"
                ),
            ));
        }
        let request = child(
            InputRequest {
                prompt: prompt.to_string(),
                password: true,
            },
            parent,
        );
        // Registered before the prompt goes out, so an interrupt that races the prompt still counts.
        let interrupts = self.rust.interrupts();
        let interrupted = interrupts.notified();
        tokio::pin!(interrupted);
        interrupted.as_mut().enable();
        self.stdin
            .send(request)
            .await
            .map_err(|e| KernelError::new("StdinError", format!("asking for a password: {e}")))?;
        let stdin = &mut self.stdin;
        let answer = async move {
            loop {
                let reply = stdin.read().await.map_err(|e| {
                    KernelError::new("StdinError", format!("reading the password: {e}"))
                })?;
                if let JupyterMessageContent::InputReply(reply) = reply.content {
                    if reply.status != ReplyStatus::Ok {
                        return Err(KernelError::new(
                            "StdinError",
                            "the front end cancelled the password prompt",
                        ));
                    }
                    return Ok(reply.value);
                }
            }
        };
        tokio::select! {
            answer = answer => answer,
            _ = &mut interrupted => Err(KernelError::new(
                "Interrupted",
                "the password prompt was interrupted; run the cell again to log in",
            )),
            _ = tokio::time::sleep(PASSWORD_WAIT) => Err(KernelError::new(
                "StdinTimeout",
                format!(
                    "no password arrived within {} minutes; run the cell again",
                    PASSWORD_WAIT.as_secs() / 60
                ),
            )),
        }
    }
}

/// A cell is a magic cell when its first non-blank line starts with `%`.
pub fn is_magic_cell(code: &str) -> bool {
    code.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with('%'))
}

/// Completes magic names: `%dat` -> `%datasite`, `%datasets`. Cursor positions are code points.
fn complete_magic(code: &str, cursor: usize) -> Option<(Vec<String>, usize, usize)> {
    let before: String = code.chars().take(cursor).collect();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = &before[line_start..];
    if !line.starts_with('%') || line.contains(char::is_whitespace) {
        return None;
    }
    let matches: Vec<String> = magics::MAGICS
        .iter()
        .map(|(name, _, _)| name.to_string())
        .filter(|name| name.starts_with(line))
        .collect();
    let start = before[..line_start].chars().count();
    Some((matches, start, cursor))
}

/// Help for the magic or Veil name under the cursor, or, with the cursor in a call's parentheses,
/// for the function called (`pointer.max(|`, `Dataset::new("x", |`). Veil's names are answered from
/// the facade's own docs ([`crate::docs`]); other names get a note saying where their docs are.
///
/// `receiver` is the facade type of the method's receiver when the caller resolved it (see
/// [`method_call`]): the answer is then that type's method alone, not every type's of that name.
fn inspect(code: &str, cursor: usize, receiver: Option<&str>) -> Option<Media> {
    let chars: Vec<char> = code.chars().collect();
    let cursor = cursor.min(chars.len());
    let (start, end) = word_at(&chars, cursor, |c| {
        c.is_alphanumeric() || c == '_' || c == '%'
    });
    let word: String = chars[start..end].iter().collect();
    if let Some((name, usage, what)) = magics::MAGICS.iter().find(|(n, _, _)| *n == word) {
        return Some(bundle(format!("{name}\n  usage: {usage}\n  {what}"), None));
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let (start, end) = name_at(&chars, cursor)?;
    let name: String = chars[start..end].iter().collect();
    let before: String = chars[..start].iter().collect();
    let before = before.trim_end();
    let mut shown = name.clone();
    let entries: Vec<&crate::docs::Entry> = if before.ends_with('.') {
        let theirs = receiver.and_then(|owner| crate::docs::associated(owner, &name));
        match theirs {
            Some(entry) => vec![entry],
            None => crate::docs::methods(&name),
        }
    } else if let Some(path) = before.strip_suffix("::") {
        let owner: String = path
            .chars()
            .rev()
            .take_while(|&c| is_ident(c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        shown = format!("{owner}::{name}");
        crate::docs::associated(&owner, &name)
            .or_else(|| crate::docs::item(&name))
            .into_iter()
            .collect()
    } else {
        crate::docs::item(&name).into_iter().collect()
    };
    let text = if entries.is_empty() {
        format!(
            "no docs for `{shown}` here: the kernel answers from Veil's own API docs, and evcxr \
             gives no others; for Rust's standard library see https://doc.rust-lang.org/std/?search={name}"
        )
    } else {
        crate::docs::answer(&entries)
    };
    Some(bundle(text, None))
}

/// The name inspect answers for at `cursor`: the identifier there, or the call whose parentheses
/// hold the cursor (or that just closed).
fn name_at(chars: &[char], cursor: usize) -> Option<(usize, usize)> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let (start, end) = match word_at(chars, cursor, is_ident) {
        (s, e) if s < e => (s, e),
        // Just after a call's `)`: that call.
        _ if cursor > 0 && chars[cursor - 1] == ')' => {
            word_at(chars, open_call(chars, cursor - 1)?, is_ident)
        }
        _ => word_at(chars, open_call(chars, cursor)?, is_ident),
    };
    (start < end && !chars[start].is_ascii_digit()).then_some((start, end))
}

/// When inspect at `cursor` asks about a method (`x.name`), the code up to the end of its name:
/// what [`crate::complete::receiver`] reads the receiver's type from.
fn method_call(code: &str, cursor: usize) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    let (start, end) = name_at(&chars, cursor.min(chars.len()))?;
    let before: String = chars[..start].iter().collect();
    before
        .trim_end()
        .ends_with('.')
        .then(|| chars[..end].iter().collect())
}

/// The word of `chars` (made of `part`) that the cursor is in or just after.
fn word_at(chars: &[char], cursor: usize, part: impl Fn(char) -> bool) -> (usize, usize) {
    let start = (0..cursor)
        .rev()
        .take_while(|&i| part(chars[i]))
        .last()
        .unwrap_or(cursor);
    let end = (cursor..chars.len())
        .take_while(|&i| part(chars[i]))
        .last()
        .map_or(cursor, |i| i + 1);
    (start, end)
}

/// Where the name of the call whose parentheses hold the cursor ends: the position of its `(`.
fn open_call(chars: &[char], cursor: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in (0..cursor).rev() {
        match chars[i] {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '(' => return Some(i),
            '[' | '{' | ';' => return None,
            _ => {}
        }
    }
    None
}

/// The `kernel_info_reply`, the same on shell and control.
pub fn kernel_info() -> KernelInfoReply {
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: "5.3".to_string(),
        implementation: "veil-kernel".to_string(),
        implementation_version: env!("CARGO_PKG_VERSION").to_string(),
        language_info: LanguageInfo {
            name: "rust".to_string(),
            version: crate::rust::rustc_version(),
            mimetype: Some("text/rust".to_string()),
            file_extension: Some(".rs".to_string()),
            pygments_lexer: Some("rust".to_string()),
            codemirror_mode: Some(CodeMirrorMode::Simple("rust".to_string())),
            nbconvert_exporter: Some("rust".to_string()),
        },
        banner: format!(
            "Veil {} — Rust cells (evcxr) with `use veil::prelude::*;` in scope. %help lists the magics.",
            env!("CARGO_PKG_VERSION")
        ),
        help_links: vec![
            HelpLink {
                text: "Veil magics: %help".to_string(),
                url: "https://github.com/veil-rs/veil#readme".to_string(),
            },
            HelpLink {
                text: "Rust standard library".to_string(),
                url: "https://doc.rust-lang.org/std/".to_string(),
            },
        ],
        debugger: false,
        error: None,
    }
}

/// Answers the control channel until shutdown: kernel_info, interrupt, shutdown.
pub async fn run_control(
    mut control: KernelControlConnection,
    rust: RustCells,
    shutdown: tokio::sync::oneshot::Sender<()>,
) {
    let mut dropped = 0;
    while let Some(message) = next_message(&mut control, "control", &mut dropped).await {
        let reply: Option<JupyterMessageContent> = match &message.content {
            JupyterMessageContent::KernelInfoRequest(_) => Some(
                JupyterMessageContent::KernelInfoReply(Box::new(kernel_info())),
            ),
            JupyterMessageContent::InterruptRequest(_) => {
                rust.interrupt();
                Some(InterruptReply::new().into())
            }
            JupyterMessageContent::ShutdownRequest(req) => {
                let reply = ShutdownReply {
                    restart: req.restart,
                    status: ReplyStatus::Ok,
                    error: None,
                };
                let _ = control.send(child(reply, &message)).await;
                let _ = shutdown.send(());
                return;
            }
            JupyterMessageContent::CommInfoRequest(_) => Some(CommInfoReply::default().into()),
            JupyterMessageContent::HistoryRequest(_) => Some(HistoryReply::default().into()),
            JupyterMessageContent::UnknownMessage(unknown)
                if unknown.msg_type.ends_with("_request") =>
            {
                Some(error_reply(unknown, "control"))
            }
            // Every request gets a reply: one meant for the shell, sent here, is refused by name.
            other if other.message_type().ends_with("_request") => {
                let unknown = UnknownMessage {
                    msg_type: other.message_type().to_string(),
                    content: serde_json::json!({}),
                };
                Some(error_reply(&unknown, "control"))
            }
            other => {
                eprintln!(
                    "veil-kernel: ignored control message `{}`",
                    other.message_type()
                );
                None
            }
        };
        if let Some(reply) = reply
            && let Err(e) = control.send(child(reply, &message)).await
        {
            eprintln!("veil-kernel: control reply failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_completion_and_inspection() {
        let (matches, start, end) = complete_magic("%dat", 4).unwrap();
        assert_eq!(matches, ["%datasite", "%datasets"]);
        assert_eq!((start, end), (0, 4));
        let (_, start, _) = complete_magic("let x = 1;\n%he", 14).unwrap();
        assert_eq!(start, 11);
        assert!(complete_magic("let x", 5).is_none());
        let media = inspect("%approve abc", 3, None).unwrap();
        assert!(
            serde_json::to_string(&media)
                .unwrap()
                .contains("usage: %approve ID")
        );
        let text = |media: Option<Media>| serde_json::to_string(&media.unwrap()).unwrap();
        assert!(text(inspect("veil::display(&x)", 8, None)).contains("pub fn display"));
        // In or after a call's parentheses: the function called, from the facade's docs.
        for (code, wanted) in [
            ("pointer.max(", "Pointer::max"),
            ("let n = client.datasets(", "Client::datasets"),
            ("asset.pointer(", "SiteAsset::pointer"),
            ("let p = asset.pointer()", "SiteAsset::pointer"),
            ("p.filter(&mask.gt(", "Pointer::gt"),
            ("Dataset::new(\"x\", ", "Dataset::new"),
        ] {
            let found = text(inspect(code, code.chars().count(), None));
            assert!(found.contains(wanted), "{code}: {found}");
        }
        assert!(text(inspect("Vec::new()", 1, None)).contains("no docs for `Vec`"));
        assert!(text(inspect("Vec::new(", 9, None)).contains("no docs for `Vec::new`"));
        assert!(inspect("  ", 1, None).is_none());
        // With the receiver's type resolved, that type's method alone.
        let mock = text(inspect("let m = asset.mock(", 19, Some("SiteAsset")));
        assert!(mock.contains("SiteAsset::mock"), "{mock}");
        assert_eq!(mock.matches("::mock").count(), 1, "{mock}");
        assert_eq!(
            method_call("let m = asset.mock(", 19).as_deref(),
            Some("let m = asset.mock")
        );
        assert_eq!(method_call("Dataset::new(", 13), None);
    }

    #[test]
    fn magic_cells() {
        assert!(is_magic_cell("\n  %whoami"));
        assert!(!is_magic_cell("let x = 1;"));
    }
}
