//! Code requests as the datasite records them: a submitted function's signature, its bound inputs,
//! and the record a review shows.

use serde::{Deserialize, Serialize};

use crate::view::OutputPolicy;

/// Parsed signature of a submitted function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The function's name.
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// The return type as written (`()` if none).
    pub output: String,
}

/// One parameter of a submitted function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type as written, e.g. `DataFrame` or `Array2<f64>`.
    pub ty: String,
}

/// A bound input as the datasite stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// An asset, by id, with the `dataset / asset` label the datasite holds for it.
    Asset {
        /// The parameter.
        param: String,
        /// The asset's id.
        asset_id: String,
        /// `dataset / asset`.
        label: String,
    },
    /// A constant.
    Constant {
        /// The parameter.
        param: String,
        /// Its value.
        value: serde_json::Value,
    },
}

impl Input {
    /// The parameter it is bound to.
    pub fn param(&self) -> &str {
        match self {
            Input::Asset { param, .. } | Input::Constant { param, .. } => param,
        }
    }

    /// ``asset `dataset / asset` `` or `constant 2.0`.
    pub fn describe(&self) -> String {
        match self {
            Input::Asset { label, .. } => format!("asset `{label}`"),
            Input::Constant { value, .. } => format!("constant {value}"),
        }
    }
}

/// A submitted function as the datasite keeps it; `D` is its mock result (the datasite's own values
/// in process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedCode<D> {
    /// Its id.
    pub id: String,
    /// The function's exact source text.
    pub source: String,
    /// Its signature.
    pub signature: Signature,
    /// Its bound inputs, in parameter order.
    pub inputs: Vec<Input>,
    /// Its output policy.
    pub policy: OutputPolicy,
    /// Runs on the real data so far (the policy's count).
    pub runs: u32,
    /// The result on the mocks, computed at submission.
    pub mock: Option<D>,
}

impl<D> SubmittedCode<D> {
    /// `name(param = input, ...)`: the call the datasite will make.
    pub fn call(&self) -> String {
        let args: Vec<String> = self
            .inputs
            .iter()
            .map(|i| format!("{} = {}", i.param(), i.describe()))
            .collect();
        format!("{}({})", self.signature.name, args.join(", "))
    }

    /// Runs left under the output policy.
    pub fn runs_left(&self) -> u32 {
        self.policy.max_runs().saturating_sub(self.runs)
    }

    /// The `dataset / asset` labels of its bound assets.
    pub fn lineage(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter_map(|i| match i {
                Input::Asset { label, .. } => Some(label.clone()),
                Input::Constant { .. } => None,
            })
            .collect()
    }
}

/// A code request as a client sends it: the function's source, what each parameter is bound to, and
/// the output policy. The datasite parses and checks all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeSpec {
    /// Exactly one function, as written.
    pub source: String,
    /// Each parameter's binding, as the client gave them.
    pub bindings: Vec<Binding>,
    /// How often it may run on the real data.
    pub policy: OutputPolicy,
}

/// What a client binds a parameter to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Binding {
    /// An asset, by id: its mock on the scientist's side, its data once approved.
    Asset {
        /// The parameter.
        param: String,
        /// The asset's id.
        asset: String,
    },
    /// A constant, shown to the owner and approved with the request.
    Constant {
        /// The parameter.
        param: String,
        /// Its value.
        value: serde_json::Value,
    },
}

impl Binding {
    /// The parameter it binds.
    pub fn param(&self) -> &str {
        match self {
            Binding::Asset { param, .. } | Binding::Constant { param, .. } => param,
        }
    }
}
