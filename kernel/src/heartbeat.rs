//! The heartbeat channel: echo every ping byte for byte, on its own task so a busy cell never looks like
//! a dead kernel.

use jupyter_zmq_client::KernelHeartbeatConnection;
use zeromq::{SocketRecv, SocketSend};

/// Echoes heartbeats until the socket fails.
pub async fn run(mut connection: KernelHeartbeatConnection) {
    while let Ok(ping) = connection.socket.recv().await {
        if connection.socket.send(ping).await.is_err() {
            break;
        }
    }
}
