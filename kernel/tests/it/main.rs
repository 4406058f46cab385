//! The kernel's integration tests in one binary (each test binary links polars): the real kernel
//! binary over ZeroMQ (`protocol`), the cell bridge (`bridge`), the facade's parity with the
//! runtime (`api_parity`), and `common`, what they share.

mod common;

mod api_parity;
mod bridge;
mod protocol;
