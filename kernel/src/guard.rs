//! The guard in front of the kernel's five TCP ports.
//!
//! The `zeromq` crate reserves memory for a frame as soon as it reads the frame's length: a peer with
//! no key, only a connection to a port, announced 2^40 bytes and the kernel aborted ("memory
//! allocation of 1099511693321 bytes failed"). So the ZeroMQ sockets listen on Unix sockets in the
//! kernel's private directory, and the Jupyter ports are plain TCP listeners that pass each
//! connection's bytes through, reading the ZMTP framing as it goes (the 64-byte greeting, then each
//! frame's flags and length) and dropping a peer whose greeting is not ZMTP 3 or whose frame is
//! longer than [`MAX_FRAME_BYTES`], before anything is allocated for it. Bytes towards the client
//! pass untouched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use jupyter_protocol::{ConnectionInfo, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use veil_kernel_input::framing::Framing;

/// Largest frame a peer may send: a cell's code, a comm message's buffer. The cell bridge takes
/// requests of the same size.
pub const MAX_FRAME_BYTES: u64 = crate::bridge::MAX_REQUEST_BYTES;

/// Where the kernel's ZeroMQ sockets listen when `info` is TCP: Unix sockets named
/// `{dir}/zmq-{port}`, reachable only by this user; `None` when `info` is already IPC.
pub fn inner(info: &ConnectionInfo, dir: &Path) -> Option<ConnectionInfo> {
    (info.transport == Transport::TCP).then(|| ConnectionInfo {
        transport: Transport::IPC,
        ip: dir.join("zmq").display().to_string(),
        ..info.clone()
    })
}

/// The five TCP listeners and the connections they pass through; dropping it closes them all and
/// removes the Unix socket files they passed to (the next kernel a spare serves has other ports).
pub struct Guard {
    _listening: tokio::task::JoinSet<()>,
    targets: Vec<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for target in &self.targets {
            let _ = std::fs::remove_file(target);
        }
    }
}

/// Binds the five TCP ports of `info` and passes every connection through to the Unix socket of
/// the same port under `inner` (see [`inner`]), until the returned [`Guard`] is dropped.
pub async fn serve(info: &ConnectionInfo, inner: &ConnectionInfo) -> Result<Guard> {
    let ports = [
        info.shell_port,
        info.iopub_port,
        info.stdin_port,
        info.control_port,
        info.hb_port,
    ];
    let mut listening = tokio::task::JoinSet::new();
    let mut targets = Vec::new();
    for port in ports {
        // Jupyter writes `*` for every interface, as ZeroMQ does.
        let ip = if info.ip == "*" {
            "0.0.0.0"
        } else {
            info.ip.as_str()
        };
        let listener = TcpListener::bind((ip, port))
            .await
            .with_context(|| format!("binding {}:{port}", info.ip))?;
        let target = PathBuf::from(format!("{}-{port}", inner.ip));
        targets.push(target.clone());
        listening.spawn(async move {
            // Dropped with the listener's task, which aborts every connection's.
            let mut peers = tokio::task::JoinSet::new();
            loop {
                let Ok((peer, _)) = listener.accept().await else {
                    continue;
                };
                // Reap the finished, so a long-lived kernel does not keep one entry per peer.
                while peers.try_join_next().is_some() {}
                let target = target.clone();
                peers.spawn(async move {
                    if let Err(e) = pass(peer, &target).await
                        && !hung_up(&e)
                    {
                        eprintln!("veil-kernel: dropped a peer on port {port}: {e}");
                    }
                });
            }
        });
    }
    Ok(Guard {
        _listening: listening,
        targets,
    })
}

/// Whether `e` is only the peer hanging up: a front end closing its sockets as its kernel stops.
fn hung_up(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
        )
    })
}

/// Passes one connection through, checking the peer's framing.
async fn pass(peer: TcpStream, target: &Path) -> Result<()> {
    let _ = peer.set_nodelay(true);
    // Gone only once the kernel tears its sockets down, while a front end's ZeroMQ reconnects:
    // nothing the peer did, so it is closed without a word.
    let Ok(socket) = UnixStream::connect(target).await else {
        return Ok(());
    };
    let (mut from_peer, mut to_peer) = peer.into_split();
    let (mut from_kernel, mut to_kernel) = socket.into_split();
    let inbound = async {
        let mut framing = Framing::new(MAX_FRAME_BYTES);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from_peer.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            framing.check(&buf[..n]).map_err(anyhow::Error::msg)?;
            to_kernel.write_all(&buf[..n]).await?;
        }
    };
    let outbound = async {
        tokio::io::copy(&mut from_kernel, &mut to_peer).await?;
        Ok::<(), anyhow::Error>(())
    };
    // Either side closing ends both.
    tokio::select! {
        r = inbound => r,
        r = outbound => r,
    }
}
