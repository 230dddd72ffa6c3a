//! `GET /xrpc/io.atcr.hold.subscribeScanJobs`: the secret is checked before the upgrade;
//! then each connection leases jobs (one at a time unless `concurrency=K`), sends them as
//! `scan_job` frames, takes `scan_result` frames back, pings every `ping_interval`, and
//! gives its leases back when it ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferret_store::{Job, JobStore, ScanStore};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::Hub;
use crate::frames::{self, MAX_FRAME, ScanJob, ValidResult};

/// The most jobs one connection may hold at once.
const MAX_CONCURRENCY: usize = 64;

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}

impl Hub {
    /// Whether `given` is one of the configured secrets, in constant time per secret.
    fn secret_ok(&self, given: Option<&str>) -> bool {
        let Some(given) = given else { return false };
        let mut ok = false;
        for s in &self.config.secrets {
            ok |= bool::from(s.as_bytes().ct_eq(given.as_bytes()));
        }
        ok
    }
}

pub(crate) async fn subscribe(
    State(hub): State<Arc<Hub>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let secret = params.get("secret").map(String::as_str).or_else(|| {
        headers
            .get("x-scanner-secret")
            .and_then(|v| v.to_str().ok())
    });
    if !hub.secret_ok(secret) {
        // The secret itself is never logged.
        tracing::warn!(given = secret.is_some(), "scanner refused: invalid secret");
        return xrpc_error(
            StatusCode::UNAUTHORIZED,
            "InvalidSecret",
            "Scanner shared secret is invalid",
        );
    }
    let cursor = match params.get("cursor").map(|c| c.parse::<i64>()) {
        None => None,
        Some(Ok(c)) if c >= -1 => Some(c),
        Some(_) => {
            return xrpc_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "cursor: expected an integer, -1 or greater",
            );
        }
    };
    let concurrency = match params.get("concurrency").map(|c| c.parse::<usize>()) {
        None => 1,
        Some(Ok(k)) if (1..=MAX_CONCURRENCY).contains(&k) => k,
        Some(_) => {
            return xrpc_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("concurrency: expected an integer from 1 to {MAX_CONCURRENCY}"),
            );
        }
    };
    // The floor: jobs with a larger seq are delivered. No cursor: every queued job;
    // -1: only jobs queued from now on.
    let floor = match cursor {
        None => 0,
        Some(-1) => match hub.store.max_seq().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "reading the job log");
                return xrpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "store unavailable",
                );
            }
        },
        Some(n) => n,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            Connection::new(hub, floor, concurrency).run(socket).await;
        })
}

struct Connection {
    hub: Arc<Hub>,
    holder: String,
    floor: i64,
    concurrency: usize,
    /// Leased jobs by digest, with when they were sent.
    leased: BTreeMap<String, (Job, Instant)>,
}

