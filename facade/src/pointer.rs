//! Pointers and requests as cells see them. A [`Pointer`] is a handle on the kernel's pointer: every
//! operation runs at once on the mock (in the kernel) and is recorded on the datasite, which replays it
//! on the real data and keeps the result until a request for it is approved.

use std::fmt;
use std::sync::Arc;

use veil_api::call::Call;
use veil_api::kernel::DataInfo;
use veil_api::ops::Op;
use veil_api::view::{PointerStatus, PointerView, RequestView};

use crate::bridge::{
    Handle, Held, KernelCall, Rendered, Result, Shown, call, live, rich_via_rendered,
};
use crate::data::Data;
use crate::site::{Client, SiteAsset};

/// A value on the datasite, seen through its mock. Operations return new pointers; arithmetic
/// operators work with numbers and other pointers: `(&p + 1.0)?`, `(&p * &q)?`.
#[derive(Clone)]
pub struct Pointer {
    handle: Arc<Handle>,
    /// The client that made it: requests for its result are that user's, whoever else is logged in.
    client: Client,
    /// Its object's id and lineage as the datasite reported them, and its mock's kind and shape.
    view: PointerView<DataInfo>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pointer({} {:?}, from {})",
            self.view.mock.kind,
            self.view.mock.shape,
            if self.view.lineage.is_empty() {
                "your own data".to_string()
            } else {
                self.view.lineage.join(", ")
            }
        )
    }
}

impl Pointer {
    pub(crate) fn from_held(client: &Client, held: Held<PointerView<DataInfo>>) -> Pointer {
        let (handle, view) = Handle::held(held);
        Pointer {
            handle,
            client: client.clone(),
            view,
        }
    }

    fn ask(client: &Client, call: Call) -> Result<Pointer> {
        client
            .send(call)
            .map(|held| Pointer::from_held(client, held))
    }

    /// Runs `op` at once on the mocks of `self` and `others` (in the kernel) and records it on the
    /// datasite, which replays it on the real data. The op methods (`sum`, `column`, `+`, ...) are
    /// this with their op.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        let inputs = std::iter::once(self)
            .chain(others.iter().copied())
            .map(|p| p.view.id.clone())
            .collect();
        Pointer::ask(&self.client, Call::Apply { op, inputs })
    }

    pub(crate) fn rendered(&self) -> Rendered {
        live(&self.handle)
    }

    /// The client that made it.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The object's id on the datasite.
    pub fn id(&self) -> &str {
        &self.view.id
    }

    /// The assets it derives from (`dataset / asset`); empty for your own arrays.
    pub fn lineage(&self) -> &[String] {
        &self.view.lineage
    }

    /// The mock's shape.
    pub fn shape(&self) -> &[usize] {
        &self.view.mock.shape
    }

    /// The mock value.
    pub fn mock(&self) -> Result<Data> {
        call(KernelCall::PointerMock {
            pointer: self.handle.id(),
        })
        .map(Data::from_held)
    }

    /// Where its result stands: private, requested, approved or denied (with the owner's reason);
    /// it displays as `private`, `requested`, `approved` or `denied: REASON`.
    pub fn status(&self) -> Result<PointerStatus> {
        self.client.send(Call::PointerStatus {
            pointer: self.view.id.clone(),
        })
    }

    /// Asks the owner for the real result, saying why.
    pub fn request(&self, reason: &str) -> Result<Request> {
        Request::ask(
            &self.client,
            Call::RequestResult {
                pointer: self.view.id.clone(),
                reason: reason.into(),
            },
        )
    }

    /// The real result, once your request is approved (at once for your own arrays).
    pub fn get(&self) -> Result<Data> {
        self.client.data(Call::PointerResult {
            pointer: self.view.id.clone(),
        })
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
        Pointer::ask(self.client(), call)
    }
}

impl Client {
    /// A new array on the datasite from the notebook: yours, so `get()` needs no request.
    pub fn array(&self, values: impl Into<Vec<f64>>) -> Result<Pointer> {
        let values = values.into();
        let shape = vec![values.len()];
        Pointer::ask(self, Call::Array { values, shape })
    }

