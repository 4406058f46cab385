//! What the kernel's tests share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `pub fn` names of inherent `impl T` blocks, by type, in every `.rs` file under `dir`.
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
        for item in file.items {
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
