//! The engine: computation that knows no caller. Ops and their analysis, replay's executor and
//! cache (`replay`), the plan path that runs a lineage as one streaming DataFusion query over
//! Parquet read in place (`planned`, over crate `veil-plan`), the real rows behind each value of a result (`provenance`) and the disclosure
//! checks' math on them (`checks`), the code runner, mock recipes and synthesis, the math of
//! differentially private releases (`dp`) and its noise, and receipts' digests and verification.
//! Nothing here reads a record, checks a role or knows who asks: the datasite (the trust
//! boundary) decides, then hands the engine values to compute on. It imports only the ground
//! below it (errors, data, displays, validation, the store); the `layers` test keeps it so.

pub(crate) mod analysis;
pub(crate) mod checks;
pub(crate) mod dp;
pub mod mock;
pub(crate) mod noise;
pub mod ops;
pub(crate) mod planned;
pub(crate) mod provenance;
pub mod receipt;
pub(crate) mod replay;
pub mod runner;
