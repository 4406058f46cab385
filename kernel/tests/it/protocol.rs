//! The real `veil-kernel` binary over real ZeroMQ sockets: start it on a connection file, talk to it as
//! a Jupyter client would, and check it survives bad input.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jupyter_protocol::{
    CompleteRequest, ConnectionInfo, ExecuteRequest, InputReply, InspectRequest, JupyterMessage,
    JupyterMessageContent, KernelInfoRequest, ReplyStatus, ShutdownRequest, Transport,
};
use jupyter_zmq_client::{
    ClientControlConnection, ClientIoPubConnection, ClientShellConnection, ClientStdinConnection,
    create_client_control_connection, create_client_iopub_connection,
    create_client_shell_connection_with_identity, create_client_stdin_connection_with_identity,
    peek_ports, peer_identity_for_session,
};
use tokio::time::timeout;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

const WAIT: Duration = Duration::from_secs(60);

struct Kernel {
    child: Child,
    info: ConnectionInfo,
    shell: ClientShellConnection,
    stdin: ClientStdinConnection,
    iopub: ClientIoPubConnection,
    control: ClientControlConnection,
    _dir: tempfile::TempDir,
    guard: Option<tokio::sync::MutexGuard<'static, ()>>,
    /// How long to wait for a reply or an output.
    wait: Duration,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One kernel at a time: each starts evcxr (rustc), and two cores are all CI has. Sequential kernels
/// also reuse one warm evcxr work slot instead of compiling the facade into several.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start() -> Kernel {
    start_holding(ONE_AT_A_TIME.lock().await).await
}

/// [`start`] with the turn already taken.
async fn start_holding(guard: tokio::sync::MutexGuard<'static, ()>) -> Kernel {
    start_with(guard, &[]).await
}

