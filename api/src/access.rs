//! Who may make each call: the one table of the datasite's calls, by area, with the roles allowed to
//! make them, the facade methods that make them and what each does.
//!
//! The datasite's dispatch checks [`Call::info`]'s [`Who`] against the caller's current role before
//! anything else (the first gate; the services then check the caller against the records a call
//! names), and a client's display and the kernel's `%help api` list the calls a role may make from
//! the same table, so a listing cannot offer what the gate refuses. [`Call::info`] matches every
//! variant, so a new call cannot be added without its entry.

use crate::call::Call;
use crate::view::Role;

/// What a call is about: how listings group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// Datasets and their assets.
    Datasets,
    /// Pointers: computing on mocks while the steps are recorded.
    Pointers,
    /// Code requests: functions run on the real data once approved.
    Code,
    /// Requests: reviewing them and getting what they release.
    Requests,
    /// Privacy: differentially private releases, budgets, disclosure rules, receipts.
    Privacy,
    /// Users, sessions and the audit log.
    Users,
}

impl Area {
    /// Every area, in the order listings show them.
    pub const ALL: [Area; 6] = [
        Area::Datasets,
        Area::Pointers,
        Area::Code,
        Area::Requests,
        Area::Privacy,
        Area::Users,
    ];

    /// `datasets`, `pointers`, ...: its name in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Datasets => "datasets",
            Area::Pointers => "pointers",
            Area::Code => "code",
            Area::Requests => "requests",
            Area::Privacy => "privacy",
            Area::Users => "users",
        }
    }
}

/// The roles a call is open to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// Anyone logged in, guests included.
    Anyone,
    /// Anyone who may compute: data scientists, data owners and admins (not guests).
    Computing,
    /// Data scientists only (owners read real results directly).
    Scientists,
    /// Data owners and admins.
    Owners,
    /// Admins only.
    Admins,
}

impl Who {
    /// Whether `role` may make the call.
    pub fn admits(self, role: Role) -> bool {
        match self {
            Who::Anyone => true,
            Who::Computing => role != Role::Guest,
            Who::Scientists => role == Role::DataScientist,
            Who::Owners => role.is_owner(),
            Who::Admins => role == Role::Admin,
        }
    }

    /// Who that is, in words: `a data scientist, data owner or admin`.
    pub fn describe(self) -> &'static str {
        match self {
            Who::Anyone => "anyone logged in",
            Who::Computing => "a data scientist, data owner or admin",
            Who::Scientists => "a data scientist",
            Who::Owners => "an admin or data owner",
            Who::Admins => "an admin",
        }
    }

    /// What someone of `role`, which this does not admit, can do instead.
    pub fn instead(self, role: Role) -> &'static str {
        match (self, role) {
            (Who::Scientists, r) if r.is_owner() => {
                "owners read results directly (`pointer.get()`)"
            }
            (Who::Owners | Who::Admins, _) => {
                "ask the datasite's owner; `%help api` lists the calls your role may make"
            }
            _ => {
                "guests can list datasets and read mocks; ask the owner to make you a data scientist"
            }
        }
    }
}

/// One call in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo {
    /// Its name on the wire (`approve`).
    pub name: &'static str,
    /// What it is about.
    pub area: Area,
    /// The roles it is open to; a caller's records are checked after that.
    pub who: Who,
    /// How a cell makes it (`request.approve()`).
    pub usage: &'static str,
    /// The facade methods that make it, as `Type::method`.
    pub methods: &'static [&'static str],
    /// What it does, in one line.
    pub doc: &'static str,
}

/// Defines [`CALLS`] and [`Call::info`] from one list, so each variant has exactly one entry.
macro_rules! call_table {
    ($($variant:ident => $name:literal, $area:ident, $who:ident, $usage:literal,
       [$($method:literal),+], $doc:literal;)+) => {
        #[derive(Clone, Copy)]
        enum Index {
            $($variant,)+
        }

        /// Every call, in the order listings show them within an area.
        pub const CALLS: &[CallInfo] = &[$(CallInfo {
            name: $name,
            area: Area::$area,
            who: Who::$who,
            usage: $usage,
            methods: &[$($method),+],
            doc: $doc,
        },)+];

        impl Call {
            /// Its entry in [`CALLS`]: name, area, who may make it.
            pub fn info(&self) -> &'static CallInfo {
                let index = match self {
                    $(Call::$variant { .. } => Index::$variant,)+
                };
                &CALLS[index as usize]
            }
        }
    };
}

