//! What a method call's receiver is, for completion and inspect: `pointer.` lists `Pointer`'s public
//! methods, sorted and with signatures, and shift-tab in `asset.mock(` answers `SiteAsset::mock`
//! alone. The receiver's type comes from evcxr (the type of a variable a cell defined) and, along a
//! chain of calls (`client.dataset("x")?.asset("y")?.`), from the return types in the facade's own
//! signatures ([`crate::docs`]). A receiver that is not resolved falls back to rust-analyzer's
//! completions, without the facade's private members.

use crate::docs::{self, Entry};

/// The facade type of the receiver of the method whose name ends `before` (after the `.`, with
/// the name's part typed so far), if it can be resolved: `type_of` gives a variable's type as evcxr
/// has it (`veil_facade::pointer::Pointer`).
pub fn receiver(before: &str, type_of: impl Fn(&str) -> Option<String>) -> Option<String> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = before.chars().collect();
    let mut end = chars.len();
    while end > 0 && is_ident(chars[end - 1]) {
        end -= 1;
    }
    if end == 0 || chars[end - 1] != '.' {
        return None;
    }
    // The calls of the chain, last first, down to the variable or the `Type::function` it starts at.
    let mut at = end - 1;
    let mut calls: Vec<String> = Vec::new();
    let start = loop {
        while at > 0 && chars[at - 1].is_whitespace() {
            at -= 1;
        }
        if at > 0 && chars[at - 1] == '?' {
            at -= 1;
        }
        if at > 0 && chars[at - 1] == ')' {
            at = matching_open(&chars, at - 1)?;
        } else {
            let ident_end = at;
            while at > 0 && is_ident(chars[at - 1]) {
                at -= 1;
            }
            let name: String = chars[at..ident_end].iter().collect();
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            // A field (`a.b.`) is not followed here.
            if at > 0 && chars[at - 1] == '.' {
                return None;
            }
            break Start::Variable(name);
        }
        let name_end = at;
        while at > 0 && is_ident(chars[at - 1]) {
            at -= 1;
        }
        let name: String = chars[at..name_end].iter().collect();
        if name.is_empty() {
            return None;
        }
        if at > 0 && chars[at - 1] == '.' {
            calls.push(name);
            at -= 1;
            continue;
        }
        if at >= 2 && chars[at - 1] == ':' && chars[at - 2] == ':' {
            let owner_end = at - 2;
            let mut owner_start = owner_end;
            while owner_start > 0 && is_ident(chars[owner_start - 1]) {
                owner_start -= 1;
            }
            break Start::Associated(chars[owner_start..owner_end].iter().collect(), name);
        }
        // A free function (`veil::connect(..)`).
        break Start::Function(name);
    };
    let mut owner = match start {
        Start::Variable(name) => facade_type(&type_of(&name)?)?,
        Start::Associated(owner, name) => returns(docs::associated(&owner, &name)?, &owner)?,
        Start::Function(name) => returns(docs::item(&name)?, "")?,
    };
    for call in calls.iter().rev() {
        owner = returns(docs::associated(&owner, call)?, &owner)?;
    }
    Some(owner)
}

enum Start {
    Variable(String),
    Associated(String, String),
    Function(String),
}