impl Connection {
    fn new(hub: Arc<Hub>, floor: i64, concurrency: usize) -> Self {
        let holder = format!("{}:{}", hub.instance, uuid::Uuid::new_v4().simple());
        Self {
            hub,
            holder,
            floor,
            concurrency,
            leased: BTreeMap::new(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        metrics::gauge!("ferret_connected_scanners").increment(1.0);
        tracing::info!(holder = %self.holder, floor = self.floor, concurrency = self.concurrency, "scanner connected");
        let why = self.serve(socket).await;
        metrics::gauge!("ferret_connected_scanners").decrement(1.0);
        tracing::info!(holder = %self.holder, reason = why, "scanner disconnected");
        match self
            .hub
            .store
            .release_holders(
                &self.holder,
                &format!("lease lost: {why}"),
                self.hub.config.max_attempts,
            )
            .await
        {
            Ok(r) => self.hub.released(&r),
            Err(e) => tracing::error!(error = %e, "releasing a scanner's leases"),
        }
    }

    /// Runs the connection; returns why it ended.
    async fn serve(&mut self, socket: WebSocket) -> &'static str {
        let (mut tx, mut rx) = socket.split();
        let hub = self.hub.clone();
        let ping_every = hub.config.ping_interval;
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_heard = Instant::now();
        // A safety net beside the wake-ups: another hub on the same database queues jobs
        // this process hears nothing about.
        let mut poll = tokio::time::interval(std::time::Duration::from_secs(1));
        let liveness = i64::try_from(self.hub.config.liveness().as_millis()).unwrap_or(i64::MAX);
        loop {
            let woken = hub.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            while self.leased.len() < self.concurrency && !self.hub.stopping() {
                match self
                    .hub
                    .store
                    .lease(&self.holder, self.floor, liveness)
                    .await
                {
                    Ok(Some(job)) => {
                        let frame = ScanJob::new(&job, &self.hub.config.hub_did);
                        let text = serde_json::to_string(&frame).unwrap_or_default();
                        metrics::counter!("ferret_jobs_dispatched_total").increment(1);
                        tracing::info!(digest = %job.digest, seq = job.seq, holder = %self.holder, "job dispatched");
                        self.leased
                            .insert(job.digest.clone(), (job, Instant::now()));
                        if tx.send(Message::Text(text.into())).await.is_err() {
                            return "send failed";
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "leasing a job");
                        break;
                    }
                }
            }
            tokio::select! {
                msg = rx.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        last_heard = Instant::now();
                        self.on_result(text.as_str()).await;
                    }
                    Some(Ok(Message::Pong(_) | Message::Ping(_))) => last_heard = Instant::now(),
                    Some(Ok(Message::Binary(_))) => {
                        last_heard = Instant::now();
                        tracing::warn!(holder = %self.holder, "binary frame ignored: frames are JSON text");
                    }
                    Some(Ok(Message::Close(_))) | None => return "connection closed",
                    Some(Err(_)) => return "connection error",
                },
                () = &mut woken => {}
                _ = poll.tick() => {}
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * 2 {
                        let _ = tx.send(Message::Close(None)).await;
                        return "no answer to pings";
                    }
                    if tx.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return "send failed";
                    }
                }
                () = hub.stopped() => {
                    let _ = tx.send(Message::Close(None)).await;
                    return "hub shutting down";
                }
            }
        }
    }

    async fn on_result(&mut self, text: &str) {
        let result = match frames::parse_result(text) {
            Ok(r) => r,
            Err(e) => {
                // An invalid result fails the attempt of the job it names, if leased here.
                let digest = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v["digest"].as_str().map(str::to_owned));
                tracing::warn!(holder = %self.holder, error = %e, "invalid scan_result");
                if let Some((job, _)) = digest.and_then(|d| self.leased.remove(&d)) {
                    let reason = format!("invalid result: {e}");
                    match self
                        .hub
                        .store
                        .release(&job.id, &self.holder, &reason, self.hub.config.max_attempts)
                        .await
                    {
                        Ok(r) => self.hub.released(&r.into_iter().collect::<Vec<_>>()),
                        Err(e) => tracing::error!(error = %e, "releasing a job"),
                    }
                }
                return;
            }
        };
        let Some((job, started)) = self.leased.remove(&result.digest) else {
            tracing::info!(digest = %result.digest, "result for no job leased here: ignored (a repeat, or late)");
            return;
        };
        record_result(&self.hub, &job, &self.holder, result, started).await;
    }
}

/// Stores a result for a leased job: the scan and its findings, or the scanner's error.
pub(crate) async fn record_result(
    hub: &Arc<Hub>,
    job: &Job,
    holder: &str,
    result: ValidResult,
    started: Instant,
) {
    if let Some(error) = &result.error {
        match hub.store.fail(&job.id, holder, error).await {
            Ok(Some(_)) => {
                metrics::counter!("ferret_jobs_failed_total").increment(1);
                tracing::warn!(digest = %job.digest, error = %error, "scan failed");
            }
            Ok(None) => {
                tracing::info!(digest = %job.digest, "error for a job no longer leased: ignored")
            }
            Err(e) => tracing::error!(error = %e, "recording a failed scan"),
        }
        return;
    }
    let scanned_at = rfc3339_now();
    let blobs = hub.blobs.clone();
    let job_for_blocking = job.clone();
    // Hashing and writing blobs of up to 100 MiB is kept off the async workers.
    let built = tokio::task::spawn_blocking(move || {
        crate::results::scan_result(&job_for_blocking, &result, &blobs, &scanned_at)
    })
    .await;
    let scan_result = match built {
        Ok(Ok(r)) => r,
        Ok(Err(reason)) => {
            let reason = format!("invalid result: {reason}");
            if let Ok(r) = hub
                .store
                .release(&job.id, holder, &reason, hub.config.max_attempts)
                .await
            {
                hub.released(&r.into_iter().collect::<Vec<_>>());
            }
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "building a scan result");
            return;
        }
    };
    match hub.store.complete_scan(&job.scan_id, &scan_result).await {
        Ok(_) => {
            if let Err(e) = hub.store.finish(&job.id, holder).await {
                tracing::error!(error = %e, "finishing a job");
            }
            metrics::counter!("ferret_jobs_completed_total").increment(1);
            metrics::histogram!("ferret_scan_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::info!(digest = %job.digest, total = scan_result.counts.total, "scan stored");
        }
        Err(e) => tracing::error!(error = %e, "storing a scan"),
    }
}

/// Now as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
