//! History search patterns: the kernel's linear matcher agrees with a plain dynamic-programming one
//! on every pattern and text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_kernel_input::glob::matches;

/// `pattern` against `text` by the textbook table (pattern × text cells).
fn reference(pattern: &[char], text: &[char]) -> bool {
    // row[j]: whether the pattern so far matches the first j characters of the text.
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        if p == '*' {
            next[0] = row[0];
        }
        for j in 1..=text.len() {
            next[j] = match p {
                '*' => row[j] || next[j - 1],
                '?' => row[j - 1],
                c => row[j - 1] && c == text[j - 1],
            };
        }
        row = next;
    }
    row[text.len()]
}

fuzz_target!(|input: (&str, &str)| {
    let (pattern, text) = input;
    let p: Vec<char> = pattern.chars().take(64).collect();
    let t: Vec<char> = text.chars().take(256).collect();
    let (ps, ts): (String, String) = (p.iter().collect(), t.iter().collect());
    assert_eq!(matches(&ps, &ts), reference(&p, &t), "{ps:?} on {ts:?}");
});
