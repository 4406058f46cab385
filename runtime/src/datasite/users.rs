//! Users, roles, passwords and sessions.
//!
//! Passwords are hashed with argon2id (the crate's defaults, a salt per user); sessions are 256-bit random
//! tokens of which only a SHA-256 is stored, so a copy of the database does not let anyone log in. Every
//! client call looks its session up again, so a role change or a deleted user takes effect at once.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use sha2::{Digest, Sha256};

use crate::audit;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::site::SiteCore;
use crate::error::{Error, Result};
use crate::store::{hex, now_ms};
use crate::validate;
use veil_api::calls;

/// The email of the administrator every new datasite starts with (PySyft's default, which the tutorials use).
pub const DEFAULT_ADMIN_EMAIL: &str = "info@openmined.org";
/// The administrator's initial password. Logins warn until it is changed.
pub const DEFAULT_ADMIN_PASSWORD: &str = "changethis";

pub(crate) use veil_api::view::{NewUser, Role};

pub(crate) use veil_api::view::User;

/// The columns [`user_from_row`] reads.
const USER_COLUMNS: &str = "id, name, email, role, institution, website, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::Guest),
        institution: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        website: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
        created_at: row.get(6)?,
    })
}

pub(crate) fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| Error::Data {
        context: "salting a password".into(),
        message: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Data {
            context: "hashing a password".into(),
            message: e.to_string(),
        })
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// Creates the default admin in a fresh datasite.
pub(crate) fn create_default_admin(tx: &Transaction<'_>) -> Result<()> {
    let hash = hash_password(DEFAULT_ADMIN_PASSWORD)?;
    tx.execute(
        "INSERT INTO users (id, name, email, password_hash, role, default_password, created_at)
         VALUES (?1, 'Admin', ?2, ?3, 'admin', 1, ?4)",
        params![
            uuid::Uuid::new_v4().to_string(),
            DEFAULT_ADMIN_EMAIL,
            hash,
            now_ms()
        ],
    )
    .map_err(Error::sqlite("creating the default admin"))?;
    audit::record(
        tx,
        "system",
        "create_user",
        DEFAULT_ADMIN_EMAIL,
        "default admin",
    )?;
    Ok(())
}

/// What a successful login yields: the session token, the user, and notices to show them.
pub(crate) struct LoginOutcome {
    pub token: String,
    pub user: User,
    pub notices: Vec<String>,
}

fn find_user(conn: &rusqlite::Connection, email: &str) -> Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {} FROM users WHERE email = ?1", USER_COLUMNS),
        [email],
        user_from_row,
    )
    .optional()
    .map_err(Error::sqlite("looking up a user"))
}

pub(crate) fn require_user(conn: &rusqlite::Connection, email: &str) -> Result<User> {
    find_user(conn, email.trim())?.ok_or_else(|| {
        Error::not_found(
            "user",
            email.trim(),
            "list users with `client.users()` (or `%users`)",
        )
    })
}

