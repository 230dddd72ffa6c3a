//! Notifications: webhooks get CloudEvents 1.0 (structured JSON) about scans — completed,
//! failed, new findings, findings fixed — signed with HMAC-SHA256 over `<time>.<body>`
//! (`Ferret-Signature: t=<unix seconds>,v1=<hex>`), from a durable outbox.
//!
//! Events come from the stored scans themselves: a producer walks finished scans past a
//! cursor kept in the store (re-reading a short overlap, as commits may land out of
//! order) and queues one delivery per (event, webhook), by deterministic ids, so a crash
//! or a second hub repeats nothing. Deliveries are leased while tried: at least once, the
//! event's id for the receiver to drop repeats; failures retried with exponential backoff,
//! dead-lettered after `webhook_max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use ferret_store::{Scan, ScanStatus, Webhook};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Hub;
use crate::service::rescan::Diff;

/// The event types, as `type` names them (`io.ferret.` + this).
pub const EVENTS: [&str; 4] = [
    "scan.completed",
    "scan.failed",
    "findings.new",
    "findings.fixed",
];

/// Commits may land out of `scanned_at` order this long after their time.
const OVERLAP_MS: i64 = 10_000;

/// What a webhook wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    /// Event types (`scan.completed`, …); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only this owner's scans (the operator's webhooks; a user's see only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_prefix: Option<String>,
    /// Only events with a finding at or above this severity (critical, high, medium, low,
    /// negligible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<String>,
    /// Only events with a finding in CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kev_only: bool,
}

impl Filter {
    /// Checks the names in it.
    pub fn check(&self) -> Result<(), String> {
        if let Some(e) = self.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(format!("events: {e:?} is not one of {}", EVENTS.join(", ")));
        }
        if let Some(s) = &self.min_severity
            && rank(s).is_none()
        {
            return Err(format!(
                "minSeverity: {s:?} is not one of critical, high, medium, low, negligible"
            ));
        }
        Ok(())
    }
}

/// Checks a webhook's URL: http or https, with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "url {url:?}: expected http://host/… or https://host/…"
        ));
    }
    Ok(())
}

/// A severity's rank (critical 0 … negligible 4), by any case of its name.
fn rank(severity: &str) -> Option<i64> {
    let r = ferret_store::severity_rank(&severity.to_ascii_uppercase());
    (r < 5).then_some(r)
}

/// One event of a scan: its type, id and data.
struct Event {
    kind: &'static str,
    /// The most severe finding it concerns (rank), if any.
    worst: Option<i64>,
    /// Whether a finding it concerns is known exploited; for a completed scan, asked of
    /// the store only when a webhook wants to know.
    kev: Kev,
    data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kev {
    Yes,
    No,
    /// The scan's stored findings say.
    Stored,
}

fn events_of(scan: &Scan) -> Vec<Event> {
    let view =
        serde_json::to_value(crate::api::native::ScanView::from(scan)).unwrap_or(Value::Null);
    match scan.status {
        ScanStatus::Running => Vec::new(),
        ScanStatus::Error => vec![Event {
            kind: "scan.failed",
            worst: None,
            kev: Kev::No,
            data: json!({"scan": view}),
        }],
        ScanStatus::Ready => {
            let c = &scan.counts;
            let worst = [c.critical, c.high, c.medium, c.low, c.negligible]
                .iter()
                .position(|n| *n > 0)
                .and_then(|i| i64::try_from(i).ok());
            let mut out = vec![Event {
                kind: "scan.completed",
                worst,
                kev: if c.total() > 0 { Kev::Stored } else { Kev::No },
                data: json!({"scan": view}),
            }];
            let diff: Option<Diff> = scan
                .diff
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok());
            if let Some(d) = diff {
                for (kind, findings) in [("findings.new", &d.new), ("findings.fixed", &d.fixed)] {
                    if findings.is_empty() {
                        continue;
                    }
                    out.push(Event {
                        kind,
                        worst: findings
                            .iter()
                            .map(|f| ferret_store::severity_rank(&f.severity))
                            .min(),
                        kev: if findings.iter().any(|f| f.kev) {
                            Kev::Yes
                        } else {
                            Kev::No
                        },
                        data: json!({"scan": view, "previousScanId": d.previous_scan_id, "snapshot": d.snapshot, "findings": findings}),
                    });
                }
            }
            out
        }
    }
}

