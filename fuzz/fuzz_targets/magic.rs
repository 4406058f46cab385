//! Magic lines, as a cell's first line brings them: never a panic, and an error always names the
//! problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_kernel_input::magic::parse;

fuzz_target!(|line: &str| {
    let line = format!("%{line}");
    match parse(&line) {
        Ok(magic) => {
            let _ = magic.password_prompt();
        }
        Err(e) => assert!(!e.0.is_empty(), "an empty error for {line:?}"),
    }
});
