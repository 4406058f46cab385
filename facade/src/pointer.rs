//! Pointers and requests as cells see them. A [`Pointer`] is a handle on the kernel's pointer: every
//! operation runs at once on the mock (in the kernel) and is recorded on the datasite, which replays it
//! on the real data and keeps the result until a request for it is approved.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use veil_api::call::Call;
use veil_api::ops::Op;
use veil_api::view::OutputPolicy;

use crate::bridge::{
    Handle, KernelCall, Rendered, Result, call, rich_via_rendered, shape_field, str_field, view,
};
use crate::data::Data;
use crate::site::{Client, SiteAsset};
use veil_api::view::RequestView;

/// A value on the datasite, seen through its mock. Operations return new pointers; arithmetic
/// operators work with numbers and other pointers: `(&p + 1.0)?`, `(&p * &q)?`.
#[derive(Clone)]
pub struct Pointer {
    handle: Arc<Handle>,
    /// The client that made it: requests for its result are that user's, whoever else is logged in.
    client: Client,
    id: String,
    lineage: Vec<String>,
    kind: String,
    shape: Vec<usize>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pointer({} {:?}, from {})",
            self.kind,
            self.shape,
            if self.lineage.is_empty() {
                "your own data".to_string()
            } else {
                self.lineage.join(", ")
            }
        )
    }
}

impl Pointer {
    pub(crate) fn from_reply(client: &Client, reply: &Value) -> Result<Pointer> {
        Ok(Pointer {
            handle: Handle::from_reply(reply)?,
            client: client.clone(),
            id: str_field(reply, "id"),
            lineage: reply["lineage"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect(),
            kind: str_field(reply, "kind"),
            shape: shape_field(reply, "shape"),
        })
    }

    /// Runs `op` at once on the mocks of `self` and `others` (in the kernel) and records it on the
    /// datasite, which replays it on the real data. The op methods (`sum`, `column`, `+`, ...) are
    /// this with their op.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        let inputs = std::iter::once(self)
            .chain(others.iter().copied())
            .map(|p| p.id.clone())
            .collect();
        Pointer::from_reply(&self.client, &self.client.send(Call::Apply { op, inputs })?)
    }

    pub(crate) fn rendered(&self) -> Rendered {
        Rendered::live(&self.handle)
    }

    /// The object's id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The assets it derives from (`dataset / asset`); empty for your own arrays.
    pub fn lineage(&self) -> &[String] {
        &self.lineage
    }

    /// The mock's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The mock value.
    pub fn mock(&self) -> Result<Data> {
        Data::from_reply(&call(KernelCall::PointerMock {
            pointer: self.handle.id(),
        })?)
    }

    /// `private`, `requested`, `approved` or `denied: REASON`.
    pub fn status(&self) -> Result<String> {
        let call = Call::PointerStatus {
            pointer: self.id.clone(),
        };
        self.client
            .send(call)
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Asks the owner for the real result, saying why.
    pub fn request(&self, reason: &str) -> Result<Request> {
        let reply = self.client.send(Call::RequestResult {
            pointer: self.id.clone(),
            reason: reason.into(),
        })?;
        Request::from_reply(&self.client, &reply)
    }

    /// The real result, once your request is approved (at once for your own arrays).
    pub fn get(&self) -> Result<Data> {
        Data::from_reply(&self.client.send(Call::PointerResult {
            pointer: self.id.clone(),
        })?)
    }
}

veil_api::op_methods!(Pointer);

rich_via_rendered!(Pointer => Pointer::rendered);

impl SiteAsset {
    /// A pointer to this asset: its mock here, its real data on the datasite. The pointer the asset
    /// already holds, if it has one.
    pub fn pointer(&self) -> Result<Pointer> {
        match &self.held {
            Some(p) => Ok(p.clone()),
            None => self.new_pointer(),
        }
    }

    pub(crate) fn new_pointer(&self) -> Result<Pointer> {
        let call = Call::AssetPointer {
            asset: self.id().to_string(),
        };
        Pointer::from_reply(self.client(), &self.client().send(call)?)
    }
}

impl Client {
    /// A new array on the datasite from the notebook: yours, so `get()` needs no request.
    pub fn array(&self, values: impl Into<Vec<f64>>) -> Result<Pointer> {
        let values = values.into();
        let shape = vec![values.len()];
        Pointer::from_reply(self, &self.send(Call::Array { values, shape })?)
    }

