//! The multipart messages behind the kernel's sockets. Never a panic; with a key, nothing decodes
//! unless it is signed with that key; and a signed message with a valid header always decodes (a
//! content that does not becomes an answerable error, so every request gets a reply).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ring::hmac;
use veil_kernel_input::message::decode;
use zeromq::ZmqMessage;

const KEY: &[u8] = b"a fuzzing key";
const TYPES: [&str; 8] = [
    "execute_request",
    "history_request",
    "complete_request",
    "inspect_request",
    "is_complete_request",
    "kernel_info_request",
    "comm_open",
    "shutdown_request",
];

/// Splits `data` into frames at each `0xFE 0xFF` pair.
fn frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(&[0xFE, 0xFF]) {
            out.push(Vec::new());
            i += 2;
        } else {
            out.last_mut().unwrap().push(data[i]);
            i += 1;
        }
    }
    out
}

fn message(parts: &[Vec<u8>]) -> ZmqMessage {
    let parts: Vec<Bytes> = parts.iter().map(|p| Bytes::from(p.clone())).collect();
    ZmqMessage::try_from(parts).unwrap()
}

fn sign(key: &hmac::Key, jparts: &[Vec<u8>]) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    for part in jparts.iter().take(4) {
        ctx.update(part);
    }
    data_encoding::HEXLOWER
        .encode(ctx.sign().as_ref())
        .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let key = hmac::Key::new(hmac::HMAC_SHA256, KEY);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // Raw frames, as a peer without the key sends them: decoded only if signed with the key.
        0 => {
            let parts = frames(rest);
            let _ = decode(message(&parts), &None);
            if decode(message(&parts), &Some(key.clone())).is_ok() {
                let at = parts.iter().position(|p| p == b"<IDS|MSG>").unwrap();
                assert_eq!(
                    parts[at + 1],
                    sign(&key, &parts[at + 2..]),
                    "a message decoded without its signature"
                );
            }
        }
        // Signed frames of the fuzzer's choosing after the delimiter.
        1 => {
            let jparts = frames(rest);
            let mut parts = vec![b"<IDS|MSG>".to_vec(), sign(&key, &jparts)];
            parts.extend(jparts);
            let _ = decode(message(&parts), &Some(key.clone()));
        }
        // A valid signed header of a request type, with the fuzzer's content: always decodes.
        _ => {
            let Some((&kind, content)) = rest.split_first() else {
                return;
            };
            let msg_type = TYPES[usize::from(kind) % TYPES.len()];
            let header = format!(
                r#"{{"msg_id":"m","session":"s","username":"u","date":"2026-12-05T00:00:00Z","msg_type":"{msg_type}","version":"5.3"}}"#
            );
            let jparts = vec![
                header.into_bytes(),
                b"{}".to_vec(),
                b"{}".to_vec(),
                content.to_vec(),
            ];
            let mut parts = vec![b"id".to_vec(), b"<IDS|MSG>".to_vec(), sign(&key, &jparts)];
            parts.extend(jparts);
            let decoded = decode(message(&parts), &Some(key));
            assert!(
                decoded.is_ok(),
                "a signed {msg_type} got no message: {decoded:?}"
            );
        }
    }
});
