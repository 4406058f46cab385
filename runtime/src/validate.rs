//! Input validation shared by every entry point. The datasite validates; clients only forward.

use crate::error::{Error, Result};

/// The longest dataset, asset, user or datasite name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest free text (descriptions, summaries, citations, reasons).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The longest password accepted (argon2 hashes anything, but a megabyte "password" is an attack).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 6;

/// Punctuation allowed in names besides letters, digits and spaces. Quotes, backticks, semicolons, path
/// separators and control characters are refused: names end up in file listings, HTML and log lines.
const NAME_PUNCTUATION: &str = "-_.:,()&+#";

/// Checks a display name (dataset, asset, user) and returns it trimmed.
pub(crate) fn name(what: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    let fix = format!("use 1 to {MAX_NAME_CHARS} letters, digits, spaces or `{NAME_PUNCTUATION}`");
    if trimmed.is_empty() {
        return Err(Error::invalid(what, "it is empty", fix));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            what,
            format!("it is {chars} characters long, more than {MAX_NAME_CHARS}"),
            fix,
        ));
    }
    if let Some(bad) = trimmed
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == ' ' || NAME_PUNCTUATION.contains(*c)))
    {
        let shown = if bad.is_control() {
            format!("{:?}", bad)
        } else {
            format!("`{bad}`")
        };
        let why = match bad {
            '/' | '\\' => " (a path separator)",
            '\'' | '"' | '`' => " (a quote)",
            ';' => " (a statement separator)",
            _ => "",
        };
        return Err(Error::invalid(
            what,
            format!("`{trimmed}` contains {shown}{why}"),
            fix,
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a datasite name, which also names its directory: ASCII letters, digits, `-`, `_` and `.`, not
/// starting with a dot.
pub(crate) fn site_name(value: &str) -> Result<String> {
    let fix = "use 1 to 64 ASCII letters, digits, `-`, `_` or `.`, e.g. `cancer-research-centre`";
    if value.is_empty() || value.len() > 64 {
        return Err(Error::invalid(
            "datasite name",
            format!("`{value}` must be 1 to 64 characters"),
            fix,
        ));
    }
    if value.starts_with('.')
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::invalid(
            "datasite name",
            format!("`{value}` is not a safe directory name"),
            fix,
        ));
    }
    Ok(value.to_string())
}

/// Checks an email address (shape only: one `@`, a dotted domain, no spaces) and returns it trimmed.
pub(crate) fn email(value: &str) -> Result<String> {
    let trimmed = value.trim();
    let fix = "give an address like `jane@caltech.edu`";
    let problem = if trimmed.is_empty() {
        Some("it is empty".to_string())
    } else if trimmed.len() > 254 {
        Some("it is longer than 254 characters".to_string())
    } else if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`;<>\\/".contains(c))
    {
        Some(format!(
            "`{trimmed}` contains a space, quote or other forbidden character"
        ))
    } else {
        match trimmed.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.') =>
            {
                None
            }
            _ => Some(format!("`{trimmed}` is not of the form name@domain.tld")),
        }
    };
    match problem {
        Some(problem) => Err(Error::invalid("email", problem, fix)),
        None => Ok(trimmed.to_string()),
    }
}

/// Checks a new password's length.
pub(crate) fn password(value: &str) -> Result<()> {
    let chars = value.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("it has {chars} characters, fewer than {MIN_PASSWORD_CHARS}"),
            "choose a longer password",
        ));
    }
    if value.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("it is longer than {MAX_PASSWORD_BYTES} bytes"),
            "choose a shorter password",
        ));
    }
    Ok(())
}

/// The first character of `value` that would change how the rest reads without being seen: a control
/// character (but newlines and tabs, where `lines` allows them) or an invisible format character that
/// reorders or hides text (bidirectional overrides and isolates, zero-width marks).
pub(crate) fn hidden_char(value: &str, lines: bool) -> Option<char> {
    value.chars().find(|&c| {
        let layout = lines && matches!(c, '\n' | '\t' | '\r');
        (c.is_control() && !layout)
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

/// Checks free text for size and control characters (newlines and tabs are fine).
pub(crate) fn text(what: &str, value: &str) -> Result<String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid(
            what,
            format!("it is {} bytes, more than {MAX_TEXT_BYTES}", value.len()),
            "shorten it, or link to the full text with `.url(..)`",
        ));
    }
    if let Some(c) = hidden_char(value, true) {
        return Err(Error::invalid(
            what,
            format!(
                "it contains the invisible character {c:?}, which can change how the text around it reads"
            ),
            "remove it",
        ));
    }
    Ok(value.trim().to_string())
}

/// Checks an optional URL: empty, or http(s) without spaces.
pub(crate) fn url(what: &str, value: &str) -> Result<String> {
    let trimmed = text(what, value)?;
    if trimmed.is_empty() {
        return Ok(trimmed);
    }
    let ok = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        && !trimmed
            .chars()
            .any(|c| c.is_whitespace() || "\"'<>`".contains(c));
    if !ok {
        return Err(Error::invalid(
            what,
            format!("`{trimmed}` is not an http(s) URL"),
            "give a URL such as `https://doi.org/10.24432/C5DW2B`",
        ));
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_tutorial_names() {
        for ok in [
            "Breast Cancer Biomarker",
            "Breast Cancer Data: Features",
            "my asset",
            "Jane Doe",
            "Zoë (ETH), v2.1",
        ] {
            assert_eq!(name("dataset name", ok).unwrap(), ok);
        }
    }

    #[test]
    fn names_refuse_empty_long_paths_quotes_and_sql() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        for (bad, says) in [
            ("", "empty"),
            ("   ", "empty"),
            (long.as_str(), "more than 100"),
            ("../etc/passwd", "path separator"),
            ("a\\b", "path separator"),
            ("O'Brien", "quote"),
            ("x\"; DROP TABLE datasets; --", "quote"),
            ("x; DROP TABLE users", "statement separator"),
            ("tab\there", "'\\t'"),
        ] {
            let err = name("dataset name", bad).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }));
            let msg = err.to_string();
            assert!(msg.contains(says), "{bad:?}: {msg}");
            assert!(msg.contains("use 1 to 100"), "{msg}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(email(" jane@caltech.edu ").unwrap(), "jane@caltech.edu");
        for bad in [
            "",
            "jane",
            "jane@",
            "@x.org",
            "a@b",
            "a b@c.org",
            "a@b@c.org",
            "a@.org",
            "x'@y.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_text() {
        assert!(password("abc123").is_ok());
        assert!(
            password("abc")
                .unwrap_err()
                .to_string()
                .contains("fewer than 6")
        );
        assert!(password(&"x".repeat(2000)).is_err());
        assert!(text("description", &"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
        assert!(text("description", "a\u{0}b").is_err());
        assert_eq!(text("description", " two\nlines ").unwrap(), "two\nlines");
        assert!(url("url", "https://doi.org/10.24432/C5DW2B").is_ok());
        assert!(url("url", "").is_ok());
        assert!(url("url", "javascript:alert(1)").is_err());
    }

    #[test]
    fn site_names() {
        assert!(site_name("cancer-research-centre").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b"] {
            assert!(site_name(bad).is_err(), "{bad}");
        }
    }
}