    /// Requests: an owner sees everyone's, a scientist its own. Newest first.
    pub fn requests(&self) -> Result<RequestList> {
        let reply = self.send(Call::Requests)?;
        Ok(RequestList {
            requests: reply["requests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| Request::from_reply(self, r))
                .collect::<Result<_>>()?,
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// The request whose id starts with `id`.
    pub fn request(&self, id: &str) -> Result<Request> {
        let reply = self.send(Call::FindRequest { key: id.into() })?;
        Request::from_reply(self, &reply)
    }
}

/// A request: for a pointer's real result, or to run submitted code on the real data.
#[derive(Clone)]
pub struct Request {
    /// What the datasite said of it when read, through `Deref` (`request.id`, `request.status`).
    view: RequestView,
    /// The client that read it: the request acts as that user, always.
    client: Client,
    rendered: Rendered,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

impl Request {
    pub(crate) fn from_reply(client: &Client, reply: &Value) -> Result<Request> {
        Ok(Request {
            view: view(reply, "request")?,
            client: client.clone(),
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// What an owner reads before deciding: who, why, the steps, mock and real results.
    pub fn review(&self) -> Result<Review> {
        Ok(Review {
            rendered: Rendered::from_reply(&self.client.send(Call::Review {
                request: self.id.clone(),
            })?),
        })
    }

    /// Approves: the real result is released to the requester.
    pub fn approve(&self) -> Result<Request> {
        let reply = self.client.send(Call::Approve {
            request: self.id.clone(),
        })?;
        Request::from_reply(&self.client, &reply)
    }

    /// Denies, with a reason the requester sees.
    pub fn deny(&self, reason: &str) -> Result<Request> {
        let reply = self.client.send(Call::Deny {
            request: self.id.clone(),
            reason: reason.into(),
        })?;
        Request::from_reply(&self.client, &reply)
    }

    /// The released result, for the requester once approved: a pointer's real result, or the latest
    /// result of approved code (run now if it has not run yet).
    pub fn get(&self) -> Result<Data> {
        Data::from_reply(&self.client.send(Call::Result {
            request: self.id.clone(),
        })?)
    }

    /// Approved code: runs it again, if its output policy has a run left.
    pub fn run(&self) -> Result<Data> {
        Data::from_reply(&self.client.send(Call::Run {
            request: self.id.clone(),
        })?)
    }

    /// Owners: runs a code request on the real data now, for your eyes only; nothing is released and
    /// the output policy is not used.
    pub fn run_privately(&self) -> Result<Data> {
        Data::from_reply(&self.client.send(Call::RunPrivately {
            request: self.id.clone(),
        })?)
    }

    /// The submitted code, for a code request (its requester and owners).
    pub fn code(&self) -> Result<SubmittedCode> {
        let reply = self.client.send(Call::Code {
            request: self.id.clone(),
        })?;
        serde_json::from_value(reply).map_err(|e| {
            crate::Error::new(
                "KernelError",
                format!("the kernel's code reply was unreadable ({e}); the facade and kernel versions may differ: reinstall with `veil-kernel install`"),
            )
        })
    }
}

/// A code request's function as the datasite keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SubmittedCode {
    /// The function's exact source text.
    pub source: String,
    /// `name(param = input, ...)`: the call the datasite makes.
    pub call: String,
    /// Its output policy.
    pub policy: OutputPolicy,
    /// Runs on the real data so far.
    pub runs: u32,
}

/// An owner's review of a request.
#[derive(Clone)]
pub struct Review {
    rendered: Rendered,
}

impl fmt::Debug for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

/// Requests, newest first.
#[derive(Clone)]
pub struct RequestList {
    /// The requests.
    pub requests: Vec<Request>,
    rendered: Rendered,
}

impl fmt::Debug for RequestList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

impl std::ops::Deref for RequestList {
    type Target = [Request];
    fn deref(&self) -> &[Request] {
        &self.requests
    }
}

rich_via_rendered!(
    Request => |r: &Request| r.rendered.clone(),
    Review => |r: &Review| r.rendered.clone(),
    RequestList => |r: &RequestList| r.rendered.clone(),
);

veil_api::reads_as_view!(Request => RequestView);
