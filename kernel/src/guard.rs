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

/// Largest frame a peer may send: a cell's code, a comm message's buffer. The cell bridge takes
/// requests of the same size.
pub const MAX_FRAME_BYTES: u64 = crate::bridge::MAX_REQUEST_BYTES;

/// Length of a ZMTP 3 greeting.
const GREETING: usize = 64;

/// Where the kernel's ZeroMQ sockets listen when `info` is TCP: Unix sockets named
/// `{dir}/zmq-{port}`, reachable only by this user; `None` when `info` is already IPC.
pub fn inner(info: &ConnectionInfo, dir: &Path) -> Option<ConnectionInfo> {
    (info.transport == Transport::TCP).then(|| ConnectionInfo {
        transport: Transport::IPC,
        ip: dir.join("zmq").display().to_string(),
        ..info.clone()
    })
}

/// Binds the five TCP ports of `info` and passes every connection through to the Unix socket of
/// the same port under `inner` (see [`inner`]). Runs until the kernel stops.
pub async fn serve(info: &ConnectionInfo, inner: &ConnectionInfo) -> Result<()> {
    let ports = [
        info.shell_port,
        info.iopub_port,
        info.stdin_port,
        info.control_port,
        info.hb_port,
    ];
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
        tokio::spawn(async move {
            loop {
                let Ok((peer, _)) = listener.accept().await else {
                    continue;
                };
                let target = target.clone();
                tokio::spawn(async move {
                    if let Err(e) = pass(peer, &target).await {
                        eprintln!("veil-kernel: dropped a peer on port {port}: {e}");
                    }
                });
            }
        });
    }
    Ok(())
}

/// Passes one connection through, checking the peer's framing.
async fn pass(peer: TcpStream, target: &Path) -> Result<()> {
    let _ = peer.set_nodelay(true);
    let socket = UnixStream::connect(target)
        .await
        .with_context(|| format!("connecting to {}", target.display()))?;
    let (mut from_peer, mut to_peer) = peer.into_split();
    let (mut from_kernel, mut to_kernel) = socket.into_split();
    let inbound = async {
        let mut framing = Framing::default();
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

/// Where a peer's byte stream stands in ZMTP's framing.
#[derive(Debug, Default)]
struct Framing {
    /// Greeting bytes read so far.
    greeted: usize,
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// Next is a frame's flags byte.
    #[default]
    Flags,
    /// Reading a length of `width` bytes, `read` of them so far.
    Length { width: u8, read: u8, value: u64 },
    /// Inside a frame's body, with this many bytes left.
    Body(u64),
}

impl Framing {
    /// Follows `bytes`, the next bytes from the peer; the reason to drop it, if any.
    fn check(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while let Some(&byte) = bytes.first() {
            if self.greeted < GREETING {
                // Signature `FF .. 7F`, then the major version, which must be 3 (the crate's).
                let ok = match self.greeted {
                    0 => byte == 0xFF,
                    9 => byte == 0x7F,
                    10 => byte >= 3,
                    _ => true,
                };
                if !ok {
                    return Err("not a ZMTP 3 greeting".into());
                }
                self.greeted += 1;
                bytes = &bytes[1..];
                continue;
            }
            match &mut self.state {
                State::Flags => {
                    // MORE, LONG and COMMAND; the other bits are reserved.
                    if byte & !0b111 != 0 {
                        return Err(format!("reserved frame flags {byte:#04x}"));
                    }
                    let width = if byte & 0b010 != 0 { 8 } else { 1 };
                    self.state = State::Length {
                        width,
                        read: 0,
                        value: 0,
                    };
                    bytes = &bytes[1..];
                }
                State::Length { width, read, value } => {
                    *value = (*value << 8) | u64::from(byte);
                    *read += 1;
                    bytes = &bytes[1..];
                    if *read == *width {
                        if *value > MAX_FRAME_BYTES {
                            return Err(format!(
                                "a frame of {} bytes, more than {MAX_FRAME_BYTES}",
                                *value
                            ));
                        }
                        self.state = match *value {
                            0 => State::Flags,
                            n => State::Body(n),
                        };
                    }
                }
                State::Body(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.state = State::Flags;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Vec<u8> {
        let mut g = vec![0u8; GREETING];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = 3;
        g
    }

    #[test]
    fn frames_are_followed_across_reads_and_long_ones_refused() {
        let mut stream = greeting();
        stream.extend([0x01, 3, b'a', b'b', b'c']); // short frame, MORE
        stream.extend([0x02, 0, 0, 0, 0, 0, 0, 1, 0]); // long frame of 256 bytes
        stream.extend(std::iter::repeat_n(7u8, 256));
        stream.extend([0x04, 0]); // empty command
        // Any split into reads gives the same answer.
        for chunk in [1, 3, 64, 1000] {
            let mut f = Framing::default();
            for part in stream.chunks(chunk) {
                f.check(part).unwrap();
            }
            assert!(matches!(f.state, State::Flags), "{f:?}");
        }
        let mut f = Framing::default();
        f.check(&greeting()).unwrap();
        let huge = 1u64 << 40;
        let mut header = vec![0x02];
        header.extend(huge.to_be_bytes());
        assert!(f.check(&header).unwrap_err().contains("more than"));
        let mut f = Framing::default();
        assert!(f.check(b"GET / HTTP/1.1\r\n").is_err());
        let mut f = Framing::default();
        let mut old = greeting();
        old[10] = 2;
        assert!(f.check(&old).is_err());
    }
}
