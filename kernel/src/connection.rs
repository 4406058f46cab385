//! Starting a kernel from a Jupyter connection file: bind the five sockets, start the channel tasks,
//! and run until shutdown.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jupyter_protocol::ConnectionInfo;
use jupyter_zmq_client::{
    create_kernel_control_connection, create_kernel_heartbeat_connection,
    create_kernel_iopub_xpub_connection, create_kernel_shell_connection,
    create_kernel_stdin_connection,
};

use crate::bridge::{Bridge, Cells, Failures};
use crate::history::History;
use crate::iopub::{Iopub, Pending};
use crate::rust::RustCells;
use crate::session::Session;
use crate::shell::{Activity, Shell, run_control, run_shell};
use crate::{heartbeat, rust};

/// The next kernel's spare, as a kernel starts it (see [`Prepared::serve`]; `spare::next` makes
/// one). Declared here, where it is started, so that serving needs nothing of `spare`.
pub struct NextSpare {
    /// How long the kernel's shell must be quiet first.
    pub quiet: Duration,
    /// Starts it, detached.
    pub start: Box<dyn FnOnce() + Send>,
}

/// Reads and checks a connection file.
pub fn read_connection_file(path: &Path) -> Result<ConnectionInfo> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading connection file {}", path.display()))?;
    let info: ConnectionInfo = serde_json::from_str(&text)
        .with_context(|| format!("parsing connection file {}", path.display()))?;
    if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
        bail!(
            "connection file {} asks for signature scheme `{}`; veil-kernel supports hmac-sha256 only",
            path.display(),
            info.signature_scheme
        );
    }
    Ok(info)
}

/// What a kernel and a warm spare both start with: evcxr's work slot, the cell bridge, the async
/// runtime, and the [`Prepared`] session, whose evcxr context starts in the background (`on_ready`
/// runs once it is ready). Call before any thread exists: the work slot sets evcxr's environment
/// (see [`rust::Workdir::acquire`]).
pub fn prepare(
    options: &rust::Options,
    on_ready: impl FnOnce() + Send + 'static,
) -> Result<(tokio::runtime::Runtime, Prepared)> {
    let workdir = rust::Workdir::acquire(options)?;
    let bridge = Bridge::bind(&std::env::temp_dir())?;
    bridge.export_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let prepared = {
        let _entered = runtime.enter();
        Prepared::new(workdir, bridge, on_ready)?
    };
    Ok((runtime, prepared))
}

/// Everything a kernel has before its sockets: the session, the cell bridge serving it, and evcxr's
/// context starting in the background. A kernel makes one and serves at once; a warm spare
/// (`crate::spare`) makes one, waits to be adopted, serves, and may then [`recycle`](Self::recycle)
/// it for the next kernel.
pub struct Prepared {
    bridge: Bridge,
    cells: Arc<Cells>,
    session: Arc<Mutex<Session>>,
    iopub: Iopub,
    pending: Pending,
    rust: RustCells,
}

impl Prepared {
    /// Starts the bridge and evcxr; `on_ready` runs once evcxr's context is ready for cells.
    pub fn new(
        workdir: rust::Workdir,
        bridge: Bridge,
        on_ready: impl FnOnce() + Send + 'static,
    ) -> Result<Prepared> {
        let (iopub, pending) = Iopub::pending();
        let session = Arc::new(Mutex::new(Session::default()));
        let failures = Failures::default();
        let cells =
            Arc::new(Cells::new(session.clone(), failures.clone()).reporting_to(iopub.clone()));
        bridge.serve(cells.clone())?;
        // evcxr starts in the background: kernel_info and magics are answered at once, and the first
        // Rust cell waits only for whatever start-up is left.
        let rust = RustCells::start(workdir, iopub.clone(), failures, Box::new(on_ready));
        Ok(Prepared {
            bridge,
            cells,
            session,
            iopub,
            pending,
            rust,
        })
    }

