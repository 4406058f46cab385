//! # veil-facade: what Rust cells link
//!
//! Cells in the Veil kernel are compiled by evcxr, which compiles every dependency itself; linking the
//! datasite (polars and all) there would cost half an hour. So cells link this thin crate, in scope as
//! `veil` with `use veil::prelude::*;` preloaded, and the kernel process does the data work.
//!
//! It speaks to the kernel through marker lines on stdout, which the kernel turns into Jupyter messages
//! and never shows: [`display`] sends a `display_data` bundle, [`clear_output`] a `clear_output`, and the
//! panic hook installed by [`kernel_init`] reports a cell's panic as a Jupyter error.
//!
//! # Layout
//! - [`Rich`]: values with a MIME bundle; [`Html`] and text implement it.
//! - [`display`], [`html`], [`clear_output`]: output from inside a cell.
//! - [`kernel_init`]: run once by the kernel when a session starts.
#![warn(missing_docs)]

use std::io::Write;

/// Prefix of the lines the kernel intercepts (ASCII record separator, then a tag).
const DISPLAY_MARKER: &str = "\u{1e}VEIL_DISPLAY ";
const CLEAR_MARKER: &str = "\u{1e}VEIL_CLEAR_OUTPUT";
const PANIC_MARKER: &str = "\u{1e}VEIL_PANIC ";

/// The names cells use: `use veil::prelude::*;`.
pub mod prelude {
    pub use crate::{Html, Rich, clear_output, display, html};
}

/// A value that displays as a MIME bundle (MIME type, content) pairs.
pub trait Rich {
    /// The bundle; include `text/plain` so every front end can show something.
    fn bundle(&self) -> Vec<(&'static str, String)>;
}

/// An HTML fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html(pub String);

/// Wraps `fragment` so it displays as HTML.
pub fn html(fragment: impl Into<String>) -> Html {
    Html(fragment.into())
}

impl Rich for Html {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        vec![
            ("text/plain", strip_tags(&self.0)),
            ("text/html", self.0.clone()),
        ]
    }
}

impl Html {
    /// evcxr's display hook: a cell whose value is an `Html` shows it rendered.
    pub fn evcxr_display(&self) {
        for (mime, content) in self.bundle() {
            println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
        }
    }
}

impl Rich for str {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        vec![("text/plain", self.to_string())]
    }
}

impl Rich for String {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        self.as_str().bundle()
    }
}

macro_rules! rich_via_display {
    ($($t:ty),*) => {$(
        impl Rich for $t {
            fn bundle(&self) -> Vec<(&'static str, String)> {
                vec![("text/plain", self.to_string())]
            }
        }
    )*};
}
rich_via_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool, char
);

impl<T: Rich + ?Sized> Rich for &T {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        (**self).bundle()
    }
}

/// Shows `value` now, as its own output (`display_data`), like IPython's `display`.
pub fn display<T: Rich + ?Sized>(value: &T) {
    let mut bundle = serde_json::Map::new();
    for (mime, content) in value.bundle() {
        bundle.insert(mime.to_string(), serde_json::Value::String(content));
    }
    emit(&format!(
        "{DISPLAY_MARKER}{}",
        serde_json::Value::Object(bundle)
    ));
}

/// Clears the cell's output; with `wait`, only once new output arrives (no flicker).
pub fn clear_output(wait: bool) {
    emit(&format!(
        "{CLEAR_MARKER}{}",
        if wait { " wait" } else { "" }
    ));
}

fn emit(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // The kernel reads stdout line by line and finds the marker even after unterminated text.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Called by the kernel once per session: reports panics to the kernel, which shows them as errors.
pub fn kernel_init() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_string());
        let text = match info.location() {
            Some(l) if !l.file().contains("evcxr") => {
                format!("{message} (at {}:{})", l.file(), l.line())
            }
            _ => message,
        };
        emit(&format!(
            "{PANIC_MARKER}{}",
            serde_json::Value::String(text)
        ));
    }));
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles() {
        let b = html("<b>hi</b>").bundle();
        assert_eq!(
            b,
            [
                ("text/plain", "hi".to_string()),
                ("text/html", "<b>hi</b>".to_string())
            ]
        );
        assert_eq!(42.bundle(), [("text/plain", "42".to_string())]);
        assert_eq!("x".bundle(), [("text/plain", "x".to_string())]);
    }
}
