//! A cell's datasite calls: the handles' methods that are one call each, written once for a
//! program's handles and a cell's ([`veil_api::handle_methods!`]), and how a cell reads each
//! call's reply as the kernel sends it ([`Answer`]).

use serde::de::DeserializeOwned;
use veil_api::view::PointerStatus;

use crate::bridge::Result;
use crate::code::Code;
use crate::data::Data;
use crate::dp::{Budget, BudgetList, DisclosureRules, DpPlan, DpRelease, Receipt, Verification};
use crate::pointer::{Pointer, PrivateRun, Request, RequestList, Review, SubmittedCode};
use crate::site::{AuditLog, Client, DatasetList, SiteAsset, SiteDataset, User, UserList};

veil_api::handle_methods!();

/// How a cell reads the reply `R` a call's declaration gives: the kernel sends it as `Sent` (a
/// value or pointer it now holds, or a view with its display), read here as the handle or view.
pub(crate) trait Answer<R>: Sized {
    /// What the kernel sends for it.
    type Sent: DeserializeOwned;
    /// The handle or view, its calls made as `client`.
    fn answer(sent: Self::Sent, client: &Client) -> Result<Self>;
}

impl Answer<()> for () {
    type Sent = ();
    fn answer((): (), _: &Client) -> Result<()> {
        Ok(())
    }
}

impl Answer<PointerStatus> for PointerStatus {
    type Sent = PointerStatus;
    fn answer(status: PointerStatus, _: &Client) -> Result<PointerStatus> {
        Ok(status)
    }
}

// Each handle asks as its client.
macro_rules! asks_as_its_client {
    ($($handle:ty),+) => {$(
        impl $handle {
            pub(crate) fn ask<C: veil_api::call::DatasiteCall, T: Answer<C::Reply<Data>>>(
                &self,
                call: C,
            ) -> Result<T> {
                self.client().ask(call)
            }
        }
    )+};
}
asks_as_its_client!(Pointer, Request, SiteAsset);