/// Whether `w` wants `event` of `scan`, but for [`Filter::kev_only`] of a [`Kev::Stored`]
/// event (which the caller asks the store).
fn wants(w: &Webhook, filter: &Filter, scan: &Scan, event: &Event) -> bool {
    let owner_ok = match (&w.owner, &filter.owner) {
        (Some(o), _) | (None, Some(o)) => *o == scan.owner,
        (None, None) => true,
    };
    let severity_ok = match filter.min_severity.as_deref().and_then(rank) {
        None => true,
        // A failure has no findings to weigh: it is always told.
        Some(_) if event.kind == "scan.failed" => true,
        Some(min) => event.worst.is_some_and(|w| w <= min),
    };
    // Like the severity, a failure is always told.
    let kev_ok = !filter.kev_only || event.kind == "scan.failed" || event.kev != Kev::No;
    owner_ok
        && severity_ok
        && kev_ok
        && (filter.events.is_empty() || filter.events.iter().any(|e| e == event.kind))
        && filter
            .repository_prefix
            .as_deref()
            .is_none_or(|p| scan.repository.starts_with(p))
}

/// The CloudEvent for `event` of `scan`.
fn cloud_event(hub: &Hub, scan: &Scan, event: &Event) -> Value {
    let time = scan
        .scanned_at
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    json!({
        "specversion": "1.0",
        "id": format!("{}.{}", scan.id, event.kind),
        "source": format!("{}/api/ferret/v1/scans", hub.config.hold_endpoint()),
        "type": format!("io.ferret.{}", event.kind),
        "subject": format!("{}/{}@{}", scan.registry, scan.repository, scan.digest),
        "time": time,
        "datacontenttype": "application/json",
        "data": event.data,
    })
}

/// Puts the configured webhooks in the store (ids `config:<name>`), their owner filters
/// resolved to owner DIDs.
pub(crate) async fn sync_config(hub: &Hub) -> Result<(), String> {
    use ferret_store::AccountStore as _;
    for w in &hub.config.webhooks {
        let mut filter = Filter {
            events: w.events.clone(),
            owner: None,
            repository_prefix: w.repository_prefix.clone(),
            min_severity: w.min_severity.clone(),
            kev_only: w.kev_only,
        };
        if let Some(name) = &w.owner {
            let account = hub
                .store
                .account_by_name(name)
                .await
                .map_err(|e| e.to_string())?;
            // An owner without an account owns nothing: the webhook hears nothing yet.
            filter.owner = Some(account.map_or_else(
                || format!("unknown account {name}"),
                |a| crate::auth::owner_did(&a.id),
            ));
        }
        filter
            .check()
            .and_then(|()| check_url(&w.url))
            .and_then(|()| {
                if w.secret.is_empty() {
                    Err("a secret is required (it signs every delivery)".to_owned())
                } else {
                    Ok(())
                }
            })
            .map_err(|e| format!("webhook {}: {e}", w.name))?;
        hub.store
            .put_webhook(&Webhook {
                id: format!("config:{}", w.name),
                owner: None,
                url: w.url.clone(),
                secret: w.secret.clone(),
                filter: serde_json::to_string(&filter).map_err(|e| e.to_string())?,
                created_at: ferret_store::now_ms(),
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Queues the deliveries of scans finished since the cursor, every half second.
pub(crate) async fn produce(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = hub.stopped() => return,
        }
        if let Err(e) = produce_once(&hub).await {
            tracing::warn!(error = %e, "queuing notifications");
        }
    }
}

async fn produce_once(hub: &Arc<Hub>) -> Result<(), String> {
    let cursor: i64 = hub
        .store
        .setting_or_init("notify_cursor", || ferret_store::now_ms().to_string())
        .await
        .map_err(|e| e.to_string())?
        .parse()
        .unwrap_or(0);
    let webhooks: Vec<(Webhook, Filter)> = hub
        .store
        .webhooks(None)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|w| {
            let f = serde_json::from_str(&w.filter).ok()?;
            Some((w, f))
        })
        .collect();
    if webhooks.is_empty() {
        // Nobody to tell: the cursor moves on (a write every overlap at most), so a webhook
        // added later hears of scans from then on.
        let now = ferret_store::now_ms();
        if cursor < now - OVERLAP_MS {
            hub.store
                .set_setting("notify_cursor", &now.to_string())
                .await
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let (mut at, mut id) = (cursor - OVERLAP_MS, String::new());
    let mut newest = cursor;
    let mut queued = 0u64;
    loop {
        let scans = hub
            .store
            .finished_after(at, &id, 500)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = scans.last() else { break };
        (at, id) = (last.scanned_at.unwrap_or(at), last.id.clone());
        for scan in &scans {
            newest = newest.max(scan.scanned_at.unwrap_or(0));
            for event in events_of(scan) {
                let mut kev: Option<bool> = None;
                for (w, f) in &webhooks {
                    if !wants(w, f, scan, &event) {
                        continue;
                    }
                    if f.kev_only && event.kev == Kev::Stored {
                        let known = match kev {
                            Some(k) => k,
                            None => *kev.insert(
                                hub.store
                                    .has_known_exploited(&scan.id)
                                    .await
                                    .map_err(|e| e.to_string())?,
                            ),
                        };
                        if !known {
                            continue;
                        }
                    }
                    let ce = cloud_event(hub, scan, &event);
                    let event_id = ce["id"].as_str().unwrap_or_default().to_owned();
                    if hub
                        .store
                        .enqueue_delivery(&event_id, &w.id, &ce.to_string())
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        queued += 1;
                    }
                }
            }
        }
        if scans.len() < 500 {
            break;
        }
    }
    if newest > cursor {
        hub.store
            .set_setting("notify_cursor", &newest.to_string())
            .await
            .map_err(|e| e.to_string())?;
    }
    if queued > 0 {
        metrics::counter!("ferret_webhook_events_total").increment(queued);
        hub.deliveries.notify_one();
    }
    Ok(())
}

/// `Ferret-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends what is due, whenever woken or every quarter second.
pub(crate) async fn deliver(hub: Arc<Hub>) {
    let http = match reqwest::Client::builder()
        .timeout(hub.config.webhook_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks off: no HTTP client");
            return;
        }
    };
    let lease = crate::millis(hub.config.webhook_timeout) + 2_000;
    let mut gauges = std::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = hub.deliveries.notified() => {}
            () = hub.stopped() => return,
        }
        let due = match hub.store.lease_due_deliveries(32, lease).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading due deliveries");
                continue;
            }
        };
        let webhooks = if due.is_empty() {
            Vec::new()
        } else {
            hub.store.webhooks(None).await.unwrap_or_default()
        };
        let sends = due.into_iter().map(|d| {
            let (hub, http) = (&hub, &http);
            let w = webhooks.iter().find(|w| w.id == d.webhook_id).cloned();
            async move { send(hub, http, d, w).await }
        });
        futures_util::future::join_all(sends).await;
        if gauges.elapsed() > Duration::from_secs(5) {
            gauges = std::time::Instant::now();
            if let Ok(counts) = hub.store.delivery_counts().await {
                for state in ["pending", "delivered", "dead"] {
                    let n = counts
                        .iter()
                        .find(|(s, _)| s == state)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("ferret_webhook_outbox", "state" => state).set(n as f64);
                }
            }
        }
    }
}

