//! Reading a submitted function: exactly one plain function, and nothing that reads files or the
//! environment while it compiles.

use super::*;

pub use veil_api::code::{Param, Signature};

/// Parses `source`, which must be exactly one free function with plain parameters: no generics, no
/// `self`, not `async`, `const`, `unsafe` or `extern`, and not called `main`.
pub fn parse_function(source: &str) -> Result<Signature> {
    let invalid = |problem: String| {
        Error::invalid(
            "code request source",
            problem,
            "submit one function, e.g. `fn train(features: DataFrame) -> f64 { .. }`",
        )
    };
    let file =
        syn::parse_file(source).map_err(|e| invalid(format!("it is not valid Rust: {e}")))?;
    if let Some(what) = reads_files(quote::ToTokens::to_token_stream(&file)) {
        return Err(Error::invalid(
            "code request source",
            format!(
                "it uses {what}, which reaches outside the language (the datasite's files, its environment or raw memory)"
            ),
            "pass what the function needs as an input: an asset or a constant",
        ));
    }
    let [syn::Item::Fn(f)] = file.items.as_slice() else {
        return Err(invalid(format!(
            "it defines {} items, and a code request is one function",
            file.items.len()
        )));
    };
    let sig = &f.sig;
    let name = sig.ident.to_string();
    let refuse = |what: &str| Err(invalid(format!("`{name}` is {what}")));
    if name == "main" {
        return refuse("called `main`, which the runner generates; rename it");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return refuse("generic; give its parameters concrete types");
    }
    if sig.asyncness.is_some() || sig.constness.is_some() {
        return refuse("async or const; make it a plain `fn`");
    }
    if sig.unsafety.is_some() || sig.abi.is_some() {
        return refuse("unsafe or extern; make it a plain `fn`");
    }
    if sig.variadic.is_some() {
        return refuse("variadic");
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        let syn::FnArg::Typed(arg) = input else {
            return refuse("a method (it takes `self`)");
        };
        let syn::Pat::Ident(ident) = arg.pat.as_ref() else {
            return refuse("taking a pattern as a parameter; name each parameter");
        };
        params.push(Param {
            name: ident.ident.to_string(),
            ty: tokens(&arg.ty),
        });
    }
    let output = match &sig.output {
        syn::ReturnType::Default => "()".to_string(),
        syn::ReturnType::Type(_, ty) => tokens(ty),
    };
    Ok(Signature {
        name,
        params,
        output,
    })
}

/// Attributes a submitted function may carry: lints, docs and code-generation hints. Every other
/// attribute is refused, because some reach outside the language while compiling (`#[path]`,
/// `#[debugger_visualizer]` embeds a file in the binary, `#[link]` links a library, `#[cfg_attr]` can
/// produce any of them).
const ATTRIBUTES: &[&str] = &[
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "doc",
    "must_use",
    "inline",
    "cold",
    "track_caller",
    "derive",
];

/// The first thing in `tokens` that reaches outside the language while the code compiles or runs
/// unchecked: the macros that read files or the environment (`include!`, `include_bytes!`,
/// `include_str!`, `env!`, `option_env!`) and inline assembly (`asm!`, `global_asm!`,
/// `naked_asm!`, whose `.incbin` and `.include` read any file), called or renamed by `use .. as`;
/// `unsafe` and `extern` (raw memory, foreign symbols); `std::process` (other processes); a module
/// read from a file (`mod name;`);
/// `macro_rules!`, through which the others could be called by a name passed in; and any attribute
/// not in [`ATTRIBUTES`]. A deny-list of tokens, checked before anything is compiled.
fn reads_files(tokens: proc_macro2::TokenStream) -> Option<String> {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1);
        match token {
            TokenTree::Group(g) => {
                if let Some(what) = reads_files(g.stream()) {
                    return Some(what);
                }
            }
            TokenTree::Punct(p) if p.as_char() == '#' => {
                // `#[attr ..]` or `#![attr ..]`.
                let group = match (next, tokens.get(i + 2)) {
                    (Some(TokenTree::Group(g)), _) => Some(g),
                    (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(g)))
                        if bang.as_char() == '!' =>
                    {
                        Some(g)
                    }
                    _ => None,
                };
                if let Some(g) = group.filter(|g| g.delimiter() == Delimiter::Bracket) {
                    let name = match g.stream().into_iter().next() {
                        Some(TokenTree::Ident(id)) => id.to_string(),
                        _ => String::new(),
                    };
                    if !ATTRIBUTES.contains(&name.trim_start_matches("r#")) {
                        return Some(format!(
                            "the attribute `#[{name}]` (allowed: {})",
                            ATTRIBUTES.join(", ")
                        ));
                    }
                }
            }
            TokenTree::Ident(id) => {
                let name = id.to_string();
                let name = name.trim_start_matches("r#");
                let called = matches!(next, Some(TokenTree::Punct(p)) if p.as_char() == '!')
                    || matches!(next, Some(TokenTree::Ident(n)) if n == "as");
                match name {
                    "include_bytes" | "include_str" | "option_env" | "global_asm" | "naked_asm" => {
                        return Some(format!("`{name}!`"));
                    }
                    "include" | "env" | "asm" if called => return Some(format!("`{name}!`")),
                    "unsafe" | "extern" => return Some(format!("`{name}`")),
                    // Another process is out of the run's limits and jail's reach (`kill -9 -1`
                    // would end the datasite and every other run), and so is leaving early with a
                    // code of the runner's own. A variable of that name is refused too: rename it.
                    "process" => {
                        return Some(
                            "`std::process` (starting, signalling or exiting processes)".into(),
                        );
                    }
                    // A macro could call the others with a name it is given, out of sight.
                    "macro_rules" => return Some("`macro_rules!`".into()),
                    "mod" => {
                        if let (Some(TokenTree::Ident(m)), Some(TokenTree::Punct(p))) =
                            (next, tokens.get(i + 2))
                            && p.as_char() == ';'
                        {
                            return Some(format!("a module from a file (`mod {m};`)"));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    None
}

/// A type as compact text: syn prints `Array2 < f64 >`, people write `Array2<f64>`.
fn tokens(ty: &syn::Type) -> String {
    let mut text = quote::ToTokens::to_token_stream(ty).to_string();
    for (from, to) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ] {
        text = text.replace(from, to);
    }
    text
}
