//! The scanner subscription `io.atcr.hold.subscribeScanJobs` (`subscription.rs`) and the
//! memory budget its frames share (`budget.rs`).

pub(crate) mod budget;
pub(crate) mod subscription;
