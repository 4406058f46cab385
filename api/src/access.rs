//! Who may make each call: the one table of the datasite's calls, by area, with the roles allowed to
//! make them, the facade methods that make them and what each does.
//!
//! The datasite's dispatch checks [`Call::info`](crate::call::Call::info)'s [`Who`] against the
//! caller's current role before anything else (the first gate; the services then check the caller
//! against the records a call names), and a client's display and the kernel's `%help api` list the
//! calls a role may make from the same table, so a listing cannot offer what the gate refuses. The
//! table's entries come from the calls' declarations ([`crate::calls`]), one each, so a call cannot
//! be added without its entry.

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

pub use crate::calls::CALLS;

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
    use crate::call::Call;
    use crate::calls;

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
        assert_eq!(Call::from(calls::Whoami {}).info().name, "whoami");
        let deny = Call::from(calls::Deny {
            request: "r".into(),
            reason: "no".into(),
        });
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
