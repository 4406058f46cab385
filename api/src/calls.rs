//! Every datasite call, each declared once: its request type (a struct of this module, named as
//! the call), its reply type, its name on the wire, its area and the roles it is open to, and how a
//! cell makes it. [`Call`] is any of them, as one value a transport carries.
//!
//! From each declaration come the call's struct, its variant of [`Call`] (the wire form
//! `{"call": "deny", "request": ..., "reason": ...}`), its [`DatasiteCall`] impl (the reply's type,
//! and its variant of [`Reply`](crate::call::Reply)), its entry in [`CALLS`] (what the dispatch's
//! first gate and every listing of a role's calls read) and its place in the datasite's dispatch
//! ([`for_each_call!`](crate::for_each_call), which the datasite's dispatch matches over). A call
//! added here fails to build until the datasite serves it. The order is the listings': by area,
//! then as each area's listing shows them.
//!
//! A call names the datasite's records by id (never a client's handle) and carries the arguments
//! its caller chose; the datasite resolves the caller from the session, reads each record and checks
//! the caller against it.

use crate::access::{Area, CallInfo, Who};
use crate::call::{DatasiteCall, Part, Secret, declare_calls};
use crate::code::{CodeSpec, SubmittedCode};
use crate::disclosure::Rules;
use crate::dp::{Budget, Domain, DpPlan, DpQuery, DpRelease};
use crate::ops::Op;
use crate::receipt::Verification;
use crate::view::{AuditEntry, DatasetView, NewUser, PointerView, RequestView, ReviewView, Role};