/// [`start_holding`], with `env` added to the kernel's environment.
async fn start_with(guard: tokio::sync::MutexGuard<'static, ()>, env: &[(&str, &str)]) -> Kernel {
    let dir = tempfile::tempdir().unwrap();
    let ports = peek_ports("127.0.0.1".parse().unwrap(), 5).await.unwrap();
    let info = ConnectionInfo {
        ip: "127.0.0.1".into(),
        transport: Transport::TCP,
        shell_port: ports[0],
        iopub_port: ports[1],
        stdin_port: ports[2],
        control_port: ports[3],
        hb_port: ports[4],
        key: uuid::Uuid::new_v4().to_string(),
        signature_scheme: "hmac-sha256".into(),
        kernel_name: Some("veil".into()),
    };
    let file = dir.path().join("connection.json");
    std::fs::write(&file, serde_json::to_string(&info).unwrap()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_veil-kernel"))
        .arg("--connection-file")
        .arg(&file)
        .env("VEIL_HOME", dir.path().join("home"))
        .env("VEIL_KERNEL_CACHE", cache_dir())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let session = uuid::Uuid::new_v4().to_string();
    let identity = peer_identity_for_session(&session).unwrap();
    // Connect (ZeroMQ connects lazily, so the kernel may still be binding).
    let shell = create_client_shell_connection_with_identity(&info, &session, identity.clone())
        .await
        .unwrap();
    let stdin = create_client_stdin_connection_with_identity(&info, &session, identity)
        .await
        .unwrap();
    let iopub = create_client_iopub_connection(&info, "", &session)
        .await
        .unwrap();
    let control = create_client_control_connection(&info, &session)
        .await
        .unwrap();
    let mut kernel = Kernel {
        child,
        info,
        shell,
        stdin,
        iopub,
        control,
        _dir: dir,
        guard: Some(guard),
        wait: WAIT,
    };
    // The kernel is ready once it answers kernel_info.
    let reply = kernel.request(KernelInfoRequest {}.into()).await;
    assert!(matches!(
        reply.content,
        JupyterMessageContent::KernelInfoReply(_)
    ));
    kernel
}

/// Shared by every kernel these tests start (and with scripts/test.sh's run, which sets
/// `VEIL_KERNEL_CACHE`), so the facade is compiled once, as after `install`. It must lie outside this
/// cargo workspace: evcxr's crate there would be taken for a member of it.
fn cache_dir() -> PathBuf {
    std::env::var_os("VEIL_KERNEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("veil-kernel-test-cache"))
}

impl Kernel {
    /// Kills the kernel and hands back its turn, for the next kernel of the same test.
    fn stop(mut self) -> tokio::sync::MutexGuard<'static, ()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.guard.take().expect("a kernel holds its turn")
    }

    async fn request(&mut self, message: JupyterMessage) -> JupyterMessage {
        let id = message.header.msg_id.clone();
        self.shell.send(message).await.unwrap();
        loop {
            let reply = timeout(self.wait, self.shell.read())
                .await
                .expect("shell reply timed out")
                .unwrap();
            if reply.parent_header.as_ref().map(|h| h.msg_id.as_str()) == Some(id.as_str()) {
                return reply;
            }
        }
    }

    /// Reads iopub until the `idle` status for `parent`; returns everything in between.
    async fn outputs(&mut self, parent: &str) -> Vec<JupyterMessageContent> {
        let mut seen = Vec::new();
        loop {
            let msg = timeout(self.wait, self.iopub.read())
                .await
                .expect("iopub timed out")
                .unwrap();
            if msg.parent_header.as_ref().map(|h| h.msg_id.as_str()) != Some(parent) {
                continue;
            }
            if let JupyterMessageContent::Status(s) = &msg.content
                && s.execution_state == jupyter_protocol::ExecutionState::Idle
            {
                return seen;
            }
            seen.push(msg.content);
        }
    }

    /// Runs `code` with stdin allowed, answering its password prompts with `answers` in order
    /// (each prompt must not echo): the reply's status, the cell's outputs as text and the prompts.
    async fn answering(
        &mut self,
        code: &str,
        answers: &[&str],
    ) -> (ReplyStatus, String, Vec<String>) {
        let mut req = ExecuteRequest::new(code.to_string());
        req.allow_stdin = true;
        let message: JupyterMessage = req.into();
        let id = message.header.msg_id.clone();
        self.shell.send(message).await.unwrap();
        let mut prompts = Vec::new();
        for answer in answers {
            let request = timeout(WAIT, self.stdin.read()).await.unwrap().unwrap();
            let JupyterMessageContent::InputRequest(input) = &request.content else {
                panic!("{request:?}")
            };
            assert!(input.password, "a password prompt must not echo");
            prompts.push(input.prompt.clone());
            let reply = InputReply {
                value: answer.to_string(),
                status: ReplyStatus::Ok,
                error: None,
            };
            self.stdin.send(reply.as_child_of(&request)).await.unwrap();
        }
        let reply = loop {
            let reply = timeout(WAIT, self.shell.read()).await.unwrap().unwrap();
            if reply.parent_header.as_ref().map(|h| h.msg_id.clone()) == Some(id.clone()) {
                break reply;
            }
        };
        let JupyterMessageContent::ExecuteReply(r) = reply.content else {
            panic!("{reply:?}")
        };
        (r.status, text_of(&self.outputs(&id).await), prompts)
    }

    async fn execute(&mut self, code: &str) -> (JupyterMessageContent, Vec<JupyterMessageContent>) {
        let mut req = ExecuteRequest::new(code.to_string());
        req.allow_stdin = false;
        let message: JupyterMessage = req.into();
        let id = message.header.msg_id.clone();
        let reply = self.request(message).await;
        let outputs = self.outputs(&id).await;
        (reply.content, outputs)
    }

    /// Launches datasite `name` in a temporary directory from a cell, logs in as its owner (`owner`)
    /// and uploads dataset `D` with one asset, `table` (real `values` [1, 2, 3], mock `zeros`), then
    /// runs `then` in the same cell; the cell must succeed. The directory lives as long as the result.
    async fn with_table(&mut self, name: &str, then: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (reply, outputs) = self
            .execute(&format!(
                "let owner = LaunchOptions::new({name:?}).dir({:?}).reset(true).launch()?\n\
                     .login(\"info@openmined.org\", \"changethis\")?;\n\
                 let values = array(vec![1.0, 2.0, 3.0], &[3])?;\n\
                 let zeros = array(vec![0.0, 0.0, 0.0], &[3])?;\n\
                 owner.upload_dataset(Dataset::new(\"D\").asset(Asset::new(\"table\").data(&values).mock(&zeros)))?;\n\
                 {then}",
                dir.path()
            ))
            .await;
        let JupyterMessageContent::ExecuteReply(r) = reply else {
            panic!()
        };
        assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
        dir
    }
}

/// Issue 16: inspect (shift-tab) answered only free functions and magics. Every public method of the
/// facade's types (read here from the facade's sources), asked about in or after its call's
/// parentheses, gets its signature and docs from the real kernel; so do the op methods and the
/// builders' associated functions.
#[tokio::test]
async fn every_public_facade_method_has_an_inspect_answer() {
    let mut k = start().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut asked = Vec::new();
    for (ty, names) in crate::common::methods(&root.join("facade/src")) {
        for name in names {
            asked.push((format!("let v = x.{name}("), format!("{ty}::{name}")));
        }
    }
    assert!(
        asked.len() > 50,
        "only {} facade methods found",
        asked.len()
    );
    for (code, wanted) in [
        ("pointer.max(", "Pointer::max"),
        ("client.datasets(", "Client::datasets"),
        ("asset.pointer(", "SiteAsset::pointer"),
        ("Dataset::new(", "Dataset::new"),
    ] {
        asked.push((code.to_string(), wanted.to_string()));
    }
    let mut missing = Vec::new();
    for (code, wanted) in &asked {
        let request = InspectRequest {
            code: code.clone(),
            cursor_pos: code.chars().count(),
            detail_level: Some(0),
        };
        let reply = k.request(request.into()).await;
        let JupyterMessageContent::InspectReply(r) = reply.content else {
            panic!("{:?}", reply.content)
        };
        let text = serde_json::to_string(&r.data).unwrap();
        if !r.found || !text.contains(wanted.as_str()) || text.contains("(no docs)") {
            missing.push(format!("{wanted}: {text}"));
        }
    }
    assert!(
        missing.is_empty(),
        "no inspect answer with docs for:\n{}",
        missing.join("\n")
    );
}

fn text_of(outputs: &[JupyterMessageContent]) -> String {
    serde_json::to_string(outputs).unwrap()
}

#[tokio::test]
async fn kernel_info_magics_errors_and_counts() {
    let mut k = start().await;

    // kernel_info on control too (JupyterLab asks there).
    let info: JupyterMessage = KernelInfoRequest {}.into();
    k.control.send(info).await.unwrap();
    let reply = timeout(WAIT, k.control.read()).await.unwrap().unwrap();
    match reply.content {
        JupyterMessageContent::KernelInfoReply(r) => {
            assert_eq!(r.language_info.name, "rust");
            assert_eq!(r.protocol_version, "5.3");
        }
        other => panic!("{other:?}"),
    }

    let (reply, outputs) = k.execute("%help").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok);
    assert_eq!(r.execution_count.value(), 1, "execution_count starts at 1");
    assert!(text_of(&outputs).contains("%datasite launch"));

    // A magic with wrong arguments: an error reply with ename, evalue, traceback; the kernel lives on.
    let (reply, outputs) = k.execute("%login").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Error);
    assert_eq!(r.execution_count.value(), 2);
    let error = r.error.expect("error fields");
    assert_eq!(error.ename, "UsageError");
    assert!(
        error.evalue.contains("usage: %login EMAIL"),
        "{}",
        error.evalue
    );
    assert!(!error.traceback.is_empty());
    assert!(text_of(&outputs).contains("UsageError"));

    // %approve before any datasite: a clear error, kernel alive.
    let (reply, _) = k.execute("%approve deadbeef").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Error);

    // Datasite magics against a real datasite in a temp VEIL_HOME.
    let (reply, outputs) = k.execute("%datasite launch kernel-test --reset").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
    assert!(text_of(&outputs).contains("Datasite kernel-test"));

    // %login without a stdin-capable front end says so instead of hanging.
    let (reply, _) = k.execute("%login info@openmined.org").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.error.unwrap().ename, "StdinNotAllowed");

    // Served from the kernel: the magics run inside the kernel's async runtime, the server on its own.
    let (reply, outputs) = k
        .execute("%datasite launch kernel-served --reset --port 0")
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
    assert!(
        text_of(&outputs).contains("served at http://127.0.0.1:"),
        "{outputs:?}"
    );
    let (_, outputs) = k.execute("%datasite").await;
    assert!(text_of(&outputs).contains("served at"), "{outputs:?}");
    let (_, outputs) = k.execute("%land").await;
    assert!(
        text_of(&outputs).contains("kernel-served landed"),
        "{outputs:?}"
    );
    // Nothing listens at a closed port: a clear error, and the kernel answers on.
    let (reply, _) = k.execute("%datasite connect http://127.0.0.1:9").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    let error = r.error.unwrap();
    assert_eq!(error.ename, "Unavailable", "{error:?}");
    let (reply, _) = k.execute("%help").await;
    assert!(matches!(reply, JupyterMessageContent::ExecuteReply(r) if r.status == ReplyStatus::Ok));
}

