//! # Veil: the datasite
//!
//! A datasite keeps private data on its owner's premises and lets data scientists work with it without
//! seeing it. The owner uploads *datasets* made of *assets*; each asset holds the real data and a mock
//! with the same schema. Scientists log in, browse datasets and work on the mocks; real results leave
//! the datasite only when the owner approves a request. This crate is the datasite itself: storage,
//! users and roles, datasets and assets, pointers (ops on mocks, replayed on real data) and requests
//! for their results, the audit log and the [`Client`] API, each object with a rich
//! display ([`Render`]) for notebooks. It knows nothing of Jupyter; the `veil-kernel` crate puts it in
//! a notebook.
//!
//! ```
//! use veil::prelude::*;
//! # let tmp = tempfile::tempdir().unwrap();
//! // `Datasite::launch("cancer-research-centre", true)` keeps it under `$VEIL_HOME` (or the user data
//! // directory); here it goes into a temporary directory.
//! let site = LaunchOptions::new("cancer-research-centre").dir(tmp.path()).reset(true).launch()?;
//! let owner = site.login("info@openmined.org", "changethis")?;
//!
//! let real = ndarray::array![1.0, 2.0, 3.0];
//! let mock = ndarray::array![1.0, 1.0, 1.0];
//! owner.upload_dataset(
//!     Dataset::new("my dataset")
//!         .summary("three numbers")
//!         .asset(Asset::new("my asset").data(real).mock(mock)),
//! )?;
//! owner.register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123").institution("Caltech"))?;
//!
//! let jane = site.login("jane@caltech.edu", "abc123")?;
//! let asset = jane.dataset("my dataset")?.asset("my asset")?;
//! assert_eq!(asset.mock()?.as_f64().unwrap().sum(), 3.0);
//! assert!(matches!(asset.data(), Err(Error::PermissionDenied { .. })));
//! println!("{}", jane.datasets()?.text());
//!
//! // Jane computes on a pointer: at once on the mock, replayed on the real data at the datasite.
//! let total = asset.pointer()?.sum()?;
//! assert_eq!(total.mock().as_f64().unwrap().sum(), 3.0);
//! let request = total.request("the total")?;
//! // Three people are under the minimum cell count of the disclosure checks: the owner releases
//! // it on purpose, saying why (a plain `approve()` is refused, naming the check).
//! owner.request(&request.id)?.approve_overriding("three numbers for an example")?;
//! assert_eq!(total.get()?.as_f64().unwrap().sum(), 6.0);
//! site.land()?;
//! # Ok::<(), veil::Error>(())
//! ```
//!
//! # Layout
//! In layers, each naming only those below it (`tests/it/layers.rs` fails when a module names one
//! above its own):
//!
//! **Ground**, what every layer stands on:
//! - [`error`]: the one [`Error`] type. [`data`]: [`Data`] — a polars frame or an ndarray array,
//!   encoded as Parquet or `.npy`. [`display`]: the [`Render`] trait (text/plain and self-contained
//!   text/html). `validate` (private): names, sizes and ids, checked with clear errors. `store`
//!   (private): SQLite (WAL, migrations) plus content-addressed blob files, written atomically.
//!   [`progress`]: an upload's progress. [`backoff`]: slowing repeated failed logins. [`load`]: CSV
//!   and Parquet loaders. [`audit`]: the append-only, hash-chained audit log, recorded and
//!   verified. [`plot`]: histograms, value counts, scatter and line plots of a frame, as a
//!   Vega-Lite spec and an SVG.
//!
//! **Engine** (`engine/`), computation that knows no caller: it reads no record and checks no role.
//! - [`ops`]: the closed, serialisable op set pointers record, and its one evaluator; `analysis`
//!   (private) the group-bys, joins and fits behind some ops; `replay` (private): the executor's
//!   cache of computed values and loaded assets, and the limits an op's arguments keep to;
//!   `planned` (private): the plan path, a lineage run as one streaming DataFusion query over its
//!   assets' Parquet files read in place (crate `veil-plan`), for assets of at least
//!   [`LaunchOptions::plan_from_bytes`] and assets read in place, with parity tests against
//!   [`ops`]' evaluator.
//! - `provenance` (private): the real rows behind each value of a result, the one pass the
//!   disclosure checks count people from; `checks` (private): the checks' math on it (verdicts,
//!   code output reading, rounding, how released values are kept).
//! - `dp` (private): the math of differentially private releases (ε units, grids, bounds,
//!   aggregates); `noise` (private): its exact discrete Laplace sampler. [`receipt`]: release
//!   receipts' digests, and their verification against an audit log.
//! - [`runner`]: compiles submitted functions against a prebuilt dependency set and runs them in a
//!   limited child process.
//! - [`mock`]: recipes for mock data, synthesized mocks (schema only, DP marginals), and the report
//!   of what a mock gives away that every upload gets.
//!
//! **Datasite** ([`datasite`]), the trust boundary and the only place that decides: the
//! datasite's state, [`Datasite`] (launch with `Datasite::launch(name, reset)` or
//! [`LaunchOptions`], land), the one dispatch every call of every transport goes through, and one
//! service per area (users, datasets, pointers and their replay, requests, code, privacy: DP
//! budgets, disclosure checks, receipts). Each call declared in the vocabulary (`veil_api::calls`,
//! one type each with its reply's type) is served by one function of (caller, ids, arguments)
//! returning that type: views, never handles. Its docs hold the security model.
//!
//! **Client** ([`client`]), the untrusted handles: [`Client`] (a logged-in user's session, in
//! this process or over HTTP with [`connect`]), [`SiteDataset`] / [`SiteAsset`], [`Pointer`],
//! [`Request`] and [`Review`], the builders an owner uploads ([`Dataset`], [`Asset`]) and a
//! scientist submits ([`Code`], [`function!`], [`ExactMatch`], [`OutputPolicy`]), and their
//! displays. Their methods are one call each, written once for this crate and the facade cells
//! link (`veil_api::handle_methods!`); the kernel's magics and cell bridge use those methods, so
//! they go through the dispatch too. Of the datasite a client names only the link it calls
//! through.
//!
//! # Security model
//! The datasite is the trust boundary; what it decides, and what it does not protect against, is
//! in [`datasite`]'s docs.
//!
//! # Storage and durability
//! A datasite is a directory: `veil.db` (SQLite in WAL mode, so the kernel, the command line and other
//! processes can open it at once) and `blobs/`, files named by the SHA-256 of their bytes. An upload is
//! one transaction: a failure part-way leaves the datasite as it was.