call_table! {
    Datasets => "datasets", Datasets, Anyone, "client.datasets()", ["Client::datasets"],
        "Every dataset on the datasite, oldest first.";
    Dataset => "dataset", Datasets, Anyone, "client.dataset(name)", ["Client::dataset"],
        "The dataset called `name` (case-insensitive).";
    AssetData => "asset_data", Datasets, Anyone, "asset.mock(), asset.data()",
        ["SiteAsset::mock", "SiteAsset::data"],
        "An asset's mock; its real data for owners only (audited).";
    UploadDataset => "upload_dataset", Datasets, Owners, "client.upload_dataset(dataset)",
        ["Client::upload_dataset"],
        "Uploads a dataset, its data and mocks, in one transaction.";
    DeleteDataset => "delete_dataset", Datasets, Owners, "client.delete_dataset(name)",
        ["Client::delete_dataset"],
        "Deletes a dataset, its assets and their stored data.";
    AssetPointer => "asset_pointer", Pointers, Computing, "asset.pointer()",
        ["SiteAsset::pointer"],
        "A pointer to an asset: steps run on the mock, recorded.";
    Array => "array", Pointers, Computing, "client.array(values)", ["Client::array"],
        "A new 1-d array of your own, as a pointer.";
    Apply => "apply", Pointers, Computing, "pointer.mean(), pointer.column(name), a + b, ...",
        ["Pointer::apply"],
        "An op on your pointers, run on the mocks and recorded.";
    PointerStatus => "pointer_status", Pointers, Anyone, "pointer.status()",
        ["Pointer::status"],
        "Where your request for a pointer's real result stands.";
    RequestResult => "request_result", Pointers, Computing, "pointer.request(reason)",
        ["Pointer::request"],
        "Asks the owner for a pointer's real result, saying why.";
    PointerResult => "pointer_result", Pointers, Computing, "pointer.get()", ["Pointer::get"],
        "A pointer's real result, once released to you.";
    RunOnMocks => "run_on_mocks", Code, Computing, "code.run_on_mocks()",
        ["Code::run_on_mocks"],
        "Runs a function on the mocks of the assets it binds.";
    RequestCode => "request_code", Code, Computing, "client.request_code_execution(&code, reason)",
        ["Client::request_code_execution"],
        "Submits a function for the owner's review, saying why.";
    Requests => "requests", Requests, Anyone, "client.requests()", ["Client::requests"],
        "The requests you may see (owners: all), newest first.";
    FindRequest => "find_request", Requests, Anyone, "client.request(id)",
        ["Client::request"],
        "A request by number (`#3`), id or a unique id prefix.";
    Result => "result", Requests, Computing, "request.get()", ["Request::get"],
        "The released result of your approved request.";
    Run => "run", Requests, Computing, "request.run()", ["Request::run"],
        "Runs your approved code again, if its policy allows.";
    Code => "code", Requests, Anyone, "request.code()", ["Request::code"],
        "A code request's source (its requester and owners).";
    Review => "review", Requests, Owners, "request.review()", ["Request::review"],
        "Who asked, why, the code or steps, mock and checks.";
    RunPrivately => "run_privately", Requests, Owners, "request.run_privately()",
        ["Request::run_privately"],
        "Runs a code request on the real data, for you only.";
    Approve => "approve", Requests, Owners, "request.approve(), request.approve_overriding(reason)",
        ["Request::approve", "Request::approve_overriding"],
        "Approves a request, releasing its result to the requester.";
    Deny => "deny", Requests, Owners, "request.deny(reason)", ["Request::deny"],
        "Denies a request with a reason the requester sees.";
    RequestChanges => "request_changes", Requests, Owners, "request.request_changes(message)",
        ["Request::request_changes"],
        "Sends a request back with the changes it needs.";
    PreviewDp => "preview_dp", Privacy, Scientists, "pointer.preview_dp(query)",
        ["Pointer::preview_dp"],
        "What a private release would compute and cost.";
    ReleaseDp => "release_dp", Privacy, Scientists, "pointer.get_dp(query)",
        ["Pointer::get_dp"],
        "A differentially private release, spending your ε.";
    Budgets => "budgets", Privacy, Anyone, "client.budgets()", ["Client::budgets"],
        "Privacy budgets and what was spent (owners: all).";
    DisclosureRules => "disclosure_rules", Privacy, Anyone, "client.disclosure_rules(dataset)",
        ["Client::disclosure_rules"],
        "A dataset's disclosure thresholds for releases.";
    Receipt => "receipt", Privacy, Anyone, "request.receipt()", ["Request::receipt"],
        "The receipt of a request's latest release.";
    VerifyReceipt => "verify_receipt", Privacy, Anyone, "client.verify_receipt(&receipt)",
        ["Client::verify_receipt"],
        "Checks a receipt against the datasite's audit log.";
    SetBudget => "set_budget", Privacy, Owners, "client.set_budget(email, dataset, epsilon)",
        ["Client::set_budget"],
        "Sets a data scientist's privacy budget on a dataset.";
    SetDisclosureRules => "set_disclosure_rules", Privacy, Owners,
        "client.set_disclosure_rules(dataset, rules)", ["Client::set_disclosure_rules"],
        "Sets a dataset's disclosure rules.";
    SetDomain => "set_domain", Privacy, Owners,
        "asset.set_bounds(column, lo, hi), .set_categories(..)",
        ["SiteAsset::set_bounds", "SiteAsset::set_categories"],
        "Declares a column's range or categories, for DP.";
    Whoami => "whoami", Users, Anyone, "client.whoami()", ["Client::whoami"],
        "The logged-in user, as the datasite knows them now.";
    ChangePassword => "change_password", Users, Anyone, "client.change_password(old, new)",
        ["Client::change_password"],
        "Changes your password.";
    Logout => "logout", Users, Anyone, "client.logout()", ["Client::logout"],
        "Ends this session.";
    Register => "register", Users, Owners, "client.register(user)", ["Client::register"],
        "Registers a user (only admins register admins).";
    Users => "users", Users, Owners, "client.users()", ["Client::users"],
        "Every user of the datasite.";
    DeleteUser => "delete_user", Users, Owners, "client.delete_user(email)",
        ["Client::delete_user"],
        "Deletes a user and their sessions.";
    SetSignup => "set_signup", Users, Owners, "client.set_signup(enabled)",
        ["Client::set_signup"],
        "Turns self sign-up on or off.";
    AuditLog => "audit_log", Users, Owners, "client.audit_log()", ["Client::audit_log"],
        "The audit log, oldest entry first.";
    ResetPassword => "reset_password", Users, Admins, "client.reset_password(email, new)",
        ["Client::reset_password"],
        "Sets another user's password.";
    SetRole => "set_role", Users, Admins, "client.set_role(email, role)", ["Client::set_role"],
        "Changes a user's role.";
}

