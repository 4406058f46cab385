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
//!   and Parquet loaders.
//!
//! **Engine** (`engine/`), computation that knows no caller: it reads no record and checks no role.
//! - [`ops`]: the closed, serialisable op set pointers record, and its one evaluator; `analysis`
//!   (private) the group-bys, joins and fits behind some ops.
//! - `provenance` (private): the real rows behind each value of a result, the one pass the
//!   disclosure checks count people from; `checks` (private): the checks' math on it (verdicts,
//!   code output reading, rounding, how released values are kept).
//! - [`runner`]: compiles submitted functions against a prebuilt dependency set and runs them in a
//!   limited child process.
//! - [`mock`]: recipes for mock data, synthesized mocks (schema only, DP marginals), and the report
//!   of what a mock gives away that every upload gets; `noise` (private): the exact discrete Laplace
//!   sampler of DP releases.
//!
//! **Datasite and client**, above the engine (still side by side in `src/`; the next step gives the
//! trust boundary and the handles a folder each):
//! - [`site`]: [`Datasite`] — launch (`Datasite::launch(name, reset)`), login, land; where
//!   datasites live.
//! - `dispatch` (private): the one dispatch, `SiteCore::handle(token, call, parts)`, and the
//!   `Serve` trait: every call declared in the vocabulary (`veil_api::calls`, one type each with its
//!   reply's type; an upload's frames and arrays come beside it as its parts) has one `Serve` impl
//!   in the module of its area, a service function of (caller, ids, arguments) returning that
//!   reply type: views, never handles. The handles' methods ([`Client`], [`Pointer`], [`Request`],
//!   [`SiteAsset`]) are one call each, written once for this crate and the facade cells link
//!   (`veil_api::handle_methods!`), and the kernel's magics and cell bridge use those methods, so
//!   they go through the dispatch too.
//! - [`users`]: roles, registration ([`NewUser`]), passwords (argon2) and session tokens.
//! - [`datasets`]: [`Dataset`] and [`Asset`] builders (the vocabulary's `spec` types over the
//!   datasite's [`Data`]), uploaded [`SiteDataset`] / [`SiteAsset`] views.
//! - [`pointers`]: [`Pointer`] — eager ops on mocks, recorded as actions on the datasite;
//!   `replay` (private): the recorded objects, the worker that replays them on real data, the cache.
//! - [`request`]: [`Request`]s of both kinds (a pointer's result, a code run), the owner's
//!   [`Review`], approval, request for changes and release.
//! - [`code`]: code requests — a function ([`Code`], [`function!`]) with an input policy
//!   ([`ExactMatch`]) and an [`OutputPolicy`], tried on mocks, reviewed, run on real data once
//!   approved.
//! - [`disclosure`]: automatic output checks (individual records, zeros, minimum cell count,
//!   dominance, p-percent, subsets, row weights, differencing against earlier releases, degrees of
//!   freedom) on every approved release, per-dataset rules.
//! - [`dp`]: differentially private releases of aggregate pointers under per-scientist budgets
//!   ([`Pointer::get_dp`]), and their ledger in the database.
//! - [`receipt`]: release receipts, each recorded in the audit entry of its release, and their
//!   verification against the log. [`audit`]: the append-only, hash-chained audit log.
//! - [`client`]: [`Client`] — a logged-in user's calls; the datasite checks the caller's role on
//!   each. [`remote`]: [`connect`] — a datasite served over HTTP (`veil serve`), reached with the
//!   same [`Client`]; the server decides every call, this side only encodes and decodes.
//!
//! # Security model
//! The datasite is the trust boundary: **whatever a client sends or holds, the datasite decides from
//! its own records.** Handles ([`Client`], [`Pointer`], [`Request`], [`SiteAsset`]) hold ids, their
//! client and, for display, a view of what the datasite said when they were read. Every call sends
//! ids only; the datasite resolves the caller's session token to the user and role it holds now,
//! reads each id's record, and checks the caller against that record: a request acts on what its
//! record asks for, a pointer op on objects the caller made, a review shows the dataset and asset
//! names the datasite holds for the ids behind it. An id the caller may not use looks exactly like
//! one that does not exist. Before any record is read, one gate checks the caller's current role
//! against the call table (`veil_api::access`: each call's area and the roles it is open to); the
//! listings of what a role may call (a [`Client`]'s display, [`Calls`], the kernel's `%help api`)
//! are drawn from the same table, and a test sends every call as every role to hold the two equal.
//!
//! What a scientist learns before an owner approves: the mocks (and any op's result on them), the
//! metadata the owner published (names, descriptions, schemas, shapes and sizes of assets), her own
//! requests and code, and where they stand (pending, approved, denied with the owner's reason).
//! Nothing that depends on the real data: not whether the real-side replay of her pending request
//! worked, nor its errors, nor its result. After approval she gets that request's released result,
//! and for code one result per run her output policy allows (each run counted before it starts, a
//! failed run too, so runs cannot be retried until one passes on the real data).
//!
//! What an owner's approval releases is checked first ([`disclosure`]), and the checks fail
//! closed: only what they positively clear is released by a plain approval. One pass over the
//! recorded steps (`provenance`, private) follows every real row into every
//! value of the result, through every op of the vocabulary, so the checks count people, not values:
//! a value of one person (a record, an extreme, a reduction along a row), a small cell, a dominated
//! statistic, a row selection keeping or removing too few people, or a value whose people differ
//! by a few from those of a value released earlier from the same asset (differencing, against any
//! scientist's releases unless the owner says they do not collude) each fail, and failing needs an
//! override whose reason the audit log keeps. A code run's output is read for what it holds
//! whatever its type (values the real data's rare rows hold, a size following the input's rows)
//! and withheld until the owner overrides. An owner may also send a request back with the changes
//! it needs, and a dataset may need two owners' approvals. Answers that depend on real computation
//! (a released result or run, a DP release) are held to a time floor. The checks inform the owner;
//! they do not prove a release safe (the provenance is exact for the vocabulary's ops, a code
//! run's output is read only for copies of real values).
//!
//! What differentially private releases add ([`dp`]): without an owner's approval, a scientist
//! with a budget on a dataset receives noisy aggregates whose recorded steps the datasite checked
//! read one value per row of one asset; all her releases on the dataset together are
//! ε-differentially private, ε being what she spent (never more than her budget), with respect to
//! one row added or removed. Not covered: how long a release took, which depends on the real
//! computation as an approved result's does; and people with several rows (the unit is a row).
//!
//! What an owner sees: everything on the datasite, including every request's real result or real-side
//! error before deciding, code runs on the real data for their eyes only
//! ([`Request::run_privately`]), and the hash-chained audit log of every action, review, decision
//! and release. Nobody decides their own request.
//!
//! What runs is what was reviewed: submitted code is compiled into a binary named by the whole
//! SHA-256 of its source (a shorter name would let two sources share one binary), refused before
//! compiling if it reaches outside the language (file-reading macros, inline assembly, `unsafe`,
//! `std::process`, attributes beyond lints), compiled under a deadline, and run in a child process
//! with time and memory limits and, where the OS allows, in namespaces of its own: no network and
//! no file but its inputs and the system's read-only `/usr`, no file larger than its largest result,
//! and a datasite process it cannot attach to (made undumpable before the first run). The refusals
//! keep source reviewable, they are not a sandbox (safe Rust has known soundness holes): the jail
//! is, and it has no PID namespace or seccomp filter yet, so code that broke out of the language
//! could signal the datasite's processes. A run's result file is decoded in the datasite process:
//! [`Data::decode`] checks what an array's header and a frame's metadata declare before
//! allocating, but not a Parquet file's page headers, so a function that writes its own forged
//! `out.parquet` can still make the datasite allocate gigabytes (decoding in the jail is the fix
//! still to come). The owner approves code, not an output: each run allowed
//! by the policy releases what it returns, unseen. An op's
//! arguments are bounded (names and shapes a few KiB, fits a number of steps) before anything is
//! recorded, so what a client sends cannot fill an owner's review.
//!
//! What the embedded form cannot protect against: a datasite embedded in a process shares that
//! process's memory, files and CPU with whoever runs it, so it guards the owner's data against
//! scientists only when scientists reach it through a kernel or server they do not control. A
//! scientist with the datasite's directory, or code in the same process, reads everything. Timing
//! is shared too: the real-side replay runs on the same machine as the mock-side ops, so a scientist
//! timing her own calls under load may learn how long real computations take. Request numbers
//! (`#12`) count every request on the datasite, so the gap between two of hers tells a scientist
//! how many others made in between; and compiling submitted code (bounded in time) runs outside the
//! jail, as the datasite's user, on source refused anything that reads files or runs programs. Submitted code runs
//! jailed only where the OS allows user namespaces (the review warns when it does not).
//!
//! # Storage and durability
//! A datasite is a directory: `veil.db` (SQLite in WAL mode, so the kernel, the command line and other
//! processes can open it at once) and `blobs/`, files named by the SHA-256 of their bytes. An upload is
//! one transaction: a failure part-way leaves the datasite as it was.

