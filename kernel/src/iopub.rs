//! The IOPub channel: one task owns the socket; everything else publishes through a cheap, cloneable
//! [`Iopub`] handle, so cell output threads, the shell and the control channel never contend for it.

use jupyter_protocol::{IoPubWelcome, JupyterMessage, JupyterMessageContent, Status};
use jupyter_zmq_client::{KernelIoPubXPubConnection, SubscriptionEvent};
use tokio::sync::mpsc;

/// Publishes messages on IOPub.
#[derive(Debug, Clone)]
pub struct Iopub {
    tx: mpsc::UnboundedSender<JupyterMessage>,
}

impl Iopub {
    /// Starts the publishing task on `connection`.
    pub fn spawn(mut connection: KernelIoPubXPubConnection) -> Iopub {
        let (tx, mut rx) = mpsc::unbounded_channel::<JupyterMessage>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = rx.recv() => {
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
                }
            }
        });
        Iopub { tx }
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
