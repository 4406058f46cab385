//! Datasites, clients and users as cells see them: handles on the kernel's values, with the same
//! names and methods as the `veil` crate's.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use veil_api::call::{Call, Secret};

use veil_api::view::{AssetView, DatasetView};

use crate::bridge::{
    Error, Handle, KernelCall, Rendered, Result, call, rich_via_rendered, str_field, view,
};
use crate::data::{Data, Dataset};

/// A datasite this session opened: embedded in the kernel process, shared with the magics.
#[derive(Clone)]
pub struct Datasite {
    handle: Arc<Handle>,
    name: String,
    dir: String,
}

impl fmt::Debug for Datasite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Datasite({} at {})", self.name, self.dir)
    }
}

/// Options for [`Datasite::launch_with`].
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    name: String,
    reset: bool,
    dir: Option<std::path::PathBuf>,
}

impl LaunchOptions {
    /// Options for the datasite `name`: reopen it, under the default home.
    pub fn new(name: impl Into<String>) -> LaunchOptions {
        LaunchOptions {
            name: name.into(),
            reset: false,
            dir: None,
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
        Datasite::from_reply(call(KernelCall::Launch {
            name: options.name,
            reset: options.reset,
            dir: options.dir,
        })?)
    }

    fn from_reply(reply: Value) -> Result<Datasite> {
        Ok(Datasite {
            handle: Handle::from_reply(&reply)?,
            name: str_field(&reply, "name"),
            dir: str_field(&reply, "dir"),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory it keeps its data in.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// Logs in. The session's first login on its datasite is also who magics act as.
    pub fn login(&self, email: &str, password: &str) -> Result<Client> {
        Client::from_reply(call(KernelCall::Login {
            site: self.handle.id(),
            email: email.into(),
            password: veil_api::call::Secret(password.into()),
        })?)
    }

    /// Registers yourself, when the owner has enabled sign-up.
    pub fn sign_up(&self, user: NewUser) -> Result<User> {
        User::from_reply(&call(KernelCall::SignUp {
            site: self.handle.id(),
            user,
        })?)
    }

    /// Closes the datasite; what it holds stays on disk for the next launch.
    pub fn land(&self) -> Result<()> {
        call(KernelCall::Land {
            site: self.handle.id(),
        })
        .map(drop)
    }

    /// Forgets the results of pointer operations computed so far, freeing the kernel's memory; they are
    /// replayed from the recorded actions when next needed.
    pub fn clear_results(&self) -> Result<()> {
        call(KernelCall::ClearResults {
            site: self.handle.id(),
        })
        .map(drop)
    }
}

/// The session's datasite: the one `%datasite launch` or [`Datasite::launch`] opened.
pub fn site() -> Result<Datasite> {
    Datasite::from_reply(call(KernelCall::CurrentSite {})?)
}

/// The session's logged-in client: `%login`'s, or the first login on the session's datasite.
pub fn client() -> Result<Client> {
    Client::from_reply(call(KernelCall::CurrentClient {})?)
}

/// A user's session on a datasite.
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
    email: String,
    role: Role,
    site: String,
    notices: Vec<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Client({} as {} on {})",
            self.email, self.role, self.site
        )
    }
}

impl Client {
    fn from_reply(reply: Value) -> Result<Client> {
        let notices: Vec<String> = reply["notices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        for notice in &notices {
            eprintln!("{notice}");
        }
        Ok(Client {
            handle: Handle::from_reply(&reply)?,
            email: str_field(&reply, "email"),
            role: Role::parse(&str_field(&reply, "role")).unwrap_or(Role::Guest),
            site: str_field(&reply, "site"),
            notices,
        })
    }

    /// Warnings from login, e.g. that the default admin password is still set.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Sends `call` to the datasite as this client (the kernel forwards it to the datasite's
    /// dispatch, with the kernel's values `parts` names) and returns the reply as the kernel gives it.
    fn send_with_parts(&self, call: Call, parts: Vec<u64>) -> Result<Value> {
        crate::bridge::call(KernelCall::Datasite {
            client: self.handle.id(),
            call,
            parts,
        })
    }

    /// [`Client::send_with_parts`] for a call without values beside it.
    pub(crate) fn send(&self, call: Call) -> Result<Value> {
        self.send_with_parts(call, Vec::new())
    }

    /// Who this client is logged in as.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// Its role when it logged in.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The datasite's name.
    pub fn site_name(&self) -> &str {
        &self.site
    }

    /// The logged-in user, as the datasite knows them now.
    pub fn whoami(&self) -> Result<User> {
        User::from_reply(&self.send(Call::Whoami)?)
    }

    /// Registers a user (owners and admins).
    pub fn register(&self, user: NewUser) -> Result<User> {
        User::from_reply(&self.send(Call::Register { user })?)
    }

