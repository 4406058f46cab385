//! Cells reach the same calls as Rust programs. The handles' methods that are one datasite call
//! each are written once for both crates (`veil_api::handle_methods!`), and the op methods (`sum`,
//! `pow`, `column`, ...) by `veil_api::op_methods!`; what is left is checked for coverage: every
//! method the call table names exists on both sides, and every other public method of the
//! runtime's handles (the `veil` crate) has a method of the same name on the facade's (what cells
//! link), unless it is listed below with why. Read from the two crates' sources, so adding a
//! runtime method without its cell counterpart fails here. (The types both use from `veil-api`, such as `NewUser`, `Role`,
//! `Contributor` and `OutputPolicy`, are one type, as are the builders: `Dataset` and `Asset`
//! (`veil_api::spec`, generic over how their data travels), `Code` and `ExactMatch`
//! (`veil_api::code`, generic over the asset handle they bind).)

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{methods, written_once};

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
        "LaunchOptions",
        "plan_from_bytes",
        "which replays run as plans is the serving machine's choice (`veil serve --plan-from-mib`); a notebook's datasite keeps the default",
    ),
    (
        "LaunchOptions",
        "disk_reserve",
        "the reserve of disk space is the serving machine's (`veil serve --disk-reserve-mib`); a notebook's datasite keeps none",
    ),
    (
        "LaunchOptions",
        "blob_store",
        "a bucket for blobs is the operator's choice (`veil serve --blob-store`); a notebook's datasite keeps them in its directory",
    ),
    (
        "LaunchOptions",
        "blob_store_option",
        "the bucket's client settings come with `veil serve --blob-store` (the AWS_* environment)",
    ),
    (
        "LaunchOptions",
        "engine",
        "where plans run is the serving machine's choice (`veil serve --engine df://..`); a notebook's datasite computes in its kernel",
    ),
    (
        "Datasite",
        "gauges",
        "the serving process's `/metrics`; a cell's owner reads the same gauges with `client.metrics()`",
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
        "the datasite process's memory budget: set by whoever runs the datasite (`veil serve --cache-mib`)",
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

#[test]
fn every_call_has_its_methods_on_both_sides_and_most_are_written_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = methods(&root.join("runtime/src"));
    let facade = methods(&root.join("facade/src"));
    // Both sides' builders (`Code`) are the vocabulary's.
    let shared = methods(&root.join("api/src"));
    let has = |side: &std::collections::BTreeMap<String, BTreeSet<String>>, method: &str| {
        let (ty, name) = method.split_once("::").unwrap();
        [side, &shared]
            .iter()
            .any(|s| s.get(ty).is_some_and(|m| m.contains(name)))
    };
    let mut once = BTreeSet::new();
    for item in written_once() {
        let syn::Item::Impl(imp) = item else { continue };
        let syn::Type::Path(ty) = imp.self_ty.as_ref() else {
            continue;
        };
        let ty = ty.path.segments.last().unwrap().ident.to_string();
        for item in imp.items {
            if let syn::ImplItem::Fn(f) = item
                && matches!(f.vis, syn::Visibility::Public(_))
            {
                once.insert(format!("{ty}::{}", f.sig.ident));
            }
        }
    }
    let mut missing = Vec::new();
    let mut by_hand = Vec::new();
    for call in veil::api::access::CALLS {
        for method in call.methods {
            for (side, methods) in [("runtime", &runtime), ("facade", &facade)] {
                if !has(methods, method) {
                    missing.push(format!("{side}: {method} (`{}`)", call.name));
                }
            }
            if !once.contains(*method) {
                by_hand.push(*method);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "methods the call table names, missing: {missing:?}"
    );
    // Written by hand on each side, and why: a cell's values are the kernel's, a program's its own.
    let expected = [
        "Client::upload_dataset", // values beside the call, and progress shown as it goes
        "SiteAsset::pointer",     // a cell's asset holds the pointer it displays as
        "Client::array",          // a program's array is its own `Data`, a cell's numbers
        "Pointer::apply",         // the op methods' one entry, checking the inputs' datasite
        "Code::run_on_mocks",     // `veil_api::code::CodeClient`, each side's own
    ];
    by_hand.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(
        by_hand, expected,
        "a call's method is written twice (once per crate) that could be in handle_methods!"
    );
    assert!(once.len() >= 35, "{once:?}");
}
