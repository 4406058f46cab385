//! The notebook session's Veil state: the datasite it launched (or will connect to) and the client it
//! is logged in as. Magics and (through the cell bridge) Rust cells share this one value, so a datasite
//! launched by `%datasite launch` is the one Rust code reaches, and the reverse.

use veil::{Client, Datasite};

use crate::message::KernelError;

/// What the session holds.
#[derive(Debug, Default)]
pub struct Session {
    site: Option<Datasite>,
    client: Option<Client>,
}

impl Session {
    /// The session's datasite, or an error saying how to get one.
    pub fn site(&self) -> Result<&Datasite, KernelError> {
        self.site.as_ref().ok_or_else(|| {
            KernelError::new(
                "NoDatasite",
                "this session has no datasite: launch one with `%datasite launch NAME` (add `--reset` to start empty)",
            )
        })
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
    pub fn set_site(&mut self, site: Datasite) {
        self.land();
        self.site = Some(site);
    }

    /// Sets the logged-in client.
    pub fn set_client(&mut self, client: Client) {
        self.client = Some(client);
    }

    /// After a cell logs in to `site`: the first login on the session's datasite becomes the
    /// session's user (what magics act as), so an owner who logs in from Rust can use `%datasets` at
    /// once; later logins (a scientist's, say) leave it alone. `%login` switches it explicitly.
    pub fn adopt_login(&mut self, site: &Datasite, client: &Client) {
        let same_site = self.site.as_ref().is_some_and(|s| s.dir() == site.dir());
        if same_site && self.client.is_none() {
            self.client = Some(client.clone());
        }
    }

    /// Lands the datasite, if any; returns its name.
    pub fn land(&mut self) -> Option<String> {
        self.client = None;
        let site = self.site.take()?;
        let name = site.name().to_string();
        if let Err(e) = site.land() {
            eprintln!("veil-kernel: landing {name}: {e}");
        }
        Some(name)
    }
}
