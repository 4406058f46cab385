//! Procedural macros for Veil.
//!
//! [`source_text!`] turns its input into a string literal of the input's exact source text, comments
//! and layout included: what an owner reads when reviewing a code request. `stringify!` would print
//! tokens instead, on one line, without comments.

use proc_macro::{Literal, Span, TokenStream, TokenTree};

/// The input's source text as a string literal, dedented to its first token's column.
///
/// Each top-level token's text comes from the source file as written (a `{ .. }` body is one token,
/// so everything inside it is exact); the gaps between top-level tokens are rebuilt from their line
/// and column. Tokens without source text (made by another macro) fall back to their token form.
#[proc_macro]
pub fn source_text(input: TokenStream) -> TokenStream {
    let text = exact(input.clone()).unwrap_or_else(|| input.to_string());
    TokenTree::Literal(Literal::string(&text)).into()
}

fn exact(input: TokenStream) -> Option<String> {
    let mut out = String::new();
    let mut previous_end: Option<(usize, usize)> = None;
    let mut indent = 0;
    for tree in input {
        let span: Span = tree.span();
        let text = span.source_text()?;
        let (start, end) = (span.start(), span.end());
        // A doc comment is two tokens (`#` and `[doc = ..]`) that both span the whole comment.
        if previous_end
            .is_some_and(|(line, column)| (start.line(), start.column()) < (line, column))
        {
            continue;
        }
        match previous_end {
            None => indent = start.column().saturating_sub(1),
            Some((line, _)) if start.line() > line => {
                out.push_str(&"\n".repeat(start.line() - line));
                out.push_str(&" ".repeat(start.column().saturating_sub(1)));
            }
            Some((_, column)) => out.push_str(&" ".repeat(start.column().saturating_sub(column))),
        }
        out.push_str(&text);
        previous_end = Some((end.line(), end.column()));
    }
    Some(dedent(&out, indent))
}

/// Removes up to `indent` leading spaces from every line but the first (which starts at the first
/// token), so a function written indented inside a macro call reads as if written at column one.
fn dedent(text: &str, indent: usize) -> String {
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        let spaces = line.len() - line.trim_start_matches(' ').len();
        out.push_str(&line[spaces.min(indent)..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dedent;

    #[test]
    fn dedents_all_but_the_first_line_by_the_first_tokens_column() {
        let text = "fn f() {\n        let x = 1;\n    }";
        assert_eq!(dedent(text, 4), "fn f() {\n    let x = 1;\n}");
        // Lines indented less than the first token, and blank lines, lose what they have.
        assert_eq!(dedent("a\n  b\n\nc", 4), "a\nb\n\nc");
    }
}
