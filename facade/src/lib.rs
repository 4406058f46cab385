//! # veil-facade: what Rust cells link
//!
//! Cells in the Veil kernel are compiled by evcxr, which compiles every dependency itself; linking the
//! datasite (polars and all) there would cost half an hour. So cells link this thin crate, in scope as
//! `veil` with `use veil::prelude::*;` preloaded, and the kernel process does the data work.
//!
//! The names are the `veil` crate's: `Datasite::launch`, `site.login`, `client.upload_dataset`,
//! `Dataset::new(..).asset(Asset::new(..).data(..).mock(..))`, `read_csv`, `mock::shift_and_jitter`.
//! Here they are handles: the kernel holds the datasite, the clients and every frame or array, and
//! cells hold ids and small facts (kind, shape, columns) and get rendered displays back. So the
//! datasite a magic launched is the one cells reach with [`site()`] and [`client()`], and the reverse.
//!
//! Two ways to the kernel:
//! - calls over a Unix socket the kernel serves for the session (one JSON line each way, a fresh
//!   connection per call; the socket and a token come from the kernel's environment);
//! - marker lines on stdout, which the kernel turns into Jupyter messages and never shows: [`display`]
//!   sends a `display_data` bundle, [`clear_output`] a `clear_output`, and the panic hook installed
//!   by [`kernel_init`] reports a cell's panic as a Jupyter error.
//!
//! A cell that returns an [`Error`] with `?` shows it as a Jupyter error named after its kind
//! (`PermissionDenied`, `NotFound`, ...).
//!
//! # Layout
//! - [`Datasite`], [`Client`], [`site()`], [`client()`]: the session's datasite and logins;
//!   [`connect`] and [`RemoteSite`]: a datasite served over HTTP, whose logins are the same [`Client`].
//! - [`Data`], [`read_csv`], [`read_parquet`], [`array()`], [`mock`]: values the kernel holds; they
//!   take every op a pointer takes (`&mock + 3.0`, `.pow(2.0)`, `.column(..)`, `.sample(n, seed)`),
//!   evaluated in the kernel and recorded nowhere.
//! - [`Pointer`], [`Request`]: computations on assets' mocks, recorded and replayed on the real data at
//!   the datasite; requests for their real results and owners' reviews.
//! - [`function!`], [`Code`], [`ExactMatch`], [`OutputPolicy`]: code requests, a function run on the
//!   real data at the datasite once approved.
//! - [`Dataset`], [`Asset`], [`Contributor`], [`NewUser`]: builders; [`SiteDataset`], [`SiteAsset`],
//!   [`User`]: what the datasite reports.
//! - [`Rich`]: values with a MIME bundle; [`Html`], text and every Veil value implement it.
//! - [`display`], [`html`], [`clear_output`]: output from inside a cell.
//! - [`kernel_init`]: run once by the kernel when a session starts.
//! - [`json`]: `serde_json`, for reading metadata files in cells.
//! - [`ops`], [`RequestStatus`], [`RequestKind`], [`Status`], [`DataKind`]: the call vocabulary (`veil-api`), the same types the
//!   datasite uses; the op methods of [`Pointer`] and [`Data`] are written once there.
#![warn(missing_docs)]

use std::io::Write;

mod bridge;
mod calls;
mod code;
mod data;
mod dp;
mod pointer;
mod site;

pub use bridge::{Error, Rendered, Result, use_bridge};
pub use code::{Code, ExactMatch, OutputPolicy};
pub use data::{Asset, Contributor, Data, Dataset, Plot, array, mock, read_csv, read_parquet};
pub use dp::{
    Budget, BudgetList, Check, DisclosureRules, Domain, DpPlan, DpQuery, DpRelease, DpValue,
    Receipt, Rules, Verdict, Verification,
};
pub use pointer::{Pointer, Request, RequestList, Review, SubmittedCode};
pub use serde_json as json;
pub use site::{
    AuditLog, Client, DatasetList, Datasite, LaunchOptions, NewUser, RemoteSite, Role, SiteAsset,
    SiteDataset, User, UserList, client, connect, site,
};
/// The call vocabulary this facade speaks; its generic builders (`api::spec::Dataset<Data>`,
/// `api::code::Code<SiteAsset>`) are what [`Dataset`], [`Asset`], [`Code`] and [`ExactMatch`] name.
pub use veil_api as api;
pub use veil_api::view::{DataKind, PointerStatus as Status, RequestKind, RequestStatus};
pub use veil_api::{API_VERSION, ops};
#[doc(hidden)]
pub use veil_macros::source_text as __source_text;

