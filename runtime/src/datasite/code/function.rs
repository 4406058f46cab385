//! The function a scientist submits: its source, its input policy and its output policy, bound
//! and checked against each other before anything runs.

use super::*;

impl SiteCore {
    /// The signature of `code` and its bindings in parameter order, checked against each other, with
    /// each bound asset labelled from the datasite's records (never from what a client says).
    pub(crate) fn resolve(&self, code: &CodeSpec) -> Result<(Signature, Vec<Input>)> {
        check_source(&code.source)?;
        let sig = runner::parse_function(&code.source)?;
        for binding in &code.bindings {
            let param = binding.param();
            if !sig.params.iter().any(|p| p.name == param) {
                let names: Vec<&str> = sig.params.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::invalid(
                    format!("input `{param}`"),
                    format!("`{}` has no parameter `{param}`", sig.name),
                    format!("bind its parameters: {}", names.join(", ")),
                ));
            }
        }
        let mut inputs = Vec::with_capacity(sig.params.len());
        for p in &sig.params {
            let bound: Vec<&veil_api::code::Binding> = code
                .bindings
                .iter()
                .filter(|b| b.param() == p.name)
                .collect();
            let binding = match bound.as_slice() {
                [b] => *b,
                [] => {
                    return Err(Error::invalid(
                        format!("parameter `{}` of `{}`", p.name, sig.name),
                        "it is not bound",
                        format!(
                            "bind it in the input policy: `.asset(\"{}\", &asset)` or `.constant(\"{}\", value)`",
                            p.name, p.name
                        ),
                    ));
                }
                _ => {
                    return Err(Error::invalid(
                        format!("parameter `{}` of `{}`", p.name, sig.name),
                        "it is bound more than once",
                        "bind each parameter once",
                    ));
                }
            };
            inputs.push(match binding {
                veil_api::code::Binding::Asset { asset, .. } => Input::Asset {
                    param: p.name.clone(),
                    asset_id: asset.clone(),
                    label: self.bound_asset_label(asset)?,
                },
                veil_api::code::Binding::Constant { value, .. } => {
                    check_constant(&p.name, value)?;
                    Input::Constant {
                        param: p.name.clone(),
                        value: value.clone(),
                    }
                }
            });
        }
        Ok((sig, inputs))
    }

    /// `code` run on the mocks of its bound assets, for `caller`.
    pub(crate) fn run_on_mocks(&self, caller: &User, code: &CodeSpec) -> Result<Data> {
        SiteCore::require_compute(caller)?;
        let (sig, inputs) = self.resolve(code)?;
        match self.run_code(&code.source, &sig, &inputs, Side::Mock)? {
            Ok(data) => Ok(data),
            Err(f) => Err(mock_failure(&sig.name, &f)),
        }
    }
}

/// A constant is reviewed with its request and stored with its code: a few numbers or names, not data.
fn check_constant(param: &str, value: &serde_json::Value) -> Result<()> {
    let bytes = value.to_string().len();
    if bytes > MAX_CONSTANT_BYTES {
        return Err(Error::invalid(
            format!("constant `{param}`"),
            format!("it is {bytes} bytes of JSON, more than {MAX_CONSTANT_BYTES}"),
            "bind data as an asset; constants are small settings the owner reads in the review",
        ));
    }
    Ok(())
}

fn check_source(source: &str) -> Result<()> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid(
            "code request source",
            format!("it is {} bytes, more than {MAX_SOURCE_BYTES}", source.len()),
            "submit one function; move data into assets, not into the source",
        ));
    }
    // The owner reviews the source as text: nothing in it may make it read otherwise than it runs
    // (Trojan Source's bidirectional overrides, terminal escapes).
    if let Some(c) = crate::validate::hidden_char(source, true) {
        return Err(Error::invalid(
            "code request source",
            format!(
                "it contains the invisible character {c:?}, which can make the reviewed text differ from the code"
            ),
            "remove it; write such characters in strings as escapes (`\\u{..}`)",
        ));
    }
    Ok(())
}

pub(super) fn mock_failure(name: &str, f: &RunFailure) -> Error {
    Error::failed(
        format!("function `{name}`"),
        format!("it failed on the mocks: {}", f.detail),
        "fix it and try again with `code.run_on_mocks()`",
    )
}
