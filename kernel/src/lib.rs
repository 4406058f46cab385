//! # veil-kernel: the Jupyter kernel for Veil
//!
//! A Jupyter kernel (messaging protocol 5.3 over ZeroMQ) whose cells are Rust, evaluated by evcxr, with
//! the `veil` datasite behind them. Magic commands (`%datasite`, `%login`, `%datasets`, ...) are answered
//! by the kernel itself without compiling anything.
//!
//! # Layout
//! - [`bridge`]: the socket Rust cells reach the session's datasite through (handles, not data).
//! - [`cli`]: the command line (`--connection-file`, `install`, `uninstall`, the hidden `--spare`);
//!   `main.rs` only calls it.
//! - [`connection`]: reads the connection file, prepares the session and evcxr, binds the sockets, runs
//!   the channel tasks until shutdown.
//! - [`guard`]: the TCP ports, passing each peer through to the ZeroMQ sockets once its framing checks
//!   (no frame over [`guard::MAX_FRAME_BYTES`] reaches the `zeromq` crate, which would allocate it).
//! - [`shell`]: shell and control requests: execute, complete, inspect, is_complete, history, kernel_info,
//!   interrupt, shutdown.
//! - [`iopub`], [`heartbeat`]: the publishing and heartbeat channels, each on its own task.
//! - [`magics`]: running `%` commands against the [`session`].
//!
//! What anyone may send the kernel is decoded in the `veil-kernel-input` crate (kept apart so it can
//! be fuzzed without building polars and evcxr): the ZMTP framing the [`guard`] follows, the signed
//! messages the [`shell`] decodes, magic lines and history search patterns.
//! - [`docs`]: inspect answers for Veil's API, parsed from the facade's own doc comments.
//! - [`rust`]: Rust cells through evcxr on a dedicated thread, started in the background.
//! - [`spare`]: the warm spare, the next kernel's Rust context made ready ahead of time, which a
//!   launched kernel adopts instead of starting cold, and which, cleared, serves the kernel after.
//! - [`message`]: building replies, MIME bundles and errors.
//! - [`history`], [`syntax`]: input history and `is_complete` judgement.
//! - [`install`]: the kernelspec.

pub mod bridge;
pub mod cli;
pub mod complete;
pub mod connection;
pub mod docs;
pub mod guard;
pub mod heartbeat;
pub mod history;
pub mod install;
pub mod iopub;
pub mod magics;
pub mod message;
pub mod pysyft;
pub mod rust;
pub mod session;
pub mod shell;
pub mod spare;
pub mod syntax;
