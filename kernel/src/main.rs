//! `veil-kernel`: the Jupyter kernel for Veil.
//!
//! Not built yet: the kernel (Jupyter messaging over ZeroMQ, Rust cells through evcxr, magics, the
//! kernelspec installer) is its own issue. Until then this binary only says so, so that nobody mistakes
//! it for a working kernel.

use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => {
            println!("veil-kernel {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "veil-kernel {}: the Jupyter kernel is not available yet; use the `veil` crate \
                 (e.g. `cargo run -p veil --example owner_flow`) in the meantime",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::from(2)
        }
    }
}
