//! Glob patterns (`*`, `?`), as IPython's history search takes them.

/// IPython's history search uses glob patterns (`*`, `?`). Matched without recursion or unbounded
/// backtracking: on a mismatch only the last `*` is retried, one character further on, so a search
/// takes at most pattern × text steps (a recursive matcher overflowed its stack on a 200,000-character
/// cell and took exponential time on `*a*a*a*…b`).
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen, and where in the text it now stands.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // The `*` takes one more character, and the rest of the pattern starts after it.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("a?+*", "a + 1"));
        for (pattern, text, expected) in [
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b", "ab", true),
            ("a*b", "axxb", true),
            ("a*b", "axxbc", false),
            ("*b*", "abc", true),
            ("?", "", false),
            ("a**", "a", true),
            ("*a?c", "xxabcac", false),
            ("*a?c", "xxabc", true),
        ] {
            assert_eq!(matches(pattern, text), expected, "{pattern:?} on {text:?}");
        }
    }
}
