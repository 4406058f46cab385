//! Rich displays: every public object renders as plain text and as a self-contained HTML table.
//!
//! The HTML carries its own small stylesheet, scoped under `.veil`, and no scripts, fonts or external
//! links, so it renders the same in JupyterLab, the classic notebook, VS Code and an exported file.

use std::fmt::Write;

/// An object that renders as a MIME bundle: `text/plain` and `text/html`.
pub trait Render {
    /// The `text/plain` form.
    fn text(&self) -> String;
    /// The `text/html` form: a self-contained fragment (no scripts, fonts or external resources).
    fn html(&self) -> String;
}

/// Implements [`Render`] for types with a `fn table(&self) -> Table`, or (`T => f`) for a type of the
/// vocabulary's, rendered by `f(&T) -> Table`.
macro_rules! render_via_table {
    ($t:ty => $table:path) => {
        impl $crate::display::Render for $t {
            fn text(&self) -> String {
                $table(self).text()
            }
            fn html(&self) -> String {
                $table(self).html()
            }
        }
    };
    ($($t:ty),* $(,)?) => {$(
        impl $crate::display::Render for $t {
            fn text(&self) -> String {
                self.table().text()
            }
            fn html(&self) -> String {
                self.table().html()
            }
        }
    )*};
}
pub(crate) use render_via_table;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Each element's look, as an inline style: a display keeps it wherever its HTML goes, also where
/// a notebook's `<style>` blocks are stripped (JupyterLab strips them from an untrusted notebook's
/// outputs, and keeps inline styles). The class names stay, for anyone who themes them.
mod css {
    pub const ROOT: &str =
        "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;margin:4px 0";
    pub const TITLE: &str = "font-weight:600;margin:2px 0 6px";
    pub const BADGE: &str = "display:inline-block;border-radius:8px;padding:0 6px;margin-left:6px;font-size:11px;font-weight:normal;background:#e8eefc;color:#1d3c8f";
    pub const WARN: &str = "background:#fff4e5;color:#8a4b00;padding:4px 8px;border-left:3px solid #f0a020;margin:4px 0";
    pub const MUTED: &str = "color:#6b7280";
    pub const TABLE: &str = "border-collapse:collapse;margin:2px 0 8px";
    pub const TH: &str = "background:#f3f4f6;text-align:left;font-weight:600;border:1px solid #d9dce1;padding:3px 8px;vertical-align:top";
    pub const TD: &str =
        "text-align:left;border:1px solid #d9dce1;padding:3px 8px;vertical-align:top";
    pub const TD_NUM: &str = "text-align:right;font-variant-numeric:tabular-nums;border:1px solid #d9dce1;padding:3px 8px;vertical-align:top";
    pub const CODE: &str = "background:#f8f9fb;border:1px solid #d9dce1;padding:6px 8px;margin:2px 0 8px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;line-height:1.4;white-space:pre;overflow-x:auto";

    /// The colour of a highlighted token's class.
    pub fn token(class: &str) -> &'static str {
        match class {
            "rs-kw" => "color:#8839ef;font-weight:600",
            "rs-str" => "color:#40a02b",
            "rs-num" => "color:#fe640b",
            "rs-com" => "color:#6b7280;font-style:italic",
            "rs-ty" => "color:#1e66f5",
            "rs-mac" => "color:#d20f39",
            _ => "",
        }
    }
}

/// `html` without its inline styles (every element of a display carries one): its structure, as
/// tests and tools read it.
pub fn unstyled(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find(" style=\"") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " style=\"".len()..];
        rest = &after[after.find('"').map_or(after.len(), |i| i + 1)..];
    }
    out.push_str(rest);
    out
}

/// A section's title, as HTML.
pub(crate) fn title_html(title: &str) -> String {
    format!(
        "<div class=\"veil-title\" style=\"{}\">{}</div>",
        css::TITLE,
        escape(title)
    )
}

/// A muted note, as HTML.
pub(crate) fn muted_html(note: &str) -> String {
    format!(
        "<div class=\"veil-muted\" style=\"{}\">{}</div>",
        css::MUTED,
        escape(note)
    )
}

/// A warning, as HTML (`inner` is HTML already).
pub(crate) fn warning_html(inner: &str) -> String {
    format!(
        "<div class=\"veil-warn\" style=\"{}\">{inner}</div>",
        css::WARN
    )
}

