//! Inspect answers (shift-tab) for Veil's API, read from the doc comments of the facade and the crates
//! it uses: the sources the kernel embeds for evcxr ([`crate::rust::FACADE_FILES`]), parsed once. No
//! hand-written list: a method's answer is its signature and the first paragraph of its docs, as the
//! code that cells link has them.
//!
//! The op methods (`sum`, `pow`, `column`, ...) and the plot methods (`hist`, `scatter`, ...) are
//! written once in `veil_api::op_methods!` and `veil_api::plot_methods!` and stamped on the types
//! each is invoked on; their answers come from the macro's body, for each of those types.

use std::sync::OnceLock;

use proc_macro2::{Ident, TokenStream, TokenTree};
use syn::{Attribute, ImplItem, Item, Visibility};

/// One documented public name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The type a method or associated function belongs to; `None` for free functions, types,
    /// traits and modules.
    pub owner: Option<String>,
    /// Its name.
    pub name: String,
    /// Its declaration (`pub fn max(&self) -> Result<Self>`, `pub struct Pointer`).
    pub signature: String,
    /// The first paragraph of its docs (empty if it has none).
    pub doc: String,
}

impl Entry {
    /// `Owner::name`, or the name alone.
    pub fn path(&self) -> String {
        match &self.owner {
            Some(owner) => format!("{owner}::{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every documented public name of the embedded sources.
pub fn index() -> &'static [Entry] {
    static INDEX: OnceLock<Vec<Entry>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let files: Vec<syn::File> = crate::rust::FACADE_FILES
            .iter()
            .filter(|(path, _)| path.ends_with(".rs"))
            .filter_map(|(_, text)| syn::parse_file(text).ok())
            .collect();
        let stamped: Stamped = STAMPING_MACROS
            .iter()
            .filter_map(|name| {
                let items = files.iter().find_map(|f| macro_body(&f.items, name))?;
                let mut methods = Vec::new();
                collect(&items, &Stamped::new(), &mut methods);
                methods.retain(|e| e.owner.is_some());
                Some((*name, methods))
            })
            .collect();
        let mut entries = Vec::new();
        for file in &files {
            collect(&file.items, &stamped, &mut entries);
        }
        // `handle_methods!();`: the handles' methods written once, on the types it names.
        if files.iter().any(|f| invokes(&f.items, "handle_methods"))
            && let Some(items) = files
                .iter()
                .find_map(|f| macro_body(&f.items, "handle_methods"))
        {
            collect(&items, &Stamped::new(), &mut entries);
        }
        entries
    })
}

/// The methods `.name` may be: every type's method of that name.
pub fn methods(name: &str) -> Vec<&'static Entry> {
    index()
        .iter()
        .filter(|e| e.owner.is_some() && e.name == name)
        .collect()
}

/// `Owner::name`, if documented.
pub fn associated(owner: &str, name: &str) -> Option<&'static Entry> {
    index()
        .iter()
        .find(|e| e.owner.as_deref() == Some(owner) && e.name == name)
}

/// A free function, type, trait or module called `name`.
pub fn item(name: &str) -> Option<&'static Entry> {
    index().iter().find(|e| e.owner.is_none() && e.name == name)
}

/// The public methods of `owner`, by name.
pub fn methods_of(owner: &str) -> Vec<&'static Entry> {
    let mut found: Vec<&Entry> = index()
        .iter()
        .filter(|e| e.owner.as_deref() == Some(owner))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup_by(|a, b| a.name == b.name);
    found
}

