//! ZMTP 3 framing, followed byte by byte: what the kernel's TCP guard reads from a peer before the
//! `zeromq` crate sees anything (that crate reserves a frame's announced length at once: 2^40 bytes
//! from a peer with no key aborted the kernel).

/// Length of a ZMTP 3 greeting.
pub const GREETING: usize = 64;

/// Where a peer's byte stream stands in ZMTP's framing.
#[derive(Debug)]
pub struct Framing {
    /// Longest frame body allowed.
    limit: u64,
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
    /// The framing of a new peer, whose frames may be at most `limit` bytes long.
    pub fn new(limit: u64) -> Framing {
        Framing {
            limit,
            greeted: 0,
            state: State::Flags,
        }
    }

    /// Whether the bytes so far end between frames (after the greeting, before a frame's flags).
    pub fn between_frames(&self) -> bool {
        self.greeted == GREETING && matches!(self.state, State::Flags)
    }

    /// Follows `bytes`, the next bytes from the peer; the reason to drop it, if any.
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), String> {
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
                        if *value > self.limit {
                            return Err(format!(
                                "a frame of {} bytes, more than {}",
                                *value, self.limit
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
            let mut f = Framing::new(1 << 20);
            for part in stream.chunks(chunk) {
                f.check(part).unwrap();
            }
            assert!(f.between_frames(), "{f:?}");
        }
        let mut f = Framing::new(1 << 20);
        f.check(&greeting()).unwrap();
        let huge = 1u64 << 40;
        let mut header = vec![0x02];
        header.extend(huge.to_be_bytes());
        assert!(f.check(&header).unwrap_err().contains("more than"));
        let mut f = Framing::new(1 << 20);
        assert!(f.check(b"GET / HTTP/1.1\r\n").is_err());
        let mut f = Framing::new(1 << 20);
        let mut old = greeting();
        old[10] = 2;
        assert!(f.check(&old).is_err());
    }
}