declare_calls! {
    // Datasets.
    /// Every dataset, oldest first.
    Datasets "datasets" {} -> Datasets(Vec<DatasetView>),
        Datasets, Anyone, "client.datasets()", ["Client::datasets"],
        "Every dataset on the datasite, oldest first.";
    /// The dataset called `name`, case-insensitively.
    Dataset "dataset" {
        /// Its name.
        name: String,
    } -> Dataset(DatasetView),
        Datasets, Anyone, "client.dataset(name)", ["Client::dataset"],
        "The dataset called `name` (case-insensitive).";
    /// An asset's mock (anyone logged in) or real data (owners, audited).
    AssetData "asset_data" {
        /// The asset's id.
        asset: String,
        /// The real data rather than the mock.
        real: bool,
    } -> Data(D),
        Datasets, Anyone, "asset.mock(), asset.data()", ["SiteAsset::mock", "SiteAsset::data"],
        "An asset's mock; its real data for owners only (audited).";
    /// Uploads a dataset and its assets in one transaction, their data and mocks sent beside the
    /// call as parts.
    UploadDataset "upload_dataset" {
        /// The dataset, each asset's data and mock named by its part.
        dataset: crate::spec::Dataset<Part>,
    } -> Dataset(DatasetView),
        Datasets, Owners, "client.upload_dataset(dataset)", ["Client::upload_dataset"],
        "Uploads a dataset, its data and mocks, in one transaction.";
    /// Deletes a dataset, its assets and their stored data.
    DeleteDataset "delete_dataset" {
        /// Its name.
        name: String,
    } -> Done,
        Datasets, Owners, "client.delete_dataset(name)", ["Client::delete_dataset"],
        "Deletes a dataset, its assets and their stored data.";

    // Pointers.
    /// A new pointer to an asset (the caller's own root object for it).
    AssetPointer "asset_pointer" {
        /// The asset's id.
        asset: String,
    } -> Pointer(PointerView<D>),
        Pointers, Computing, "asset.pointer()", ["SiteAsset::pointer"],
        "A pointer to an asset: steps run on the mock, recorded.";
    /// A new array of the caller's own, from values in row-major order.
    Array "array" {
        /// The values.
        values: Vec<f64>,
        /// The shape; its product is the number of values.
        shape: Vec<usize>,
    } -> Pointer(PointerView<D>),
        Pointers, Computing, "client.array(values)", ["Client::array"],
        "A new 1-d array of your own, as a pointer.";
    /// `op` on objects the caller made, run on their mocks and recorded.
    Apply "apply" {
        /// The op.
        op: Op,
        /// Its input objects, as many as the op takes.
        inputs: Vec<String>,
    } -> Pointer(PointerView<D>),
        Pointers, Computing, "pointer.mean(), pointer.column(name), a + b, ...",
        ["Pointer::apply"],
        "An op on your pointers, run on the mocks and recorded.";
    /// Where the caller's latest request for an object's result stands.
    PointerStatus "pointer_status" {
        /// The object's id.
        pointer: String,
    } -> Status(crate::view::PointerStatus),
        Pointers, Anyone, "pointer.status()", ["Pointer::status"],
        "Where your request for a pointer's real result stands.";
    /// A request for an object's real result, saying why.
    RequestResult "request_result" {
        /// The object's id.
        pointer: String,
        /// Why.
        reason: String,
    } -> Request(RequestView),
        Pointers, Computing, "pointer.request(reason)", ["Pointer::request"],
        "Asks the owner for a pointer's real result, saying why.";
    /// An object's real result, once released to the caller.
    PointerResult "pointer_result" {
        /// The object's id.
        pointer: String,
    } -> Data(D),
        Pointers, Computing, "pointer.get()", ["Pointer::get"],
        "A pointer's real result, once released to you.";

    // Code.
    /// A code request's function run on the mocks of its bound assets.
    RunOnMocks "run_on_mocks" {
        /// The function, its bindings and policy.
        code: CodeSpec,
    } -> Data(D),
        Code, Computing, "code.run_on_mocks()", ["Code::run_on_mocks"],
        "Runs a function on the mocks of the assets it binds.";
    /// A code request submitted for an owner's review, saying why.
    RequestCode "request_code" {
        /// The function, its bindings and policy.
        code: CodeSpec,
        /// Why.
        reason: String,
    } -> Request(RequestView),
        Code, Computing, "client.request_code_execution(&code, reason)",
        ["Client::request_code_execution"],
        "Submits a function for the owner's review, saying why.";

    // Requests.
    /// The requests the caller may see (an owner: everyone's), newest first.
    Requests "requests" {} -> Requests(Vec<RequestView>),
        Requests, Anyone, "client.requests()", ["Client::requests"],
        "The requests you may see (owners: all), newest first.";
    /// A request by number (`#3`) or by id or a unique prefix of one.
    FindRequest "find_request" {
        /// `#3`, or an id or its first characters.
        key: String,
    } -> Request(RequestView),
        Requests, Anyone, "client.request(id)", ["Client::request"],
        "A request by number (`#3`), id or a unique id prefix.";
    /// The released result, for the requester of an approved request.
    Result "result" {
        /// The request's id.
        request: String,
    } -> Data(D),
        Requests, Computing, "request.get()", ["Request::get"],
        "The released result of your approved request.";
    /// A further run of approved code, if its policy has one left.
    Run "run" {
        /// The request's id.
        request: String,
    } -> Data(D),
        Requests, Computing, "request.run()", ["Request::run"],
        "Runs your approved code again, if its policy allows.";
    /// The submitted code of a code request, for its requester and owners.
    Code "code" {
        /// The request's id.
        request: String,
    } -> Code(SubmittedCode<D>),
        Requests, Anyone, "request.code()", ["Request::code"],
        "A code request's source (its requester and owners).";
    /// An owner's review of a request.
    Review "review" {
        /// The request's id.
        request: String,
    } -> Review(Box<ReviewView<D>>),
        Requests, Owners, "request.review()", ["Request::review"],
        "Who asked, why, the code or steps, mock and checks.";
    /// An owner's private run of a code request on the real data: its result, or why it failed.
    RunPrivately "run_privately" {
        /// The request's id.
        request: String,
    } -> PrivateRun(::core::result::Result<D, String>),
        Requests, Owners, "request.run_privately()", ["Request::run_privately"],
        "Runs a code request on the real data, for you only.";
    /// An owner's approval. A result that fails a disclosure check is approved only with
    /// `overriding`, the owner's reason, which the audit log keeps (on an approved code request,
    /// it releases runs whose output a check withheld).
    Approve "approve" {
        /// The request's id.
        request: String,
        /// Why the owner releases it although a disclosure check fails.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overriding: Option<String>,
    } -> Request(RequestView),
        Requests, Owners, "request.approve(), request.approve_overriding(reason)",
        ["Request::approve", "Request::approve_overriding"],
        "Approves a request, releasing its result to the requester.";
    /// An owner's denial, with a reason the requester sees.
    Deny "deny" {
        /// The request's id.
        request: String,
        /// Why.
        reason: String,
    } -> Request(RequestView),
        Requests, Owners, "request.deny(reason)", ["Request::deny"],
        "Denies a request with a reason the requester sees.";
    /// An owner's third outcome (neither approval nor denial): the request goes back to its
    /// requester with `message`, the changes it needs; they may submit a new request.
    RequestChanges "request_changes" {
        /// The request's id.
        request: String,
        /// What to change, which the requester sees.
        message: String,
    } -> Request(RequestView),
        Requests, Owners, "request.request_changes(message)", ["Request::request_changes"],
        "Sends a request back with the changes it needs.";

    // Privacy.
    /// What a differentially private release of an aggregate pointer would compute and cost,
    /// decided without reading anything real.
    PreviewDp "preview_dp" {
        /// The pointer's id.
        pointer: String,
        /// The ε and, where needed, bounds or categories.
        query: DpQuery,
    } -> DpPlan(DpPlan),
        Privacy, Scientists, "pointer.preview_dp(query)", ["Pointer::preview_dp"],
        "What a private release would compute and cost.";
    /// A differentially private release of an aggregate pointer, spending its ε from the caller's
    /// budget on the dataset.
    ReleaseDp "release_dp" {
        /// The pointer's id.
        pointer: String,
        /// The ε and, where needed, bounds or categories.
        query: DpQuery,
    } -> DpRelease(DpRelease),
        Privacy, Scientists, "pointer.get_dp(query)", ["Pointer::get_dp"],
        "A differentially private release, spending your ε.";
    /// Privacy budgets and what was spent of them (an owner: everyone's).
    Budgets "budgets" {} -> Budgets(Vec<Budget>),
        Privacy, Anyone, "client.budgets()", ["Client::budgets"],
        "Privacy budgets and what was spent (owners: all).";
    /// A dataset's disclosure rules.
    DisclosureRules "disclosure_rules" {
        /// The dataset's name.
        dataset: String,
    } -> Rules(Rules),
        Privacy, Anyone, "client.disclosure_rules(dataset)", ["Client::disclosure_rules"],
        "A dataset's disclosure thresholds for releases.";
    /// The receipt of a request's latest release, for its requester and owners.
    Receipt "receipt" {
        /// The request's id.
        request: String,
    } -> Receipt(crate::receipt::Receipt),
        Privacy, Anyone, "request.receipt()", ["Request::receipt"],
        "The receipt of a request's latest release.";
    /// A receipt checked against the datasite's audit log.
    VerifyReceipt "verify_receipt" {
        /// The receipt.
        receipt: crate::receipt::Receipt,
    } -> Verification(Verification),
        Privacy, Anyone, "client.verify_receipt(&receipt)", ["Client::verify_receipt"],
        "Checks a receipt against the datasite's audit log.";
    /// Sets a data scientist's privacy budget on a dataset, the ε allowed in all.
    SetBudget "set_budget" {
        /// Whose.
        email: String,
        /// The dataset's name.
        dataset: String,
        /// The ε allowed in all; what was spent stays spent.
        epsilon: f64,
    } -> Budget(Budget),
        Privacy, Owners, "client.set_budget(email, dataset, epsilon)", ["Client::set_budget"],
        "Sets a data scientist's privacy budget on a dataset.";
    /// Sets a dataset's disclosure rules, the thresholds its releases are checked against.
    SetDisclosureRules "set_disclosure_rules" {
        /// The dataset's name.
        dataset: String,
        /// The thresholds.
        rules: Rules,
    } -> Rules(Rules),
        Privacy, Owners, "client.set_disclosure_rules(dataset, rules)",
        ["Client::set_disclosure_rules"],
        "Sets a dataset's disclosure rules.";
    /// Declares the range or categories of an asset's column, or of a 1-d array asset's values.
    SetDomain "set_domain" {
        /// The asset's id.
        asset: String,
        /// The column; `None` for a 1-d array asset's values.
        column: Option<String>,
        /// What it holds.
        domain: Domain,
    } -> Done,
        Privacy, Owners, "asset.set_bounds(column, lo, hi), .set_categories(..)",
        ["SiteAsset::set_bounds", "SiteAsset::set_categories"],
        "Declares a column's range or categories, for DP.";

    // Users.
    /// The caller as the datasite holds them now.
    Whoami "whoami" {} -> User(crate::view::User),
        Users, Anyone, "client.whoami()", ["Client::whoami"],
        "The logged-in user, as the datasite knows them now.";
    /// The caller's new password.
    ChangePassword "change_password" {
        /// The current password.
        old: Secret,
        /// The new one.
        new: Secret,
    } -> Done,
        Users, Anyone, "client.change_password(old, new)", ["Client::change_password"],
        "Changes your password.";
    /// Ends the caller's session.
    Logout "logout" {} -> Done,
        Users, Anyone, "client.logout()", ["Client::logout"],
        "Ends this session.";
    /// A new user (only admins create admins).
    Register "register" {
        /// Who.
        user: NewUser,
    } -> User(crate::view::User),
        Users, Owners, "client.register(user)", ["Client::register"],
        "Registers a user (only admins register admins).";
    /// Every user.
    Users "users" {} -> Users(Vec<crate::view::User>),
        Users, Owners, "client.users()", ["Client::users"],
        "Every user of the datasite.";
    /// Deletes a user and their sessions (only admins delete admins).
    DeleteUser "delete_user" {
        /// Whose.
        email: String,
    } -> Done,
        Users, Owners, "client.delete_user(email)", ["Client::delete_user"],
        "Deletes a user and their sessions.";
    /// Turns self sign-up on or off.
    SetSignup "set_signup" {
        /// On or off.
        enabled: bool,
    } -> Done,
        Users, Owners, "client.set_signup(enabled)", ["Client::set_signup"],
        "Turns self sign-up on or off.";
    /// The audit log, oldest entry first.
    AuditLog "audit_log" {} -> Audit(Vec<AuditEntry>),
        Users, Owners, "client.audit_log()", ["Client::audit_log"],
        "The audit log, oldest entry first.";
    /// The datasite's gauges, one row each of a frame (`metric`, `value`, `unit`): users, datasets,
    /// requests by status, releases, ε spent, real-side replays waiting or failed, the value cache,
    /// the audit log and the store's bytes on disk. What an operator watches and alerts on.
    Metrics "metrics" {} -> Data(D),
        Users, Owners, "client.metrics()", ["Client::metrics"],
        "The datasite's gauges: requests, releases, ε, replays.";
    /// Another user's new password.
    ResetPassword "reset_password" {
        /// Whose.
        email: String,
        /// The new one.
        new: Secret,
    } -> Done,
        Users, Admins, "client.reset_password(email, new)", ["Client::reset_password"],
        "Sets another user's password.";
    /// A user's new role.
    SetRole "set_role" {
        /// Whose.
        email: String,
        /// The role.
        role: Role,
    } -> User(crate::view::User),
        Users, Admins, "client.set_role(email, role)", ["Client::set_role"],
        "Changes a user's role.";
}
