//! How calls travel over HTTP, to a datasite served by `veil serve`.
//!
//! The API is versioned by its path (`/v1/...`). Every exchange is JSON, except that a call or
//! reply carrying frames and arrays sends them beside its JSON as binary parts (Parquet for frames,
//! `.npy` for arrays, as the datasite stores them), in one body of [`CONTENT_TYPE`]:
//! `[u32 parts][u64 length, JSON][u64 length, part]...`, lengths little-endian. In that JSON each
//! value is a [`Blob`] naming its part. Both sides stream such bodies ([`pieces`], [`read`]): the
//! JSON comes first, so a server decides whether the sender may send parts with that call before
//! it reads a byte of them, and then writes each part to disk as it arrives rather than holding the
//! body in memory.
//!
//! - `GET /health`: the process is up. `GET /ready`: it answers calls.
//! - `GET /v1/version`: [`Version`].
//! - `POST /v1/login` with [`Login`] as JSON: [`Session`], or an [`ApiError`].
//! - `POST /v1/call` with `Authorization: Bearer TOKEN` and a body of [`CONTENT_TYPE`] whose JSON is a
//!   [`CallBody`]: a body whose JSON is the [`Reply<Blob>`](crate::call::Reply), or an [`ApiError`].

use serde::{Deserialize, Serialize};

use crate::call::{Call, ErrorKind, Secret};
use crate::view::{DataKind, Role, User};

/// The content type of a body of JSON and binary parts.
pub const CONTENT_TYPE: &str = "application/vnd.veil.parts";

/// Most parts one body may carry: an upload's data and mocks.
pub const MAX_PARTS: usize = 256;

/// The largest call body a role may send, in bytes. A server reads a body only once its session
/// token names the sender, and then no more than this; a client checks it before sending, so the
/// error is a sentence rather than a dropped connection. Owners upload datasets; a scientist sends
/// her own arrays and code, a guest only small calls.
pub fn max_call_bytes(role: Role) -> u64 {
    match role {
        Role::Admin | Role::DataOwner => 1 << 30,
        Role::DataScientist => 64 << 20,
        Role::Guest => 1 << 20,
    }
}

/// The sentence for a call body of `size` bytes over `role`'s limit.
pub fn too_large(size: u64, role: Role) -> String {
    format!(
        "the call's body is {} MiB, over the {} MiB limit for {role} on a datasite; {}",
        size.div_ceil(1 << 20),
        max_call_bytes(role) >> 20,
        if role.is_owner() {
            "split the upload into smaller datasets"
        } else {
            "send less data with one call (an owner can upload large data as a dataset)"
        }
    )
}

/// A value sent as a binary part: what it is, and which part holds its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Frame, array or JSON value.
    pub kind: DataKind,
    /// Its part's index in the body.
    pub part: usize,
}

/// What the server says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The vocabulary's version it speaks ([`API_VERSION`](crate::API_VERSION)).
    pub api_version: String,
    /// The datasite's name.
    pub site: String,
}

/// A login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// Who.
    pub email: String,
    /// Their password.
    pub password: Secret,
}

/// A session, from a login: the token every call carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The session token (the server keeps only its hash).
    pub token: Secret,
    /// When it expires, in milliseconds since the Unix epoch: log in again after.
    pub expires_at: i64,
    /// Who logged in.
    pub user: User,
    /// Warnings, e.g. that the default admin password is still set.
    pub notices: Vec<String>,
}

/// A call with the kinds of the values its parts carry, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallBody {
    /// The call.
    pub call: Call,
    /// The kind of each part sent beside it.
    #[serde(default)]
    pub parts: Vec<DataKind>,
}

/// Why a request failed, as the datasite said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Its kind.
    pub kind: ErrorKind,
    /// The message, naming the problem and the fix.
    pub message: String,
}

/// Bytes of a body's head: its part count (`u32`) and its JSON's length (`u64`).
pub const HEAD_BYTES: usize = 12;

/// Bytes of the length (`u64`) before each part.
pub const LENGTH_BYTES: usize = 8;

