//! The engine: computation that knows no caller. Ops and their analysis, the real rows behind
//! each value of a result (`provenance`) and the disclosure checks' math on them (`checks`), the
//! code runner, mock recipes and synthesis, and the noise of differentially private releases. Nothing here reads a record, checks a role or knows
//! who asks: the datasite (the trust boundary) decides, then hands the engine values to compute
//! on. It imports only the ground below it (errors, data, displays, validation, the store); the
//! `layers` test keeps it so.

pub(crate) mod analysis;
pub(crate) mod checks;
pub mod mock;
pub(crate) mod noise;
pub mod ops;
pub(crate) mod provenance;
pub mod runner;
