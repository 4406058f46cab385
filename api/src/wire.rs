//! How calls travel over HTTP, to a datasite served by `veil serve`.
//!
//! The API is versioned by its path (`/v1/...`). Every exchange is JSON, except that a call or
//! reply carrying frames and arrays sends them beside its JSON as binary parts (Parquet for frames,
//! `.npy` for arrays, as the datasite stores them), in one body of [`CONTENT_TYPE`]:
//! `[u32 parts][u64 length, JSON][u64 length, part]...`, lengths little-endian. In that JSON each
//! value is a [`Blob`] naming its part.
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

/// One body of JSON and binary parts.
pub fn encode(json: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = parts.iter().map(|p| p.len() + 8).sum::<usize>() + json.len() + 12;
    let mut body = Vec::with_capacity(total);
    body.extend((parts.len() as u32).to_le_bytes());
    for chunk in std::iter::once(json).chain(parts.iter().map(Vec::as_slice)) {
        body.extend((chunk.len() as u64).to_le_bytes());
        body.extend_from_slice(chunk);
    }
    body
}

/// The JSON and parts of a body [`encode`] made; what is wrong with it otherwise.
pub fn decode(body: &[u8]) -> Result<(&[u8], Vec<&[u8]>), String> {
    let bad = |what: &str| format!("the body is not of {CONTENT_TYPE}: {what}");
    let (count, mut rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("it is shorter than its header"))?;
    let count = u32::from_le_bytes(*count) as usize;
    if count > MAX_PARTS {
        return Err(bad(&format!("{count} parts, more than {MAX_PARTS}")));
    }
    let mut chunks = Vec::with_capacity(count + 1);
    for _ in 0..=count {
        let (len, tail) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("a part's length is cut off"))?;
        let len = usize::try_from(u64::from_le_bytes(*len))
            .ok()
            .filter(|&l| l <= tail.len())
            .ok_or_else(|| bad("a part is longer than the body"))?;
        let (chunk, tail) = tail.split_at(len);
        chunks.push(chunk);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad("bytes follow its last part"));
    }
    let json = chunks.remove(0);
    Ok((json, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_bad_ones_are_named() {
        let parts = vec![vec![1, 2, 3], vec![], vec![9; 1000]];
        let body = encode(b"{\"a\":1}", &parts);
        let (json, got) = decode(&body).unwrap();
        assert_eq!(json, b"{\"a\":1}");
        assert_eq!(got, parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(decode(&body[..body.len() - 1]).is_err());
        let mut extra = body.clone();
        extra.push(0);
        assert!(decode(&extra).unwrap_err().contains("bytes follow"));
        let mut huge = body.clone();
        huge[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge).unwrap_err().contains("longer than the body"));
        assert!(decode(&[0xff; 4]).unwrap_err().contains("parts, more than"));
    }
}
