//! [`Client`]: a logged-in user's handle on a datasite.
//!
//! A client holds a session token, not a role: the datasite resolves the token on every call and checks
//! the user's current role there, so nothing a client holds can widen what it may do.

use std::fmt;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::datasets::{Dataset, DatasetList, SiteDataset};
use crate::dispatch::reply;
use crate::display::Table;
use crate::error::Result;
use crate::remote::Remote;
use crate::site::SiteCore;
use crate::users::{LoginOutcome, NewUser, Role, User, UserList};
use veil_api::call::{Call, Secret};

/// How a client reaches its datasite: in this process, or served over HTTP.
#[derive(Clone)]
enum Link {
    Local(Arc<SiteCore>),
    Remote(Arc<Remote>),
}

/// A user's session on a datasite, from [`Datasite::login`](crate::Datasite::login) or, for a served
/// one, [`RemoteSite::login`](crate::remote::RemoteSite::login).
#[derive(Clone)]
pub struct Client {
    link: Link,
    token: Arc<str>,
    user: User,
    notices: Vec<String>,
}

impl fmt::Debug for Client {
    // Never print the session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("site", &self.site_name())
            .field("email", &self.user.email)
            .field("role", &self.user.role)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(core: Arc<SiteCore>, login: LoginOutcome) -> Client {
        Client::with_link(Link::Local(core), login)
    }

    pub(crate) fn remote(remote: Arc<Remote>, login: LoginOutcome) -> Client {
        Client::with_link(Link::Remote(remote), login)
    }

    fn with_link(link: Link, login: LoginOutcome) -> Client {
        Client {
            link,
            token: login.token.into(),
            user: login.user,
            notices: login.notices,
        }
    }

