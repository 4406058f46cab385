//! Cells reach the same calls as Rust programs: every public method of the runtime's handles (the
//! `veil` crate) has a method of the same name on the facade's (what cells link), unless it is listed
//! below with why. Read from the two crates' sources, so adding a runtime method without its cell
//! counterpart fails here. (The op methods, `sum`, `pow`, `column`, ..., are written once for both by
//! `veil_api::op_methods!`, and the types both use from `veil-api`, such as `NewUser`, `Role`,
//! `Contributor` and `OutputPolicy`, are one type, as are the builders: `Dataset` and `Asset`
//! (`veil_api::spec`, generic over how their data travels), `Code` and `ExactMatch`
//! (`veil_api::code`, generic over the asset handle they bind).)

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::methods;

/// The handle and builder types cells use under the runtime's names.
const TYPES: &[&str] = &[
    "Datasite",
    "RemoteSite",
    "LaunchOptions",
    "Client",
    "Pointer",
    "Request",
    "SiteDataset",
    "SiteAsset",
];

/// Runtime methods cells do without, and why.
const RUNTIME_ONLY: &[(&str, &str, &str)] = &[
    (
        "LaunchOptions",
        "session_ttl",
        "how long sessions last is set by whoever runs the datasite (`veil serve --session-secs`)",
    ),
    (
        "Datasite",
        "open_session",
        "a transport's login (veil serve's); cells log in with `site.login`",
    ),
    (
        "Datasite",
        "handle",
        "a transport's entry to the dispatch (veil serve's); cells call through their client",
    ),
    (
        "Datasite",
        "session_user",
        "a transport checks a token before reading a request (veil serve)",
    ),
    (
        "Datasite",
        "admit",
        "a transport checks a call may carry values before decoding them (veil serve)",
    ),
    (
        "Datasite",
        "default_password_in_use",
        "whoever serves the datasite checks it before listening beyond loopback",
    ),
    (
        "Client",
        "call",
        "the dispatch's entry for transports (the bridge forwards the facade's calls through it)",
    ),
    (
        "Client",
        "call_with_parts",
        "the dispatch's entry for transports of calls with values beside them (the facade's upload)",
    ),
    (
        "Client",
        "call_reporting",
        "the bridge's entry for an upload whose progress the kernel shows in the cell's output",
    ),
    (
        "Client",
        "upload_dataset_reporting",
        "a cell's upload already shows its progress (the kernel reports it as an updating display)",
    ),
    (
        "Pointer",
        "from_view",
        "a transport wraps replies in handles; cells get handles from the kernel",
    ),
    (
        "Request",
        "from_view",
        "a transport wraps replies in handles; cells get handles from the kernel",
    ),
    (
        "SiteDataset",
        "from_view",
        "a transport wraps replies in handles; cells get handles from the kernel",
    ),
    (
        "LaunchOptions",
        "runner_dir",
        "how the datasite process compiles code: set by whoever runs the datasite",
    ),
    (
        "LaunchOptions",
        "code_limits",
        "limits of the datasite process's code runs: set by whoever runs the datasite",
    ),
    (
        "LaunchOptions",
        "real_answer_floor",
        "how long real answers stall is set by whoever runs the datasite (`veil serve --real-answer-floor-ms`)",
    ),
    (
        "LaunchOptions",
        "cache_bytes",
        "the datasite process's memory budget: set by whoever runs the datasite",
    ),
    (
        "LaunchOptions",
        "allow_unjailed_code",
        "whether the datasite process may run code unjailed: set by whoever runs it (the kernel's launches read VEIL_ALLOW_UNJAILED_CODE)",
    ),
];

#[test]
fn every_runtime_method_cells_need_has_a_facade_method() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = methods(&root.join("runtime/src"));
    let facade = methods(&root.join("facade/src"));
    let empty = BTreeSet::new();
    let mut missing = Vec::new();
    for ty in TYPES {
        let theirs = runtime.get(*ty).unwrap_or(&empty);
        assert!(
            !theirs.is_empty(),
            "no public methods of `{ty}` found in the runtime"
        );
        for method in theirs {
            let excused = RUNTIME_ONLY.iter().any(|(t, m, _)| t == ty && m == method);
            let present = facade.get(*ty).is_some_and(|m| m.contains(method));
            if !present && !excused {
                missing.push(format!("{ty}::{method}"));
            }
            assert!(
                !(present && excused),
                "{ty}::{method} is in the facade now: remove it from RUNTIME_ONLY"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "the facade lacks these runtime methods (add them, with a bridge call, or list them in RUNTIME_ONLY with why): {missing:?}"
    );
}
