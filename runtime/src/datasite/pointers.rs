//! The pointers service: eager execution on mocks, actions recorded for the worker to replay on the
//! real data, and requests for real results.
//!
//! An op on a caller's objects runs at once on their mocks and is recorded as an action: the
//! [`Op`], its input objects and the new object's id. The datasite's worker thread replays it on the
//! real inputs, off the notebook's critical path, and keeps the real value private. A request asks
//! for it; an owner reviews the request (who, why, the steps back to the assets, the mock result and
//! a preview of the real one) and approves or denies; the released value then goes to its
//! requester, and to nobody else.
//!
//! Security, enforced here at the datasite: a user may only use objects it created (asset pointers
//! included), a guest may not compute at all, real values leave only through an approved request to
//! its requester, real-side errors are shown to owners only, and nobody approves their own request.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::audit;
use crate::data::Data;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::requests;
use crate::datasite::site::SiteCore;
use crate::datasite::users::User;
use crate::engine::replay::Side;
use crate::error::{Error, Result};
use crate::ops::{self, Op};
use crate::validate;
use veil_api::calls;
use veil_api::view::PointerView;
use veil_api::view::{RequestStatus, RequestView};

use veil_api::view::PointerStatus as Status;

impl SiteCore {
    /// A new pointer to asset `asset_id` for `caller`: its root object, labelled from the datasite's
    /// records, and the asset's mock.
    pub(crate) fn asset_pointer(&self, caller: &User, asset_id: &str) -> Result<PointerView<Data>> {
        SiteCore::require_compute(caller)?;
        let mock = self
            .asset_data(caller, asset_id, false)
            .map_err(|e| match e {
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
        let (id, label) = self.record_asset(caller, asset_id)?;
        Ok(PointerView {
            id,
            lineage: vec![label],
            mock,
        })
    }

    /// Runs `op` on the mocks of `inputs` (objects `caller` made), records it, and returns the new
    /// object with its mock; the worker replays it on the real data.
    pub(crate) fn apply(
        &self,
        caller: &User,
        op: &Op,
        inputs: &[String],
    ) -> Result<PointerView<Data>> {
        // Checked before any input's mock is read: only the caller's own objects are.
        let ids: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let lineage = self.check_action(caller, op, &ids)?;
        let mocks: Vec<Arc<Data>> = ids
            .iter()
            .map(|i| self.value(Side::Mock, i))
            .collect::<Result<_>>()?;
        let refs: Vec<&Data> = mocks.iter().map(|m| m.as_ref()).collect();
        let mock = ops::eval(op, &refs)?;
        let id = self.record(caller, op, &ids, &lineage)?;
        // Kept, so the next op on it reads its mock instead of replaying it.
        self.exec.keep(Side::Mock, &id, Arc::new(mock.clone()));
        Ok(PointerView { id, lineage, mock })
    }

    /// Where `caller`'s latest request for object `id` stands.
    pub(crate) fn pointer_status(&self, caller: &User, id: &str) -> Result<Status> {
        self.own_object(caller, id)?;
        let Some(request) = self.latest_request(id, &caller.id)? else {
            return Ok(Status::Private);
        };
        let record = self.request_record(caller, &request)?;
        Ok(match record.status {
            RequestStatus::Pending => Status::Requested,
            RequestStatus::Approved => Status::Approved,
            RequestStatus::Denied => Status::Denied(record.decision.unwrap_or_default()),
            RequestStatus::ChangesRequested => {
                Status::ChangesRequested(record.decision.unwrap_or_default())
            }
        })
    }

    /// A new request by `caller` for object `id`'s real result, saying why.
    pub(crate) fn request_result(
        &self,
        caller: &User,
        id: &str,
        reason: &str,
    ) -> Result<RequestView> {
        SiteCore::require_compute(caller)?;
        self.own_object(caller, id)?;
        let reason = validate::text("request reason", reason)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "request reason",
                "it is empty",
                "say what the result is for; the owner reads it before deciding",
            ));
        }
        let request = uuid::Uuid::new_v4().simple().to_string();
        self.store.write("submitting a request", |tx| {
            let open: Option<String> = tx
                .query_row(
                    "SELECT id FROM requests WHERE object_id = ?1 AND requester_id = ?2
                     AND status IN ('pending', 'approved')",
                    params![id, caller.id],
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
            requests::insert(tx, &request, Some(id), None, &caller.id, &reason)?;
            audit::record(tx, &caller.email, "request", &request, id)
        })?;
        self.request_view(caller, &request)
    }

    /// Object `id`'s real value for `caller`: released by an owner's approval of her latest request
    /// for it, or at once for values made only from her own arrays, and for owners.
    pub(crate) fn pointer_result(&self, caller: &User, id: &str) -> Result<Data> {
        SiteCore::require_compute(caller)?;
        let object = self.own_object(caller, id)?;
        if object.lineage.is_empty() || caller.role.is_owner() {
            if !object.lineage.is_empty() {
                self.store.write("auditing a read", |tx| {
                    audit::record(tx, &caller.email, "read_real_result", id, "")
                })?;
            }
            return self.value(Side::Real, id).map(|v| (*v).clone());
        }
        match self.latest_request(id, &caller.id)? {
            Some(request) => self.released(caller, &self.request_record(caller, &request)?),
            None => Err(Error::invalid(
                "get",
                "nobody has asked for this result yet",
                "ask for it with `pointer.request(reason)`; the owner reviews it",
            )),
        }
    }
}

// The calls about pointers, each one service.

impl Serve for calls::AssetPointer {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<PointerView<Data>> {
        site.asset_pointer(caller, &self.asset)
    }
}

impl Serve for calls::Array {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<PointerView<Data>> {
        let literal = Op::Literal {
            values: self.values,
            shape: self.shape,
        };
        site.apply(caller, &literal, &[])
    }
}

impl Serve for calls::Apply {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<PointerView<Data>> {
        site.apply(caller, &self.op, &self.inputs)
    }
}

impl Serve for calls::PointerStatus {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Status> {
        site.pointer_status(caller, &self.pointer)
    }
}

impl Serve for calls::RequestResult {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        site.request_result(caller, &self.pointer, &self.reason)
    }
}

impl Serve for calls::PointerResult {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        site.floored(|| site.pointer_result(caller, &self.pointer))
    }
}