    /// Everyone registered (owners and admins).
    pub fn users(&self) -> Result<UserList> {
        let reply = self.send(Call::Users)?;
        Ok(UserList {
            users: reply["users"]
                .as_array()
                .into_iter()
                .flatten()
                .map(User::from_reply)
                .collect::<Result<_>>()?,
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// Changes your own password.
    pub fn change_password(&self, old: &str, new: &str) -> Result<()> {
        self.send(Call::ChangePassword {
            old: Secret(old.into()),
            new: Secret(new.into()),
        })
        .map(drop)
    }

    /// Sets another user's password (owners and admins).
    pub fn reset_password(&self, email: &str, new: &str) -> Result<()> {
        self.send(Call::ResetPassword {
            email: email.into(),
            new: Secret(new.into()),
        })
        .map(drop)
    }

    /// Changes a user's role (admins).
    pub fn set_role(&self, email: &str, role: Role) -> Result<User> {
        User::from_reply(&self.send(Call::SetRole {
            email: email.into(),
            role,
        })?)
    }

    /// Deletes a user (owners and admins).
    pub fn delete_user(&self, email: &str) -> Result<()> {
        self.send(Call::DeleteUser {
            email: email.into(),
        })
        .map(drop)
    }

    /// Lets people register themselves with [`Datasite::sign_up`], or stops it.
    pub fn set_signup(&self, enabled: bool) -> Result<()> {
        self.send(Call::SetSignup { enabled }).map(drop)
    }

    /// Uploads a dataset: real data stays on the datasite, mocks are what scientists see.
    pub fn upload_dataset(&self, dataset: Dataset) -> Result<SiteDataset> {
        // `held` keeps the kernel's values alive until the call is answered.
        let (dataset, held) = veil_api::call::into_parts(dataset);
        let parts: Vec<u64> = held.iter().map(Data::id).collect();
        let call = Call::UploadDataset { dataset };
        let reply = self.send_with_parts(call, parts)?;
        drop(held);
        SiteDataset::from_reply(self, &reply)
    }

    /// The datasets on the datasite.
    pub fn datasets(&self) -> Result<DatasetList> {
        let reply = self.send(Call::Datasets)?;
        Ok(DatasetList {
            datasets: reply["datasets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| SiteDataset::from_reply(self, d))
                .collect::<Result<_>>()?,
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// The dataset called `name`.
    pub fn dataset(&self, name: &str) -> Result<SiteDataset> {
        let reply = self.send(Call::Dataset { name: name.into() })?;
        SiteDataset::from_reply(self, &reply)
    }

    /// Deletes a dataset and its data (owners).
    pub fn delete_dataset(&self, name: &str) -> Result<()> {
        self.send(Call::DeleteDataset { name: name.into() })
            .map(drop)
    }

    /// The audit log (owners).
    pub fn audit_log(&self) -> Result<AuditLog> {
        let reply = self.send(Call::AuditLog)?;
        Ok(AuditLog {
            entries: reply["entries"].as_u64().unwrap_or_default() as usize,
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// Ends this session; later calls through this client fail.
    pub fn logout(&self) -> Result<()> {
        self.send(Call::Logout).map(drop)
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
    fn from_reply(reply: &Value) -> Result<User> {
        Ok(User {
            view: view(reply, "user")?,
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
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

impl SiteDataset {
    fn from_reply(client: &Client, reply: &Value) -> Result<SiteDataset> {
        let dataset: DatasetView = view(reply, "dataset")?;
        let mut shown = reply["assets"].as_array().into_iter().flatten();
        Ok(SiteDataset {
            view: dataset.map_assets(|view| SiteAsset {
                view,
                client: client.clone(),
                rendered: shown.next().map(Rendered::from_reply).unwrap_or_default(),
                held: None,
            }),
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
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

    /// Total stored size of the real data, in bytes.
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

    fn fetch(&self, real: bool) -> Result<Data> {
        Data::from_reply(&self.client.send(Call::AssetData {
            asset: self.id.clone(),
            real,
        })?)
    }

    /// The mock: what everyone allowed to see the dataset may work on.
    pub fn mock(&self) -> Result<Data> {
        self.fetch(false)
    }

    /// The real data: owners only; the read is audited.
    pub fn data(&self) -> Result<Data> {
        self.fetch(true)
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
    /// How many entries it holds.
    pub entries: usize,
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
    Datasite => |s: &Datasite| Rendered::live(&s.handle),
    Client => |c: &Client| Rendered::live(&c.handle),
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

// Code binds an asset by its id, and goes to the client that fetched it.
impl veil_api::code::AssetHandle for SiteAsset {
    type Client = Client;
    fn bound(&self) -> (&str, &Client) {
        (&self.view.id, &self.client)
    }
}