/// The calls `role` may make, by area in [`Area::ALL`]'s order; every call when `role` is `None`.
pub fn listing(role: Option<Role>) -> Vec<(Area, Vec<&'static CallInfo>)> {
    Area::ALL
        .iter()
        .map(|&area| {
            let calls = CALLS
                .iter()
                .filter(|c| c.area == area && role.is_none_or(|r| c.who.admits(r)))
                .collect();
            (area, calls)
        })
        .filter(|(_, calls): &(Area, Vec<_>)| !calls.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_named_once_and_documented() {
        let mut names: Vec<&str> = CALLS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a call name appears twice");
        for c in CALLS {
            assert!(c.doc.ends_with('.') && !c.methods.is_empty(), "{c:?}");
            // A listing's text form clips cells at 60 characters.
            assert!(c.usage.chars().count() <= 60, "{}", c.usage);
            assert!(c.doc.chars().count() <= 60, "{}", c.doc);
        }
    }

    #[test]
    fn a_call_finds_its_own_entry() {
        assert_eq!(Call::Whoami.info().name, "whoami");
        let deny = Call::Deny {
            request: "r".into(),
            reason: "no".into(),
        };
        assert_eq!((deny.info().name, deny.info().who), ("deny", Who::Owners));
        // The wire tag and the table's name agree.
        let json = serde_json::to_value(&deny).unwrap();
        assert_eq!(json["call"], "deny");
    }

    #[test]
    fn listings_follow_the_roles() {
        let names = |role| -> Vec<&str> {
            listing(Some(role))
                .into_iter()
                .flat_map(|(_, calls)| calls.into_iter().map(|c| c.name))
                .collect()
        };
        let guest = names(Role::Guest);
        assert!(guest.contains(&"datasets") && !guest.contains(&"apply"));
        let scientist = names(Role::DataScientist);
        assert!(scientist.contains(&"release_dp") && !scientist.contains(&"approve"));
        let owner = names(Role::DataOwner);
        assert!(owner.contains(&"approve") && !owner.contains(&"set_role"));
        assert!(!owner.contains(&"release_dp"));
        assert_eq!(names(Role::Admin).len() + 2, CALLS.len());
        let all: usize = listing(None).iter().map(|(_, c)| c.len()).sum();
        assert_eq!(all, CALLS.len());
    }
}
