//! The runtime's layers, read from its sources: each layer names only the layers below it, so the
//! import circle the runtime once was cannot come back unnoticed.
//!
//! - ground: errors, data, displays, validation, the store, progress, backoff, loaders, the audit
//!   log's record and verify;
//! - `engine/`: computation that knows no caller (ops, analysis, provenance, the disclosure
//!   checks' math, the code runner, mocks, noise);
//! - above them, the datasite (the trust boundary) and the client's handles, still side by side in
//!   `src/` until they get their folders: they may name anything below.
//!
//! A module is named by a `crate::` path in code (comments are skipped: a doc link is no
//! dependency). Names at the crate's root that are types (`crate::Client`) are the upper layers'
//! handles and services, so ground and engine code may not use them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GROUND: &[&str] = &[
    "error", "data", "display", "validate", "store", "progress", "backoff", "load", "audit",
];
/// The engine's modules, also reachable as `crate::ops`, `crate::mock`, ... (re-exported at the
/// root).
const ENGINE: &[&str] = &[
    "engine",
    "ops",
    "analysis",
    "provenance",
    "checks",
    "runner",
    "mock",
    "noise",
];

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

/// The code of a file without its comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) is rare in these files and only shortens the line.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names a file's code takes from the crate: `crate::a::b` gives `a`, `crate::{a, b::c}`
/// gives `a` and `b`.
fn named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in a macro is the crate too.
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.insert(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// The layer of a file under `src/`: 0 ground, 1 engine, 2 above.
fn layer(relative: &Path) -> usize {
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("")
        .trim_end_matches(".rs")
        .to_string();
    if GROUND.contains(&first.as_str()) {
        0
    } else if first == "engine" {
        1
    } else {
        2
    }
}

/// The layer a name taken from the crate belongs to.
fn layer_of(name: &str) -> usize {
    if GROUND.contains(&name) {
        0
    } else if ENGINE.contains(&name) {
        1
    } else {
        2
    }
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut wrong = Vec::new();
    let mut counted = [0; 3];
    for path in &all {
        let relative = path.strip_prefix(&root).unwrap();
        let own = layer(relative);
        counted[own] += 1;
        if own == 2 {
            continue;
        }
        for name in named(&code(&std::fs::read_to_string(path).unwrap())) {
            if layer_of(&name) > own {
                wrong.push(format!(
                    "{} ({}) names crate::{name} ({})",
                    relative.display(),
                    ["ground", "engine", "above"][own],
                    ["ground", "engine", "above"][layer_of(&name)]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across the layers (move the item down, or the module up):\n{}",
        wrong.join("\n")
    );
    // Every ground module exists, and the engine holds its files: a rename cannot empty a rule.
    for name in GROUND {
        assert!(root.join(format!("{name}.rs")).is_file(), "{name}.rs");
    }
    assert!(counted[1] >= 10, "the engine's files: {counted:?}");
}

#[test]
fn the_reader_finds_what_a_module_names() {
    let text = "use crate::error::{Error, Result};\n// crate::site is a comment\nuse crate::{data::Data, ops};\nimpl $crate::display::Render for X {}\nlet c = crate::Client::new();";
    let names = named(&code(text));
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["Client", "data", "display", "error", "ops"]
    );
    assert_eq!(layer_of("Client"), 2);
    assert_eq!(layer(Path::new("engine/ops/fused.rs")), 1);
    assert_eq!(layer(Path::new("store.rs")), 0);
    assert_eq!(layer(Path::new("request/records.rs")), 2);
}
