//! The IOPub channel: one task owns the socket; everything else publishes through a cheap, cloneable
//! [`Iopub`] handle, so cell output threads, the shell and the control channel never contend for it.

use std::sync::{Arc, Mutex};

use jupyter_protocol::{IoPubWelcome, JupyterMessage, JupyterMessageContent, Status};
use jupyter_zmq_client::{KernelIoPubXPubConnection, SubscriptionEvent};
use tokio::sync::mpsc;

/// Publishes messages on IOPub.
#[derive(Debug, Clone)]
pub struct Iopub {
    tx: mpsc::UnboundedSender<JupyterMessage>,
    /// The request being executed, for output that does not pass through the shell (an upload's
    /// progress, published by the cell bridge).
    current: Arc<Mutex<Option<JupyterMessage>>>,
}

impl Iopub {
    /// A handle whose messages wait until [`Pending::publish`] gives them a socket: a warm spare
    /// starts its cells before it knows which ports it will serve.
    pub fn pending() -> (Iopub, Pending) {
        let (tx, rx) = mpsc::unbounded_channel::<JupyterMessage>();
        let iopub = Iopub {
            tx,
            current: Arc::default(),
        };
        (iopub, Pending { rx })
    }

    /// Marks `parent` as the request being executed (`None` once it is done).
    pub fn set_current(&self, parent: Option<&JupyterMessage>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = parent.cloned();
    }

    /// The request being executed, if any.
    pub fn current(&self) -> Option<JupyterMessage> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Publishes `content` as a child of `parent`.
    pub fn send(&self, content: impl Into<JupyterMessageContent>, parent: &JupyterMessage) {
        let mut message = JupyterMessage::new(content.into(), Some(parent));
        // On a PUB socket the routing frames are the topic; name it after the message like ipykernel.
        message.zmq_identities = vec![
            format!("kernel.veil.{}", message.header.msg_type)
                .into_bytes()
                .into(),
        ];
        // The receiver lives as long as the runtime; a send error means we are shutting down.
        let _ = self.tx.send(message);
    }

    /// Publishes `status: busy`.
    pub fn busy(&self, parent: &JupyterMessage) {
        self.send(Status::busy(), parent);
    }

    /// Publishes `status: idle`.
    pub fn idle(&self, parent: &JupyterMessage) {
        self.send(Status::idle(), parent);
    }
}

/// The messages of an [`Iopub`], waiting for a socket to go out on: a warm spare starts its cells
/// before it knows which ports it will serve, and serves one kernel's ports after another's.
pub struct Pending {
    rx: mpsc::UnboundedReceiver<JupyterMessage>,
}

impl Pending {
    /// Publishes on `connection` what waited and all that follows, until `until` resolves.
    pub async fn publish(
        &mut self,
        mut connection: KernelIoPubXPubConnection,
        until: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(until);
        loop {
            tokio::select! {
                message = self.rx.recv() => {
                    let Some(message) = message else { break };
                    if let Err(e) = connection.send(message).await {
                        eprintln!("veil-kernel: iopub send failed: {e}");
                    }
                }
                // JEP 65: greet each new subscriber so clients know their subscription is live
                // before they send requests (no lost `busy` or output messages).
                event = connection.recv_subscription() => {
                    if let Ok(SubscriptionEvent::Subscribe(topic)) = event {
                        let _ = connection.send(IoPubWelcome::new(topic).into()).await;
                    }
                }
                _ = &mut until => break,
            }
        }
    }

    /// Drops what waits unpublished: a kernel's late output is no other kernel's.
    pub fn discard(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

/// An upload's progress as one display in the running cell's output, updated in place (a
/// `display_data` with a display id, then `update_display_data`), for uploads of
/// [`SHOWN_FROM_BYTES`](veil::progress::SHOWN_FROM_BYTES) or more.
pub struct ProgressDisplay {
    iopub: Iopub,
    parent: JupyterMessage,
    id: String,
    what: String,
    started: std::time::Instant,
    shown: Mutex<bool>,
}

impl ProgressDisplay {
    /// A display for `what` (e.g. "uploading `Cancer`") in the output of the request being executed;
    /// `None` outside one.
    pub fn new(iopub: &Iopub, what: impl Into<String>) -> Option<ProgressDisplay> {
        Some(ProgressDisplay {
            parent: iopub.current()?,
            iopub: iopub.clone(),
            id: format!("veil-progress-{}", uuid::Uuid::new_v4().simple()),
            what: what.into(),
            started: std::time::Instant::now(),
            shown: Mutex::new(false),
        })
    }

    /// Shows `p`.
    pub fn report(&self, p: veil::progress::Progress) {
        if !p.shown() {
            return;
        }
        let percent = (p.done * 100).checked_div(p.total).unwrap_or(100);
        let plain = format!("{}: {p} ({percent}%)", self.what);
        let html = format!(
            "<div><progress value=\"{}\" max=\"{}\" style=\"width: 20em\"></progress> {}</div>",
            p.done,
            p.total,
            veil::display::escape(&plain)
        );
        self.show(crate::message::bundle(plain, Some(html)));
    }

    /// Replaces the bar, if one was shown, with how long the whole took.
    pub fn finish(&self, outcome: &str) {
        if *self.shown.lock().unwrap_or_else(|p| p.into_inner()) {
            let plain = format!(
                "{}: {outcome} in {:.1} s",
                self.what,
                self.started.elapsed().as_secs_f64()
            );
            self.show(crate::message::bundle(plain, None));
        }
    }

    fn show(&self, media: jupyter_protocol::Media) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if *shown {
            self.iopub.send(
                jupyter_protocol::UpdateDisplayData::new(media, &self.id),
                &self.parent,
            );
        } else {
            let mut display = jupyter_protocol::DisplayData::new(media);
            display.transient = Some(jupyter_protocol::Transient {
                display_id: Some(self.id.clone()),
            });
            self.iopub.send(display, &self.parent);
            *shown = true;
        }
    }
}
