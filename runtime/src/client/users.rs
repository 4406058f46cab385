//! Users as a client lists them: [`User`] (the vocabulary's view) and [`UserList`], with their
//! displays.

use serde::{Deserialize, Serialize};

use crate::display::{self, Table};

pub use veil_api::view::{NewUser, Role, User};

fn user_fields(u: &User) -> Vec<(&'static str, String)> {
    vec![
        ("name", u.name.clone()),
        ("email", u.email.clone()),
        ("role", u.role.as_str().to_string()),
        ("institution", u.institution.clone()),
        ("website", u.website.clone()),
        ("registered", display::timestamp(u.created_at)),
    ]
}

fn user_table(u: &User) -> Table {
    Table::fields(format!("User {}", u.email), user_fields(u))
}

crate::display::render_via_table!(User => user_table);

/// The users of a datasite, as listed by [`Client::users`](crate::Client::users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList(pub Vec<User>);

impl UserList {
    fn table(&self) -> Table {
        let mut t = Table::new(format!("Users ({})", self.0.len())).headers([
            "name",
            "email",
            "role",
            "institution",
            "website",
            "registered",
        ]);
        for u in &self.0 {
            t.row(user_fields(u).into_iter().map(|(_, v)| v));
        }
        t
    }
}

impl std::ops::Deref for UserList {
    type Target = [User];
    fn deref(&self) -> &[User] {
        &self.0
    }
}

crate::display::render_via_table!(UserList);
