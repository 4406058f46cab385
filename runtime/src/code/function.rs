//! The function a scientist submits: its source, its input policy ([`ExactMatch`]) and its output
//! policy ([`OutputPolicy`]), bound and checked against each other before anything runs.

use super::*;

use veil_api::call::Call;
use veil_api::code::CodeSpec;
pub use veil_api::view::OutputPolicy;

use crate::dispatch::reply;

/// The input policy: each parameter bound to exactly one asset, or to a constant the owner approves
/// with the request. The code runs on those inputs and no others.
#[derive(Debug, Clone, Default)]
pub struct ExactMatch {
    bindings: Vec<(String, Binding)>,
}

#[derive(Debug, Clone)]
enum Binding {
    Asset(Box<SiteAsset>),
    /// The value as JSON, or why it could not be serialised (reported when the code is run or
    /// submitted, so the builder chain stays infallible).
    Constant(std::result::Result<serde_json::Value, String>),
}

impl ExactMatch {
    /// No bindings yet.
    pub fn new() -> ExactMatch {
        ExactMatch::default()
    }

    /// Binds parameter `param` to `asset` (its mock on the scientist's side, its data once approved).
    pub fn asset(mut self, param: &str, asset: &SiteAsset) -> ExactMatch {
        self.bindings
            .push((param.to_string(), Binding::Asset(Box::new(asset.clone()))));
        self
    }

    /// Binds parameter `param` to a constant, shown to the owner and approved with the request.
    pub fn constant(mut self, param: &str, value: impl Serialize) -> ExactMatch {
        let value = serde_json::to_value(value).map_err(|e| e.to_string());
        self.bindings
            .push((param.to_string(), Binding::Constant(value)));
        self
    }
}

pub use veil_api::code::Input;

/// A function to submit as a code request: its source, input bindings and output policy.
#[derive(Debug, Clone)]
pub struct Code {
    pub(super) source: String,
    pub(super) inputs: ExactMatch,
    pub(super) output: OutputPolicy,
}

impl Code {
    /// Code from its source text: exactly one function. The output policy starts as
    /// [`OutputPolicy::SingleExecution`].
    pub fn new(source: impl Into<String>) -> Code {
        Code {
            source: source.into(),
            inputs: ExactMatch::default(),
            output: OutputPolicy::SingleExecution,
        }
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Binds the parameters.
    pub fn input_policy(mut self, inputs: ExactMatch) -> Code {
        self.inputs = inputs;
        self
    }

    /// Sets how often it may run on the real data.
    pub fn output_policy(mut self, output: OutputPolicy) -> Code {
        self.output = output;
        self
    }

    /// The parsed signature.
    pub fn signature(&self) -> Result<Signature> {
        check_source(&self.source)?;
        runner::parse_function(&self.source)
    }

    /// Runs the function on the mocks of its bound assets, here and now, and returns its result: what
    /// the owner will see as the mock result.
    pub fn run_on_mocks(&self) -> Result<Data> {
        let call = Call::RunOnMocks { code: self.spec()? };
        reply!(self.client()?.call(call), Data)
    }

    /// The client of the first bound asset: the datasite this code is for.
    fn client(&self) -> Result<&Client> {
        self.inputs
            .bindings
            .iter()
            .find_map(|(_, b)| match b {
                Binding::Asset(a) => Some(a.client()),
                Binding::Constant(_) => None,
            })
            .ok_or_else(|| {
                Error::invalid(
                    "code request inputs",
                    "no parameter is bound to an asset",
                    "bind them with `.input_policy(ExactMatch::new().asset(\"param\", &asset))`",
                )
            })
    }

    /// What is sent to the datasite: the source, each binding by id, the policy.
    pub(super) fn spec(&self) -> Result<CodeSpec> {
        let mut bindings = Vec::with_capacity(self.inputs.bindings.len());
        for (param, binding) in &self.inputs.bindings {
            bindings.push(match binding {
                Binding::Asset(a) => veil_api::code::Binding::Asset {
                    param: param.clone(),
                    asset: a.id().to_string(),
                },
                Binding::Constant(Ok(v)) => veil_api::code::Binding::Constant {
                    param: param.clone(),
                    value: v.clone(),
                },
                Binding::Constant(Err(e)) => {
                    return Err(Error::invalid(
                        format!("constant for parameter `{param}`"),
                        format!("it cannot be written as JSON: {e}"),
                        "bind a value whose `Serialize` succeeds: numbers, strings, vectors, maps with string keys",
                    ));
                }
            });
        }
        Ok(CodeSpec {
            source: self.source.clone(),
            bindings,
            policy: self.output,
        })
    }
}

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
                veil_api::code::Binding::Constant { value, .. } => Input::Constant {
                    param: p.name.clone(),
                    value: value.clone(),
                },
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

fn check_source(source: &str) -> Result<()> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid(
            "code request source",
            format!("it is {} bytes, more than {MAX_SOURCE_BYTES}", source.len()),
            "submit one function; move data into assets, not into the source",
        ));
    }
    Ok(())
}

pub(super) fn mock_failure(name: &str, f: &RunFailure) -> Error {
    Error::invalid(
        format!("function `{name}`"),
        format!("it failed on the mocks: {}", f.detail),
        "fix it and try again with `code.run_on_mocks()`",
    )
}
