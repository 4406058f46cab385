//! Pointers as handles. A [`Pointer`] holds a mock value and the id of an object on the datasite.
//! An operation on pointers ([`Pointer::apply`], or the arithmetic operators and methods built on
//! it) runs at once on the mocks and is recorded on the datasite as an action: the [`Op`], its
//! input objects and the new object's id. The datasite replays it on the real inputs and keeps the
//! real value private; [`Pointer::request`] asks for it, and once an owner approves,
//! [`Pointer::get`] returns the released value to its requester, and to nobody else.

use std::fmt;
use std::sync::Arc;

use crate::client::Client;
use crate::client::datasets::SiteAsset;
use crate::data::Data;
use crate::display::{Table, add_preview};
use crate::error::{Error, Result};
use crate::ops::Op;
use veil_api::calls;
use veil_api::view::PointerView;

pub use veil_api::view::PointerStatus as Status;

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
        self.ask(calls::AssetPointer {
            asset: self.id().to_string(),
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
        self.ask(calls::Array {
            shape: floats.shape().to_vec(),
            values: floats.iter().copied().collect(),
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

    /// The handle of a pointer the datasite reported to `client`.
    pub fn from_view(v: PointerView<Data>, client: &Client) -> Pointer {
        Pointer {
            id: v.id,
            client: client.clone(),
            mock: Arc::new(v.mock),
            lineage: v.lineage,
        }
    }

    /// Runs `op` on the mocks of `self` and `others` and records it on the datasite; the new pointer
    /// comes back as soon as the mock is computed and the action is durable.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        // Not a permission check (the datasite makes those): ids only mean something on their own
        // datasite, so a pointer from another is named for what it is.
        for p in others {
            if !p.client.same_site(&self.client) {
                return Err(Error::invalid(
                    "pointer",
                    "it belongs to another datasite",
                    "combine pointers from the same datasite",
                ));
            }
        }
        let inputs = std::iter::once(self)
            .chain(others.iter().copied())
            .map(|p| p.id.clone())
            .collect();
        self.ask(calls::Apply { op, inputs })
    }

    /// The client that made it: requests for its result are that user's.
    pub(crate) fn client(&self) -> &Client {
        &self.client
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
