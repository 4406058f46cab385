//! # veil-kernel-input: what the Veil kernel reads from outside
//!
//! Everything the kernel decodes from bytes or text that anyone may send it, before any of it
//! touches a session: the ZMTP framing a TCP peer sends the kernel's ports, the signed Jupyter
//! messages behind it, the magic lines of a cell, the glob patterns of a history search.
//!
//! Why a crate of its own: these are what an attacker controls, so they are fuzzed (`fuzz/`,
//! `scripts/fuzz.sh`), and a fuzzer builds every dependency of its target with instrumentation. In
//! `veil-kernel` that would be polars, evcxr and the datasite; here it is the Jupyter message
//! crates, serde and the call vocabulary. The kernel does everything else (running magics, cells,
//! replies), and its tests send the same malformed input to the real binary.
//!
//! # Layout
//! - [`framing`]: ZMTP 3 framing followed byte by byte, refusing a frame longer than a limit before
//!   anything is allocated for it (the kernel's TCP guard).
//! - [`message`]: a multipart message verified against the connection's key and decoded; content
//!   that does not decode becomes an answerable error, never a dropped request.
//! - [`magic`]: magic lines parsed into [`magic::Magic`], with each magic's usage.
//! - [`glob`]: glob matching in at most pattern × text steps.

pub mod framing;
pub mod glob;
pub mod magic;
pub mod message;
