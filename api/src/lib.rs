//! # The Veil call vocabulary
//!
//! What the datasite and every client of it say to each other, as types: every call a client makes
//! and its reply ([`call::Call`], [`call::Reply`]), the builders both sides share (datasets, assets,
//! code requests), the views of the datasite's records they carry,
//! the op set pointers record ([`ops::Op`]), and the version of it all ([`API_VERSION`]).
//!
//! Why a crate of its own: the datasite (`veil`), the kernel that serves Rust cells and the facade
//! cells link (`veil-facade`) must agree on these types exactly, and the facade cannot link the
//! datasite (polars and co. would make every notebook's first cell compile for minutes). So the
//! vocabulary lives here, with serde as its only dependency, and each side uses the same definitions
//! instead of a copy: mini-redis's one command type shared by its client and server, for Veil.
//!
//! # Layout
//! - [`calls`]: every call, declared once: its request type, its reply type
//!   ([`call::DatasiteCall`]), its wire name, its area, the roles it is open to and how a cell
//!   makes it; [`call::Call`] is any of them, as one value.
//! - [`call`]: what a call is ([`call::DatasiteCall`], [`call::Call`]), the datasite's replies as a
//!   transport carries them ([`call::Reply`]), the kinds of error a call ends in
//!   ([`call::ErrorKind`]), and [`call::Part`], how an upload names the frames and arrays sent
//!   beside it.
//! - [`access`]: who may make each call ([`access::CALLS`], [`call::Call::info`]): the table the
//!   datasite's dispatch checks first and listings of what a role may do are drawn from.
//! - [`ops`]: [`ops::Op`] and its kinds (arithmetic, comparisons, reductions, aggregates), with
//!   [`ops::describe`], the readable form an owner reviews.
//! - [`view`]: the view types clients read (users, datasets and assets, requests and reviews,
//!   pointers, audit entries, statuses and roles) and the plain specs they send (a new user, an
//!   output policy).
//! - [`code`]: code requests as a client builds them ([`code::Code`], [`code::ExactMatch`], generic
//!   over the asset handle they bind), sends them ([`code::CodeSpec`]) and as the datasite records
//!   them (signatures, bound inputs, [`code::SubmittedCode`]).
//! - [`disclosure`]: the automatic output checks on every approved release (statistical disclosure
//!   control, ACRO's rules) and the thresholds owners set per dataset.
//! - [`dp`]: differentially private releases: the query a scientist states, its plan and release,
//!   budgets, and the ranges and categories owners declare for columns.
//! - [`receipt`]: release receipts, tied to the audit entry that recorded each release.
//! - [`spec`]: datasets and assets as an owner builds them to upload ([`spec::Dataset`],
//!   [`spec::Asset`]), generic over how their data travels.
//! - [`wire`]: how calls travel over HTTP to a served datasite (`veil serve`): the routes, the
//!   login and session, and the body of JSON and binary parts frames and arrays travel in.
//! - [`kernel`]: the small vocabulary of a cell's calls to its Jupyter kernel, about the values the
//!   kernel holds for it ([`kernel::KernelCall`], addressed by the kernel's handles).
//! - [`op_methods!`]: the op methods (`sum`, `pow`, `column`, ...) and arithmetic operators, written
//!   once for every type that takes ops; [`handle_methods!`]: the handles' methods that are one
//!   call each, written once for a program's handles and a cell's.

pub mod access;
pub mod call;
pub mod calls;
pub mod code;
pub mod disclosure;
pub mod dp;
pub mod kernel;
mod methods;
pub mod mock;
pub mod ops;
pub mod receipt;
pub mod spec;
pub mod view;
pub mod wire;

/// The version of this vocabulary. Clients and datasites of the same major version understand each
/// other; a newer datasite serves an older client of the same major version.
pub const API_VERSION: &str = "0.1";
