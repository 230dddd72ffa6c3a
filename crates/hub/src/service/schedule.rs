//! Scan policies' schedule rules: every image of a registry under a rule's prefixes is
//! scanned again (pulled, at tier 2) once its newest scan is older than the rule's period.
//! Every hub runs this; the queue's one-job-per-digest keeps two hubs from doubling a scan.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferret_store::MonitorStore;

use crate::Hub;
use crate::service::submit::{Why, queue_scan};

/// Registry event ids are kept this long against redeliveries.
const KEEP_DELIVERIES: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often the schedule is looked at: a tenth of the shortest period, between a second
/// and a minute.
fn tick(hub: &Hub) -> Duration {
    hub.config
        .registries
        .iter()
        .flat_map(|r| &r.scan_policy.schedule_rules)
        .filter(|r| !r.disabled)
        .map(|r| Duration::from_secs(r.rescan_period.max(1)) / 10)
        .min()
        .unwrap_or(Duration::from_secs(60))
        .clamp(Duration::from_secs(1), Duration::from_secs(60))
}

pub(crate) async fn run(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(tick(&hub));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = hub.stopped() => return,
        }
        if let Err(e) = due(&hub).await {
            tracing::warn!(error = %e, "scheduled rescans");
        }
        rounds += 1;
        if rounds % 60 == 1 {
            let before = ferret_store::now_ms() - crate::millis(KEEP_DELIVERIES);
            if let Err(e) = hub.store.forget_deliveries(before).await {
                tracing::warn!(error = %e, "forgetting old registry events");
            }
        }
    }
}

/// Queues the images whose schedule rule says they are due.
async fn due(hub: &Hub) -> Result<(), crate::api::error::ApiError> {
    for registry in &hub.config.registries {
        let policy = &registry.scan_policy;
        let periods: BTreeSet<Duration> = policy
            .schedule_rules
            .iter()
            .filter(|r| !r.disabled)
            .map(|r| Duration::from_secs(r.rescan_period.max(1)))
            .collect();
        for period in periods {
            let since = ferret_store::now_ms() - crate::millis(period);
            let images = hub
                .store
                .images_unscanned_since(&registry.name, since)
                .await?;
            let mut queued = 0u64;
            for image in images
                .iter()
                .filter(|i| policy.rescan_period(&i.repository) == Some(period))
            {
                let submitted = queue_scan(
                    hub,
                    &image.owner,
                    registry,
                    &image.repository,
                    &image.digest,
                    image.tags.first().map(String::as_str),
                    Why::SCHEDULE,
                )
                .await?;
                queued += u64::from(submitted.created);
            }
            if queued > 0 {
                metrics::counter!("ferret_scheduled_scans_total").increment(queued);
                tracing::info!(registry = %registry.name, images = queued, "scheduled rescans queued");
            }
        }
    }
    Ok(())
}
