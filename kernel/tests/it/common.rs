//! What the kernel's tests share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `pub fn` names of inherent `impl T` blocks, by type, in every `.rs` file under `dir`, with the
/// methods `veil_api::handle_methods!` writes when a file there invokes it.
pub fn methods(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let file = syn::parse_file(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut items = file.items;
        let invoked = items.iter().any(|item| {
            matches!(item, syn::Item::Macro(m) if m.ident.is_none()
                && m.mac.path.segments.last().is_some_and(|s| s.ident == "handle_methods"))
        });
        if invoked {
            items.extend(written_once());
        }
        for item in items {
            let syn::Item::Impl(imp) = item else { continue };
            if imp.trait_.is_some() {
                continue;
            }
            let syn::Type::Path(ty) = imp.self_ty.as_ref() else {
                continue;
            };
            let name = ty.path.segments.last().unwrap().ident.to_string();
            for item in imp.items {
                if let syn::ImplItem::Fn(f) = item
                    && matches!(f.vis, syn::Visibility::Public(_))
                {
                    out.entry(name.clone())
                        .or_default()
                        .insert(f.sig.ident.to_string());
                }
            }
        }
    }
    out
}

/// The items `macro_rules! handle_methods` (in `api/src/methods.rs`) writes: its one rule's body,
/// with `$crate` read as `crate`.
pub fn written_once() -> Vec<syn::Item> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src/methods.rs");
    let file = syn::parse_file(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tokens = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Macro(m) if m.ident.as_ref().is_some_and(|i| i == "handle_methods") => {
                Some(m.mac.tokens.clone())
            }
            _ => None,
        })
        .expect("api/src/methods.rs defines handle_methods!");
    let body = tokens
        .into_iter()
        .find_map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => {
                Some(g.stream())
            }
            _ => None,
        })
        .expect("handle_methods! has a rule");
    let text = body.to_string().replace("$ crate", "crate");
    syn::parse_file(&text).unwrap().items
}