#![doc(html_no_source)]

pub mod audit;
pub mod backoff;
pub mod client;
pub mod code;
pub mod data;
pub mod datasets;
pub mod disclosure;
mod dispatch;
pub mod display;
pub mod dp;
mod engine;
pub mod error;
pub mod load;
pub mod pointers;
pub mod progress;
pub mod receipt;
pub mod remote;
mod replay;
pub mod request;
pub mod site;
mod store;
pub mod users;
mod validate;

pub use client::{Calls, Client};
pub use code::{Code, ExactMatch, OutputPolicy, SubmittedCode};
pub use data::{Data, DataKind, Schema};
pub use datasets::{Asset, Contributor, Dataset, DatasetList, SiteAsset, SiteDataset};
pub use display::Render;
// The engine's public modules keep their paths (`veil::ops`, `veil::mock`, `veil::runner`); the
// crate's own code names them the same way.
pub use dp::{Budget, BudgetList, Domain, DpPlan, DpQuery, DpRelease, DpValue};
pub(crate) use engine::{analysis, provenance};
pub use engine::{mock, ops, runner};
pub use error::{Error, Result};
pub use load::{read_csv, read_parquet};
pub use pointers::{DEFAULT_CACHE_BYTES, Pointer, Status};
pub use receipt::{Receipt, Verification, verify as verify_receipt};
pub use remote::{CA_ENV, RemoteSite, connect};
pub use request::{Request, RequestKind, RequestList, RequestStatus, Review};
pub use site::{DEFAULT_REAL_ANSWER_FLOOR, DEFAULT_SESSION_TTL, Datasite, LaunchOptions};
pub use users::{NewUser, Role, User, UserList};
pub use validate::{MAX_NAME_CHARS, MAX_TEXT_BYTES};
/// The call vocabulary the datasite answers (`veil-api`): calls, replies, views and the op set.
pub use veil_api as api;
#[doc(hidden)]
pub use veil_macros::source_text as __source_text;

/// Re-exports for notebooks and programs: `use veil::prelude::*;`.
pub mod prelude {
    pub use crate::code::OutputPolicy::{ExecuteCount, SingleExecution};
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