async fn send(hub: &Hub, http: &reqwest::Client, d: ferret_store::Delivery, w: Option<Webhook>) {
    let Some(w) = w else {
        // Its webhook is gone.
        let _ = hub
            .store
            .delivery_failed(&d.id, "the webhook was deleted", 0, true)
            .await;
        return;
    };
    let t = chrono::Utc::now().timestamp();
    let kind = serde_json::from_str::<Value>(&d.payload)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let sent = http
        .post(&w.url)
        .header("content-type", "application/cloudevents+json")
        .header(
            "ferret-signature",
            signature(&w.secret, t, d.payload.as_bytes()),
        )
        .header("ferret-delivery", &d.id)
        .header("ferret-event", kind)
        .body(d.payload.clone())
        .send()
        .await;
    let error = match sent {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("{} answered {}", w.url, r.status())),
        Err(e) => Some(format!("{}: {e}", w.url)),
    };
    let outcome = match error {
        None => {
            if let Err(e) = hub.store.delivered(&d.id).await {
                tracing::warn!(error = %e, "recording a delivery");
            }
            "delivered"
        }
        Some(error) => {
            let attempts = d.attempts + 1;
            let dead = attempts >= i64::from(hub.config.webhook_max_attempts);
            let base = crate::millis(hub.config.webhook_retry_base).max(1);
            let backoff = base
                .saturating_mul(1 << (attempts - 1).clamp(0, 20))
                .min(3_600_000);
            // Up to a quarter more, so receivers that failed together are not hit together.
            let jitter = i64::from(rand_u16()) * backoff / 4 / i64::from(u16::MAX);
            let next = ferret_store::now_ms() + backoff + jitter;
            if let Err(e) = hub.store.delivery_failed(&d.id, &error, next, dead).await {
                tracing::warn!(error = %e, "recording a failed delivery");
            }
            if dead {
                tracing::warn!(delivery = %d.id, attempts, error = %error, "webhook delivery dead-lettered");
                "dead"
            } else {
                tracing::info!(delivery = %d.id, attempts, retry_in_ms = backoff + jitter, error = %error, "webhook delivery failed; retrying");
                "failed"
            }
        }
    };
    metrics::counter!("ferret_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

fn rand_u16() -> u16 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u16::from_le_bytes([b[0], b[1]])
}
