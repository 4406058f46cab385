//! Code requests as the datasite records them: a submitted function's signature, its bound inputs,
//! and the record a review shows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How many times approved code may run on the real data, and so how many results it may release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputPolicy {
    /// Runs once; later `request.get()`s return the stored result (PySyft's
    /// `SingleExecutionExactOutput`).
    SingleExecution,
    /// Runs at most this many times (`request.run()` for each further run).
    ExecuteCount(u32),
}

impl OutputPolicy {
    /// How many runs it allows.
    pub fn max_runs(self) -> u32 {
        match self {
            OutputPolicy::SingleExecution => 1,
            OutputPolicy::ExecuteCount(n) => n,
        }
    }
}

impl fmt::Display for OutputPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputPolicy::SingleExecution => f.write_str("SingleExecution"),
            OutputPolicy::ExecuteCount(n) => write!(f, "ExecuteCount({n})"),
        }
    }
}

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
    /// The same code with its mock result turned into another form (a value the kernel holds, say).
    pub fn map_mock<E>(self, f: impl FnOnce(D) -> E) -> SubmittedCode<E> {
        match self.try_map_mock(|d| Ok::<_, std::convert::Infallible>(f(d))) {
            Ok(code) => code,
        }
    }

    /// [`SubmittedCode::map_mock`] for a conversion that may fail (encoding for the network, say).
    pub fn try_map_mock<E, X>(
        self,
        f: impl FnOnce(D) -> Result<E, X>,
    ) -> Result<SubmittedCode<E>, X> {
        Ok(SubmittedCode {
            id: self.id,
            source: self.source,
            signature: self.signature,
            inputs: self.inputs,
            policy: self.policy,
            runs: self.runs,
            mock: self.mock.map(f).transpose()?,
        })
    }

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

    /// The ids of its bound assets.
    pub fn asset_ids(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter_map(|i| match i {
                Input::Asset { asset_id, .. } => Some(asset_id.clone()),
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

/// An argument a client-side builder refused, before anything was sent: what, what is wrong, and the
/// fix. Each side turns it into its own error (the datasite's `InvalidInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Which argument.
    pub what: String,
    /// What is wrong with it.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// What a code binding needs of an asset handle: the id the datasite knows the asset by, and the
/// client it was fetched with (so code bound to it goes to that datasite, as that user).
pub trait AssetHandle: Clone {
    /// The client handle type.
    type Client: CodeClient;
    /// The asset's id on its datasite, and the client it was fetched with.
    fn bound(&self) -> (&str, &Self::Client);
}

/// A client that runs code on the mocks of its bound assets ([`Call::RunOnMocks`](crate::call::Call)).
pub trait CodeClient {
    /// What a run returns.
    type Data;
    /// Its error.
    type Error: From<Invalid>;
    /// Sends `code` to run on the mocks of the assets it binds.
    fn run_on_mocks(&self, code: CodeSpec) -> Result<Self::Data, Self::Error>;
}

/// The input policy: each parameter bound to exactly one asset, or to a constant the owner approves
/// with the request. The code runs on those inputs and no others.
#[derive(Debug, Clone)]
pub struct ExactMatch<A> {
    bindings: Vec<(String, Bound<A>)>,
}

impl<A> Default for ExactMatch<A> {
    fn default() -> Self {
        ExactMatch {
            bindings: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
enum Bound<A> {
    Asset(Box<A>),
    /// The value as JSON, or why it could not be written so (reported when the code is run or
    /// submitted, so the builder chain stays infallible).
    Constant(Result<serde_json::Value, String>),
}

impl<A: AssetHandle> ExactMatch<A> {
    /// No bindings yet.
    pub fn new() -> Self {
        ExactMatch::default()
    }

    /// Binds parameter `param` to `asset` (its mock on the scientist's side, its data once approved).
    pub fn asset(mut self, param: &str, asset: &A) -> Self {
        self.bindings
            .push((param.to_string(), Bound::Asset(Box::new(asset.clone()))));
        self
    }

    /// Binds parameter `param` to a constant (a number, text, a list ...), shown to the owner and
    /// approved with the request.
    pub fn constant(mut self, param: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).map_err(|e| e.to_string());
        self.bindings
            .push((param.to_string(), Bound::Constant(value)));
        self
    }
}

/// A function for a code request: made by `function!`, bound with [`Code::input_policy`], tried with
/// [`Code::run_on_mocks`] and submitted with the client's `request_code_execution`.
#[derive(Debug, Clone)]
pub struct Code<A> {
    source: String,
    inputs: ExactMatch<A>,
    output: OutputPolicy,
}

impl<A: AssetHandle> Code<A> {
    /// Code from its source text: exactly one function. The output policy starts as
    /// [`OutputPolicy::SingleExecution`].
    pub fn new(source: impl Into<String>) -> Self {
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
    pub fn input_policy(mut self, inputs: ExactMatch<A>) -> Self {
        self.inputs = inputs;
        self
    }

    /// Sets how often it may run on the real data.
    pub fn output_policy(mut self, output: OutputPolicy) -> Self {
        self.output = output;
        self
    }

    /// Runs it on the mocks of its bound assets now and returns the result: what the owner will see
    /// as the mock result.
    pub fn run_on_mocks(
        &self,
    ) -> Result<<A::Client as CodeClient>::Data, <A::Client as CodeClient>::Error> {
        self.client()?.run_on_mocks(self.spec()?)
    }

    /// The client of the first bound asset: the datasite this code is for.
    pub fn client(&self) -> Result<&A::Client, Invalid> {
        self.inputs
            .bindings
            .iter()
            .find_map(|(_, b)| match b {
                Bound::Asset(a) => Some(a.bound().1),
                Bound::Constant(_) => None,
            })
            .ok_or_else(|| Invalid {
                what: "code request inputs".into(),
                problem: "no parameter is bound to an asset".into(),
                fix: "bind them with `.input_policy(ExactMatch::new().asset(\"param\", &asset))`"
                    .into(),
            })
    }

    /// What the datasite is sent: the source, each binding by asset id, the policy.
    pub fn spec(&self) -> Result<CodeSpec, Invalid> {
        let bindings = self
            .inputs
            .bindings
            .iter()
            .map(|(param, bound)| {
                let param = param.clone();
                Ok(match bound {
                    Bound::Asset(a) => Binding::Asset {
                        param,
                        asset: a.bound().0.to_string(),
                    },
                    Bound::Constant(Ok(value)) => Binding::Constant {
                        param,
                        value: value.clone(),
                    },
                    Bound::Constant(Err(e)) => return Err(Invalid {
                        what: format!("constant for parameter `{param}`"),
                        problem: format!("it cannot be written as JSON: {e}"),
                        fix: "bind a value whose `Serialize` succeeds: numbers, strings, vectors, maps with string keys".into(),
                    }),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CodeSpec {
            source: self.source.clone(),
            bindings,
            policy: self.output,
        })
    }
}
