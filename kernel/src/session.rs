//! The notebook session's Veil state: the datasite it launched or connected to, the server it runs
//! for it (`%datasite launch NAME --port P`), and the client it is logged in as. Magics and (through
//! the cell bridge) Rust cells share this one value, so a datasite launched by `%datasite launch` is
//! the one Rust code reaches, and the reverse.

use std::net::IpAddr;

use veil::{Client, Datasite, RemoteSite, Render};
use veil_server::Background;

use crate::message::KernelError;

/// How many calls a datasite served from a notebook works on at once.
const SERVED_WORKERS: usize = 4;

/// A datasite the session holds: embedded in this process, or served elsewhere and reached over HTTP.
#[derive(Debug, Clone)]
pub enum Site {
    /// Launched in this kernel.
    Embedded(Datasite),
    /// Served by `veil serve` (or another kernel), connected to by URL.
    Served(RemoteSite),
}

impl Site {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Site::Embedded(site) => site.name(),
            Site::Served(site) => site.name(),
        }
    }

    /// Logs in to it.
    pub fn login(&self, email: &str, password: &str) -> veil::Result<Client> {
        match self {
            Site::Embedded(site) => site.login(email, password),
            Site::Served(site) => site.login(email, password),
        }
    }

    /// Whether `self` and `other` are the same datasite: the same directory, or the same address.
    pub fn same(&self, other: &Site) -> bool {
        match (self, other) {
            (Site::Embedded(a), Site::Embedded(b)) => a.dir() == b.dir(),
            (Site::Served(a), Site::Served(b)) => a.url() == b.url(),
            _ => false,
        }
    }
}

impl Render for Site {
    fn text(&self) -> String {
        match self {
            Site::Embedded(site) => site.text(),
            Site::Served(site) => site.text(),
        }
    }
    fn html(&self) -> String {
        match self {
            Site::Embedded(site) => site.html(),
            Site::Served(site) => site.html(),
        }
    }
}

/// What the session holds.
#[derive(Debug, Default)]
pub struct Session {
    site: Option<Site>,
    server: Option<Background>,
    client: Option<Client>,
}

impl Session {
    /// The session's datasite, or an error saying how to get one.
    pub fn site(&self) -> Result<&Site, KernelError> {
        self.site.as_ref().ok_or_else(|| {
            KernelError::new(
                "NoDatasite",
                "this session has no datasite: launch one with `%datasite launch NAME` (add `--reset` to start empty), or connect to a served one with `%datasite connect URL`",
            )
        })
    }

    /// The session's datasite when it is embedded in this kernel.
    pub fn embedded(&self) -> Result<&Datasite, KernelError> {
        match self.site()? {
            Site::Embedded(site) => Ok(site),
            Site::Served(site) => Err(KernelError::new(
                "ServedDatasite",
                format!(
                    "this session is connected to {} served at {}: its data stays on that server, so there is no local datasite; log in with `%login EMAIL` and use `client()`",
                    site.name(),
                    site.url()
                ),
            )),
        }
    }

    /// The address the session serves its embedded datasite at, if it does.
    pub fn served_at(&self) -> Option<String> {
        self.server.as_ref().map(Background::url)
    }

    /// The logged-in client, or an error saying how to log in.
    pub fn client(&self) -> Result<&Client, KernelError> {
        self.site()?;
        self.client.as_ref().ok_or_else(|| {
            KernelError::new(
                "NotLoggedIn",
                "not logged in: use `%login EMAIL` (the password is asked for)",
            )
        })
    }

    /// Replaces the datasite (landing the previous one) and logs out.
    pub fn set_site(&mut self, site: Site) {
        self.land();
        self.site = Some(site);
    }

    /// Serves the session's embedded datasite on `host:port` (0: a free port) until it lands;
    /// returns the URL scientists connect to.
    pub fn serve(&mut self, host: IpAddr, port: u16) -> Result<String, KernelError> {
        let site = self.embedded()?.clone();
        if let Some(url) = self.served_at() {
            return Err(KernelError::new(
                "AlreadyServed",
                format!(
                    "{} is already served at {url}; `%land` stops it",
                    site.name()
                ),
            ));
        }
        let server = Background::start(
            site,
            host,
            port,
            veil_server::Limits {
                workers: SERVED_WORKERS,
                ..Default::default()
            },
        )?;
        let url = server.url();
        self.server = Some(server);
        Ok(url)
    }

    /// Sets the logged-in client.
    pub fn set_client(&mut self, client: Client) {
        self.client = Some(client);
    }

    /// After a cell logs in to `site`: the first login on the session's datasite becomes the
    /// session's user (what magics act as), so an owner who logs in from Rust can use `%datasets` at
    /// once; later logins (a scientist's, say) leave it alone. `%login` switches it explicitly.
    pub fn adopt_login(&mut self, site: &Site, client: &Client) {
        let same_site = self.site.as_ref().is_some_and(|s| s.same(site));
        if same_site && self.client.is_none() {
            self.client = Some(client.clone());
        }
    }

    /// Lets go of the datasite, if any: stops serving it (after the calls in flight), and lands an
    /// embedded one; a served one is logged out of. Returns what was done, for the user.
    pub fn land(&mut self) -> Option<String> {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        let client = self.client.take();
        Some(match self.site.take()? {
            Site::Embedded(site) => {
                let name = site.name().to_string();
                if let Err(e) = site.land() {
                    eprintln!("veil-kernel: landing {name}: {e}");
                }
                format!("datasite {name} landed")
            }
            Site::Served(site) => {
                if let Some(client) = client {
                    // The server forgets the session; a failure here only means it already has.
                    let _ = client.logout();
                }
                format!("disconnected from {} at {}", site.name(), site.url())
            }
        })
    }
}
