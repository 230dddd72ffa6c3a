//! The hub keeping its own advisory database fresh (`db_update_interval`; off by default,
//! for hubs without the internet): `ferret db update` on a timer, the new database swapped
//! in whole, and the rescanner then sees its new snapshot.

use crate::Hub;

pub(crate) async fn update(hub: &Hub, db: &std::path::Path) {
    let Some(dir) = db.parent().map(std::path::Path::to_owned) else {
        return;
    };
    let feeds = hub.config.db_update_feeds.clone();
    let started = std::time::Instant::now();
    let done =
        tokio::task::spawn_blocking(move || ferret_worker::rematch::update_database(&dir, &feeds))
            .await;
    match done {
        Ok(Ok(imported)) => {
            metrics::counter!("ferret_db_updates_total", "outcome" => "ok").increment(1);
            tracing::info!(
                feeds_imported = imported,
                seconds = started.elapsed().as_secs_f64(),
                "advisory database updated"
            );
        }
        Ok(Err(e)) => {
            metrics::counter!("ferret_db_updates_total", "outcome" => "failed").increment(1);
            tracing::warn!(error = %e, "updating the advisory database");
        }
        Err(e) => tracing::warn!(error = %e, "updating the advisory database"),
    }
}
