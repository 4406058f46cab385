//! Datasites, clients and users as cells see them: handles on the kernel's values, with the same
//! names and methods as the `veil` crate's.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use veil_api::call::{Call, DatasiteCall, Secret};
use veil_api::calls;
use veil_api::kernel::{ClientInfo, ServedInfo, SiteInfo};
use veil_api::view::{AssetView, AuditEntry, DatasetView};

use crate::bridge::{
    Error, Handle, KernelCall, Rendered, Result, Shown, call, live, rich_via_rendered,
};
use crate::calls::Answer;
use crate::data::{Data, Dataset};

/// A datasite this session opened: embedded in the kernel process, shared with the magics.
#[derive(Clone)]
pub struct Datasite {
    handle: Arc<Handle>,
    info: SiteInfo,
}

impl fmt::Debug for Datasite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Datasite({} at {})",
            self.info.name,
            self.info.dir.display()
        )
    }
}

/// Options for [`Datasite::launch_with`].
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    name: String,
    reset: bool,
    dir: Option<std::path::PathBuf>,
    data_root: Option<std::path::PathBuf>,
}

impl LaunchOptions {
    /// Options for the datasite `name`: reopen it, under the default home.
    pub fn new(name: impl Into<String>) -> LaunchOptions {
        LaunchOptions {
            name: name.into(),
            reset: false,
            dir: None,
            data_root: None,
        }
    }

    /// Start empty, erasing what the datasite held.
    pub fn reset(mut self, reset: bool) -> LaunchOptions {
        self.reset = reset;
        self
    }

    /// Keep the datasite in `dir` instead of the default home.
    pub fn dir(mut self, dir: impl AsRef<std::path::Path>) -> LaunchOptions {
        self.dir = Some(crate::data::absolute(dir.as_ref()));
        self
    }

    /// The directory under which owners may register assets whose real data stays where it is
    /// (`Asset::new(..).files("visits/")`: Parquet files read in place, never outside it).
    pub fn data_root(mut self, dir: impl AsRef<std::path::Path>) -> LaunchOptions {
        self.data_root = Some(crate::data::absolute(dir.as_ref()));
        self
    }

    /// Launches with these options.
    pub fn launch(self) -> Result<Datasite> {
        Datasite::launch_with(self)
    }
}

impl Datasite {
    /// Launches the datasite `name` (under `$VEIL_HOME`, or the user data directory) and makes it this
    /// session's, as `%datasite launch` does. Without `reset` an existing one reopens with what it held.
    pub fn launch(name: &str, reset: bool) -> Result<Datasite> {
        LaunchOptions::new(name).reset(reset).launch()
    }

    /// Launches with explicit options.
    pub fn launch_with(options: LaunchOptions) -> Result<Datasite> {
        Datasite::ask(KernelCall::Launch {
            name: options.name,
            reset: options.reset,
            dir: options.dir,
            data_root: options.data_root,
        })
    }

    fn ask(call: KernelCall) -> Result<Datasite> {
        let (handle, info) = Handle::held(crate::bridge::call(call)?);
        Ok(Datasite { handle, info })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The directory it keeps its data in.
    pub fn dir(&self) -> &std::path::Path {
        &self.info.dir
    }

    /// Logs in. The session's first login on its datasite is also who magics act as.
    pub fn login(&self, email: &str, password: &str) -> Result<Client> {
        Client::held(KernelCall::Login {
            site: self.handle.id(),
            email: email.into(),
            password: Secret(password.into()),
        })
    }

    /// Registers yourself, when the owner has enabled sign-up.
    pub fn sign_up(&self, user: NewUser) -> Result<User> {
        call(KernelCall::SignUp {
            site: self.handle.id(),
            user,
        })
        .map(User::from_shown)
    }

    /// Closes the datasite; what it holds stays on disk for the next launch.
    pub fn land(&self) -> Result<()> {
        call(KernelCall::Land {
            site: self.handle.id(),
        })
    }

    /// Forgets the results of pointer operations computed so far, freeing the kernel's memory; they are
    /// replayed from the recorded actions when next needed.
    pub fn clear_results(&self) -> Result<()> {
        call(KernelCall::ClearResults {
            site: self.handle.id(),
        })
    }
}

/// A datasite served over HTTP (`veil serve`, or a kernel's `%datasite launch NAME --port P`),
/// reached with [`connect`].
#[derive(Clone)]
pub struct RemoteSite {
    handle: Arc<Handle>,
    info: ServedInfo,
}

impl fmt::Debug for RemoteSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteSite({} at {})", self.info.name, self.info.url)
    }
}

/// Connects to the datasite served at `url` (`http://host:port`), checking that it speaks this
/// client's API version: the same major version, and a minor version no older than this client's.
pub fn connect(url: &str) -> Result<RemoteSite> {
    let (handle, info) = Handle::held(call(KernelCall::Connect { url: url.into() })?);
    Ok(RemoteSite { handle, info })
}

