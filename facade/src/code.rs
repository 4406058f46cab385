//! Code requests as cells see them: a whole analysis as one Rust function, tried on the mocks, submitted
//! for the owner's review and run on the real data at the datasite once approved.
//!
//! The function is not compiled in the cell (cells link only this thin crate): [`function!`](crate::function)
//! keeps its exact source text, and the datasite compiles it against its own dependency set (polars,
//! ndarray, serde), in a child process with time and memory limits.

use veil_api::call::Call;

use crate::bridge::Result;
use crate::pointer::Request;
use crate::site::{Client, SiteAsset};

pub use veil_api::code::OutputPolicy;

/// Binds each parameter of a cell's [`Code`] to an asset it fetched, or to a constant.
pub type ExactMatch = veil_api::code::ExactMatch<SiteAsset>;

/// A cell's code request, made by [`function!`](crate::function): see [`veil_api::code::Code`].
pub type Code = veil_api::code::Code<SiteAsset>;

impl Client {
    /// Submits `code` for the owner's review (it is tried on the mocks first; the same code twice is
    /// refused). The request's `get()` returns the real result once approved.
    pub fn request_code_execution(&self, code: &Code, reason: &str) -> Result<Request> {
        let call = Call::RequestCode {
            code: code.spec()?,
            reason: reason.into(),
        };
        Request::ask(self, call)
    }
}