#![doc(html_no_source)]

pub mod audit;
pub mod backoff;
pub mod client;
pub mod data;
pub mod datasite;
pub mod display;
mod engine;
pub mod error;
pub mod load;
pub mod plot;
pub mod progress;
mod store;
mod validate;

pub use client::code::{Code, ExactMatch, OutputPolicy, SubmittedCode};
pub use client::datasets::{Asset, Contributor, Dataset, DatasetList, SiteAsset, SiteDataset};
pub use client::pointers::{Pointer, Status};
pub use client::privacy::BudgetList;
pub use client::remote::{CA_ENV, RemoteSite, connect};
pub use client::requests::{Request, RequestKind, RequestList, RequestStatus, Review};
pub use client::users::UserList;
pub use client::{Calls, Client};
pub use data::{Data, DataKind, Schema};
pub use datasite::{DEFAULT_REAL_ANSWER_FLOOR, DEFAULT_SESSION_TTL, Datasite, LaunchOptions};
pub use display::Render;
// The engine's public modules keep their paths (`veil::ops`, `veil::mock`, `veil::runner`,
// `veil::receipt`); the crate's own code names them the same way.
pub use engine::planned::DEFAULT_PLAN_FROM_BYTES;
pub use engine::replay::{DEFAULT_CACHE_BYTES, MAX_LITERAL_VALUES};
pub(crate) use engine::{analysis, provenance};
pub use engine::{mock, ops, receipt, runner};
pub use error::{Error, Result};
pub use load::{read_csv, read_parquet};
pub use receipt::{Receipt, Verification, verify as verify_receipt};
pub use validate::{MAX_NAME_CHARS, MAX_TEXT_BYTES};
/// The call vocabulary the datasite answers (`veil-api`): calls, replies, views and the op set.
pub use veil_api as api;
pub use veil_api::disclosure::{Check, Rules, Verdict};
pub use veil_api::dp::{Budget, Domain, DpPlan, DpQuery, DpRelease, DpValue};
pub use veil_api::view::{NewUser, Role, User};
#[doc(hidden)]
pub use veil_macros::source_text as __source_text;

/// Re-exports for notebooks and programs: `use veil::prelude::*;`.
pub mod prelude {
    pub use crate::OutputPolicy::{ExecuteCount, SingleExecution};
    pub use crate::{
        Asset, Client, Code, Contributor, Data, DataKind, Dataset, Datasite, DpQuery, Error,
        ExactMatch, LaunchOptions, NewUser, OutputPolicy, Pointer, Render, Request, RequestKind,
        RequestStatus, Role, SiteAsset, SiteDataset, Status, function, read_csv, read_parquet,
    };
    pub use polars::prelude::DataFrame;
}

/// A code request's function, with its exact source text: `veil::function! { fn f(x: DataFrame) -> f64 { .. } }`
/// gives a [`Code`] to bind ([`Code::input_policy`]), try on the mocks ([`Code::run_on_mocks`]) and
/// submit ([`Client::request_code_execution`]). The function is not compiled here: the datasite
/// compiles it against its own dependency set (polars, ndarray, serde), where `use` lines are not
/// needed for those crates.
#[macro_export]
macro_rules! function {
    ($($source:tt)*) => { $crate::Code::new($crate::__source_text!($($source)*)) };
}

/// The data libraries Veil's values are made of, re-exported so programs use the same versions.
pub use ndarray;
pub use polars;
