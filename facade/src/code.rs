//! Code requests as cells see them: a whole analysis as one Rust function, tried on the mocks, submitted
//! for the owner's review and run on the real data at the datasite once approved.
//!
//! The function is not compiled in the cell (cells link only this thin crate): [`function!`](crate::function)
//! keeps its exact source text, and the datasite compiles it against its own dependency set (polars,
//! ndarray, serde), in a child process with time and memory limits.

use crate::site::SiteAsset;

pub use veil_api::code::OutputPolicy;

/// Binds each parameter of a cell's [`Code`] to an asset it fetched, or to a constant.
pub type ExactMatch = veil_api::code::ExactMatch<SiteAsset>;

/// A cell's code request, made by [`function!`](crate::function): see [`veil_api::code::Code`].
pub type Code = veil_api::code::Code<SiteAsset>;