#[tokio::test]
async fn login_asks_for_the_password_over_stdin() {
    let mut k = start().await;
    k.execute("%datasite launch stdin-test --reset").await;
    let (status, outputs, prompts) = k
        .answering("%login info@openmined.org\n%whoami", &["changethis"])
        .await;
    assert!(prompts[0].contains("info@openmined.org"), "{prompts:?}");
    assert_eq!(status, ReplyStatus::Ok);
    assert!(outputs.contains("default password"), "{outputs}");
    assert!(outputs.contains("User info@openmined.org"), "{outputs}");
    assert!(
        !outputs.contains("changethis"),
        "the password leaked into outputs"
    );

    // `%password` asks three times (current, new, new again), none echoed; then the next login
    // takes the new one and says nothing of a default password.
    let (status, outputs, prompts) = k
        .answering("%password", &["changethis", "n3w-pass-1", "n3w-pass-1"])
        .await;
    assert_eq!(prompts.len(), 3, "{prompts:?}");
    assert_eq!(status, ReplyStatus::Ok, "{outputs}");
    assert!(
        outputs.contains("password changed for info@openmined.org"),
        "{outputs}"
    );
    let (status, outputs, _) = k
        .answering("%login info@openmined.org", &["n3w-pass-1"])
        .await;
    assert_eq!(status, ReplyStatus::Ok, "{outputs}");
    assert!(!outputs.contains("default password"), "{outputs}");
    for secret in ["changethis", "n3w-pass-1"] {
        assert!(!outputs.contains(secret), "a password leaked into outputs");
    }
}

#[tokio::test]
async fn an_interrupt_cancels_a_password_prompt_nobody_answers() {
    let mut k = start().await;
    k.execute("%datasite launch stdin-interrupt --reset").await;
    let mut req = ExecuteRequest::new("%login info@openmined.org".to_string());
    req.allow_stdin = true;
    let message: JupyterMessage = req.into();
    let id = message.header.msg_id.clone();
    k.shell.send(message).await.unwrap();
    let request = timeout(WAIT, k.stdin.read()).await.unwrap().unwrap();
    assert!(matches!(
        request.content,
        JupyterMessageContent::InputRequest(_)
    ));
    // The front end never answers; the user presses stop.
    k.control
        .send(jupyter_protocol::InterruptRequest {}.into())
        .await
        .unwrap();
    let reply = loop {
        let reply = timeout(WAIT, k.shell.read()).await.unwrap().unwrap();
        if reply.parent_header.as_ref().map(|h| h.msg_id.clone()) == Some(id.clone()) {
            break reply;
        }
    };
    let JupyterMessageContent::ExecuteReply(r) = reply.content else {
        panic!("{reply:?}")
    };
    assert_eq!(r.status, ReplyStatus::Error);
    // ...and the kernel answers the next cell.
    let (_, outputs) = k.execute("%datasite").await;
    let outputs = text_of(&outputs);
    assert!(outputs.contains("stdin-interrupt"), "{outputs}");
}

#[tokio::test]
async fn bad_signatures_and_unknown_types_leave_the_kernel_answering() {
    let mut k = start().await;

    // A raw DEALER with our own frames: a wrong signature, a missing one, garbage.
    let mut raw = zeromq::DealerSocket::new();
    raw.connect(&format!("tcp://127.0.0.1:{}", k.info.shell_port))
        .await
        .unwrap();
    let header = serde_json::json!({
        "msg_id": "forged-1", "username": "mallory", "session": "s", "date": "2026-01-01T00:00:00Z",
        "msg_type": "execute_request", "version": "5.3"
    });
    let content = serde_json::json!({"code": "%datasite launch forged --reset", "silent": false,
        "store_history": true, "user_expressions": {}, "allow_stdin": false, "stop_on_error": true});
    for signature in ["0000", ""] {
        let frames: Vec<bytes::Bytes> = vec![
            "<IDS|MSG>".into(),
            signature.to_string().into(),
            header.to_string().into(),
            "{}".into(),
            "{}".into(),
            content.to_string().into(),
        ];
        raw.send(ZmqMessage::try_from(frames).unwrap())
            .await
            .unwrap();
    }
    // A flood of garbage must not be mistaken for a dead socket.
    for _ in 0..200 {
        raw.send(ZmqMessage::from("not a jupyter message"))
            .await
            .unwrap();
    }
    // None of them is answered...
    assert!(
        timeout(Duration::from_millis(500), raw.recv())
            .await
            .is_err(),
        "a forged message got a reply"
    );

    // ...and the kernel still answers properly signed requests.
    let (reply, _) = k.execute("%datasite").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    // The forged launch never ran: the session still has no datasite.
    assert_eq!(r.error.unwrap().ename, "NoDatasite");

    // An unknown request type gets an error reply; the kernel carries on.
    let unknown = JupyterMessage::new(
        jupyter_protocol::UnknownMessage {
            msg_type: "frobnicate_request".into(),
            content: serde_json::json!({}),
        },
        None,
    );
    let reply = k.request(unknown).await;
    assert_eq!(reply.header.msg_type, "frobnicate_reply");

    // A signed request whose content is malformed gets an error reply naming the problem.
    let malformed = JupyterMessage::new(
        jupyter_protocol::UnknownMessage {
            msg_type: "complete_request".into(),
            content: serde_json::json!({"code": "%dat", "cursor_pos": "end"}),
        },
        None,
    );
    let reply = k.request(malformed).await;
    let JupyterMessageContent::CompleteReply(r) = reply.content else {
        panic!("{reply:?}")
    };
    assert_eq!(r.status, ReplyStatus::Error);
    let error = r.error.expect("error fields");
    assert_eq!(error.ename, "BadRequest");
    assert!(
        error.evalue.contains("complete_request"),
        "{}",
        error.evalue
    );

    // jupyter_client leaves `n` and `unique` out of history searches; the spec makes them optional.
    let search = JupyterMessage::new(
        jupyter_protocol::UnknownMessage {
            msg_type: "history_request".into(),
            content: serde_json::json!({"hist_access_type": "search", "pattern": "%dat*", "output": false, "raw": true}),
        },
        None,
    );
    let reply = k.request(search).await;
    let JupyterMessageContent::HistoryReply(history) = reply.content else {
        panic!("{reply:?}")
    };
    assert_eq!(history.history.len(), 1, "the `%datasite` cell above");
    let reply = k.request(KernelInfoRequest {}.into()).await;
    assert!(matches!(
        reply.content,
        JupyterMessageContent::KernelInfoReply(_)
    ));
}

