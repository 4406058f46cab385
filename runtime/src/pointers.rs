//! Pointers: eager execution on mocks, recorded actions replayed on real data, result requests.
//!
//! A [`Pointer`] holds a mock value and the id of an object on the datasite. An operation on pointers
//! ([`Pointer::apply`], or the arithmetic operators and methods built on it) runs at once on the mocks
//! and is recorded on the datasite as an action: the [`Op`], its input objects and the new object's id.
//! The datasite's worker thread replays it on the real inputs, off the notebook's critical path, and
//! keeps the real value private. [`Pointer::request`] asks for it; an owner reviews the request (who,
//! why, the steps back to the assets, the mock result and a preview of the real one) and approves or
//! denies; [`Pointer::get`] then returns the released value to its requester, and to nobody else.
//!
//! Security, enforced here at the datasite: a user may only use objects it created (asset pointers
//! included), a guest may not compute at all, real values leave only through an approved request to
//! its requester, real-side errors are shown to owners only, and nobody approves their own request.

use std::fmt;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::audit;
use crate::client::Client;
use crate::data::Data;
use crate::datasets::{SiteAsset, add_preview};
use crate::display::Table;
use crate::error::{Error, Result};
use crate::ops::{self, Op};
use crate::replay::Side;
use crate::request::{self, Request, RequestStatus};
use crate::site::SiteCore;
use crate::validate;

pub use crate::replay::{DEFAULT_CACHE_BYTES, MAX_LITERAL_VALUES};

/// Where a pointer's result stands, for the user holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nobody has asked for the real result.
    Private,
    /// A request is waiting for the owner.
    Requested,
    /// The owner approved: `get()` returns the real result.
    Approved,
    /// The owner denied, with this reason.
    Denied(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Private => f.write_str("private"),
            Status::Requested => f.write_str("requested"),
            Status::Approved => f.write_str("approved"),
            Status::Denied(reason) => write!(f, "denied: {reason}"),
        }
    }
}

/// A value on the datasite, seen through its mock. See the [module docs](self).
#[derive(Clone)]
pub struct Pointer {
    id: String,
    client: Client,
    mock: Arc<Data>,
    lineage: Vec<String>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pointer")
            .field("id", &self.id)
            .field("lineage", &self.lineage)
            .field("mock", &self.mock.describe())
            .finish()
    }
}

impl SiteAsset {
    /// A pointer to this asset: its mock, and the real data kept on the datasite.
    pub fn pointer(&self) -> Result<Pointer> {
        let caller = self.client().caller()?;
        let mock = self.mock().map_err(|e| match e {
            Error::NotFound {
                kind: "mock of asset",
                name,
                ..
            } => Error::invalid(
                format!("asset `{name}`"),
                "it has no mock, and pointers compute on the mock",
                "ask the owner to upload a mock for it",
            ),
            e => e,
        })?;
        let (id, label) = self.client().core().record_asset(&caller, self.id())?;
        Ok(Pointer {
            id,
            client: self.client().clone(),
            mock: Arc::new(mock),
            lineage: vec![label],
        })
    }
}

impl Client {
    /// A new array on the datasite from the notebook (PySyft's `client.api.lib.numpy.array`): yours, so
    /// `get()` returns it without a request.
    pub fn array(&self, values: impl Into<Data>) -> Result<Pointer> {
        let data = values.into();
        let floats = match &data {
            Data::F64(a) => a.clone(),
            Data::I64(a) => a.mapv(|v| v as f64),
            Data::Frame(_) | Data::Json(_) => {
                return Err(Error::invalid(
                    "array from the notebook",
                    format!("it is a {}", data.kind()),
                    "pass an ndarray array; frames reach the datasite as assets",
                ));
            }
        };
        let op = Op::Literal {
            shape: floats.shape().to_vec(),
            values: floats.iter().copied().collect(),
        };
        let mock = ops::eval(&op, &[])?;
        let caller = self.caller()?;
        let (id, lineage) = self.core().record(&caller, &op, &[])?;
        Ok(Pointer {
            id,
            client: self.clone(),
            mock: Arc::new(mock),
            lineage,
        })
    }
}
impl Pointer {
    /// The object's id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The mock value: what the op computed on the mocks, here and now.
    pub fn mock(&self) -> &Data {
        &self.mock
    }

    /// The assets this value derives from (`dataset / asset`); empty for the notebook's own arrays.
    pub fn lineage(&self) -> &[String] {
        &self.lineage
    }

