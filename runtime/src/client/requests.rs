//! Requests as handles: a [`Request`] is the request's id, the client that read it, and a view of
//! what the datasite said about it then (its number, requester, status, ...) for display. The
//! datasite believes none of the view. Every call on a handle sends only its id; the datasite reads
//! the request's own record (what it asks for, who asked, where it stands) and checks the caller
//! against that record. So a handle whose fields were edited acts on the request its id names, as
//! its caller, or not at all. [`Review`] is what an owner reads before deciding, [`RequestList`]
//! a listing.

use std::fmt;

use crate::client::Client;
use crate::client::code::{SubmittedCode, add_code_to};
use crate::client::privacy::{BUDGET_HEADERS, budget_row};
use crate::data::Data;
use crate::display::{self, Table, add_preview};
use crate::engine::checks::{Check, Verdict, check_rows};

pub use veil_api::view::{RequestKind, RequestStatus, RequestView, ReviewView};

/// A request, as a handle: see the [module docs](self).
///
/// A handle names its request by id and nothing else; it holds no object or code id a client could
/// point elsewhere (the hole these once were):
///
/// ```compile_fail
/// # fn forge(request: &veil::Request) {
/// let mut forged = request.clone();
/// forged.code_id = Some("the id of code the owner denied".into());
/// # }
/// ```
///
/// Its fields are the view it was read with ([`RequestView`], through `Deref`): read-only, and
/// nothing the datasite would take back from it:
///
/// ```compile_fail
/// # fn forge(request: &veil::Request) {
/// let mut forged = request.clone();
/// forged.status = veil::RequestStatus::Approved;
/// # }
/// ```
///
/// A transport that makes a handle from a view of its own choosing ([`Request::from_view`]) names
/// the request of that view's id, which the datasite checks the caller against.
#[derive(Clone)]
pub struct Request {
    view: RequestView,
    client: Client,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("requester", &self.requester)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What an owner reads before deciding.
#[derive(Debug, Clone)]
pub struct Review {
    /// The request.
    pub request: Request,
    /// The steps from the assets to the result, in order.
    pub steps: Vec<String>,
    /// The result on the mocks.
    pub mock: Option<Data>,
    /// The result on the real data, or why it failed (owners only see this). `None` for code, which
    /// runs on real data only when an owner asks ([`Request::run_privately`]) or approves.
    pub real: Option<std::result::Result<Data, String>>,
    /// The code, for a code request.
    pub code: Option<SubmittedCode>,
    /// Whether the datasite's code runs are jailed (the display warns when not).
    isolated: bool,
    /// The requester's privacy budgets on the datasets the request reads, with what was spent.
    pub budgets: Vec<veil_api::dp::Budget>,
    /// The disclosure checks of what it would release: approving a result one fails needs
    /// [`Request::approve_overriding`].
    pub checks: Vec<Check>,
}

impl Request {
    /// The handle of a request the datasite reported to `client`.
    pub fn from_view(view: RequestView, client: Client) -> Request {
        Request { view, client }
    }

    /// The client that read it: the request acts as that user.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("number", format!("#{}", self.number)),
            ("id", self.id.clone()),
            ("requester", self.requester.clone()),
            ("reason", self.reason.clone()),
            ("status", self.status.to_string()),
            ("lineage", self.lineage.join(", ")),
        ];
        if !self.computation.is_empty() {
            fields.push(("computation", self.computation.clone()));
        }
        fields.push(("asked", display::timestamp(self.created_at)));
        if let Some(r) = &self.reviewer {
            fields.push(("reviewer", r.clone()));
        }
        if let Some(d) = self.decision.as_ref().filter(|d| !d.is_empty()) {
            fields.push(("decision", d.clone()));
        }
        fields
    }

    fn table(&self) -> Table {
        Table::fields(format!("Request #{}", self.number), self.fields())
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

crate::display::render_via_table!(Request);

impl Review {
    /// The review the datasite reported to `client`.
    pub fn from_view(v: ReviewView<Data>, client: &Client) -> Review {
        Review {
            request: Request::from_view(v.request, client.clone()),
            steps: v.steps,
            mock: v.mock,
            real: v.real,
            code: v.code,
            isolated: v.isolated,
            budgets: v.budgets,
            checks: v.checks,
        }
    }

    fn table(&self) -> Table {
        let mut t = Table::fields(
            format!("Review of request #{}", self.request.number),
            self.request.fields(),
        );
        if self.code.is_none() {
            t.sub_table(
                "Steps from the assets".into(),
                vec!["step".into()],
                self.steps.iter().map(|s| vec![s.clone()]).collect(),
            );
        }
        match &self.mock {
            Some(m) => add_preview(&mut t, m, "Mock result"),
            None => t
                .warnings
                .push("the mock result could not be computed".into()),
        }
        match &self.real {
            Some(Ok(r)) => add_preview(&mut t, r, "Real result (owners only)"),
            Some(Err(e)) => t.warnings.push(format!("the real computation failed: {e}")),
            None => t.notes.push(
                "not run on the real data yet: `request.run_privately()` (or `%review ID --run`) runs it for you alone".into(),
            ),
        }
        if !self.checks.is_empty() {
            if self.checks.iter().any(|c| c.verdict == Verdict::Fail) {
                t.warnings.push(
                    "a disclosure check fails: deny it, or approve with an override and a reason (`request.approve_overriding(reason)`, `%approve ID --override REASON`)".into(),
                );
            }
            t.sub_table(
                "Disclosure checks".into(),
                vec!["rule".into(), "verdict".into(), "why".into()],
                check_rows(&self.checks),
            );
        }
        if !self.budgets.is_empty() {
            t.sub_table(
                "The requester's privacy budgets".into(),
                BUDGET_HEADERS.map(String::from).to_vec(),
                self.budgets.iter().map(budget_row).collect(),
            );
        }
        if let Some(code) = &self.code {
            add_code_to(code, &mut t);
            if !self.isolated {
                t.warnings.push(
                    "runs are not isolated on this machine (it allows no user namespaces, and the datasite was launched to run code anyway): this code could read the datasite's files and use the network; read it with that in mind".into(),
                );
            }
        }
        t
    }
}

crate::display::render_via_table!(Review);

/// Requests, newest first.
#[derive(Debug, Clone)]
pub struct RequestList(pub Vec<Request>);

impl std::ops::Deref for RequestList {
    type Target = [Request];
    fn deref(&self) -> &[Request] {
        &self.0
    }
}

impl RequestList {
    fn table(&self) -> Table {
        let mut t = Table::new(format!("Requests ({})", self.0.len())).headers([
            "#",
            "id",
            "requester",
            "reason",
            "status",
            "lineage",
            "asked",
        ]);
        if self.0.is_empty() {
            t.notes.push("no requests".into());
        }
        for r in &self.0 {
            t.row([
                format!("#{}", r.number),
                short(&r.id).to_string(),
                r.requester.clone(),
                display::clip(&r.reason, 60),
                r.status.to_string(),
                r.lineage.join(", "),
                display::timestamp(r.created_at),
            ]);
        }
        t
    }
}

crate::display::render_via_table!(RequestList);

veil_api::reads_as_view!(Request => RequestView);