#[tokio::test]
async fn rust_cells_run_with_the_facade_in_scope() {
    let mut k = start().await;
    let (reply, outputs) = k
        .execute("let answer = 6 * 7;\nprintln!(\"hello from rust\");")
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
    assert!(text_of(&outputs).contains("hello from rust"));

    // State persists between cells; the value is an execute_result.
    let (_, outputs) = k.execute("answer").await;
    assert!(
        text_of(&outputs).contains("\"text/plain\":\"42\""),
        "{}",
        text_of(&outputs)
    );

    // The facade is preloaded: display() sends display_data with HTML.
    let (_, outputs) = k.execute("display(&html(\"<b>veil</b>\"));").await;
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, JupyterMessageContent::DisplayData(_))),
        "{outputs:?}"
    );

    // An upload of 8 MB or more shows its progress as one display, updated in place, that ends
    // saying it is done.
    let site_dir = tempfile::tempdir().unwrap();
    let (reply, outputs) = k
        .execute(&format!(
            "let big = array((0..1_100_000).map(|i| i as f64).collect::<Vec<_>>(), &[1_100_000])?;\n\
             let zeros = array(vec![0.0; 1_100_000], &[1_100_000])?;\n\
             let owner = LaunchOptions::new(\"progress\").dir({:?}).reset(true).launch()?\n\
                 .login(\"info@openmined.org\", \"changethis\")?;\n\
             owner.upload_dataset(Dataset::new(\"Large\").asset(Asset::new(\"v\").data(&big).mock(&zeros)))?;",
            site_dir.path()
        ))
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
    let shown: Vec<&String> = outputs
        .iter()
        .filter_map(|o| match o {
            JupyterMessageContent::DisplayData(d) => d.transient.as_ref()?.display_id.as_ref(),
            _ => None,
        })
        .collect();
    assert_eq!(shown.len(), 1, "{outputs:?}");
    assert!(shown[0].starts_with("veil-progress-"), "{shown:?}");
    let updates: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            JupyterMessageContent::UpdateDisplayData(u)
                if u.transient.display_id.as_ref() == Some(shown[0]) =>
            {
                serde_json::to_string(&u.data).ok()
            }
            _ => None,
        })
        .collect();
    let last = updates.last().expect("the display is updated");
    assert!(last.contains("uploading `Large`: done in"), "{updates:?}");

    // A compile error points into the cell, at the cell's own line and column (not evcxr's
    // `src/lib.rs`); the session survives.
    let (reply, _) = k
        .execute("let fine = 1;\nlet broken: i32 = \"text\";")
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    let error = r.error.unwrap();
    assert_eq!(error.ename, "CompileError");
    assert!(
        error.evalue.contains("mismatched types"),
        "{}",
        error.evalue
    );
    let traceback = error.traceback.join("\n");
    assert!(traceback.contains("--> cell:2:19"), "{traceback}");
    assert!(
        traceback.contains("2 | let broken: i32 = \"text\";"),
        "{traceback}"
    );
    assert!(traceback.contains("^^^^^^"), "{traceback}");
    assert!(!traceback.contains("lib.rs"), "{traceback}");

    // A PySyft habit in a compile error gets Veil's spelling, and `%help pysyft` has the table.
    let (reply, _) = k
        .execute("let s = String::new();\nlet m = s.mock_data;")
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    let error = r.error.unwrap();
    assert_eq!(error.ename, "CompileError");
    let traceback = error.traceback.join("\n");
    assert!(
        traceback.contains("hint: PySyft's `asset.mock_data` is `asset.mock()?` in Veil"),
        "{traceback}"
    );
    let (_, outputs) = k.execute("%help pysyft").await;
    let table = text_of(&outputs);
    assert!(
        table.contains("approve_with_client") && table.contains("request.approve()"),
        "{table}"
    );

    // A panic is an error, and earlier variables are still there.
    let (reply, _) = k.execute("panic!(\"boom\");").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    let error = r.error.unwrap();
    assert_eq!(error.ename, "Panic");
    assert!(error.evalue.contains("boom"));
    let (_, outputs) = k.execute("answer + 1").await;
    assert!(text_of(&outputs).contains("43"), "{}", text_of(&outputs));
}

/// Issue 31: errors the facade makes itself (a typo'd asset name, several values where one was
/// asked for, a lost connection to the kernel) are the cell's error, as the datasite's are: the
/// cell stops there and its reply is an error named after the error's kind, so *Run All* stops
/// too; the marker that told the kernel is not part of the cell's output.
#[tokio::test]
async fn the_facades_own_errors_are_the_cells_error() {
    let mut k = start().await;
    let _site = k
        .with_table("typos", "let ds = owner.dataset(\"D\")?;")
        .await;
    let cases = [
        (
            "let asset = ds.asset(\"tabel\")?;\nprintln!(\"after the error\");",
            "NotFound",
            "has no asset `tabel`",
        ),
        (
            "let n = values.number()?;\nprintln!(\"after the error\");",
            "TypeMismatch",
            "holds 3 values",
        ),
        (
            "let socket = std::env::var(\"VEIL_BRIDGE_SOCKET\").unwrap();\n\
             let token = std::env::var(\"VEIL_BRIDGE_TOKEN\").unwrap();\n\
             veil::use_bridge(\"/nonexistent/veil.sock\", \"x\");\n\
             let lost = veil::client();\n\
             veil::use_bridge(socket, token);\n\
             let lost = lost?;\nprintln!(\"after the error\");",
            "KernelUnavailable",
            "lost the connection to the Veil kernel",
        ),
    ];
    for (code, name, says) in cases {
        let (reply, outputs) = k.execute(code).await;
        let JupyterMessageContent::ExecuteReply(r) = reply else {
            panic!()
        };
        assert_eq!(r.status, ReplyStatus::Error, "{code}: {outputs:?}");
        let error = r.error.expect("error fields");
        assert_eq!(error.ename, name, "{code}: {error:?}");
        assert!(error.evalue.contains(says), "{code}: {}", error.evalue);
        // Nothing after the `?` ran, and the marker is not output (the code's echo aside).
        let printed: Vec<&JupyterMessageContent> = outputs
            .iter()
            .filter(|o| !matches!(o, JupyterMessageContent::ExecuteInput(_)))
            .collect();
        let text = format!("{printed:?}");
        assert!(!text.contains("after the error"), "{code}: {text}");
        assert!(!text.contains("VEIL_FAILURE"), "{code}: {text}");
    }
    // The session lives on, its bridge restored.
    let (_, outputs) = k.execute("ds.asset(\"table\")?.name.clone()").await;
    assert!(text_of(&outputs).contains("table"), "{}", text_of(&outputs));
}