impl RemoteSite {
    /// The datasite's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The address it is served at, as given to [`connect`] (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.info.url
    }

    /// Logs in: the server returns a session token, which every call of the client carries.
    pub fn login(&self, email: &str, password: &str) -> Result<Client> {
        Client::held(KernelCall::Login {
            site: self.handle.id(),
            email: email.into(),
            password: Secret(password.into()),
        })
    }
}

/// The session's datasite: the one `%datasite launch` or [`Datasite::launch`] opened.
pub fn site() -> Result<Datasite> {
    Datasite::ask(KernelCall::CurrentSite {})
}

/// The session's logged-in client: `%login`'s, or the first login on the session's datasite.
pub fn client() -> Result<Client> {
    Client::held(KernelCall::CurrentClient {})
}

/// A user's session on a datasite.
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
    info: Arc<ClientInfo>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Client({} as {} on {})",
            self.info.email, self.info.role, self.info.site
        )
    }
}

impl Client {
    fn held(call: KernelCall) -> Result<Client> {
        let (handle, info) = Handle::held::<ClientInfo>(crate::bridge::call(call)?);
        for notice in &info.notices {
            crate::display(&crate::notice(notice));
        }
        Ok(Client {
            handle,
            info: Arc::new(info),
        })
    }

    /// Warnings from login, e.g. that the default admin password is still set.
    pub fn notices(&self) -> &[String] {
        &self.info.notices
    }

    /// Sends `call` to the datasite as this client (the kernel forwards it to the datasite's
    /// dispatch, with the kernel's values `parts` names) and reads the reply as the kernel gives it.
    fn send_with_parts<R: DeserializeOwned>(&self, call: Call, parts: Vec<u64>) -> Result<R> {
        crate::bridge::call(KernelCall::Datasite {
            client: self.handle.id(),
            call,
            parts,
        })
    }

    /// Sends `call` as this client and reads its reply, the type its declaration gives, as `T`
    /// (what the kernel sends for it: a handle it holds, or a view with its display): what each
    /// method of the handles does (see [`veil_api::handle_methods!`]).
    pub(crate) fn ask<C: DatasiteCall, T: Answer<C::Reply<Data>>>(&self, call: C) -> Result<T> {
        self.ask_with_parts(call, Vec::new())
    }

    /// [`Client::ask`] for a call with the kernel's values `parts` beside it.
    fn ask_with_parts<C: DatasiteCall, T: Answer<C::Reply<Data>>>(
        &self,
        call: C,
        parts: Vec<u64>,
    ) -> Result<T> {
        T::answer(self.send_with_parts(call.into(), parts)?, self)
    }

    /// Who this client is logged in as.
    pub fn email(&self) -> &str {
        &self.info.email
    }

    /// Its role when it logged in.
    pub fn role(&self) -> Role {
        self.info.role
    }

    /// The datasite's name.
    pub fn site_name(&self) -> &str {
        &self.info.site
    }

    /// Uploads a dataset: real data stays on the datasite, mocks are what scientists see.
    pub fn upload_dataset(&self, dataset: Dataset) -> Result<SiteDataset> {
        // `held` keeps the kernel's values alive until the call is answered.
        let (dataset, held) = veil_api::call::into_parts(dataset);
        let parts: Vec<u64> = held.iter().map(Data::id).collect();
        let dataset = self.ask_with_parts(calls::UploadDataset { dataset }, parts);
        drop(held);
        dataset
    }
}

pub use veil_api::view::{NewUser, Role};

/// A registered user: the vocabulary's view of them (read through `Deref`: `user.email`,
/// `user.role`), and its display.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    view: veil_api::view::User,
    rendered: Rendered,
}

impl User {
    fn from_shown(user: Shown<veil_api::view::User>) -> User {
        User {
            view: user.view,
            rendered: user.rendered,
        }
    }
}

/// Registered users.
#[derive(Clone)]
pub struct UserList {
    /// The users.
    pub users: Vec<User>,
    rendered: Rendered,
}

impl std::ops::Deref for UserList {
    type Target = [User];
    fn deref(&self) -> &[User] {
        &self.users
    }
}

/// An uploaded dataset: the vocabulary's view of it, its assets as handles, read through `Deref`
/// (`dataset.name`, `dataset.assets`).
#[derive(Clone)]
pub struct SiteDataset {
    view: DatasetView<SiteAsset>,
    rendered: Rendered,
}

/// A dataset as the kernel shows it: its view, each asset's with its display.
type ShownDataset = Shown<DatasetView<Shown<AssetView>>>;

impl SiteDataset {
    fn from_shown(client: &Client, dataset: ShownDataset) -> SiteDataset {
        SiteDataset {
            view: dataset.view.map_assets(|asset| SiteAsset {
                view: asset.view,
                client: client.clone(),
                rendered: asset.rendered,
                held: None,
            }),
            rendered: dataset.rendered,
        }
    }

