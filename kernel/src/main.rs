//! `veil-kernel`: the binary is glue; everything lives in the library.

fn main() -> std::process::ExitCode {
    // evcxr runs cells in a child process that is this same binary re-executed; the hook turns that
    // child into evcxr's runtime before anything else happens.
    evcxr::runtime_hook();
    veil_kernel::cli::main()
}