#[tokio::test]
async fn interrupt_stops_a_looping_cell_and_shutdown_exits() {
    let mut k = start().await;
    k.execute("let kept = 1;").await;
    let message: JupyterMessage = ExecuteRequest::new(
        "loop { std::thread::sleep(std::time::Duration::from_millis(10)); }".to_string(),
    )
    .into();
    let id = message.header.msg_id.clone();
    k.shell.send(message).await.unwrap();
    // Wait until the loop is running (the cell compiles first), then interrupt over control.
    tokio::time::sleep(Duration::from_secs(8)).await;
    k.control
        .send(jupyter_protocol::InterruptRequest {}.into())
        .await
        .unwrap();
    let reply = timeout(WAIT, k.control.read()).await.unwrap().unwrap();
    assert!(matches!(
        reply.content,
        JupyterMessageContent::InterruptReply(_)
    ));
    let reply = loop {
        let reply = timeout(WAIT, k.shell.read())
            .await
            .expect("interrupted cell never replied")
            .unwrap();
        if reply.parent_header.as_ref().map(|h| h.msg_id.clone()) == Some(id.clone()) {
            break reply;
        }
    };
    let JupyterMessageContent::ExecuteReply(r) = reply.content else {
        panic!()
    };
    let error = r.error.unwrap();
    assert_eq!(error.ename, "Interrupted");
    assert!(
        error.evalue.contains("kept"),
        "lost variables must be named: {}",
        error.evalue
    );
    // The session goes on.
    let (reply, _) = k.execute("1 + 1").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok);

    k.control
        .send(ShutdownRequest { restart: false }.into())
        .await
        .unwrap();
    let reply = timeout(WAIT, k.control.read()).await.unwrap().unwrap();
    assert!(matches!(
        reply.content,
        JupyterMessageContent::ShutdownReply(_)
    ));
    let status = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(status) = k.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    })
    .await
    .unwrap();
    assert!(
        status
            .expect("kernel did not exit after shutdown")
            .success()
    );
}

/// Frames of a signed message with any `content` bytes, as a client with the key could send them.
fn signed(key: &str, msg_type: &str, content: &[u8]) -> ZmqMessage {
    let header = serde_json::json!({
        "msg_id": uuid::Uuid::new_v4().to_string(), "username": "t", "session": "s", "date": "2026-01-01T00:00:00Z",
        "msg_type": msg_type, "version": "5.3"
    })
    .to_string();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mut mac = ring::hmac::Context::with_key(&key);
    for part in [header.as_bytes(), b"{}", b"{}", content] {
        mac.update(part);
    }
    let signature: String = mac
        .sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let frames: Vec<bytes::Bytes> = vec![
        "<IDS|MSG>".into(),
        signature.into(),
        header.into(),
        "{}".into(),
        "{}".into(),
        bytes::Bytes::copy_from_slice(content),
    ];
    ZmqMessage::try_from(frames).unwrap()
}

/// The header and content of a reply read off a raw socket.
fn decoded(reply: ZmqMessage) -> (serde_json::Value, serde_json::Value) {
    let frames = reply.into_vec();
    let at = frames
        .iter()
        .position(|f| f.as_ref() == b"<IDS|MSG>")
        .expect("a delimiter");
    let json = |i: usize| serde_json::from_slice(&frames[at + i]).unwrap();
    (json(2), json(5))
}

/// Found by attack: signed requests whose content was not JSON, not UTF-8 or nested 200,000 deep got
/// no reply at all (the client waited forever), and control ignored requests it did not handle.
#[tokio::test]
async fn every_signed_request_gets_a_reply_on_shell_and_control() {
    let mut k = start().await;
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    for port in [k.info.shell_port, k.info.control_port] {
        let mut raw = zeromq::DealerSocket::new();
        raw.connect(&format!("tcp://127.0.0.1:{port}"))
            .await
            .unwrap();
        let cases: [(&str, &[u8], &str); 4] = [
            ("kernel_info_request", b"{not json", "BadRequest"),
            (
                "kernel_info_request",
                &[0x7b, 0xff, 0xfe, 0x7d],
                "BadRequest",
            ),
            ("kernel_info_request", deep.as_bytes(), "BadRequest"),
            ("frobnicate_request", b"{}", "UnknownMessageType"),
        ];
        for (msg_type, content, ename) in cases {
            raw.send(signed(&k.info.key, msg_type, content))
                .await
                .unwrap();
            let reply = timeout(WAIT, raw.recv())
                .await
                .unwrap_or_else(|_| panic!("no reply to {msg_type} on port {port}"))
                .unwrap();
            let (header, content) = decoded(reply);
            assert_eq!(header["msg_type"], msg_type.replace("_request", "_reply"));
            assert_eq!(content["status"], "error", "{content}");
            assert_eq!(content["ename"], ename, "{content}");
            assert!(
                content["evalue"].as_str().unwrap().len() < 1000,
                "{content}"
            );
        }
    }
    // A shell request sent to control is refused by name.
    let reply = {
        let message: JupyterMessage = ExecuteRequest::new("1".into()).into();
        k.control.send(message).await.unwrap();
        timeout(WAIT, k.control.read()).await.unwrap().unwrap()
    };
    assert_eq!(reply.header.msg_type, "execute_reply");
    let reply = k.request(KernelInfoRequest {}.into()).await;
    assert!(matches!(
        reply.content,
        JupyterMessageContent::KernelInfoReply(_)
    ));
}

