//! Pointers and requests as cells see them. A [`Pointer`] is a handle on the kernel's pointer: every
//! operation runs at once on the mock (in the kernel) and is recorded on the datasite, which replays it
//! on the real data and keeps the result until a request for it is approved.

use std::fmt;
use std::sync::Arc;

use veil_api::kernel::DataInfo;
use veil_api::ops::Op;
use veil_api::view::{PointerView, RequestView, ReviewView};

use crate::bridge::{
    Handle, Held, KernelCall, Rendered, Result, Shown, call, live, rich_via_rendered,
};
use crate::calls::Answer;
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

    /// Runs `op` at once on the mocks of `self` and `others` (in the kernel) and records it on the
    /// datasite, which replays it on the real data. The op methods (`sum`, `column`, `+`, ...) are
    /// this with their op.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        let inputs = std::iter::once(self)
            .chain(others.iter().copied())
            .map(|p| p.view.id.clone())
            .collect();
        self.ask(veil_api::calls::Apply { op, inputs })
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
        self.ask(veil_api::calls::AssetPointer {
            asset: self.id().to_string(),
        })
    }
}

impl Client {
    /// A new array on the datasite from the notebook: yours, so `get()` needs no request.
    pub fn array(&self, values: impl Into<Vec<f64>>) -> Result<Pointer> {
        let values = values.into();
        let shape = vec![values.len()];
        self.ask(veil_api::calls::Array { values, shape })
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

    /// The client that read it: the request acts as that user.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}

/// A code request's function as the datasite keeps it, its mock result held by the kernel.
pub type SubmittedCode = veil_api::code::SubmittedCode<Data>;

/// A private run's result ([`Request::run_privately`]); a run that fails on the real data is an
/// error named `RunFailed`, with the failure.
pub type PrivateRun = Data;

impl Answer<PointerView<Data>> for Pointer {
    type Sent = Held<PointerView<DataInfo>>;
    fn answer(held: Self::Sent, client: &Client) -> Result<Pointer> {
        Ok(Pointer::from_held(client, held))
    }
}

impl Answer<RequestView> for Request {
    type Sent = Shown<RequestView>;
    fn answer(shown: Self::Sent, client: &Client) -> Result<Request> {
        Ok(Request::from_shown(client, shown))
    }
}

impl Answer<Vec<RequestView>> for RequestList {
    type Sent = Shown<Vec<Shown<RequestView>>>;
    fn answer(list: Self::Sent, client: &Client) -> Result<RequestList> {
        Ok(RequestList {
            requests: list
                .view
                .into_iter()
                .map(|r| Request::from_shown(client, r))
                .collect(),
            rendered: list.rendered,
        })
    }
}

impl Answer<Box<ReviewView<Data>>> for Review {
    type Sent = Rendered;
    fn answer(rendered: Rendered, _: &Client) -> Result<Review> {
        Ok(Review { rendered })
    }
}

impl Answer<veil_api::code::SubmittedCode<Data>> for SubmittedCode {
    type Sent = veil_api::code::SubmittedCode<Held<DataInfo>>;
    fn answer(code: Self::Sent, _: &Client) -> Result<SubmittedCode> {
        Ok(code.map_mock(Data::from_held))
    }
}

impl Answer<std::result::Result<Data, String>> for PrivateRun {
    type Sent = Held<DataInfo>;
    fn answer(held: Held<DataInfo>, _: &Client) -> Result<PrivateRun> {
        Ok(Data::from_held(held))
    }
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
