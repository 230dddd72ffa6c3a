//! The one service layer every front door calls: what a caller may read of scans, images
//! and operations, with every request field checked and ownership enforced
//! (`yandex.rs`, whose shapes the Yandex doors translate; `reads.rs`, for the native and
//! Aqua doors); submitting scans (`submit.rs`); and storing the results scanners send
//! (`results.rs`).

pub mod accounts;
pub(crate) mod cache;
mod dbupdate;
pub mod notify;
pub mod push;
mod reads;
pub mod rescan;
pub mod results;
pub(crate) mod schedule;
pub(crate) mod submit;
mod yandex;

pub use reads::Progress;
pub use yandex::{
    DEFAULT_PAGE_SIZE, ListImages, ListScans, MAX_PAGE_SIZE, OperationView, Paging, repository_id,
};