    /// The asset called `name` (case-insensitive), holding a pointer to it: a variable bound to an asset
    /// holds its mock and a pointer, never the real data, and displays as that pointer. (Guests, who may
    /// not compute, get the asset's mock view instead.)
    pub fn asset(&self, name: &str) -> Result<SiteAsset> {
        let mut asset = self
            .assets
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self.assets.iter().map(|a| a.name.as_str()).collect();
                Error::new(
                    "NotFound",
                    format!(
                        "dataset `{}` has no asset `{name}`; its assets are: {}",
                        self.name,
                        names.join(", ")
                    ),
                )
            })?;
        if asset.client.role() != Role::Guest {
            asset.held = Some(asset.new_pointer()?);
        }
        Ok(asset)
    }

    /// Total size of the real data, as its number of values × 8 bytes (see `AssetView::data_bytes`).
    pub fn size(&self) -> u64 {
        self.assets.iter().map(|a| a.data_bytes).sum()
    }
}

/// An asset of an uploaded dataset, as seen through the client that fetched it: the vocabulary's
/// view of it, read through `Deref` (`asset.name`, `asset.kind`, `asset.shape`).
#[derive(Clone)]
pub struct SiteAsset {
    view: AssetView,
    client: Client,
    rendered: Rendered,
    /// The pointer [`SiteDataset::asset`] made for it.
    pub(crate) held: Option<crate::Pointer>,
}

impl SiteAsset {
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Its stable id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Datasets on a datasite.
#[derive(Clone)]
pub struct DatasetList {
    /// The datasets.
    pub datasets: Vec<SiteDataset>,
    rendered: Rendered,
}

impl std::ops::Deref for DatasetList {
    type Target = [SiteDataset];
    fn deref(&self) -> &[SiteDataset] {
        &self.datasets
    }
}

/// The datasite's audit log.
#[derive(Clone)]
pub struct AuditLog {
    /// Its entries, oldest first.
    pub entries: Vec<AuditEntry>,
    rendered: Rendered,
}

// Views print as their text display: evcxr falls back to Debug when a cell's last expression can't be
// displayed richly (it moves a variable of the same cell, say).
macro_rules! debug_via_text {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.rendered.text)
            }
        }
    )*};
}
debug_via_text!(
    User,
    UserList,
    SiteDataset,
    SiteAsset,
    DatasetList,
    AuditLog
);

rich_via_rendered!(
    Datasite => |s: &Datasite| live(&s.handle),
    RemoteSite => |s: &RemoteSite| live(&s.handle),
    Client => |c: &Client| live(&c.handle),
    User => |u: &User| u.rendered.clone(),
    UserList => |u: &UserList| u.rendered.clone(),
    SiteDataset => |d: &SiteDataset| d.rendered.clone(),
    SiteAsset => |a: &SiteAsset| a.held.as_ref().map_or_else(|| a.rendered.clone(), |p| p.rendered()),
    DatasetList => |d: &DatasetList| d.rendered.clone(),
    AuditLog => |l: &AuditLog| l.rendered.clone(),
);

veil_api::reads_as_view!(
    User => veil_api::view::User,
    SiteDataset => DatasetView<SiteAsset>,
    SiteAsset => AssetView,
);

// Code runs on the mocks through the kernel, which forwards the call to the datasite.
impl veil_api::code::CodeClient for Client {
    type Data = Data;
    type Error = Error;
    fn run_on_mocks(&self, code: veil_api::code::CodeSpec) -> Result<Data> {
        self.ask(calls::RunOnMocks { code })
    }
}

// Code binds an asset by its id, and goes to the client that fetched it.
impl veil_api::code::AssetHandle for SiteAsset {
    type Client = Client;
    fn bound(&self) -> (&str, &Client) {
        (&self.view.id, &self.client)
    }
}

impl Answer<veil_api::view::User> for User {
    type Sent = Shown<veil_api::view::User>;
    fn answer(shown: Self::Sent, _: &Client) -> Result<User> {
        Ok(User::from_shown(shown))
    }
}

impl Answer<Vec<veil_api::view::User>> for UserList {
    type Sent = Shown<Vec<Shown<veil_api::view::User>>>;
    fn answer(list: Self::Sent, _: &Client) -> Result<UserList> {
        Ok(UserList {
            users: list.view.into_iter().map(User::from_shown).collect(),
            rendered: list.rendered,
        })
    }
}

impl Answer<DatasetView> for SiteDataset {
    type Sent = ShownDataset;
    fn answer(shown: ShownDataset, client: &Client) -> Result<SiteDataset> {
        Ok(SiteDataset::from_shown(client, shown))
    }
}

impl Answer<Vec<DatasetView>> for DatasetList {
    type Sent = Shown<Vec<ShownDataset>>;
    fn answer(list: Self::Sent, client: &Client) -> Result<DatasetList> {
        Ok(DatasetList {
            datasets: list
                .view
                .into_iter()
                .map(|d| SiteDataset::from_shown(client, d))
                .collect(),
            rendered: list.rendered,
        })
    }
}

impl Answer<Vec<AuditEntry>> for AuditLog {
    type Sent = Shown<Vec<AuditEntry>>;
    fn answer(log: Self::Sent, _: &Client) -> Result<AuditLog> {
        Ok(AuditLog {
            entries: log.view,
            rendered: log.rendered,
        })
    }
}