/// The position of the `(` matching the `)` at `close`.
fn matching_open(chars: &[char], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in (0..=close).rev() {
        match chars[i] {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The facade type named by evcxr's `ty` (`veil_facade::pointer::Pointer`, `Pointer`): its last
/// path segment, when the facade has methods for it.
fn facade_type(ty: &str) -> Option<String> {
    let ty = ty.trim().trim_start_matches('&');
    if ty.contains('<') {
        return None;
    }
    let name = ty.rsplit("::").next()?.trim().to_string();
    (!docs::methods_of(&name).is_empty()).then_some(name)
}

/// The facade type a function returns (`Result<Pointer>`, `Self`, `Pointer`), if it is one.
fn returns(entry: &Entry, owner: &str) -> Option<String> {
    let (_, out) = entry.signature.rsplit_once("->")?;
    let mut ty = out.trim();
    for wrapper in ["Result<", "Option<"] {
        if let Some(inner) = ty.strip_prefix(wrapper) {
            ty = inner.strip_suffix('>')?;
        }
    }
    let ty = if ty == "Self" { owner } else { ty };
    facade_type(ty)
}

/// The methods of `owner` whose names start with `prefix`, sorted by name: those taking `self`
/// (an associated function such as `new` is not called on a value).
pub fn methods(owner: &str, prefix: &str) -> Vec<&'static Entry> {
    docs::methods_of(owner)
        .into_iter()
        .filter(|e| e.name.starts_with(prefix) && takes_self(&e.signature))
        .collect()
}

/// What a completion inserts for method `entry`: its name and its parameters' names, as
/// rust-analyzer writes a call (`max()`, `dataset(name)`), for the user to fill in.
pub fn call_text(entry: &Entry) -> String {
    let params = entry
        .signature
        .split_once('(')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    // The parameter list, split at its own commas (not those inside `<..>`, `(..)` or `[..]`).
    let (mut depth, mut names, mut current) = (0i32, Vec::new(), String::new());
    for c in params.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' if depth == 0 => break,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                names.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    names.push(current);
    let names: Vec<&str> = names
        .iter()
        .filter_map(|p| p.split_once(':').map(|(name, _)| name.trim()))
        .map(|name| name.trim_start_matches("mut ").trim())
        .filter(|name| !name.is_empty())
        .collect();
    format!("{}({})", entry.name, names.join(", "))
}

/// Whether a signature's first parameter is the receiver (`self`, `&self`, `&mut self`).
fn takes_self(signature: &str) -> bool {
    let Some((_, params)) = signature.split_once('(') else {
        return false;
    };
    let first = params.split([',', ')']).next().unwrap_or_default();
    let first = first
        .trim()
        .trim_start_matches('&')
        .trim_start_matches("mut ");
    first.trim() == "self"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evcxr_types(var: &str) -> Option<String> {
        match var {
            "pointer" => Some("veil_facade::pointer::Pointer".into()),
            "client" => Some("veil_facade::site::Client".into()),
            "n" => Some("i32".into()),
            _ => None,
        }
    }

    #[test]
    fn a_variables_type_comes_from_evcxr_and_a_chains_from_the_signatures() {
        let at = |code: &str| receiver(code, evcxr_types);
        assert_eq!(at("let m = pointer.ma").as_deref(), Some("Pointer"));
        assert_eq!(at("pointer.").as_deref(), Some("Pointer"));
        assert_eq!(at("pointer.sum()?.").as_deref(), Some("Pointer"));
        assert_eq!(
            at("client.dataset(\"a (b)\")?.asset(\"c\")?.").as_deref(),
            Some("SiteAsset")
        );
        assert_eq!(
            at("let p = client.dataset(\"x\")?\n    .asset(\"y\")?\n    .pointer()?.").as_deref(),
            Some("Pointer")
        );
        // Not a facade type, not a variable evcxr knows, a field, a number.
        assert_eq!(at("n."), None);
        assert_eq!(at("unknown."), None);
        assert_eq!(at("pointer.view."), None);
        assert_eq!(at("1."), None);
        assert_eq!(at("pointer"), None);
    }

    #[test]
    fn a_types_methods_are_listed_sorted_and_public_only() {
        let listed: Vec<&str> = methods("Pointer", "")
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            listed.contains(&"max") && listed.contains(&"request"),
            "{listed:?}"
        );
        for internal in ["handle", "client", "view", "send"] {
            assert!(!listed.contains(&internal), "{internal} in {listed:?}");
        }
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
        let text = |owner: &str, name: &str| call_text(docs::associated(owner, name).unwrap());
        assert_eq!(text("Pointer", "max"), "max()");
        assert_eq!(text("Client", "dataset"), "dataset(name)");
        assert_eq!(text("Pointer", "group_by"), "group_by(by, aggs)");
        let built: Vec<&str> = methods("Dataset", "")
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            built.contains(&"asset") && !built.contains(&"new"),
            "{built:?}"
        );
        let m: Vec<&str> = methods("Pointer", "m")
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            m.iter().all(|n| n.starts_with('m')) && m.contains(&"mean"),
            "{m:?}"
        );
    }
}
