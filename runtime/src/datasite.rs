//! # The datasite: the trust boundary
//!
//! Everything that decides lives here, and only here: the datasite's state (`SiteCore`, the one
//! type with `impl SiteCore` blocks), the one dispatch every call of every transport goes through
//! (`dispatch`), and one service module per area, each serving its calls (an `impl Serve` per call
//! declared in `veil_api::calls`) from the datasite's own records:
//! - `users`: roles, registration, passwords (argon2) and sessions; the audit log's reading.
//! - `datasets`: uploads in one transaction, listings, deletion, reads of mocks and real data;
//!   `in_place`: assets whose real data is Parquet files under the data root
//!   ([`LaunchOptions::data_root`]), resolved inside it, hashed once and checked on every read.
//! - `pointers` and `replay`: ops on mocks recorded as actions, the worker that replays them on the
//!   real data, result requests.
//! - `requests`: reviews, approvals (one or two owners), denials, requests for changes, releases.
//! - `code`: code requests, their runs under output policies, jailed by the engine's runner.
//! - `privacy`: differentially private releases under budgets (`privacy::dp`), the disclosure
//!   checks on every approved release and the releases they remember (`privacy::disclosure`), and
//!   release receipts (`privacy::receipts`).
//!
//! It computes through the engine (which knows no caller) and stands on the ground (storage, data,
//! errors). It never names the client's handles: what it answers is the vocabulary's views, which a
//! client wraps (`tests/it/layers.rs` holds both rules). Its public face is [`Datasite`] and
//! [`LaunchOptions`], the limits callers meet, and the entry an in-process client's link calls.
//!
//! # Security model
//! The datasite is the trust boundary: **whatever a client sends or holds, the datasite decides from
//! its own records.** Handles ([`Client`](crate::Client), [`Pointer`](crate::Pointer), [`Request`](crate::Request), [`SiteAsset`](crate::SiteAsset)) hold ids, their
//! client and, for display, a view of what the datasite said when they were read. Every call sends
//! ids only; the datasite resolves the caller's session token to the user and role it holds now,
//! reads each id's record, and checks the caller against that record: a request acts on what its
//! record asks for, a pointer op on objects the caller made, a review shows the dataset and asset
//! names the datasite holds for the ids behind it. An id the caller may not use looks exactly like
//! one that does not exist. Before any record is read, one gate checks the caller's current role
//! against the call table (`veil_api::access`: each call's area and the roles it is open to); the
//! listings of what a role may call (a [`Client`](crate::Client)'s display, [`Calls`](crate::Calls), the kernel's `%help api`)
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
//! What an owner's approval releases is checked first (its privacy service), and the checks fail
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
//! What differentially private releases add (its privacy service): without an owner's approval, a scientist
//! with a budget on a dataset receives noisy aggregates whose recorded steps the datasite checked
//! read one value per row of one asset; all her releases on the dataset together are
//! ε-differentially private, ε being what she spent (never more than her budget), with respect to
//! one row added or removed. Not covered: how long a release took, which depends on the real
//! computation as an approved result's does; and people with several rows (the unit is a row).
//!
//! What an owner sees: everything on the datasite, including every request's real result or real-side
//! error before deciding, code runs on the real data for their eyes only
//! ([`Request::run_privately`](crate::Request::run_privately)), and the hash-chained audit log of every action, review, decision
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
//! [`Data::decode`](crate::Data::decode) checks what an array's header and a frame's metadata declare before
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

pub(crate) mod code;
pub(crate) mod datasets;
pub(crate) mod dispatch;
pub(crate) mod in_place;
pub(crate) mod pointers;
pub(crate) mod privacy;
pub(crate) mod replay;
pub(crate) mod requests;
pub(crate) mod site;
pub(crate) mod users;

pub use code::{ALLOW_UNJAILED_ENV, MAX_CONSTANT_BYTES, MAX_SOURCE_BYTES};
pub use datasets::{MAX_ASSETS, MAX_CONTRIBUTORS};
pub use site::{
    DEFAULT_REAL_ANSWER_FLOOR, DEFAULT_SESSION_TTL, Datasite, LaunchOptions, VEIL_HOME_ENV,
    default_home,
};
pub use users::{DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD};

// What an in-process client's link calls: the state, the typed entry of the dispatch, and a login.
pub(crate) use dispatch::Serve;
pub(crate) use site::SiteCore;
pub(crate) use users::LoginOutcome;
