//! The runtime's layers, read from its sources: each layer names only the layers below it, so the
//! import circle the runtime once was cannot come back unnoticed.
//!
//! - ground: errors, data, displays, validation, the store, progress, backoff, loaders, the audit
//!   log's record and verify;
//! - `engine/`: computation that knows no caller (ops, analysis, replay's executor and cache,
//!   provenance, the disclosure checks' and DP's math, receipts, the code runner, mocks, noise);
//! - `datasite/`: the trust boundary, the only place with `impl SiteCore`; it never names a
//!   handle;
//! - `client/`: the untrusted handles; of the datasite they name only the link an in-process
//!   client calls through (its state, the typed dispatch, a login), never a service, and they
//!   check no role.
//!
//! A module is named by a `crate::` path in code (comments and a file's `#[cfg(test)]` tail are
//! skipped: a doc link or a unit test is no dependency). A name at the crate's root is in the layer
//! of the module `lib.rs` re-exports it from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const GROUND: &[&str] = &[
    "error", "data", "display", "validate", "store", "progress", "backoff", "load", "audit", "plot",
];
const LAYERS: [&str; 5] = ["ground", "engine", "datasite", "client", "crate root"];
/// What a client may name of the datasite: the link an in-process client calls through.
const LINK: &[&str] = &["Datasite", "LoginOutcome", "Serve", "SiteCore"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments and doc comments) and without its
/// unit tests (the `#[cfg(test)]` module its last items are).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let tests = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests"))
        .unwrap_or(lines.len());
    lines[..tests]
        .iter()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) is rare in these files and only shortens the line.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file's code takes from the crate, as segments: `crate::a::b` gives `a::b`,
/// `crate::{a, b::{c, d}}` gives `a`, `b::c` and `b::d`.
fn named(code: &str) -> BTreeSet<String> {
    fn expand(prefix: &str, text: &str, out: &mut BTreeSet<String>) {
        let text = text.trim();
        if let Some(open) = text.find('{') {
            let head = text[..open].trim().trim_end_matches("::");
            let prefix = [prefix, head]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("::");
            let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&prefix, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&prefix, &inner[start..], out);
        } else {
            let path: String = text
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            if path.is_empty() || path == "self" {
                if !prefix.is_empty() {
                    out.insert(prefix.to_string());
                }
            } else if prefix.is_empty() {
                out.insert(path.to_string());
            } else {
                out.insert(format!("{prefix}::{path}"));
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in a macro is the crate too.
        rest = &rest[at + "crate::".len()..];
        // The path, and the group of names it ends in if it ends in one.
        let mut end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        if rest[end..].starts_with('{') {
            let mut depth = 0;
            end += rest[end..]
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len() - end, |(i, _)| i + 1);
        }
        expand("", &rest[..end], &mut out);
        rest = &rest[end..];
    }
    out
}

/// The layer of a module by its first segment under `src/` (or as `crate::` names it), if it is
/// one of the layers' own modules.
fn module_layer(first: &str) -> Option<usize> {
    match first {
        f if GROUND.contains(&f) => Some(0),
        "engine" => Some(1),
        "datasite" => Some(2),
        "client" => Some(3),
        _ => None,
    }
}

/// The layer of a file under `src/`.
fn layer(relative: &Path) -> usize {
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("")
        .trim_end_matches(".rs");
    module_layer(first).unwrap_or(4)
}

/// What `lib.rs` re-exports at the crate's root, by name: the first segment of the path each
/// comes from (`pub use engine::{mock, ops}` gives `mock` and `ops` from `engine`).
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in code(lib).split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        // The prelude's `pub use crate::{..}` re-exports what is already at the root.
        if path.starts_with("crate::") {
            continue;
        }
        let from: String = path
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        for full in named(&format!("crate::{path}")) {
            let last = full.rsplit("::").next().unwrap_or("");
            // `verify as verify_receipt`: the name is what follows `as`.
            out.insert(last.to_string(), from.clone());
        }
        for alias in path.split(" as ").skip(1) {
            let name: String = alias
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name, from.clone());
        }
    }
    out
}

/// The layer a path named from the crate belongs to: its module's, or for a name at the root, the
/// layer of the module it is re-exported from (anything else at the root is the root's own).
fn layer_of(path: &str, roots: &BTreeMap<String, String>) -> usize {
    let first = path.split("::").next().unwrap_or("");
    if let Some(l) = module_layer(first) {
        return l;
    }
    // A root name may come from another root name (`pub use receipt::verify`, `receipt` being
    // the engine's): follow the chain a few steps.
    let mut name = first;
    for _ in 0..4 {
        match roots.get(name).map(String::as_str) {
            Some("veil_api" | "polars" | "ndarray") => return 0,
            Some(from) => match module_layer(from) {
                Some(l) => return l,
                None => name = from,
            },
            None => break,
        }
    }
    4
}