impl SiteCore {
    pub(crate) fn login(&self, email: &str, password: &str) -> Result<LoginOutcome> {
        let email = email.trim();
        // Guessing a password is slowed per account, whether it exists or not (the same for both).
        let account = email.to_lowercase();
        // In flight before the password is hashed: parallel guesses cannot all pass the check.
        if let Err(wait) = self
            .login_backoff
            .enter(&account, std::time::Duration::from_secs(2))
        {
            return Err(Error::TooManyAttempts {
                who: crate::error::clip(email, 100),
                retry_secs: wait.as_secs().max(1),
            });
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.verify_login(email, password)
        }));
        use crate::backoff::Outcome;
        let ended = match &outcome {
            Ok(Ok(_)) => Outcome::Cleared,
            Ok(Err(Error::AuthenticationFailed { .. })) => Outcome::Failed,
            // Not a guess that failed (the store could not answer): no verdict.
            _ => Outcome::Void,
        };
        self.login_backoff.end(&account, ended);
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    fn verify_login(&self, email: &str, password: &str) -> Result<LoginOutcome> {
        let row: Option<(User, String, bool)> = self.store.read(|conn| {
            conn.query_row(
                &format!(
                    "SELECT {}, password_hash, default_password FROM users WHERE email = ?1",
                    USER_COLUMNS
                ),
                [email],
                |r| Ok((user_from_row(r)?, r.get(7)?, r.get(8)?)),
            )
            .optional()
            .map_err(Error::sqlite("looking up a user"))
        })?;
        // Verify against a throwaway hash when the email is unknown, so timing does not reveal which
        // emails are registered.
        let (user, hash, default_password) = match row {
            Some(found) => found,
            None => {
                let _ = verify_password(password, &self.dummy_hash);
                return Err(Error::login_failed(email));
            }
        };
        if !verify_password(password, &hash) {
            self.store.write("recording a failed login", |tx| {
                audit::record(tx, &user.email, "login_failed", &user.email, "")
            })?;
            return Err(Error::login_failed(email));
        }
        let token = new_token();
        self.store.write("opening a session", |tx| {
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at) VALUES (?1, ?2, ?3)",
                params![token_hash(&token), user.id, now_ms()],
            )
            .map_err(Error::sqlite("opening a session"))?;
            // Expired sessions go as new ones come.
            tx.execute(
                "DELETE FROM sessions WHERE created_at <= ?1",
                [self.sessions_opened_after()],
            )
            .map_err(Error::sqlite("ending expired sessions"))?;
            audit::record(tx, &user.email, "login", &user.email, "")
        })?;
        let mut notices = Vec::new();
        if default_password && user.role.is_owner() {
            notices.push(format!(
                "`{}` still has the default password: change it with `%password` (in a notebook) or \
                 `client.change_password(old, new)` before this datasite is reachable from anywhere \
                 but this machine",
                user.email
            ));
        }
        Ok(LoginOutcome {
            token,
            user,
            notices,
        })
    }

    /// Whether an owner account still has the password it was created with (the default admin's).
    pub(crate) fn default_password_in_use(&self) -> Result<bool> {
        self.store.read(|conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE default_password = 1 AND role IN ('admin', 'data_owner'))",
                [],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("checking for default passwords"))
        })
    }

    /// Sessions opened at or before this time (ms since the epoch) have expired.
    fn sessions_opened_after(&self) -> i64 {
        now_ms() - self.session_ttl.as_millis() as i64
    }

    /// The user behind a session token, read afresh so role changes apply at once.
    pub(crate) fn authorize(&self, token: &str) -> Result<User> {
        self.store
            .read(|conn| {
                // Every call checks its session: the statement is prepared once per connection.
                conn.prepare_cached(
                    "SELECT u.id, u.name, u.email, u.role, u.institution, u.website, u.created_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.created_at > ?2",
                )
                .and_then(|mut stmt| {
                    let opened_after = self.sessions_opened_after();
                    stmt.query_row(params![token_hash(token), opened_after], user_from_row)
                        .optional()
                })
                .map_err(Error::sqlite("checking a session"))
            })?
            .ok_or(Error::SessionExpired)
    }

    pub(crate) fn logout(&self, token: &str) -> Result<()> {
        self.store.write("closing a session", |tx| {
            tx.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                [token_hash(token)],
            )
            .map_err(Error::sqlite("closing a session"))?;
            Ok(())
        })
    }

    pub(crate) fn register(&self, caller: Option<&User>, new: NewUser) -> Result<User> {
        match caller {
            Some(c) if c.role.is_owner() => {
                if new.role == Role::Admin && c.role != Role::Admin {
                    return Err(denied(
                        c,
                        "registering an admin",
                        "an admin",
                        "register them as a data owner or ask an admin",
                    ));
                }
            }
            Some(c) => {
                return Err(denied(
                    c,
                    "registering users",
                    "an admin or data owner",
                    "ask the datasite's owner to register the user",
                ));
            }
            None => {
                if !self.signup_enabled()? {
                    return Err(Error::PermissionDenied {
                        action: "signing up".into(),
                        user: new.email.clone(),
                        role: Role::Guest,
                        needed: "self sign-up to be enabled".into(),
                        hint: "ask the datasite's owner to register you, or to enable sign-up with `client.set_signup(true)`".into(),
                    });
                }
                if new.role != Role::DataScientist && new.role != Role::Guest {
                    return Err(Error::invalid(
                        "role",
                        "self sign-up creates data scientists or guests only",
                        "ask an owner to change your role after signing up",
                    ));
                }
            }
        }
        let name = validate::name("user name", &new.name)?;
        let email = validate::email(&new.email)?;
        validate::password(&new.password)?;
        let institution = validate::text("institution", &new.institution)?;
        let website = validate::url("website", &new.website)?;
        let hash = hash_password(&new.password)?;
        let actor = caller
            .map_or(email.as_str(), |c| c.email.as_str())
            .to_string();
        self.store.write("registering a user", |tx| {
            if find_user(tx, &email)?.is_some() {
                return Err(Error::exists("user", email.clone(), "each email registers once; log in with it, or pick another email"));
            }
            let user = User {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                email: email.clone(),
                role: new.role,
                institution,
                website,
                created_at: now_ms(),
            };
            tx.execute(
                "INSERT INTO users (id, name, email, password_hash, role, institution, website, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    user.id,
                    user.name,
                    user.email,
                    hash,
                    user.role.as_str(),
                    user.institution,
                    user.website,
                    user.created_at
                ],
            )
            .map_err(Error::sqlite("registering a user"))?;
            audit::record(tx, &actor, "register", &user.email, user.role.as_str())?;
            Ok(user)
        })
    }

    pub(crate) fn users(&self, caller: &User) -> Result<Vec<User>> {
        require_owner(
            caller,
            "listing users",
            "use `client.whoami()` to see your own account",
        )?;
        self.store.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM users ORDER BY created_at, email",
                    USER_COLUMNS
                ))
                .map_err(Error::sqlite("listing users"))?;
            let users = stmt
                .query_map([], user_from_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(Error::sqlite("listing users"))?;
            Ok(users)
        })
    }

    /// Changes `caller`'s own password; their other sessions end (`token` is the one kept).
    pub(crate) fn change_password(
        &self,
        caller: &User,
        token: &str,
        old: &str,
        new: &str,
    ) -> Result<()> {
        validate::password(new)?;
        let hash: String = self.store.read(|conn| {
            conn.query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                [&caller.id],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("reading a password hash"))
        })?;
        if !verify_password(old, &hash) {
            return Err(Error::AuthenticationFailed {
                email: caller.email.clone(),
            });
        }
        if old == new {
            return Err(Error::invalid(
                "password",
                "the new password is the old one",
                "choose a different password",
            ));
        }
        self.set_password_hash(caller, &caller.email, new, Some(token))
    }

    pub(crate) fn reset_password(&self, caller: &User, email: &str, new: &str) -> Result<()> {
        if caller.role != Role::Admin {
            return Err(denied(
                caller,
                "resetting another user's password",
                "an admin",
                "ask an admin, or change your own with `client.change_password(old, new)`",
            ));
        }
        validate::password(new)?;
        self.set_password_hash(caller, email, new, None)
    }

    /// Sets `email`'s password and ends every session of theirs but `keep`: a new password locks
    /// out whoever had the old one, logged in or not.
    fn set_password_hash(
        &self,
        caller: &User,
        email: &str,
        new: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        let hash = hash_password(new)?;
        let kept = keep.map(token_hash).unwrap_or_default();
        self.store.write("changing a password", |tx| {
            let target = require_user(tx, email)?;
            tx.execute(
                "UPDATE users SET password_hash = ?1, default_password = 0 WHERE id = ?2",
                params![hash, target.id],
            )
            .map_err(Error::sqlite("changing a password"))?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
                params![target.id, kept],
            )
            .map_err(Error::sqlite("ending the old password's sessions"))?;
            audit::record(tx, &caller.email, "change_password", &target.email, "")
        })
    }

    pub(crate) fn set_role(&self, caller: &User, email: &str, role: Role) -> Result<User> {
        if caller.role != Role::Admin {
            return Err(denied(caller, "changing roles", "an admin", "ask an admin"));
        }
        self.store.write("changing a role", |tx| {
            let mut target = require_user(tx, email)?;
            if target.role == Role::Admin && role != Role::Admin {
                ensure_another_admin(tx, &target)?;
            }
            tx.execute(
                "UPDATE users SET role = ?1 WHERE id = ?2",
                params![role.as_str(), target.id],
            )
            .map_err(Error::sqlite("changing a role"))?;
            audit::record(tx, &caller.email, "set_role", &target.email, role.as_str())?;
            target.role = role;
            Ok(target)
        })
    }

    pub(crate) fn delete_user(&self, caller: &User, email: &str) -> Result<()> {
        require_owner(caller, "deleting users", "ask the datasite's owner")?;
        self.store.write("deleting a user", |tx| {
            let target = require_user(tx, email)?;
            if target.id == caller.id {
                return Err(Error::invalid(
                    "user",
                    "you cannot delete your own account",
                    "ask another admin to delete it",
                ));
            }
            if target.role == Role::Admin {
                if caller.role != Role::Admin {
                    return Err(denied(
                        caller,
                        "deleting an admin",
                        "an admin",
                        "ask an admin",
                    ));
                }
                ensure_another_admin(tx, &target)?;
            }
            tx.execute("DELETE FROM users WHERE id = ?1", [&target.id])
                .map_err(Error::sqlite("deleting a user"))?;
            audit::record(tx, &caller.email, "delete_user", &target.email, "")
        })
    }

    pub(crate) fn signup_enabled(&self) -> Result<bool> {
        Ok(self.setting("signup")?.as_deref() == Some("true"))
    }

    pub(crate) fn set_signup(&self, caller: &User, enabled: bool) -> Result<()> {
        require_owner(caller, "changing sign-up", "ask the datasite's owner")?;
        self.set_setting(caller, "signup", if enabled { "true" } else { "false" })
    }
}

