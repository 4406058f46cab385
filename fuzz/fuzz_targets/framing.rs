//! The ZMTP framing a TCP peer sends the kernel's ports: never a panic, a frame over the limit is
//! always refused, and the verdict does not depend on how the bytes were split into reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_kernel_input::framing::Framing;

const LIMIT: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let whole = Framing::new(LIMIT).check(stream);
    let mut framing = Framing::new(LIMIT);
    let mut split = Ok(());
    for part in stream.chunks(usize::from(chunk).max(1)) {
        split = framing.check(part);
        if split.is_err() {
            break;
        }
    }
    assert_eq!(
        whole, split,
        "the verdict changed with reads of {chunk} bytes"
    );
});
