//! What runs a scan job, wherever it runs: the scanner embedded in `ferret serve` and the
//! remote `ferret scanner` both pull the image, catalog it, match it and render the SPDX
//! SBOM and the Grype-compatible report here ([`run`]). The subscription's frames
//! ([`frames`]) are the remote path's wire contract; [`remote`] is `ferret scanner`.

pub mod convert;
pub mod frames;
pub mod rematch;
pub mod remote;
pub mod run;

pub use ferret_engine::LayerCache;
pub use run::{PullOptions, PullTarget, ScanOutput, scan, scan_image, scanner_version};

/// Resolves on SIGTERM or Ctrl-C: how `ferret serve` and `ferret scanner` are told to stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