/// Found by attack: a history search overflowed the kernel's stack after one 200,000-character cell,
/// and `*a*a*a*a*a*a*a*a*a*a*a*a*b` against a 48-character cell hung the shell for good.
#[tokio::test]
async fn history_searches_answer_on_long_cells_and_backtracking_patterns() {
    let mut k = start().await;
    for n in [200_000, 48] {
        k.execute(&format!("%nosuchmagic {}", "a".repeat(n))).await;
    }
    for (pattern, found) in [("*a*a*a*a*a*a*a*a*a*a*a*a*b", 0), ("%nosuch*a", 2)] {
        let search = JupyterMessage::new(
            jupyter_protocol::UnknownMessage {
                msg_type: "history_request".into(),
                content: serde_json::json!({"hist_access_type": "search", "pattern": pattern, "output": false, "raw": true}),
            },
            None,
        );
        let reply = k.request(search).await;
        let JupyterMessageContent::HistoryReply(history) = reply.content else {
            panic!("{reply:?}")
        };
        assert_eq!(history.history.len(), found, "{pattern}");
    }
}

/// Found by attack: any local process that could connect to a port, with no key, killed the kernel:
/// a ZMTP greeting, then a frame header announcing 2^40 bytes, made the `zeromq` crate reserve that
/// much and abort. Every port drops such a peer before anything is allocated.
#[tokio::test]
async fn an_oversized_frame_from_a_raw_peer_is_dropped_on_every_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut k = start().await;
    let info = k.info.clone();
    for port in [
        info.shell_port,
        info.iopub_port,
        info.stdin_port,
        info.control_port,
        info.hb_port,
    ] {
        let mut peer = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3;
        greeting[12..16].copy_from_slice(b"NULL");
        let mut frame = vec![0x02];
        frame.extend((1u64 << 40).to_be_bytes());
        peer.write_all(&greeting).await.unwrap();
        peer.write_all(&frame).await.unwrap();
        // The peer is cut off: its reads end (after whatever greeting the kernel sent).
        let mut rest = Vec::new();
        let read = timeout(WAIT, peer.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "port {port} kept a peer that announced 2^40 bytes"
        );
    }
    // The kernel is still there, and still answers.
    assert!(k.child.try_wait().unwrap().is_none(), "the kernel exited");
    let reply = k.request(KernelInfoRequest {}.into()).await;
    assert!(matches!(
        reply.content,
        JupyterMessageContent::KernelInfoReply(_)
    ));
    let (reply, _) = k.execute("%help").await;
    assert!(matches!(reply, JupyterMessageContent::ExecuteReply(_)));
}