    /// Requests: an owner sees everyone's, a scientist its own. Newest first.
    pub fn requests(&self) -> Result<RequestList> {
        let list: Shown<Vec<Shown<RequestView>>> = self.send(Call::Requests)?;
        Ok(RequestList {
            requests: list
                .view
                .into_iter()
                .map(|r| Request::from_shown(self, r))
                .collect(),
            rendered: list.rendered,
        })
    }

    /// The request whose id starts with `id`.
    pub fn request(&self, id: &str) -> Result<Request> {
        Request::ask(self, Call::FindRequest { key: id.into() })
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
    fn from_shown(client: &Client, shown: Shown<RequestView>) -> Request {
        Request {
            view: shown.view,
            client: client.clone(),
            rendered: shown.rendered,
        }
    }

    pub(crate) fn ask(client: &Client, call: Call) -> Result<Request> {
        client.send(call).map(|r| Request::from_shown(client, r))
    }

    /// What an owner reads before deciding: who, why, the steps, mock and real results.
    pub fn review(&self) -> Result<Review> {
        let rendered = self.client.send(Call::Review {
            request: self.id.clone(),
        })?;
        Ok(Review { rendered })
    }

    /// Approves: the real result is released to the requester. A result a disclosure check fails
    /// (see the review) needs [`Request::approve_overriding`].
    pub fn approve(&self) -> Result<Request> {
        let call = Call::Approve {
            request: self.id.clone(),
            overriding: None,
        };
        Request::ask(&self.client, call)
    }

    /// Approves although a disclosure check fails, saying why the result may be released; the
    /// audit log keeps the reason. On an approved code request, releases runs whose output a check
    /// withheld.
    pub fn approve_overriding(&self, reason: &str) -> Result<Request> {
        let call = Call::Approve {
            request: self.id.clone(),
            overriding: Some(reason.into()),
        };
        Request::ask(&self.client, call)
    }

    /// Denies, with a reason the requester sees.
    pub fn deny(&self, reason: &str) -> Result<Request> {
        let call = Call::Deny {
            request: self.id.clone(),
            reason: reason.into(),
        };
        Request::ask(&self.client, call)
    }

    /// Sends it back to its requester with the changes it needs (`message`, which they see); they
    /// may submit a new request.
    pub fn request_changes(&self, message: &str) -> Result<Request> {
        let call = Call::RequestChanges {
            request: self.id.clone(),
            message: message.into(),
        };
        Request::ask(&self.client, call)
    }

    /// The released result, for the requester once approved: a pointer's real result, or the latest
    /// result of approved code (run now if it has not run yet).
    pub fn get(&self) -> Result<Data> {
        self.client.data(Call::Result {
            request: self.id.clone(),
        })
    }

    /// The receipt of this request's latest release (its requester and owners): the datasets'
    /// versions, the computation, the policy, the checks, who released it and the audit entry that
    /// records it. `client.verify_receipt(&receipt)` checks it against the log.
    pub fn receipt(&self) -> Result<crate::Receipt> {
        self.client
            .send::<crate::bridge::Shown<_>>(Call::Receipt {
                request: self.id.clone(),
            })
            .map(crate::Receipt::from)
    }

    /// Approved code: runs it again, if its output policy has a run left.
    pub fn run(&self) -> Result<Data> {
        self.client.data(Call::Run {
            request: self.id.clone(),
        })
    }

    /// Owners: runs a code request on the real data now, for your eyes only; nothing is released and
    /// the output policy is not used.
    pub fn run_privately(&self) -> Result<Data> {
        self.client.data(Call::RunPrivately {
            request: self.id.clone(),
        })
    }

    /// The submitted code, for a code request (its requester and owners): its source, the call the
    /// datasite makes, its policy and runs, and its result on the mocks.
    pub fn code(&self) -> Result<SubmittedCode> {
        let code: veil_api::code::SubmittedCode<Held<DataInfo>> = self.client.send(Call::Code {
            request: self.id.clone(),
        })?;
        Ok(code.map_mock(Data::from_held))
    }
}

/// A code request's function as the datasite keeps it, its mock result held by the kernel.
pub type SubmittedCode = veil_api::code::SubmittedCode<Data>;

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