    /// Has rust-analyzer type a variable, as a first `let` would (the few seconds it spends loading
    /// the standard library's types the first time), without running anything or defining it: a
    /// completion request. A warm spare does this before it is adopted.
    pub async fn warm_up(&self) {
        const CODE: &str = "let veil_warm_up = String::new(); veil_warm_up.";
        self.rust.complete(CODE, CODE.chars().count()).await;
    }

    /// Whether evcxr's context is ready for cells.
    pub fn ready(&self) -> bool {
        self.rust.ready()
    }

    /// Starts the next kernel's spare if [`serve`](Self::serve) left it unstarted (a kernel that
    /// never went quiet: a notebook run top to bottom) and this context is ready, on the CPU this
    /// kernel no longer needs.
    pub fn start_next_spare(&self, next: Option<NextSpare>) {
        if self.ready()
            && let Some(next) = next
        {
            (next.start)();
        }
    }

    /// The pid of evcxr's process, which runs the cells, once it has started.
    pub fn child_pid(&self) -> Option<u32> {
        self.rust.child_pid()
    }

    /// Queues a cell of the kernel's own before any of the user's (see [`RustCells::prelude`]).
    pub fn prelude(&self, code: String) {
        self.rust.prelude(code);
    }

    /// Makes this what a fresh one is, for the next kernel, once [`serve`](Self::serve) has
    /// returned: evcxr's context cleared and its facade loaded again ([`RustCells::recycle`], well
    /// under a second where a fresh context takes ten), no session, no values cells held handles
    /// to, nothing left of the last kernel's output.
    ///
    /// `serve` landed the session as it stopped, but a cell the last kernel sent just before may
    /// still have been queued for evcxr: it runs before the clearing, and whatever it made through
    /// the bridge (a datasite `site()` opened, say) goes here with the rest.
    pub async fn recycle(&mut self) -> Result<()> {
        self.rust.recycle().await?;
        self.cells.forget_all();
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .land();
        self.iopub.set_current(None);
        self.pending.discard();
        Ok(())
    }