/// Issue 16: a fresh session's first Rust cell waited ten seconds for evcxr's context. A kernel whose
/// context is ready and whose shell has gone quiet starts a warm spare, and the next kernel adopts it: the cells run in the spare's
/// process, with the new kernel's environment and directory. Killing the kernel Jupyter launched
/// stops the spare serving it, which clears its context and serves the kernel after as a fresh
/// one would; a context whose cells changed what clearing cannot undo is not served again.
#[tokio::test]
async fn the_next_kernel_adopts_the_warm_spare_with_its_own_environment() {
    let turn = ONE_AT_A_TIME.lock().await;
    // From a cold kernel: a spare left by the tests before may have served its share of kernels.
    stop_the_waiting_spare();
    let mut first = start_holding(turn).await;
    let (_, outputs) = first.execute("1 + 1").await;
    assert!(text_of(&outputs).contains("2"), "{}", text_of(&outputs));
    wait_for_a_spare().await;
    // Run back to back (eager), an adopted kernel starts no fresh spare: it becomes the next one.
    let eager = [("VEIL_KERNEL_SPARE", "eager")];
    let mut second = start_with(first.stop(), &eager).await;
    let (serving, home) = spare_and_home(&mut second).await;
    let expected = second._dir.path().join("home");
    assert_eq!(
        home,
        expected.display().to_string(),
        "the cell sees the new kernel's VEIL_HOME"
    );
    assert_ne!(
        serving,
        second.child.id(),
        "the cells run under the spare, not a cold kernel"
    );
    // The kernel process takes the environment too: a datasite lands under the new VEIL_HOME.
    let (_, outputs) = second.execute("%datasite launch adopted").await;
    assert!(expected.join("adopted").exists(), "{}", text_of(&outputs));
    let (_, outputs) = second.execute("let leftover = 7;").await;
    assert!(
        !text_of(&outputs).contains("error"),
        "{}",
        text_of(&outputs)
    );

    // Killing what Jupyter launched ends that kernel; its spare serves the next, cleared.
    // The turn is kept, so no other test's kernel takes the spare in between.
    let turn = second.stop();
    wait_for_a_spare().await;
    let mut third = start_with(turn, &eager).await;
    let (again, home) = spare_and_home(&mut third).await;
    assert_eq!(again, serving, "the same process serves the next kernel");
    assert_eq!(home, third._dir.path().join("home").display().to_string());
    let (_, outputs) = third.execute("leftover").await;
    assert!(
        text_of(&outputs).contains("cannot find value `leftover`"),
        "the last kernel's variable survived: {}",
        text_of(&outputs)
    );
    let (_, outputs) = third.execute("%datasets").await;
    assert!(
        text_of(&outputs).contains("NoDatasite"),
        "the last kernel's datasite survived: {}",
        text_of(&outputs)
    );
    // `:env` sets a variable in the serving process itself, which clearing would not undo.
    let (_, outputs) = third.execute(":env VEIL_LEFT_BEHIND=1").await;
    assert!(
        text_of(&outputs).contains("VEIL_LEFT_BEHIND"),
        "{}",
        text_of(&outputs)
    );
    drop(third.stop());
    let waited = std::time::Instant::now();
    let alive = |pid: u32| {
        // A zombie has exited; whoever adopted it reaps it when it will.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
    };
    while alive(serving) {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the spare {serving} served on after `:env`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `veil-kernel install` warms the Rust cells by starting the first spare and waiting for it, so
/// the first kernel launched after it adopts a ready context instead of starting cold.
#[tokio::test]
async fn install_leaves_a_warm_spare_that_the_first_kernel_adopts() {
    let turn = ONE_AT_A_TIME.lock().await;
    stop_the_waiting_spare();
    let prefix = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veil-kernel"))
        .arg("install")
        .arg("--prefix")
        .arg(prefix.path())
        .env("VEIL_KERNEL_CACHE", cache_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("left a warm spare"), "{stdout}");
    let lock = std::fs::read_to_string(cache_dir().join("spare.lock")).unwrap();
    let waiting: u32 = lock.split(' ').next().unwrap().parse().unwrap();
    let mut first = start_holding(turn).await;
    let (serving, _) = spare_and_home(&mut first).await;
    assert_eq!(
        serving, waiting,
        "the first kernel runs its cells in install's spare"
    );
}

/// Kills the spare warming or waiting in the tests' cache directory, if there is one (it holds
/// the spare lock, with its pid written in it), until none has held it for a second: the spare
/// that served the last test's kernel takes the lock again a moment after that kernel is killed.
fn stop_the_waiting_spare() {
    let path = cache_dir().join("spare.lock");
    let held = || std::fs::File::open(&path).is_ok_and(|lock| lock.try_lock_shared().is_err());
    let mut free_since = std::time::Instant::now();
    while free_since.elapsed() < Duration::from_secs(1) {
        if held() {
            let text = std::fs::read_to_string(&path).unwrap();
            let pid = text.split(' ').next().unwrap();
            Command::new("kill").args(["-9", pid]).status().unwrap();
            let waited = std::time::Instant::now();
            while held() {
                assert!(
                    waited.elapsed() < Duration::from_secs(10),
                    "spare {pid} outlived a kill"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            free_since = std::time::Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until a spare listens in the tests' cache directory (a live one, not the socket file a
/// killed one left).
async fn wait_for_a_spare() {
    let socket = cache_dir().join("spare.sock");
    let waited = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            waited.elapsed() < Duration::from_secs(300),
            "no spare became ready in {}",
            cache_dir().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pid of the process serving `kernel`'s cells (evcxr's child's parent) and the `VEIL_HOME`
/// its cells see.
async fn spare_and_home(kernel: &mut Kernel) -> (u32, String) {
    let (_, outputs) = kernel
        .execute("format!(\"{} {}\", std::os::unix::process::parent_id(), std::env::var(\"VEIL_HOME\").unwrap())")
        .await;
    let text = text_of(&outputs);
    text.split(r#""text/plain":"\""#)
        .nth(1)
        .and_then(|t| t.split_once("\\\"").map(|(value, _)| value))
        .and_then(|value| value.split_once(' '))
        .and_then(|(pid, home)| Some((pid.parse().ok()?, home.to_string())))
        .unwrap_or_else(|| panic!("no pid and home in {text}"))
}

const OFFLINE_TEST: &str = "protocol::a_cold_kernel_with_no_route_to_the_registry_runs_rust_cells";

/// Issue 31: a kernel with no warm work slot (a fresh cache: evcxr compiles the facade and its
/// dependencies) in a network namespace with loopback alone, so no route to the crate registry,
/// runs Rust cells: they build offline from cargo's cache. Needs root and iproute2, as CI has;
/// the kernel side is this test binary again, run inside the namespace.
#[tokio::test]
async fn a_cold_kernel_with_no_route_to_the_registry_runs_rust_cells() {
    if std::env::var_os("VEIL_OFFLINE_INSIDE").is_some() {
        return cold_kernel_offline().await;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || Command::new("ip").arg("-V").output().is_err() {
        eprintln!("{OFFLINE_TEST}: did not run (it needs root and iproute2, as CI has)");
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let ns = format!("veil-offline-{}", std::process::id() % 100_000);
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    ip(&["netns", "add", &ns]);
    struct Delete(String);
    impl Drop for Delete {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _delete = Delete(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(std::env::current_exe().unwrap())
        .args([OFFLINE_TEST, "--exact", "--nocapture"])
        .env("VEIL_OFFLINE_INSIDE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "inside the namespace:\n{stdout}\n{stderr}"
    );
}

/// The kernel side of [`a_cold_kernel_with_no_route_to_the_registry_runs_rust_cells`].
async fn cold_kernel_offline() {
    use std::net::ToSocketAddrs;
    // The namespace has no route: the registry is neither resolved nor reached.
    assert!("index.crates.io:443".to_socket_addrs().is_err());
    let unreachable = std::net::TcpStream::connect_timeout(
        &"151.101.0.1:443".parse().unwrap(),
        Duration::from_secs(2),
    );
    assert!(unreachable.is_err(), "{unreachable:?}");
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().to_str().unwrap();
    let mut k = start_with(
        ONE_AT_A_TIME.lock().await,
        &[("VEIL_KERNEL_CACHE", cache), ("VEIL_KERNEL_SPARE", "off")],
    )
    .await;
    // Compiling the facade and its dependencies from cold takes minutes on a busy machine.
    k.wait = Duration::from_secs(900);
    let (reply, outputs) = k.execute("let answer = 40 + 2;\nanswer").await;
    assert!(
        matches!(&reply, JupyterMessageContent::ExecuteReply(r) if r.status == jupyter_protocol::ReplyStatus::Ok),
        "{reply:?} {outputs:?}"
    );
    assert!(text_of(&outputs).contains("42"), "{outputs:?}");
    // A crate the cache does not have: the error says cells build offline, and how to fetch it.
    let (_, outputs) = k.execute(":dep no-such-crate-at-all = \"1\"").await;
    let text = text_of(&outputs);
    assert!(text.contains(":env CARGO_NET_OFFLINE=false"), "{text}");
}

/// Issue 31: after `pointer.` completion lists `Pointer`'s public methods only (none of its
/// private fields, `handle`, `client`, `view`), sorted, each with its signature; along a chain of
/// calls too. Shift-tab in `asset.mock(` answers `SiteAsset::mock` alone, not every `mock`.
#[tokio::test]
async fn completion_and_inspect_follow_the_receivers_type() {
    let mut k = start().await;
    let _site = k
        .with_table(
            "completing",
            "let asset = owner.dataset(\"D\")?.asset(\"table\")?;\nlet pointer = asset.pointer()?;",
        )
        .await;

    for code in [
        "pointer.",
        "let top = pointer.me",
        "asset.pointer()?.",
        "owner.dataset(\"D\")?.asset(\"table\")?.pointer()?.",
    ] {
        let request = CompleteRequest {
            code: code.to_string(),
            cursor_pos: code.chars().count(),
        };
        let reply = k.request(request.into()).await;
        let JupyterMessageContent::CompleteReply(c) = reply.content else {
            panic!("{:?}", reply.content)
        };
        assert!(!c.matches.is_empty(), "{code}: nothing offered");
        let typed = code.rsplit('.').next().unwrap();
        assert!(
            c.matches.iter().all(|m| m.starts_with(typed)),
            "{code}: {:?}",
            c.matches
        );
        for internal in ["handle", "client", "view", "send"] {
            assert!(
                !c.matches
                    .iter()
                    .any(|m| m.split('(').next() == Some(internal)),
                "{code}: {internal} offered: {:?}",
                c.matches
            );
        }
        let mut sorted = c.matches.clone();
        sorted.sort();
        assert_eq!(c.matches, sorted, "{code}");
        assert_eq!(c.cursor_end, code.chars().count());
        assert_eq!(c.cursor_start, code.chars().count() - typed.chars().count());
        let types = c.metadata["_jupyter_types_experimental"]
            .as_array()
            .unwrap();
        assert_eq!(types.len(), c.matches.len());
        if typed.is_empty() {
            assert!(
                c.matches.iter().any(|m| m == "request(reason)"),
                "{:?}",
                c.matches
            );
            let max = types.iter().find(|t| t["text"] == "max()").unwrap();
            assert_eq!(
                max["signature"], "pub fn max(&self) -> Result<Self>",
                "{max}"
            );
        } else {
            assert!(c.matches.iter().any(|m| m == "mean()"), "{:?}", c.matches);
        }
    }

    let code = "let m = asset.mock(";
    let request = InspectRequest {
        code: code.to_string(),
        cursor_pos: code.chars().count(),
        detail_level: Some(0),
    };
    let reply = k.request(request.into()).await;
    let JupyterMessageContent::InspectReply(r) = reply.content else {
        panic!("{:?}", reply.content)
    };
    let text = serde_json::to_string(&r.data).unwrap();
    assert!(text.contains("SiteAsset::mock"), "{text}");
    assert_eq!(text.matches("::mock").count(), 1, "one `mock` only: {text}");
}

/// Issue 31: a code request's compile errors and panics, and a cell's panic, are the cell's error,
/// printed once and whole, and cite the cell's line (and the function's).
#[tokio::test]
async fn code_errors_and_panics_cite_the_cells_line() {
    let mut k = start().await;
    let _site = k
        .with_table(
            "cited",
            "let asset = owner.dataset(\"D\")?.asset(\"table\")?;",
        )
        .await;
    let cases = [
        (
            "let f = function! {\n    fn f(x: Array1<f64>) -> f64 {\n        let total: f64 = x.sum();\n        let wrong: String = total;\n        undefined_name + 1.0\n    }\n}\n.input_policy(ExactMatch::new().asset(\"x\", &asset));\nf.run_on_mocks()?",
            vec![
                " --> f:4:5 (cell line 5)",
                "4 |     undefined_name + 1.0",
                " --> f:3:25 (cell line 4)",
                "3 |     let wrong: String = total;",
            ],
            "undefined_name",
        ),
        (
            "let g = function! {\n    fn g(x: Array1<f64>) -> f64 {\n        let v: Vec<f64> = Vec::new();\n        v[3]\n    }\n}\n.input_policy(ExactMatch::new().asset(\"x\", &asset));\ng.run_on_mocks()?",
            vec!["panicked at g:3:6 (cell line 4)", "index out of bounds"],
            "index out of bounds",
        ),
        (
            "let v: Vec<i32> = Vec::new();\nlet n = 1;\nv[n + 2]",
            vec!["index out of bounds: the len is 0 but the index is 3 (at cell line 3)"],
            "index out of bounds",
        ),
    ];
    for (code, says, once) in cases {
        let (reply, outputs) = k.execute(code).await;
        let JupyterMessageContent::ExecuteReply(r) = reply else {
            panic!()
        };
        assert_eq!(r.status, ReplyStatus::Error, "{code}: {outputs:?}");
        let error = r.error.expect("error fields");
        for said in says {
            assert!(
                error.evalue.contains(said),
                "{code}: {said:?} not in {}",
                error.evalue
            );
        }
        assert!(
            !error.evalue.contains("For more information"),
            "{}",
            error.evalue
        );
        assert!(!error.evalue.contains('…'), "cut: {}", error.evalue);
        // Printed once: the error output, not also evcxr's echo of it on stderr.
        let streamed: String = outputs
            .iter()
            .filter_map(|o| match o {
                JupyterMessageContent::StreamContent(s) => Some(s.text.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            !streamed.contains(once),
            "{code}: printed again: {streamed}"
        );
    }
}

/// Issue 31: a cell ending with a plot of a frame it holds shows a Vega-Lite chart (JSON, for
/// JupyterLab's own Vega) and an SVG of the same picture; a bad plot says what to do.
#[tokio::test]
async fn plots_show_as_vega_lite_and_svg() {
    let mut k = start().await;
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks/data/breast_cancer_wisconsin_diagnostic.csv");
    let (reply, outputs) = k
        .execute(&format!(
            "let frame = read_csv({:?})?;\nframe.hist(\"radius1\")?",
            csv.canonicalize().unwrap()
        ))
        .await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    assert_eq!(r.status, ReplyStatus::Ok, "{outputs:?}");
    let result = outputs
        .iter()
        .find_map(|o| match o {
            JupyterMessageContent::ExecuteResult(r) => Some(serde_json::to_value(&r.data).unwrap()),
            _ => None,
        })
        .expect("an execute_result");
    let spec = &result["application/vnd.vegalite.v5+json"];
    assert_eq!(spec["mark"]["type"], "bar", "{result}");
    let counted: f64 = spec["data"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["count"].as_f64().unwrap())
        .sum();
    assert_eq!(counted, 569.0, "every patient's radius binned");
    let svg = result["image/svg+xml"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && !svg.contains("<script"), "{svg}");
    assert!(
        result["text/plain"]
            .as_str()
            .unwrap()
            .contains("histogram of `radius1`")
    );

    let (_, outputs) = k.execute("frame.bar_counts(\"Diagnosis\")?").await;
    assert!(
        text_of(&outputs).contains("value counts of `Diagnosis`"),
        "{}",
        text_of(&outputs)
    );
    let (reply, _) = k.execute("frame.hist(\"Diagnosis\")?").await;
    let JupyterMessageContent::ExecuteReply(r) = reply else {
        panic!()
    };
    let error = r.error.expect("an error");
    assert!(error.evalue.contains("bar_counts"), "{}", error.evalue);
}