/// A titled table rendered to both text and HTML.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub title: String,
    pub badge: Option<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Extra HTML sections (already rendered) placed after the table.
    pub html_after: Vec<String>,
    /// Extra text sections placed after the table.
    pub text_after: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            ..Table::default()
        }
    }

    pub fn headers<S: Into<String>>(mut self, headers: impl IntoIterator<Item = S>) -> Table {
        self.headers = headers.into_iter().map(Into::into).collect();
        self
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// A two-column key/value table.
    pub fn fields<K: Into<String>, V: Into<String>>(
        title: impl Into<String>,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Table {
        let mut table = Table::new(title);
        for (k, v) in fields {
            table.row([k.into(), v.into()]);
        }
        table
    }

    /// Appends a titled table after this one, in both forms.
    pub fn sub_table(&mut self, title: String, headers: Vec<String>, rows: Vec<Vec<String>>) {
        self.html_after.push(format!(
            "{}{}",
            title_html(&title),
            html_table(&headers, &rows)
        ));
        let mut sub = Table::new(title).headers(headers);
        sub.rows = rows;
        self.text_after.push(sub.text());
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.title);
        if let Some(badge) = &self.badge {
            let _ = write!(out, " [{badge}]");
        }
        out.push('\n');
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let columns = self
            .headers
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let mut widths = vec![0; columns];
        let all = std::iter::once(&self.headers).chain(&self.rows);
        for row in all.clone() {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(one_line(cell).chars().count().min(60));
            }
        }
        for (n, row) in all.enumerate() {
            if row.is_empty() {
                continue;
            }
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{:<w$}", clip(&one_line(cell), 60), w = widths[i]))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
            if n == 0 && !self.headers.is_empty() {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(out, "  {}", rule.join("  "));
            }
        }
        for section in &self.text_after {
            out.push_str(section);
            if !section.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    pub fn html(&self) -> String {
        let mut out = format!(
            "<div class=\"veil\" style=\"{}\"><div class=\"veil-title\" style=\"{}\">",
            css::ROOT,
            css::TITLE
        );
        out.push_str(&escape(&self.title));
        if let Some(badge) = &self.badge {
            let _ = write!(
                out,
                " <span class=\"veil-badge\" style=\"{}\">{}</span>",
                css::BADGE,
                escape(badge)
            );
        }
        out.push_str("</div>");
        for w in &self.warnings {
            out.push_str(&warning_html(&escape(w)));
        }
        for n in &self.notes {
            out.push_str(&muted_html(n));
        }
        if !self.rows.is_empty() || !self.headers.is_empty() {
            out.push_str(&html_table(&self.headers, &self.rows));
        }
        for section in &self.html_after {
            out.push_str(section);
        }
        out.push_str("</div>");
        out
    }
}

/// A `<table>`, styled inline, numbers right-aligned.
pub(crate) fn html_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table style=\"{}\">", css::TABLE);
    if !headers.is_empty() {
        out.push_str("<thead><tr>");
        for h in headers {
            let _ = write!(out, "<th style=\"{}\">{}</th>", css::TH, escape(h));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let class = if looks_numeric(cell) {
                format!(" class=\"num\" style=\"{}\"", css::TD_NUM)
            } else {
                format!(" style=\"{}\"", css::TD)
            };
            let _ = write!(
                out,
                "<td{class}>{}</td>",
                escape(cell).replace('\n', "<br>")
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Wraps HTML produced by [`html_table`] and friends in a display's root, for standalone
/// fragments.
pub(crate) fn styled(inner: &str) -> String {
    format!("<div class=\"veil\" style=\"{}\">{inner}</div>", css::ROOT)
}

fn looks_numeric(cell: &str) -> bool {
    !cell.is_empty() && cell.parse::<f64>().is_ok()
}

fn one_line(cell: &str) -> String {
    cell.replace(['\n', '\r'], " ")
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Formats a byte count for people.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a millisecond timestamp as UTC, to the second.
pub(crate) fn timestamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "dyn",
];

/// Rust source as a titled block: plain text, and HTML with syntax highlighting (inline styles; no
/// scripts).
pub(crate) fn code_block(source: &str) -> (String, String) {
    let text = format!("Source\n{}\n", source.trim_end());
    let html = format!(
        "{}<pre class=\"veil-code\" style=\"{}\">{}</pre>",
        title_html("Source"),
        css::CODE,
        highlight_rust(source.trim_end())
    );
    (text, html)
}

/// Escapes `source` and wraps comments, strings, numbers, keywords, types and macros in spans. A
/// lexer of the common cases, not a parser: anything it does not recognise is left plain.
pub(crate) fn highlight_rust(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len() * 2);
    let span = |out: &mut String, class: &str, text: &str| {
        let _ = write!(
            out,
            "<span class=\"{class}\" style=\"{}\">{}</span>",
            css::token(class),
            escape(text)
        );
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            span(
                &mut out,
                "rs-com",
                &chars[start..i].iter().collect::<String>(),
            );
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            i = i.min(chars.len());
            span(
                &mut out,
                "rs-com",
                &chars[start..i].iter().collect::<String>(),
            );
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            span(
                &mut out,
                "rs-str",
                &chars[start..i].iter().collect::<String>(),
            );
        } else if let Some(end) = raw_string_end(&chars, i).or_else(|| char_literal_end(&chars, i))
        {
            // `'"'` is a character, not the start of a string (which would shift every span after
            // it: a reviewer must see live code as code). A lifetime (`'a`) stays plain.
            i = end;
            span(
                &mut out,
                "rs-str",
                &chars[start..i].iter().collect::<String>(),
            );
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                // `1..n` is a range, not a number.
                if chars[i] == '.' && chars.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
            span(
                &mut out,
                "rs-num",
                &chars[start..i].iter().collect::<String>(),
            );
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'!') && chars.get(i + 1) != Some(&'=') {
                i += 1;
                span(&mut out, "rs-mac", &format!("{word}!"));
            } else if RUST_KEYWORDS.contains(&word.as_str()) {
                span(&mut out, "rs-kw", &word);
            } else if word.starts_with(|c: char| c.is_uppercase()) {
                span(&mut out, "rs-ty", &word);
            } else {
                out.push_str(&escape(&word));
            }
        } else {
            i += 1;
            out.push_str(&escape(&c.to_string()));
        }
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends, if one does.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    // Not the tail of an identifier such as `bar"`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// Where a character literal (`'x'`, `'\''`, `'\u{1F600}'`) starting at `i` ends, if one does.
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i) != Some(&'\'') {
        return None;
    }
    match chars.get(i + 1) {
        Some('\\') => {
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += 1;
            }
            (chars.get(j) == Some(&'\'')).then_some(j + 1)
        }
        Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => None,
    }
}

