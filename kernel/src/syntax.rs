//! Just enough of Rust's lexical structure to answer `is_complete_request`: are brackets balanced
//! outside strings, chars and comments?

/// What `is_complete` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// Needs more lines (an open bracket, string or block comment).
    Incomplete,
    /// A closing bracket with no opener: no continuation can fix it.
    Invalid,
}

/// Judges whether `code` is a complete cell.
pub fn completeness(code: &str) -> Completeness {
    if code.trim_start().starts_with('%') {
        return Completeness::Complete;
    }
    let chars: Vec<char> = code.chars().collect();
    let mut stack: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while i < chars.len() && depth > 0 {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 1;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 1;
                    }
                    i += 1;
                }
                if depth > 0 {
                    return Completeness::Incomplete;
                }
                continue;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Completeness::Incomplete;
                }
            }
            '\'' => {
                // A char literal ('a', '\n') or a lifetime ('a): skip a literal only when it closes.
                if next == Some('\\') {
                    if let Some(end) = (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
                    {
                        i = end;
                    }
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 2;
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_cells() {
        use Completeness::*;
        for (code, expected) in [
            ("let x = 1;", Complete),
            ("fn f() {", Incomplete),
            ("let v = vec![1,", Incomplete),
            ("let s = \"unterminated", Incomplete),
            ("let s = \"}\";", Complete),
            ("let c = '{';", Complete),
            ("fn f<'a>(x: &'a str) -> &'a str { x }", Complete),
            ("// { not code\nlet x = 1;", Complete),
            ("/* open", Incomplete),
            ("let x = 1; }", Invalid),
            ("(]", Invalid),
            ("%datasite launch x", Complete),
            ("let c = '\\n';", Complete),
        ] {
            assert_eq!(completeness(code), expected, "{code:?}");
        }
    }
}