/// Why `path`, named by a file of layer `own`, crosses the rules; `None` if it may.
fn crossing(own: usize, path: &str, roots: &BTreeMap<String, String>) -> Option<&'static str> {
    let target = layer_of(path, roots);
    if own == 3 && target == 2 {
        // A client names the datasite's link only: `crate::datasite::SiteCore`, or the root's
        // `crate::Datasite`.
        let segments: Vec<&str> = path.split("::").collect();
        let name = match segments.as_slice() {
            ["datasite", name] => *name,
            [name] => *name,
            _ => "",
        };
        return (!LINK.contains(&name)).then_some("a handle names a service");
    }
    (target > own).then_some("names a layer above its own")
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let root = src();
    let roots = root_names(&std::fs::read_to_string(root.join("lib.rs")).unwrap());
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut wrong = Vec::new();
    let mut counted = [0; 5];
    for path in &all {
        let relative = path.strip_prefix(&root).unwrap();
        let own = layer(relative);
        counted[own] += 1;
        let text = std::fs::read_to_string(path).unwrap();
        for named in named(&code(&text)) {
            if let Some(why) = crossing(own, &named, &roots) {
                wrong.push(format!(
                    "{} ({}) names crate::{named} ({}): {why}",
                    relative.display(),
                    LAYERS[own],
                    LAYERS[layer_of(&named, &roots)],
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across the layers (move the item down, or the module up):\n{}",
        wrong.join("\n")
    );
    // Every ground module exists, and each folder holds its files: a rename cannot empty a rule.
    for name in GROUND {
        assert!(root.join(format!("{name}.rs")).is_file(), "{name}.rs");
    }
    assert!(counted[1] >= 12, "the engine's files: {counted:?}");
    assert!(counted[2] >= 12, "the datasite's files: {counted:?}");
    assert!(counted[3] >= 8, "the client's files: {counted:?}");
}

/// The trust boundary is one folder: every `impl SiteCore` is in `datasite/`, and no client file
/// reads a record or checks a role.
#[test]
fn the_trust_boundary_is_the_datasite_folder() {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut outside = Vec::new();
    let mut deciding = Vec::new();
    let mut inside = 0;
    for path in &all {
        let relative = path.strip_prefix(&root).unwrap();
        let code = code(&std::fs::read_to_string(path).unwrap());
        let impls = code.matches("impl SiteCore").count();
        if layer(relative) == 2 {
            inside += impls;
        } else if impls > 0 {
            outside.push(relative.display().to_string());
        }
        if layer(relative) == 3 {
            for sign in [
                "is_owner(",
                ".store.",
                "rusqlite",
                "require_owner",
                "admits(",
            ] {
                if code.contains(sign) {
                    deciding.push(format!("{}: `{sign}`", relative.display()));
                }
            }
        }
    }
    assert!(
        outside.is_empty(),
        "impl SiteCore outside datasite/: {outside:?}"
    );
    assert!(inside >= 14, "{inside} impl SiteCore blocks in datasite/");
    assert!(
        deciding.is_empty(),
        "client code that reads records or checks roles (the datasite decides): {deciding:?}"
    );
}

#[test]
fn the_reader_finds_what_a_module_names() {
    let text = "use crate::error::{Error, Result};\n// crate::site is a comment\nuse crate::{data::Data, ops};\nimpl $crate::display::Render for X {}\nlet c = crate::Client::new();\nuse crate::datasite::{Serve, users::{self, User}};\n#[cfg(test)]\nmod tests { use crate::client::Client; }";
    let names = named(&code(text));
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "Client::new",
            "data::Data",
            "datasite::Serve",
            "datasite::users",
            "datasite::users::User",
            "display::Render",
            "error::Error",
            "error::Result",
            "ops"
        ]
    );
    let roots = root_names(
        "pub use client::{Calls, Client};\npub use engine::{mock, ops, receipt};\npub use receipt::{Receipt, verify as verify_receipt};\npub use datasite::Datasite;",
    );
    assert_eq!(layer_of("Client::new", &roots), 3);
    assert_eq!(layer_of("ops::eval", &roots), 1);
    assert_eq!(layer_of("verify_receipt", &roots), 1);
    assert_eq!(layer_of("function", &roots), 4);
    assert_eq!(crossing(3, "datasite::Serve", &roots), None);
    assert_eq!(crossing(3, "Datasite", &roots), None);
    assert!(crossing(3, "datasite::users::require_owner", &roots).is_some());
    assert!(crossing(2, "Client", &roots).is_some());
    assert!(crossing(1, "datasite::SiteCore", &roots).is_some());
    assert_eq!(crossing(2, "engine::replay::Side", &roots), None);
    assert_eq!(layer(Path::new("engine/ops/fused.rs")), 1);
    assert_eq!(layer(Path::new("store.rs")), 0);
    assert_eq!(layer(Path::new("datasite/privacy/dp.rs")), 2);
    assert_eq!(layer(Path::new("client/requests.rs")), 3);
    assert_eq!(layer(Path::new("lib.rs")), 4);
}
