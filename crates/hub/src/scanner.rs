//! The scanner embedded in `ferret serve`: it leases straight from the dispatcher, pulls
//! from the job's registry with the hub's credentials, and hands the hub the result as it
//! is (no frame).

use std::sync::Arc;
use std::time::Instant;

use ferret_worker::frames::{AtcrSummary, ValidResult};
use ferret_worker::remote::truncate;
use ferret_worker::{PullOptions, PullTarget, scan, scanner_version};

use crate::Hub;
use crate::service::results::record_result;

/// How the embedded scanner reaches a job's registry: with the hub's credentials for it.
fn embedded_pull(hub: &Hub, job: &ferret_store::Job) -> PullOptions {
    let registry = hub
        .config
        .registries
        .iter()
        .find(|r| r.name == job.registry);
    PullOptions {
        credentials: registry.and_then(crate::RegistryConfig::credentials),
        layer_cache: hub.layer_cache.clone(),
        ..PullOptions::default()
    }
}

/// The scanner inside `ferret serve`: it takes jobs from the dispatcher, pulls from the
/// registry itself, and hands the result to the hub as it is, without a frame.
pub(crate) async fn embedded(hub: Arc<Hub>) {
    let Some(db) = hub.config.advisory_db.clone().filter(|p| p.exists()) else {
        tracing::warn!("embedded scanner off: no advisory database (run `ferret db update`)");
        return;
    };
    let holder = format!("{}:embedded", hub.instance);
    loop {
        if hub.stopping() {
            return;
        }
        let asked = hub.dispatcher.ask(&holder, None, 1);
        let jobs = tokio::select! {
            j = asked => j.unwrap_or_default(),
            () = hub.stopped() => return,
        };
        for job in jobs {
            let started = Instant::now();
            let target = PullTarget {
                endpoint: job.hold_endpoint.clone(),
                repository: job.repository.clone(),
                digest: job.digest.clone(),
            };
            let pull = embedded_pull(&hub, &job);
            let result = match scan(target, db.clone(), pull).await {
                Ok(out) => ValidResult {
                    digest: job.digest.clone(),
                    summary: out.summary,
                    sbom: Some(out.sbom),
                    report: Some(out.report),
                    scanner_version: Some(scanner_version()),
                    error: None,
                },
                Err(e) => ValidResult {
                    digest: job.digest.clone(),
                    summary: AtcrSummary::default(),
                    sbom: None,
                    report: None,
                    scanner_version: Some(scanner_version()),
                    error: Some(truncate(e, 1024)),
                },
            };
            // The lease may have timed out meanwhile: treated as late.
            record_result(&hub, &job, &holder, result, started, true, None).await;
        }
    }
}