    /// Whether `other` reaches the same datasite by the same way (ids mean something only there).
    pub(crate) fn same_site(&self, other: &Client) -> bool {
        match (&self.link, &other.link) {
            (Link::Local(a), Link::Local(b)) => Arc::ptr_eq(a, b),
            (Link::Remote(a), Link::Remote(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Sends `call` to the datasite's one dispatch as this session: what every method of the handles
    /// does, and what other transports (the kernel's cell bridge) use to forward a client's calls.
    /// The handles' `from_view` constructors wrap what comes back.
    pub fn call(&self, call: veil_api::call::Call) -> Result<veil_api::call::Reply<crate::Data>> {
        self.call_with_parts(call, Vec::new())
    }

    /// [`Client::call`] for a call that names values by [`Part`](veil_api::call::Part) (an upload):
    /// `parts` are those values, in order.
    pub fn call_with_parts(
        &self,
        call: veil_api::call::Call,
        parts: Vec<crate::Data>,
    ) -> Result<veil_api::call::Reply<crate::Data>> {
        self.call_reporting(call, parts, &crate::progress::silent)
    }

    /// [`Client::call_with_parts`], telling `report` how far sending and storing the values has got
    /// (see [`progress`](crate::progress)): what a notebook's upload shows as it goes.
    pub fn call_reporting(
        &self,
        call: veil_api::call::Call,
        parts: Vec<crate::Data>,
        report: crate::progress::Report<'_>,
    ) -> Result<veil_api::call::Reply<crate::Data>> {
        match &self.link {
            Link::Local(core) => core.handle(&self.token, call, parts, report),
            Link::Remote(remote) => remote.call(&self.token, self.user.role, call, parts, report),
        }
    }

    /// The logged-in user's email.
    pub fn email(&self) -> &str {
        &self.user.email
    }

    /// The role the user had at login (the datasite checks the current one on every call).
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The datasite's name.
    pub fn site_name(&self) -> &str {
        match &self.link {
            Link::Local(core) => &core.name,
            Link::Remote(remote) => remote.site(),
        }
    }

    /// Warnings from login, e.g. that the default admin password is still set.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The logged-in user, read afresh from the datasite.
    pub fn whoami(&self) -> Result<User> {
        reply!(self.call(Call::Whoami), User)
    }

    /// Registers a user (owners and admins; only admins may create admins).
    pub fn register(&self, user: NewUser) -> Result<User> {
        reply!(self.call(Call::Register { user }), User)
    }

    /// Lists users (owners and admins).
    pub fn users(&self) -> Result<UserList> {
        reply!(self.call(Call::Users), Users).map(UserList)
    }

    /// Changes the logged-in user's password.
    pub fn change_password(&self, old: &str, new: &str) -> Result<()> {
        let call = Call::ChangePassword {
            old: Secret(old.into()),
            new: Secret(new.into()),
        };
        reply!(self.call(call), Done)
    }

    /// Sets another user's password (admins).
    pub fn reset_password(&self, email: &str, new: &str) -> Result<()> {
        let call = Call::ResetPassword {
            email: email.into(),
            new: Secret(new.into()),
        };
        reply!(self.call(call), Done)
    }

    /// Changes a user's role (admins).
    pub fn set_role(&self, email: &str, role: Role) -> Result<User> {
        let call = Call::SetRole {
            email: email.into(),
            role,
        };
        reply!(self.call(call), User)
    }

    /// Deletes a user and their sessions (owners and admins; only admins delete admins).
    pub fn delete_user(&self, email: &str) -> Result<()> {
        let call = Call::DeleteUser {
            email: email.into(),
        };
        reply!(self.call(call), Done)
    }

    /// Enables or disables self sign-up through [`Datasite::sign_up`](crate::Datasite::sign_up) (owners).
    pub fn set_signup(&self, enabled: bool) -> Result<()> {
        reply!(self.call(Call::SetSignup { enabled }), Done)
    }

    /// Uploads a dataset and its assets in one transaction (owners and admins). An upload of
    /// [`SHOWN_FROM_BYTES`](crate::progress::SHOWN_FROM_BYTES) or more draws a progress bar on stderr
    /// when that is a terminal.
    pub fn upload_dataset(&self, dataset: Dataset) -> Result<SiteDataset> {
        let bar = crate::progress::TerminalBar::new();
        self.upload_dataset_reporting(dataset, &|p| bar.report(p))
    }

    /// [`Client::upload_dataset`], telling `report` how far it has got instead of drawing a bar.
    pub fn upload_dataset_reporting(
        &self,
        dataset: Dataset,
        report: crate::progress::Report<'_>,
    ) -> Result<SiteDataset> {
        let (dataset, parts) = veil_api::call::into_parts(dataset);
        let call = Call::UploadDataset { dataset };
        let view = reply!(self.call_reporting(call, parts, report), Dataset)?;
        Ok(SiteDataset::from_view(view, self))
    }

    /// Lists datasets (anyone logged in).
    pub fn datasets(&self) -> Result<DatasetList> {
        let views = reply!(self.call(Call::Datasets), Datasets)?;
        Ok(DatasetList(
            views
                .into_iter()
                .map(|v| SiteDataset::from_view(v, self))
                .collect(),
        ))
    }

    /// The dataset called `name`, case-insensitively (anyone logged in).
    pub fn dataset(&self, name: &str) -> Result<SiteDataset> {
        let call = Call::Dataset { name: name.into() };
        Ok(SiteDataset::from_view(
            reply!(self.call(call), Dataset)?,
            self,
        ))
    }

    /// Deletes a dataset, its assets and their stored data (owners and admins).
    pub fn delete_dataset(&self, name: &str) -> Result<()> {
        reply!(self.call(Call::DeleteDataset { name: name.into() }), Done)
    }

    /// The audit log, oldest entry first (owners and admins).
    pub fn audit_log(&self) -> Result<AuditLog> {
        reply!(self.call(Call::AuditLog), Audit).map(AuditLog)
    }

    /// Ends the session; later calls with this client fail with
    /// [`Error::SessionExpired`](crate::Error::SessionExpired).
    pub fn logout(&self) -> Result<()> {
        reply!(self.call(Call::Logout), Done)
    }

    /// Sets a data scientist's privacy budget on a dataset: the ε their differentially private
    /// releases ([`Pointer::get_dp`](crate::Pointer::get_dp)) may spend in all (owners). What was
    /// spent stays spent; 0 stops further releases.
    pub fn set_budget(
        &self,
        email: &str,
        dataset: &str,
        epsilon: f64,
    ) -> Result<crate::dp::Budget> {
        let call = Call::SetBudget {
            email: email.into(),
            dataset: dataset.into(),
            epsilon,
        };
        reply!(self.call(call), Budget)
    }

    /// Sets a dataset's disclosure rules (owners): the thresholds every release an owner approves
    /// is checked against (see [`crate::disclosure`]; ACRO's defaults until set).
    pub fn set_disclosure_rules(
        &self,
        dataset: &str,
        rules: crate::disclosure::Rules,
    ) -> Result<crate::disclosure::Rules> {
        let call = Call::SetDisclosureRules {
            dataset: dataset.into(),
            rules,
        };
        reply!(self.call(call), Rules)
    }

    /// A dataset's disclosure rules.
    pub fn disclosure_rules(&self, dataset: &str) -> Result<crate::disclosure::Rules> {
        let call = Call::DisclosureRules {
            dataset: dataset.into(),
        };
        reply!(self.call(call), Rules)
    }

    /// Privacy budgets and what was spent of them: an owner sees everyone's, a scientist hers.
    pub fn budgets(&self) -> Result<crate::dp::BudgetList> {
        reply!(self.call(Call::Budgets), Budgets).map(crate::dp::BudgetList)
    }

    fn table(&self) -> Table {
        let mut t = Table::fields(
            format!("Client {} on {}", self.user.email, self.site_name()),
            [
                ("name", self.user.name.clone()),
                ("email", self.user.email.clone()),
                ("role", self.user.role.as_str().to_string()),
                ("datasite", self.site_name().to_string()),
            ],
        );
        t.warnings = self.notices.clone();
        Calls(Some(self.user.role)).sections(&mut t, "what you may call: ");
        t
    }
}

crate::display::render_via_table!(Client);

/// The calls a role may make, grouped by area, each with how a cell makes it and what it does
/// (every call, with who may make it, for `None`): drawn from the table the datasite's dispatch
/// enforces ([`veil_api::access`]), so it offers nothing the datasite refuses. A client's display
/// ends with its role's; the kernel's `%help api` shows it.
#[derive(Debug, Clone, Copy)]
pub struct Calls(pub Option<Role>);

impl Calls {
    fn table(&self) -> Table {
        let mut t = Table::new(match self.0 {
            Some(role) => format!(
                "What {} {} may call",
                if role == Role::Admin { "an" } else { "a" },
                role.as_str().replace('_', " ")
            ),
            None => "Every call, and who may make it".to_string(),
        });
        self.sections(&mut t, "");
        t
    }

    /// Appends one table per area to `table`, each titled `prefix` and the area's name.
    fn sections(&self, table: &mut Table, prefix: &str) {
        for (area, calls) in veil_api::access::listing(self.0) {
            let rows = calls
                .iter()
                .map(|c| {
                    let mut row = vec![c.usage.to_string(), c.doc.to_string()];
                    if self.0.is_none() {
                        row.insert(1, c.who.describe().to_string());
                    }
                    row
                })
                .collect();
            let headers = match self.0 {
                Some(_) => vec!["call".into(), "what it does".into()],
                None => vec!["call".into(), "who".into(), "what it does".into()],
            };
            table.sub_table(format!("{prefix}{}", area.as_str()), headers, rows);
        }
    }
}

crate::display::render_via_table!(Calls);