/// Prefix of the lines the kernel intercepts (ASCII record separator, then a tag).
const DISPLAY_MARKER: &str = "\u{1e}VEIL_DISPLAY ";
const CLEAR_MARKER: &str = "\u{1e}VEIL_CLEAR_OUTPUT";
const PANIC_MARKER: &str = "\u{1e}VEIL_PANIC ";
/// On stderr, before an error's own line: the error a cell may return, by name and message.
const FAILURE_MARKER: &str = "\u{1e}VEIL_FAILURE ";

/// The names cells use: `use veil::prelude::*;`.
pub mod prelude {
    pub use crate::DisplayFallback as _;
    pub use crate::OutputPolicy::{ExecuteCount, SingleExecution};
    pub use crate::{
        Asset, Client, Code, Contributor, Data, Dataset, Datasite, DpQuery, Error, ExactMatch,
        Html, LaunchOptions, NewUser, OutputPolicy, Pointer, RequestStatus, Rich, Role, Rules,
        array, clear_output, client, display, function, html, mock, read_csv, read_parquet, site,
    };
}

/// A code request's function, with its exact source text (comments and layout included):
///
/// ```no_run
/// # use veil_facade::prelude::*;
/// # fn main() -> veil_facade::Result<()> {
/// # let features = client()?.dataset("Breast Cancer Biomarker")?.asset("Features")?;
/// let train = function! {
///     fn mean_radius(features: DataFrame) -> f64 {
///         features.column("radius1").unwrap().f64().unwrap().mean().unwrap()
///     }
/// }
/// .input_policy(ExactMatch::new().asset("features", &features));
/// train.run_on_mocks()?;
/// # Ok(())
/// # }
/// ```
///
/// The function is compiled at the datasite, with polars, ndarray and serde in scope.
#[macro_export]
macro_rules! function {
    ($($source:tt)*) => { $crate::Code::new($crate::__source_text!($($source)*)) };
}

/// A value that displays as a MIME bundle (MIME type, content) pairs.
pub trait Rich {
    /// The bundle; include `text/plain` so every front end can show something.
    fn bundle(&self) -> Vec<(&'static str, String)>;
}

/// An HTML fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html(pub String);

/// A notice for the reader (a warning with its fix), displayed as a box styled inline, so it keeps
/// its look in a notebook opened untrusted; as text, `warning: ...`.
pub(crate) fn notice(text: &str) -> Notice {
    Notice(text.to_string())
}

/// See [`notice`].
pub(crate) struct Notice(String);

impl Rich for Notice {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        let escaped = self
            .0
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        vec![
            ("text/plain", format!("warning: {}", self.0)),
            (
                "text/html",
                format!(
                    "<div style=\"border-left:4px solid #c98a00;background:#fff8e1;color:#3b2f00;padding:6px 10px;margin:4px 0;font-family:sans-serif\"><b>Notice:</b> {escaped}</div>"
                ),
            ),
        ]
    }
}

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
        evcxr_show(self);
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

/// evcxr shows a cell's final value by first compiling `(value).evcxr_display()` and, when that does
/// not compile, compiling the cell again with a `Debug` print: a second rustc run (about 2.5 s here)
/// for every cell ending in a number, a string or a `Vec`. This trait, in scope through the prelude,
/// gives every `Debug` value an `evcxr_display` that prints what evcxr's fallback would, so the first
/// compile succeeds. Veil's types and [`Html`] keep their rich displays: inherent methods win.
#[doc(hidden)]
pub trait DisplayFallback {
    /// Prints `{:?}` as the cell's `text/plain` result.
    fn evcxr_display(&self);
}

impl<T: std::fmt::Debug + ?Sized> DisplayFallback for T {
    fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/plain\n{self:?}\nEVCXR_END_CONTENT");
    }
}

/// Prints `value`'s bundle the way evcxr reads a cell's result.
#[doc(hidden)]
pub fn evcxr_show<T: Rich + ?Sized>(value: &T) {
    for (mime, content) in value.bundle() {
        println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
    }
}

/// Shows `value` now, as its own output (`display_data`), like IPython's `display`.
pub fn display<T: Rich + ?Sized>(value: &T) {
    let mut bundle = serde_json::Map::new();
    for (mime, content) in value.bundle() {
        // A JSON type (a Vega-Lite spec) travels as the JSON itself, not as a string of it.
        let value = match mime.ends_with("+json") {
            true => serde_json::from_str(&content).unwrap_or(serde_json::Value::String(content)),
            false => serde_json::Value::String(content),
        };
        bundle.insert(mime.to_string(), value);
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

/// Tells the kernel of an error this cell may return (see [`Error`]): on stderr, the stream the
/// error is printed on if the cell returns it, so the kernel reads the two in order.
fn mark_failure(name: &str, message: &str) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let _ = writeln!(
        err,
        "{FAILURE_MARKER}{}",
        serde_json::json!({ "name": name, "message": message })
    );
    let _ = err.flush();
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