    /// Binds the sockets of `info` and serves until a `shutdown_request` arrives or `stop`
    /// resolves, then closes them and lands the session. The next kernel's warm spare starts once
    /// the context is ready and no request has run for `next_spare.quiet`; if it has not started
    /// when this returns, `next_spare` still holds it.
    pub async fn serve(
        &mut self,
        info: ConnectionInfo,
        stop: impl std::future::Future<Output = ()>,
        next_spare: &mut Option<NextSpare>,
    ) -> Result<()> {
        let Prepared {
            bridge,
            cells,
            session,
            iopub,
            pending,
            rust,
        } = self;
        let session_id = uuid::Uuid::new_v4().to_string();
        // Over TCP the ZeroMQ sockets listen on Unix sockets behind the guard, which checks each
        // peer's framing before the `zeromq` crate allocates anything for it.
        let inner = crate::guard::inner(&info, bridge.dir());
        let sockets = inner.as_ref().unwrap_or(&info);
        let heartbeat = create_kernel_heartbeat_connection(sockets)
            .await
            .context("binding the heartbeat socket")?;
        let iopub_socket = create_kernel_iopub_xpub_connection(sockets, &session_id)
            .await
            .context("binding the iopub socket")?;
        let shell = create_kernel_shell_connection(sockets, &session_id)
            .await
            .context("binding the shell socket")?;
        let control = create_kernel_control_connection(sockets, &session_id)
            .await
            .context("binding the control socket")?;
        let stdin = create_kernel_stdin_connection(sockets, &session_id)
            .await
            .context("binding the stdin socket")?;
        let guard = match &inner {
            Some(inner) => Some(crate::guard::serve(&info, inner).await?),
            None => None,
        };

        let (replies, requests) = shell.split();
        let activity = Activity::default();
        let shell = Shell {
            iopub: iopub.clone(),
            replies,
            stdin,
            session: session.clone(),
            rust: rust.clone(),
            history: History::default(),
            execution_count: 0,
            activity: activity.clone(),
        };
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let heartbeat = tokio::spawn(heartbeat::run(heartbeat));
        let mut shell = tokio::spawn(run_shell(shell, requests));
        let control = tokio::spawn(run_control(control, rust.clone(), shutdown_tx));
        let quiet = next_spare.as_ref().map_or(Duration::MAX, |next| next.quiet);
        let ready = rust.clone();
        let quiet = quiet_and_ready(activity, move || ready.ready(), quiet);
        let (published_tx, published_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = async {
            tokio::pin!(stop, quiet, shutdown_rx);
            let died = loop {
                tokio::select! {
                    _ = &mut quiet, if next_spare.is_some() => {
                        if let Some(next) = next_spare.take() {
                            (next.start)();
                        }
                    }
                    _ = &mut shutdown_rx => break None,
                    _ = &mut stop => break None,
                    ended = &mut shell => break Some(ended),
                }
            };
            // Let the shutdown reply and last outputs out before the sockets are torn down.
            tokio::time::sleep(Duration::from_millis(200)).await;
            heartbeat.abort();
            shell.abort();
            control.abort();
            let _ = published_tx.send(());
            died
        };
        let publishing = pending.publish(iopub_socket, async {
            let _ = published_rx.await;
        });
        let (died, ()) = tokio::join!(serving, publishing);
        drop(guard);
        rust.shutdown();
        cells.forget_all();
        // Land the datasite so its WAL is checkpointed before the process exits.
        session.lock().unwrap_or_else(|p| p.into_inner()).land();
        match died {
            // A shell that stopped (a panic in a handler) would leave a kernel that answers
            // nothing: it exits instead, after landing, so the front end reports it dead and can
            // restart it.
            Some(ended) => Err(anyhow::anyhow!(
                "the shell stopped ({}); the kernel exits so that the front end can restart it",
                match ended {
                    Err(e) => e.to_string(),
                    Ok(()) => "its socket closed".into(),
                }
            )),
            None => Ok(()),
        }
    }
}

/// Resolves once evcxr's context is `ready` and the shell has been quiet for `quiet`.
async fn quiet_and_ready(activity: Activity, ready: impl Fn() -> bool, quiet: Duration) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if ready() && activity.quiet_for() >= quiet {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// How long the shell must be quiet in this test (the kernel's is `spare::QUIET_BEFORE_SPARE`).
    const QUIET_BEFORE_SPARE: Duration = Duration::from_secs(2);

    /// The next kernel's spare waits for a ready context and a quiet shell: it would slow the
    /// cells it ran beside.
    #[tokio::test]
    async fn the_spare_waits_for_a_ready_context_and_a_quiet_shell() {
        let ready = Arc::new(AtomicBool::new(false));
        let activity = Activity::default();
        let flag = ready.clone();
        let is_ready = move || flag.load(Ordering::SeqCst);
        let quiet = quiet_and_ready(activity.clone(), is_ready, QUIET_BEFORE_SPARE);
        tokio::pin!(quiet);
        let longer = QUIET_BEFORE_SPARE + Duration::from_secs(1);
        let waited = tokio::time::timeout(longer, &mut quiet).await;
        assert!(waited.is_err(), "not while evcxr starts");
        ready.store(true, Ordering::SeqCst);
        activity.set(None);
        let waited = tokio::time::timeout(longer, &mut quiet).await;
        assert!(waited.is_err(), "not while a cell runs");
        activity.set(Some(tokio::time::Instant::now()));
        let started = tokio::time::Instant::now();
        let waited = tokio::time::timeout(longer, &mut quiet).await;
        assert!(waited.is_ok(), "once the shell is quiet");
        assert!(started.elapsed() >= QUIET_BEFORE_SPARE);
    }
}
