//! Datasite calls from cells, forwarded: each to the client handle it names, so the datasite's one
//! dispatch decides it, and its reply rendered as the facade reads it. The kernel's own calls
//! (held values, datasites and logins) are answered in the parent module.

use serde_json::Value;
use veil::api::call::{Call, Reply};
use veil::{Client, Data, Pointer};

use super::{
    Cells, MAX_PARTS, invalid, rendered, shown, shown_dataset, shown_list, shown_request,
    shown_user, typed,
};
use crate::iopub::ProgressDisplay;
use crate::message::KernelError;

/// The replies that are plain views: each comes back as its view with its display, by one rule.
macro_rules! plain_views {
    ($reply:expr, [$($variant:ident),+ $(,)?], { $($arm:tt)* }) => {
        match $reply {
            $(Reply::$variant(view) => typed(&shown(view.clone(), &view)),)+
            $($arm)*
        }
    };
}

impl Cells {
    /// Datasite call `call` as client handle `client`, with the values of handles `parts` beside
    /// it (an upload's data and mocks).
    pub(super) fn forward(
        &self,
        client: u64,
        call: Call,
        parts: Vec<u64>,
    ) -> Result<Value, KernelError> {
        // Each part is a copy of a held value: bound them before copying any.
        if parts.len() > MAX_PARTS {
            return Err(invalid(format!(
                "{} values came with the call, more than {MAX_PARTS} (an upload's data and mocks); send at most {MAX_PARTS}",
                parts.len()
            )));
        }
        let client = self.client(client)?;
        let parts = parts
            .into_iter()
            .map(|handle| self.data(handle))
            .collect::<Result<_, _>>()?;
        let display = match (&call, &self.iopub) {
            (Call::UploadDataset(upload), Some(iopub)) => {
                ProgressDisplay::new(iopub, format!("uploading `{}`", upload.dataset.name))
            }
            _ => None,
        };
        let reply = match &display {
            Some(d) => client.call_reporting(call, parts, &|p| d.report(p)),
            None => client.call_with_parts(call, parts),
        };
        if let Some(d) = &display {
            d.finish(if reply.is_ok() { "done" } else { "failed" });
        }
        self.reply(&client, reply?)
    }

    /// A datasite's reply, as the facade reads it: data and pointers become handles the kernel holds,
    /// records their views with rendered displays.
    fn reply(&self, client: &Client, reply: Reply<Data>) -> Result<Value, KernelError> {
        Ok(
            plain_views!(reply, [Budget, DpPlan, DpRelease, Rules, Receipt, Verification], {
                Reply::Done => Value::Null,
                Reply::User(user) => typed(&shown_user(&user)),
                Reply::Users(users) => {
                    let list = veil::UserList(users);
                    typed(&shown_list(&list, &list, shown_user))
                }
                Reply::Audit(entries) => {
                    let log = veil::audit::AuditLog(entries);
                    typed(&shown(log.0.clone(), &log))
                }
                Reply::Datasets(views) => {
                    let list = veil::DatasetList(
                        views
                            .into_iter()
                            .map(|v| veil::SiteDataset::from_view(v, client))
                            .collect(),
                    );
                    typed(&shown_list(&list, &list, shown_dataset))
                }
                Reply::Dataset(view) => {
                    typed(&shown_dataset(&veil::SiteDataset::from_view(view, client)))
                }
                Reply::Pointer(view) => self.pointer_handle(Pointer::from_view(view, client)),
                Reply::Status(status) => typed(&status),
                Reply::Data(data) => self.data_handle(data),
                Reply::PrivateRun(run) => {
                    self.data_handle(run.map_err(|e| KernelError::new("RunFailed", e))?)
                }
                Reply::Requests(views) => {
                    let list = veil::RequestList(
                        views
                            .into_iter()
                            .map(|v| veil::Request::from_view(v, client.clone()))
                            .collect(),
                    );
                    typed(&shown_list(&list, &list, shown_request))
                }
                Reply::Request(view) => typed(&shown_request(&veil::Request::from_view(
                    view,
                    client.clone(),
                ))),
                Reply::Review(view) => typed(&rendered(&veil::Review::from_view(*view, client))),
                Reply::Code(code) => typed(&code.map_mock(|m| self.hold_data(m))),
                Reply::Budgets(budgets) => {
                    let list = veil::BudgetList(budgets);
                    typed(&shown_list(&list, &list, |b| shown(b.clone(), b)))
                }
            }),
        )
    }
}