/// A body of JSON and binary parts as the pieces it is sent in, in order: the head with the JSON,
/// then each part's length and the part itself. Sent piece by piece (the server streams its
/// replies, the client its uploads), no part is copied into one buffer with the others.
pub fn pieces(json: Vec<u8>, parts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES + json.len());
    head.extend((parts.len() as u32).to_le_bytes());
    head.extend((json.len() as u64).to_le_bytes());
    head.extend(json);
    let mut pieces = Vec::with_capacity(1 + 2 * parts.len());
    pieces.push(head);
    for part in parts {
        pieces.push((part.len() as u64).to_le_bytes().to_vec());
        pieces.push(part);
    }
    pieces
}

/// One body of JSON and binary parts, whole.
pub fn encode(json: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
    pieces(json.to_vec(), parts.to_vec()).concat()
}

/// The sentence for a body that is not of [`CONTENT_TYPE`] because of `what`.
pub fn malformed(what: &str) -> String {
    format!("the body is not of {CONTENT_TYPE}: {what}")
}

/// The part count and the JSON's length a body's head declares, the count at most [`MAX_PARTS`].
pub fn read_head(head: [u8; HEAD_BYTES]) -> Result<(usize, u64), String> {
    let (count, json) = head.split_at(4);
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
    if count > MAX_PARTS {
        return Err(malformed(&format!("{count} parts, more than {MAX_PARTS}")));
    }
    Ok((count, u64::from_le_bytes(json.try_into().expect("8 bytes"))))
}

/// Reads a body of JSON and parts from `reader`, at most `limit` bytes of it, and no further than
/// its last part. Memory follows the bytes that arrive, never a length the body declares, so a
/// forged head cannot make the reader allocate more than the body holds.
pub fn read(reader: impl std::io::Read, limit: u64) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut body = Reader {
        inner: reader,
        left: limit,
    };
    let mut head = [0; HEAD_BYTES];
    body.fill(&mut head, "it is shorter than its header")?;
    let (count, json_len) = read_head(head)?;
    let json = body.chunk(json_len)?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let mut len = [0; LENGTH_BYTES];
        body.fill(&mut len, "a part's length is cut off")?;
        parts.push(body.chunk(u64::from_le_bytes(len))?);
    }
    let mut more = [0; 1];
    match body.inner.read(&mut more) {
        Ok(0) => Ok((json, parts)),
        Ok(_) => Err(malformed("bytes follow its last part")),
        Err(e) => Err(malformed(&format!("it could not be read ({e})"))),
    }
}

/// A body being read, with the bytes it may still hold.
struct Reader<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> Reader<R> {
    fn fill(&mut self, buf: &mut [u8], cut: &str) -> Result<(), String> {
        self.inner.read_exact(buf).map_err(|_| malformed(cut))?;
        self.take(buf.len() as u64)
    }

    fn chunk(&mut self, len: u64) -> Result<Vec<u8>, String> {
        use std::io::Read;
        self.take(len)?;
        let mut out = Vec::new();
        (&mut self.inner)
            .take(len)
            .read_to_end(&mut out)
            .map_err(|e| malformed(&format!("it could not be read ({e})")))?;
        if (out.len() as u64) < len {
            return Err(malformed("a part is longer than the body"));
        }
        Ok(out)
    }

    fn take(&mut self, len: u64) -> Result<(), String> {
        self.left = self
            .left
            .checked_sub(len)
            .ok_or_else(|| malformed("it is longer than the limit it is read within"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_bad_ones_are_named() {
        let parts = vec![vec![1, 2, 3], vec![], vec![9; 1000]];
        let body = encode(b"{\"a\":1}", &parts);
        let decode = |body: &[u8]| read(body, body.len() as u64);
        let (json, got) = decode(&body).unwrap();
        assert_eq!(json, b"{\"a\":1}");
        assert_eq!(got, parts);
        assert!(decode(&body[..body.len() - 1]).is_err());
        let mut extra = body.clone();
        extra.push(0);
        assert!(decode(&extra).unwrap_err().contains("bytes follow"));
        // Within a generous limit, a forged length is met by the bytes that arrive.
        let mut huge = body.clone();
        huge[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(
            read(&huge[..], u64::MAX)
                .unwrap_err()
                .contains("longer than the body")
        );
        assert!(decode(&huge).unwrap_err().contains("longer than the limit"));
        assert!(
            decode(&[0xff; 12])
                .unwrap_err()
                .contains("parts, more than")
        );
        assert!(
            decode(&[0; 4])
                .unwrap_err()
                .contains("shorter than its header")
        );
    }
}