    /// Runs `op` on the mocks of `self` and `others` and records it on the datasite; the new pointer
    /// comes back as soon as the mock is computed and the action is durable.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        let mut inputs: Vec<&Pointer> = vec![self];
        inputs.extend_from_slice(others);
        for p in others {
            if !std::ptr::eq(p.client.core(), self.client.core()) {
                return Err(Error::invalid(
                    "pointer",
                    "it belongs to another datasite",
                    "combine pointers from the same datasite",
                ));
            }
        }
        let mocks: Vec<&Data> = inputs.iter().map(|p| p.mock.as_ref()).collect();
        let mock = ops::eval(&op, &mocks)?;
        let caller = self.client.caller()?;
        let ids: Vec<&str> = inputs.iter().map(|p| p.id.as_str()).collect();
        let (id, lineage) = self.client.core().record(&caller, &op, &ids)?;
        Ok(Pointer {
            id,
            client: self.client.clone(),
            mock: Arc::new(mock),
            lineage,
        })
    }

    /// Where the real result stands for you: your latest request for it, as the datasite holds it.
    pub fn status(&self) -> Result<Status> {
        let caller = self.client.caller()?;
        let core = self.client.core();
        core.own_object(&caller, &self.id)?;
        let Some(id) = core.latest_request(&self.id, &caller.id)? else {
            return Ok(Status::Private);
        };
        let record = core.request_record(&caller, &id)?;
        Ok(match record.status {
            RequestStatus::Pending => Status::Requested,
            RequestStatus::Approved => Status::Approved,
            RequestStatus::Denied => Status::Denied(record.decision.unwrap_or_default()),
        })
    }

    /// Asks the owner for the real result, saying why.
    pub fn request(&self, reason: &str) -> Result<Request> {
        let caller = self.client.caller()?;
        SiteCore::require_compute(&caller)?;
        let core = self.client.core();
        core.own_object(&caller, &self.id)?;
        let reason = validate::text("request reason", reason)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "request reason",
                "it is empty",
                "say what the result is for; the owner reads it before deciding",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        core.store.write("submitting a request", |tx| {
            let open: Option<String> = tx
                .query_row(
                    "SELECT id FROM requests WHERE object_id = ?1 AND requester_id = ?2
                     AND status IN ('pending', 'approved')",
                    params![self.id, caller.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("checking requests"))?;
            if let Some(open) = open {
                return Err(Error::exists(
                    "request for this result",
                    open,
                    "wait for the owner's decision, then call `.get()`",
                ));
            }
            request::insert(tx, &id, Some(&self.id), None, &caller.id, &reason)?;
            audit::record(tx, &caller.email, "request", &id, &self.id)
        })?;
        let view = core.request_view(&caller, &id)?;
        Ok(Request::from_view(view, self.client.clone()))
    }

    /// The real result: yours once the owner approved your latest request for it (or at once for
    /// values made only from your own arrays, and for owners, who may read real data anyway).
    pub fn get(&self) -> Result<Data> {
        let caller = self.client.caller()?;
        SiteCore::require_compute(&caller)?;
        let core = self.client.core();
        let object = core.own_object(&caller, &self.id)?;
        if object.lineage.is_empty() || caller.role.is_owner() {
            if !object.lineage.is_empty() {
                core.store.write("auditing a read", |tx| {
                    audit::record(tx, &caller.email, "read_real_result", &self.id, "")
                })?;
            }
            return core.value(Side::Real, &self.id).map(|v| (*v).clone());
        }
        match core.latest_request(&self.id, &caller.id)? {
            Some(id) => core.released(&caller, &core.request_record(&caller, &id)?),
            None => Err(Error::invalid(
                "get",
                "nobody has asked for this result yet",
                "ask for it with `pointer.request(reason)`; the owner reviews it",
            )),
        }
    }

    fn table(&self) -> Table {
        let status = self
            .status()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        let mut t = Table::fields(
            "Pointer",
            [
                ("id", self.id.clone()),
                (
                    "lineage",
                    if self.lineage.is_empty() {
                        "your own data (no assets)".into()
                    } else {
                        self.lineage.join(", ")
                    },
                ),
                ("status", status),
                ("mock", self.mock.describe()),
            ],
        );
        t.badge = Some("mock".into());
        add_preview(&mut t, &self.mock, "Mock result");
        t
    }
}

crate::display::render_via_table!(Pointer);

veil_api::op_methods!(Pointer);