/// Names of the embedded types' private fields and methods (`handle`, `client`, `send`) that no
/// type has as a public method: rust-analyzer offers them after a `.`, and no cell may use them.
pub fn private_members() -> &'static std::collections::HashSet<String> {
    static HIDDEN: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    HIDDEN.get_or_init(|| {
        fn walk(items: &[Item], out: &mut std::collections::HashSet<String>) {
            for item in items {
                match item {
                    Item::Struct(s) => out.extend(
                        s.fields
                            .iter()
                            .filter(|f| !public(&f.vis))
                            .filter_map(|f| f.ident.as_ref().map(|i| i.to_string())),
                    ),
                    Item::Impl(imp) if imp.trait_.is_none() => {
                        out.extend(imp.items.iter().filter_map(|m| match m {
                            ImplItem::Fn(f) if !public(&f.vis) => Some(f.sig.ident.to_string()),
                            _ => None,
                        }))
                    }
                    Item::Mod(m) => {
                        if let Some((_, items)) = &m.content {
                            walk(items, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut hidden = std::collections::HashSet::new();
        for (_, text) in crate::rust::FACADE_FILES
            .iter()
            .filter(|(path, _)| path.ends_with(".rs"))
        {
            if let Ok(file) = syn::parse_file(text) {
                walk(&file.items, &mut hidden);
            }
        }
        for e in index() {
            hidden.remove(&e.name);
        }
        hidden
    })
}

/// The answer shown for `entries` (the same method on several types is shown once, naming each).
pub fn answer(entries: &[&Entry]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut shown: Vec<(&str, &str, Vec<String>)> = Vec::new();
    for e in entries {
        match shown
            .iter_mut()
            .find(|(sig, doc, _)| *sig == e.signature && *doc == e.doc)
        {
            Some((_, _, paths)) => paths.push(e.path()),
            None => shown.push((&e.signature, &e.doc, vec![e.path()])),
        }
    }
    for (signature, doc, paths) in shown {
        let doc = if doc.is_empty() { "(no docs)" } else { doc };
        out.push(format!("{}\n{signature}\n\n{doc}", paths.join(", ")));
    }
    out.join("\n\n")
}

/// The macros that stamp methods on the type they are invoked on (`op_methods!(Pointer);`).
const STAMPING_MACROS: [&str; 2] = ["op_methods", "plot_methods"];

/// Each stamping macro's methods, read from its body (owned by `OpTarget` until stamped).
type Stamped = std::collections::HashMap<&'static str, Vec<Entry>>;

fn collect(items: &[Item], stamped: &Stamped, out: &mut Vec<Entry>) {
    for item in items {
        match item {
            Item::Fn(f) if public(&f.vis) => {
                out.push(entry(None, &f.sig.ident, sig(&f.sig), &f.attrs))
            }
            Item::Struct(s) if public(&s.vis) => out.push(entry(
                None,
                &s.ident,
                format!("pub struct {}", s.ident),
                &s.attrs,
            )),
            Item::Enum(e) if public(&e.vis) => out.push(entry(
                None,
                &e.ident,
                format!("pub enum {}", e.ident),
                &e.attrs,
            )),
            Item::Trait(t) if public(&t.vis) => out.push(entry(
                None,
                &t.ident,
                format!("pub trait {}", t.ident),
                &t.attrs,
            )),
            Item::Type(t) if public(&t.vis) => out.push(entry(
                None,
                &t.ident,
                format!("pub type {}", t.ident),
                &t.attrs,
            )),
            Item::Mod(m) if public(&m.vis) => {
                out.push(entry(
                    None,
                    &m.ident,
                    format!("pub mod {}", m.ident),
                    &m.attrs,
                ));
                if let Some((_, items)) = &m.content {
                    collect(items, stamped, out);
                }
            }
            Item::Impl(imp) if imp.trait_.is_none() => {
                let Some(owner) = type_name(&imp.self_ty) else {
                    continue;
                };
                for member in &imp.items {
                    if let ImplItem::Fn(f) = member
                        && public(&f.vis)
                    {
                        out.push(entry(Some(&owner), &f.sig.ident, sig(&f.sig), &f.attrs));
                    }
                }
            }
            // `op_methods!(Pointer);`: the macro's methods, on that type.
            Item::Macro(m) if m.ident.is_none() => {
                let methods = m
                    .mac
                    .path
                    .segments
                    .last()
                    .and_then(|s| stamped.get(s.ident.to_string().as_str()));
                let (Some(methods), Ok(ty)) = (methods, m.mac.parse_body::<syn::Type>()) else {
                    continue;
                };
                let Some(owner) = type_name(&ty) else {
                    continue;
                };
                out.extend(methods.iter().map(|e| Entry {
                    owner: Some(owner.clone()),
                    ..e.clone()
                }));
            }
            _ => {}
        }
    }
}

/// Whether `items` invoke macro `name` (`name!(...)`) at their top level.
fn invokes(items: &[Item], name: &str) -> bool {
    items.iter().any(|item| {
        matches!(item, Item::Macro(m) if m.ident.is_none()
            && m.mac.path.segments.last().is_some_and(|s| s.ident == name))
    })
}

/// The items `macro_rules! name` writes, read from its first rule's body (a type it is given
/// stands as `OpTarget`, `$crate` as `crate`).
fn macro_body(items: &[Item], name: &str) -> Option<Vec<Item>> {
    let rules = items.iter().find_map(|item| match item {
        Item::Macro(m) if m.ident.as_ref().is_some_and(|i| i == name) => Some(&m.mac.tokens),
        _ => None,
    })?;
    // The first rule: `(matcher) => { body }`.
    let body = rules.clone().into_iter().find_map(|tt| match tt {
        TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => Some(g.stream()),
        _ => None,
    })?;
    let file: syn::File = syn::parse2(unmeta(body)).ok()?;
    Some(file.items)
}

/// `$t` as a plain type name and `$crate` as `crate`, so the body parses as Rust.
fn unmeta(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Punct(p) if p.as_char() == '$' => {
                if let Some(TokenTree::Ident(next)) = iter.peek() {
                    let name = if next == "crate" { "crate" } else { "OpTarget" };
                    out.push(TokenTree::Ident(Ident::new(name, next.span())));
                    iter.next();
                } else {
                    out.push(TokenTree::Punct(p));
                }
            }
            TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), unmeta(g.stream()));
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

fn public(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn entry(owner: Option<&str>, name: &Ident, signature: String, attrs: &[Attribute]) -> Entry {
    Entry {
        owner: owner.map(str::to_string),
        name: name.to_string(),
        signature,
        doc: first_paragraph(attrs),
    }
}

/// `pub fn name(args) -> Output`, spaced as people write it.
fn sig(sig: &syn::Signature) -> String {
    let raw = quote::ToTokens::to_token_stream(sig).to_string();
    let mut out = format!("pub {raw}");
    for (from, to) in [
        (" ,", ","),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" :", ":"),
        (":: ", "::"),
        (" ;", ";"),
        ("[ ", "["),
        (" ]", "]"),
        ("' ", "'"),
        (" ?", "?"),
    ] {
        out = out.replace(from, to);
    }
    // `->` and `=>` lost their spaces to the rules above.
    out.replace(")->", ") ->").replace(">->", "> ->")
}

/// The doc comment's first paragraph, on one line.
fn first_paragraph(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(lit) = &nv.value
            && let syn::Lit::Str(s) = &lit.lit
        {
            lines.push(s.value());
        }
    }
    lines
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("```") && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The call table names the facade methods a cell makes each call with (`%help api` and a
    /// client's display show them): each must exist, documented, in the sources cells link.
    #[test]
    fn private_members_are_known_and_public_methods_are_not_among_them() {
        let hidden = private_members();
        for name in ["handle", "ask"] {
            assert!(hidden.contains(name), "{name} not in {hidden:?}");
        }
        for name in ["max", "request", "pointer", "mock"] {
            assert!(!hidden.contains(name), "{name} is public");
        }
    }

    #[test]
    fn every_method_the_call_table_names_is_the_facades() {
        for call in veil::api::access::CALLS {
            for method in call.methods {
                let (owner, name) = method.split_once("::").unwrap();
                let entry = associated(owner, name)
                    .unwrap_or_else(|| panic!("`{}` names {method}, not found", call.name));
                assert!(!entry.doc.is_empty(), "{method} has no docs");
            }
        }
    }

    #[test]
    fn methods_types_and_op_methods_are_documented_from_the_sources() {
        let max = methods("max");
        assert!(max.iter().any(|e| e.path() == "Pointer::max"), "{max:?}");
        assert!(max.iter().all(|e| !e.doc.is_empty()), "{max:?}");
        let datasets = methods("datasets");
        assert!(
            datasets.iter().any(|e| e.path() == "Client::datasets"
                && e.signature.starts_with("pub fn datasets(&self)")),
            "{datasets:?}"
        );
        assert!(associated("Dataset", "new").is_some());
        assert!(item("Pointer").is_some_and(|e| !e.doc.is_empty()));
        assert!(item("display").is_some());
        let text = answer(&methods("pow"));
        // The same op method on Pointer and Data is shown once, naming both.
        assert!(
            text.contains("Pointer::pow") && text.contains("Data::pow"),
            "{text}"
        );
        assert_eq!(text.matches("pub fn pow").count(), 1, "{text}");
        assert!(
            text.contains("pub fn pow(&self, exponent: f64) -> Result<Self>"),
            "{text}"
        );
        assert!(!methods_of("Client").is_empty());
        // The plot methods, stamped by their own macro on the facade's Data.
        let hist = associated("Data", "hist").expect("Data::hist");
        assert_eq!(
            hist.signature,
            "pub fn hist(&self, column: &str) -> Result<Plot>"
        );
        assert!(hist.doc.contains("histogram"), "{hist:?}");
    }
}