/// Rows shown in previews.
const PREVIEW_ROWS: usize = 5;

/// Appends a preview of `data`, titled `title`, after `t`'s fields.
pub(crate) fn add_preview(t: &mut Table, data: &crate::data::Data, title: &str) {
    let (text, html) = crate::data::render_preview(data, title, PREVIEW_ROWS);
    t.text_after.push(text);
    t.html_after.push(html);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by review: a `'"'` made the highlighter take the rest of the line for a string, so
    /// `let s = "/*"; leak(&x); let e = "*/";` showed the live `leak(&x)` as a grey comment.
    #[test]
    fn live_code_is_never_shown_as_a_comment_or_a_string() {
        for source in [
            r#"let q = '"'; let s = "/*"; leak(&x); let e = "*/";"#,
            r#"let q = '\''; let s = "//"; leak(&x);"#,
            r##"let r = r#"a " /* "#; leak(&x); let e = "*/";"##,
            "/* outer /* inner */ still a comment */ leak(&x);",
            "fn f<'a>(x: &'a str) -> &'a str { leak(&x) }",
        ] {
            let html = highlight_rust(source);
            let at = html.find("leak").expect("leak is shown");
            let before = &html[..at];
            let open = before.matches("<span").count();
            let closed = before.matches("</span>").count();
            assert_eq!(open, closed, "`leak` is inside a span in {html}");
        }
    }

    #[test]
    fn displays_keep_their_look_without_a_stylesheet() {
        let mut t = Table::new("pandas-test-domain-1");
        t.badge = Some("embedded".into());
        t.warnings.push("careful".into());
        t.row(["n", "1.5"]);
        let html = t.html();
        // No `<style>` block for a sanitizer to strip: each element carries its own style.
        assert!(!html.contains("<style"), "{html}");
        for element in [
            "<div class=\"veil\"",
            "<span class=\"veil-badge\"",
            "<td",
            "<table",
        ] {
            for at in html.match_indices(element).map(|(i, _)| i) {
                let tag = &html[at..html[at..].find('>').map_or(html.len(), |e| at + e)];
                assert!(tag.contains(" style=\""), "{tag} has no style");
            }
        }
        // The badge stands apart from the title even as bare text.
        assert!(
            unstyled(&html).contains("pandas-test-domain-1 <span"),
            "{html}"
        );
        let code = code_block("fn f() {}").1;
        assert!(code.contains("<pre class=\"veil-code\" style=\""), "{code}");
        assert!(highlight_rust("fn").contains("style=\"color:#8839ef"));
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let mut t = Table::new("<script>alert(1)</script>").headers(["a", "b"]);
        t.row(["1.5", "x & y"]);
        let html = unstyled(&t.html());
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<td class=\"num\">1.5</td>"));
        assert!(html.contains("x &amp; y"));
        for external in ["<link", "src=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn text_aligns_columns() {
        let mut t = Table::new("T").headers(["name", "n"]);
        t.row(["long name here", "1"]);
        t.row(["x", "22"]);
        let text = t.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "  name            n");
        assert_eq!(lines[3], "  long name here  1");
        assert_eq!(lines[4], "  x               22");
    }

    #[test]
    fn helpers() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn highlights_rust_and_escapes() {
        let html = unstyled(&highlight_rust(
            "fn f(x: Vec<f64>) -> f64 { // sum\n    x.iter().sum::<f64>() + 1.5 * \"<b>\".len() as f64 }",
        ));
        assert!(html.contains("<span class=\"rs-kw\">fn</span>"), "{html}");
        assert!(
            html.contains("<span class=\"rs-ty\">Vec</span>&lt;f64&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"rs-com\">// sum</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"rs-num\">1.5</span>"), "{html}");
        assert!(
            html.contains("<span class=\"rs-str\">&quot;&lt;b&gt;&quot;</span>"),
            "{html}"
        );
        assert!(!html.contains("<b>"));
        assert!(unstyled(&highlight_rust("0..n")).contains("<span class=\"rs-num\">0</span>..n"));
    }
}
