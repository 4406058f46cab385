//! Code requests as cells see them: a whole analysis as one Rust function, tried on the mocks, submitted
//! for the owner's review and run on the real data at the datasite once approved.
//!
//! The function is not compiled in the cell (cells link only this thin crate): [`function!`](crate::function)
//! keeps its exact source text, and the datasite compiles it against its own dependency set (polars,
//! ndarray, serde), in a child process with time and memory limits.

use std::fmt;

use serde_json::Value;

use veil_api::call::Call;
use veil_api::code::CodeSpec;

use crate::bridge::{Error, Result};
use crate::data::Data;
use crate::pointer::Request;
use crate::site::{Client, SiteAsset};

pub use veil_api::view::OutputPolicy;

/// The input policy: each parameter bound to exactly one asset, or to a constant the owner approves
/// with the request.
#[derive(Debug, Clone, Default)]
pub struct ExactMatch {
    bindings: Vec<(String, Binding)>,
}

#[derive(Clone)]
enum Binding {
    Asset(Box<SiteAsset>),
    Constant(Value),
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Asset(a) => write!(f, "asset `{} / {}`", a.dataset, a.name),
            Binding::Constant(v) => write!(f, "constant {v}"),
        }
    }
}

impl ExactMatch {
    /// No bindings yet.
    pub fn new() -> ExactMatch {
        ExactMatch::default()
    }

    /// Binds parameter `param` to `asset`.
    pub fn asset(mut self, param: &str, asset: &SiteAsset) -> ExactMatch {
        self.bindings
            .push((param.to_string(), Binding::Asset(Box::new(asset.clone()))));
        self
    }

    /// Binds parameter `param` to a constant (a number, text, a list ...).
    pub fn constant(mut self, param: &str, value: impl Into<Value>) -> ExactMatch {
        self.bindings
            .push((param.to_string(), Binding::Constant(value.into())));
        self
    }
}

/// A function for a code request: made by [`function!`](crate::function), then bound with
/// [`Code::input_policy`] and submitted with [`Client::request_code_execution`].
#[derive(Debug, Clone)]
pub struct Code {
    source: String,
    inputs: ExactMatch,
    output: OutputPolicy,
}

impl Code {
    /// Code from its source text (one function). Output policy: [`OutputPolicy::SingleExecution`].
    pub fn new(source: impl Into<String>) -> Code {
        Code {
            source: source.into(),
            inputs: ExactMatch::default(),
            output: OutputPolicy::SingleExecution,
        }
    }

    /// The exact source text.
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

    /// Runs it on the mocks of its bound assets now and returns the result.
    pub fn run_on_mocks(&self) -> Result<Data> {
        let call = Call::RunOnMocks { code: self.spec() };
        Data::from_reply(&self.client()?.send(call)?)
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
                Error::new(
                    "InvalidInput",
                    "invalid code request inputs: no parameter is bound to an asset; bind them with `.input_policy(ExactMatch::new().asset(\"param\", &asset))`",
                )
            })
    }

    /// What the datasite is sent: the source, each binding by asset id, the policy.
    fn spec(&self) -> CodeSpec {
        let bindings = self
            .inputs
            .bindings
            .iter()
            .map(|(param, b)| match b {
                Binding::Asset(a) => veil_api::code::Binding::Asset {
                    param: param.clone(),
                    asset: a.id().to_string(),
                },
                Binding::Constant(v) => veil_api::code::Binding::Constant {
                    param: param.clone(),
                    value: v.clone(),
                },
            })
            .collect();
        CodeSpec {
            source: self.source.clone(),
            bindings,
            policy: self.output,
        }
    }
}

impl Client {
    /// Submits `code` for the owner's review (it is tried on the mocks first; the same code twice is
    /// refused). The request's `get()` returns the real result once approved.
    pub fn request_code_execution(&self, code: &Code, reason: &str) -> Result<Request> {
        let reply = self.send(Call::RequestCode {
            code: code.spec(),
            reason: reason.into(),
        })?;
        Ok(Request::from_reply(self, &reply))
    }
}