fn ensure_another_admin(tx: &Transaction<'_>, target: &User) -> Result<()> {
    let admins: i64 = tx
        .query_row(
            "SELECT count(*) FROM users WHERE role = 'admin' AND id != ?1",
            [&target.id],
            |r| r.get(0),
        )
        .map_err(Error::sqlite("counting admins"))?;
    if admins == 0 {
        return Err(Error::invalid(
            "user",
            format!("`{}` is the last admin", target.email),
            "make another user admin first",
        ));
    }
    Ok(())
}

/// A `PermissionDenied` for `caller`.
pub(crate) fn denied(caller: &User, action: &str, needed: &str, hint: &str) -> Error {
    Error::PermissionDenied {
        action: action.into(),
        user: caller.email.clone(),
        role: caller.role,
        needed: needed.into(),
        hint: hint.into(),
    }
}

/// Fails unless `caller` is an admin or data owner.
pub(crate) fn require_owner(caller: &User, action: &str, hint: &str) -> Result<()> {
    if caller.role.is_owner() {
        Ok(())
    } else {
        Err(denied(caller, action, "an admin or data owner", hint))
    }
}

// The calls about users and sessions, each one service.

impl Serve for calls::Whoami {
    fn serve(self, _: &SiteCore, caller: &mut Caller<'_>) -> Result<User> {
        Ok(caller.user.clone())
    }
}

impl Serve for calls::Register {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<User> {
        site.register(Some(caller), self.user)
    }
}

impl Serve for calls::Users {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Vec<User>> {
        site.users(caller)
    }
}

impl Serve for calls::ChangePassword {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.change_password(caller, caller.token, &self.old.0, &self.new.0)
    }
}

impl Serve for calls::ResetPassword {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.reset_password(caller, &self.email, &self.new.0)
    }
}

impl Serve for calls::SetRole {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<User> {
        site.set_role(caller, &self.email, self.role)
    }
}

impl Serve for calls::DeleteUser {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.delete_user(caller, &self.email)?;
        site.prune_compiled();
        Ok(())
    }
}

impl Serve for calls::SetSignup {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.set_signup(caller, self.enabled)
    }
}

impl Serve for calls::Logout {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.logout(caller.token)
    }
}

impl Serve for calls::AuditLog {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Vec<audit::AuditEntry>> {
        site.audit_log(caller)
    }
}
