//! The privacy service: differentially private releases under per-scientist budgets (`dp`), the
//! disclosure checks on every approved release and the releases they remember (`disclosure`), and
//! release receipts (`receipts`). Their math is the engine's (`engine::dp`, `engine::checks`,
//! [`crate::receipt`]).

pub(crate) mod disclosure;
pub(crate) mod dp;
pub(crate) mod receipts;
