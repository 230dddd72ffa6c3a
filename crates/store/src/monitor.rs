//! What continuous monitoring keeps: which registry notifications were taken (a registry
//! redelivers until it hears 2xx, so each event id counts once), images the registry
//! deleted, and which images a schedule rule finds due.

use crate::row::Arg;
use crate::scans::{IMAGE_COLUMNS, Image};
use crate::{Result, Store, now_ms};

#[allow(async_fn_in_trait)]
pub trait MonitorStore {
    /// Records the notification event `id`; `false` when it was recorded before.
    async fn first_delivery(&self, id: &str) -> Result<bool>;
    /// Forgets the event `id` (it was not taken after all).
    async fn forget_delivery(&self, id: &str) -> Result<()>;
    /// Forgets event ids recorded before `before` (Unix ms); how many.
    async fn forget_deliveries(&self, before: i64) -> Result<u64>;
    /// Marks every owner's image `digest` in `registry`/`repository` deleted; how many.
    async fn delete_images(&self, registry: &str, repository: &str, digest: &str) -> Result<u64>;
    /// Takes `tag` off the images of `registry`/`repository` that carry it; how many.
    async fn untag_images(&self, registry: &str, repository: &str, tag: &str) -> Result<u64>;
    /// The images of `registry` not deleted and not scanned (no scan queued) since `since`
    /// (Unix ms), by repository.
    async fn images_unscanned_since(&self, registry: &str, since: i64) -> Result<Vec<Image>>;
}

impl MonitorStore for Store {
    async fn first_delivery(&self, id: &str) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO hook_events (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                vec![id.into(), now_ms().into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn forget_delivery(&self, id: &str) -> Result<()> {
        self.exec("DELETE FROM hook_events WHERE id = $1", vec![id.into()])
            .await?;
        Ok(())
    }

    async fn forget_deliveries(&self, before: i64) -> Result<u64> {
        self.exec(
            "DELETE FROM hook_events WHERE received_at < $1",
            vec![before.into()],
        )
        .await
    }

    async fn delete_images(&self, registry: &str, repository: &str, digest: &str) -> Result<u64> {
        self.exec(
            "UPDATE images SET deleted_at = $1 WHERE registry = $2 AND repository = $3 AND digest = $4 AND deleted_at IS NULL",
            vec![now_ms().into(), registry.into(), repository.into(), digest.into()],
        )
        .await
    }

    async fn untag_images(&self, registry: &str, repository: &str, tag: &str) -> Result<u64> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE registry = $1 AND repository = $2 AND deleted_at IS NULL"
        )))
        .bind(registry)
        .bind(repository)
        .fetch_all(self.pool())
        .await?;
        let mut changed = 0;
        for image in rows.iter().map(Image::from_row) {
            let image = image?;
            if !image.tags.iter().any(|t| t == tag) {
                continue;
            }
            let before = serde_json::to_string(&image.tags).unwrap_or_default();
            let after: Vec<&String> = image.tags.iter().filter(|t| *t != tag).collect();
            // Only if the tags are still what was read: a push meanwhile wins.
            changed += self
                .exec(
                    "UPDATE images SET tags = $1 WHERE id = $2 AND tags = $3",
                    vec![
                        serde_json::to_string(&after).unwrap_or_default().into(),
                        image.id.into(),
                        Arg::from(before),
                    ],
                )
                .await?;
        }
        Ok(changed)
    }

    async fn images_unscanned_since(&self, registry: &str, since: i64) -> Result<Vec<Image>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE registry = $1 AND deleted_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM scans s WHERE s.image_id = i.id AND s.created_at >= $2)
             ORDER BY repository, digest, id"
        )))
        .bind(registry)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Image::from_row).collect()
    }
}
