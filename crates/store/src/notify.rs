//! What notifications keep: webhook subscriptions, and the outbox of deliveries. A delivery
//! is leased while it is tried (so a hub that dies mid-request leaves it to be tried again
//! once the lease ends), delivered once a 2xx comes back, retried with backoff otherwise,
//! and dead-lettered after too many attempts.

use sqlx::Row as _;

use crate::row::Columns;
use crate::scans::{SCAN_COLUMNS, Scan};
use crate::{Result, Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    /// The owner whose scans it sees; `None`: every owner's (configured by the operator).
    pub owner: Option<String>,
    pub url: String,
    pub secret: String,
    /// JSON, as the hub wrote it.
    pub filter: String,
    pub created_at: i64,
}

impl Webhook {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.col("id")?,
            owner: r.col("owner")?,
            url: r.col("url")?,
            secret: r.col("secret")?,
            filter: r.col("filter")?,
            created_at: r.col("created_at")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl Delivery {
    fn from_row(r: &impl Columns) -> Result<Self> {
        let state: String = r.col("state")?;
        Ok(Self {
            id: r.col("id")?,
            event_id: r.col("event_id")?,
            webhook_id: r.col("webhook_id")?,
            payload: r.col("payload")?,
            state: DeliveryState::parse(&state).ok_or_else(|| StoreError::Corrupt {
                what: "delivery",
                message: format!("unknown state {state:?}"),
            })?,
            attempts: r.col("attempts")?,
            next_attempt: r.col("next_attempt")?,
            last_error: r.col("last_error")?,
            created_at: r.col("created_at")?,
            delivered_at: r.col("delivered_at")?,
        })
    }
}

const DELIVERY_COLUMNS: &str = "id, event_id, webhook_id, payload, state, attempts, next_attempt, last_error, created_at, delivered_at";

impl Store {
    /// Sets the setting `name` to `value`.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![name.into(), value.into()],
        )
        .await?;
        Ok(())
    }

    /// Adds a webhook, or replaces the one with its id.
    pub async fn put_webhook(&self, w: &Webhook) -> Result<()> {
        self.exec(
            "INSERT INTO webhooks (id, owner, url, secret, filter, created_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, url = excluded.url, secret = excluded.secret, filter = excluded.filter",
            vec![
                w.id.clone().into(),
                w.owner.clone().into(),
                w.url.clone().into(),
                w.secret.clone().into(),
                w.filter.clone().into(),
                w.created_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Removes a webhook (of `owner`, when given); whether there was one. Its pending
    /// deliveries go with it.
    pub async fn delete_webhook(&self, id: &str, owner: Option<&str>) -> Result<bool> {
        let n = self
            .exec(
                "DELETE FROM webhooks WHERE id = $1 AND ($2 IS NULL OR owner = $2)",
                vec![id.into(), owner.into()],
            )
            .await?;
        if n > 0 {
            self.exec(
                "DELETE FROM outbox WHERE webhook_id = $1 AND state = 'pending'",
                vec![id.into()],
            )
            .await?;
        }
        Ok(n > 0)
    }

    /// Webhooks of `owner` (all when `None`), by id.
    pub async fn webhooks(&self, owner: Option<&str>) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, owner, url, secret, filter, created_at FROM webhooks WHERE ($1 IS NULL OR owner = $1) ORDER BY id",
        )
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Webhook::from_row).collect()
    }

    /// Whether a finding of scan `scan_id` is known exploited.
    pub async fn has_known_exploited(&self, scan_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM scans WHERE id = $1 AND kev > 0")
                .bind(scan_id)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// Finished scans (READY or ERROR) after (`at`, `id`) in (`scanned_at`, `id`) order.
    pub async fn finished_after(&self, at: i64, id: &str, limit: i64) -> Result<Vec<Scan>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE (scanned_at > $1 OR (scanned_at = $1 AND id > $2)) AND status <> 'RUNNING'
             ORDER BY scanned_at, id LIMIT $3"
        )))
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Scan::from_row).collect()
    }

    /// Queues a delivery of event `event_id` to `webhook_id`, once: a delivery that exists
    /// already is left as it is.
    pub async fn enqueue_delivery(
        &self,
        event_id: &str,
        webhook_id: &str,
        payload: &str,
    ) -> Result<bool> {
        let now = now_ms();
        let n = self
            .exec(
                "INSERT INTO outbox (id, event_id, webhook_id, payload, state, attempts, next_attempt, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT (id) DO NOTHING",
                vec![
                    format!("{event_id}/{webhook_id}").into(),
                    event_id.into(),
                    webhook_id.into(),
                    payload.into(),
                    now.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Up to `limit` deliveries due now and not leased, leased for `lease_ms` to this
    /// caller (each one to one caller only).
    pub async fn lease_due_deliveries(&self, limit: i64, lease_ms: i64) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt <= $1
               AND (lease_expires IS NULL OR lease_expires < $1) ORDER BY next_attempt, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for d in rows.iter().map(Delivery::from_row) {
            let d = d?;
            let taken = self
                .exec(
                    "UPDATE outbox SET lease_expires = $1 WHERE id = $2 AND state = 'pending'
                       AND (lease_expires IS NULL OR lease_expires < $3)",
                    vec![
                        now.saturating_add(lease_ms).into(),
                        d.id.clone().into(),
                        now.into(),
                    ],
                )
                .await?;
            if taken == 1 {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// A delivery succeeded.
    pub async fn delivered(&self, id: &str) -> Result<()> {
        self.exec(
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, lease_expires = NULL, last_error = NULL WHERE id = $2",
            vec![now_ms().into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// A delivery failed: tried again at `next_attempt`, or dead when `dead`.
    pub async fn delivery_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt: i64,
        dead: bool,
    ) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt = $2, lease_expires = NULL, state = $3 WHERE id = $4",
            vec![
                error.into(),
                next_attempt.into(),
                if dead { "dead" } else { "pending" }.into(),
                id.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Deliveries in `state` (of the webhooks of `owner`, when given), newest first.
    pub async fn deliveries(
        &self,
        state: Option<DeliveryState>,
        owner: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE ($1 IS NULL OR state = $1)
               AND ($2 IS NULL OR webhook_id IN (SELECT id FROM webhooks WHERE owner = $2))
             ORDER BY created_at DESC, id DESC LIMIT $3"
        )))
        .bind(state.map(DeliveryState::as_str))
        .bind(owner)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Delivery::from_row).collect()
    }

    /// How many deliveries are in each state.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }
}
