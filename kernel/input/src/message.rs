//! Decoding the Jupyter messages that reach the kernel's sockets.

use jupyter_protocol::{JupyterMessage, JupyterMessageContent, UnknownMessage};
use jupyter_zmq_client::RawMessage;

/// Verifies `frames` against `key` (none: the connection file has no key) and decodes them. A
/// message whose signature, frames, header or identities are wrong is an error (the kernel drops
/// it); a signed message whose content is not JSON, not UTF-8, nested too deep or not what its type
/// needs decodes to an [`UnknownMessage`] whose content holds the reason under [`PARSE_ERROR`], so
/// the kernel can still answer it.
pub fn decode(
    frames: zeromq::ZmqMessage,
    key: &Option<ring::hmac::Key>,
) -> anyhow::Result<JupyterMessage> {
    let raw = RawMessage::from_multipart(frames, key)?;
    let header: jupyter_protocol::Header = serde_json::from_slice(&raw.jparts[0])?;
    // Signed, with a header to answer: content that is not JSON, not UTF-8, nested too deep or not
    // what its type needs still gets a reply, naming the problem.
    let content = serde_json::from_slice::<serde_json::Value>(&raw.jparts[3])
        .map_err(|e| e.to_string())
        .and_then(|mut content| {
            fill_spec_defaults(&header.msg_type, &mut content);
            JupyterMessageContent::from_type_and_content(&header.msg_type, content)
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|e| {
            JupyterMessageContent::UnknownMessage(UnknownMessage {
                msg_type: header.msg_type.clone(),
                content: serde_json::json!({ (PARSE_ERROR): e }),
            })
        });
    Ok(JupyterMessage {
        zmq_identities: raw.zmq_identities,
        // An empty parent header is `{}`, which is not a Header: that is "no parent".
        parent_header: serde_json::from_slice(&raw.jparts[1]).ok(),
        metadata: serde_json::from_slice(&raw.jparts[2]).unwrap_or_else(|_| serde_json::json!({})),
        content,
        buffers: raw.jparts.get(4..).map(<[_]>::to_vec).unwrap_or_default(),
        channel: None,
        header,
    })
}

/// Where [`decode`] puts the reason a signed message's content could not be decoded.
pub const PARSE_ERROR: &str = "veil_parse_error";

/// Fields the messaging spec makes optional but `jupyter-protocol` requires: fill in the spec's
/// defaults (jupyter_client omits `n` and `unique` from history searches, for one).
fn fill_spec_defaults(msg_type: &str, content: &mut serde_json::Value) {
    let Some(map) = content.as_object_mut() else {
        return;
    };
    if msg_type == "history_request" {
        for (key, value) in [
            ("output", false.into()),
            ("raw", true.into()),
            ("unique", false.into()),
            ("n", 0.into()),
            ("pattern", "*".into()),
            ("start", 0.into()),
            ("stop", 0.into()),
        ] {
            map.entry(key).or_insert(value);
        }
        for key in ["n", "start", "stop"] {
            if map.get(key).is_some_and(|v| v.is_null()) {
                map.insert(key.to_string(), 0.into());
            }
        }
    }
}
