//! Code requests as a client builds them: a whole analysis as one Rust function ([`Code`], usually
//! through the [`function!`](crate::function) macro, which keeps its exact source text), its
//! parameters bound to assets and owner-approved constants ([`ExactMatch`]), an [`OutputPolicy`];
//! tried on the mocks ([`Code::run_on_mocks`](veil_api::code::Code::run_on_mocks)) and submitted with
//! [`Client::request_code_execution`]. What the datasite does with it is in its code service.

use crate::client::Client;
use crate::client::datasets::SiteAsset;
use crate::data::Data;
use crate::display::{self, Table};
use crate::error::{Error, Result};
use veil_api::code::CodeSpec;

pub use veil_api::code::{Input, OutputPolicy};

/// A submitted function as the datasite keeps it, with its mock result.
pub type SubmittedCode = veil_api::code::SubmittedCode<Data>;

/// The input policy: each parameter bound to exactly one asset, or to a constant the owner approves
/// with the request. The code runs on those inputs and no others.
pub type ExactMatch = veil_api::code::ExactMatch<SiteAsset>;

/// A function to submit as a code request: its source, input bindings and output policy, built with
/// [`function!`](crate::function) and [`Code::input_policy`](veil_api::code::Code::input_policy).
pub type Code = veil_api::code::Code<SiteAsset>;

impl veil_api::code::CodeClient for Client {
    type Data = Data;
    type Error = Error;

    fn run_on_mocks(&self, code: CodeSpec) -> Result<Data> {
        self.ask(veil_api::calls::RunOnMocks { code })
    }
}

/// Adds the code's sections (call, policy, highlighted source) to a request's display.
pub(crate) fn add_code_to(code: &SubmittedCode, t: &mut Table) {
    t.sub_table(
        "Code".into(),
        vec![],
        vec![
            vec!["call".into(), code.call()],
            vec!["output policy".into(), code.policy.to_string()],
            vec![
                "runs on real data".into(),
                format!("{} of {}", code.runs, code.policy.max_runs()),
            ],
        ],
    );
    let (text, html) = display::code_block(&code.source);
    t.text_after.push(text);
    t.html_after.push(html);
}
