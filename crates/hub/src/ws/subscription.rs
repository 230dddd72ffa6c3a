//! `GET /xrpc/io.atcr.hold.subscribeScanJobs`: the address's failed tries and the secret
//! are checked before the upgrade; then each connection asks the dispatcher for jobs while
//! it has free slots (one unless `concurrency=K`), sends them as `scan_job` frames, takes
//! `scan_result` frames back, ends each lease that outlives the lease timeout itself (the
//! slot is free again; a result that comes later still completes the job if no one else
//! holds it), pings every `ping_interval`, and gives its leases back when it ends.
//!
//! `cursor` is a position in the job log, not a filter: a resuming scanner is offered
//! every job that is queued and not leased, in queue order, whatever its `seq`. A cursor
//! beyond the log's end is answered, after the upgrade, with a `FutureCursor` error frame
//! and a close (1008), as AT Protocol subscriptions do; `cursor=-1` asks for jobs queued
//! from now on only.
//!
//! Frames the hub cannot use (not JSON, binary, an invalid result, a result for a job the
//! connection does not hold) are answered with an error frame (`frames::ErrorFrame`) and
//! the connection goes on.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferret_store::{Job, JobStore, LeaseEnd};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::Hub;
use crate::service::results::{Next, Recorded, record_result};
use crate::ws::budget::{Budgeted, Held};
use ferret_worker::frames::{self, ErrorFrame, MAX_FRAME, ScanJob, errors};

/// The most jobs one connection may hold at once.
const MAX_CONCURRENCY: usize = 64;
/// Jobs whose lease this connection lost to the timeout, remembered so that their late
/// results can still complete them.
const EXPIRED_REMEMBERED: usize = 256;

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}

impl Hub {
    /// Whether `given` is one of the configured secrets, in constant time per secret.
    pub(crate) fn secret_ok(&self, given: Option<&str>) -> bool {
        let Some(given) = given else { return false };
        let mut ok = false;
        for s in &self.config.secrets {
            ok |= bool::from(s.as_bytes().ct_eq(given.as_bytes()));
        }
        ok
    }
}

/// Whether the request asks for a WebSocket (RFC 6455 §4.2.1); its key when it does.
fn websocket_key(headers: &HeaderMap) -> Option<&[u8]> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return None;
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return None;
    }
    headers.get(header::SEC_WEBSOCKET_KEY).map(|k| k.as_bytes())
}

pub(crate) async fn subscribe(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    if let Some(wait) = hub.throttle.blocked("scanner", peer.ip()) {
        let mut r = xrpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "too many failed authentications from this address",
        );
        if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let headers = request.headers();
    let secret = params.get("secret").map(String::as_str).or_else(|| {
        headers
            .get("x-scanner-secret")
            .and_then(|v| v.to_str().ok())
    });
    if !hub.secret_ok(secret) {
        // The secret itself is never logged; refusals are logged as counts.
        hub.throttle.failed("scanner", peer.ip());
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
    // A cursor beyond the log is answered once the connection is upgraded.
    let mut future = None;
    let floor = match cursor {
        None => None,
        Some(c) => {
            let head = match hub.store.max_seq().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "reading the job log");
                    return xrpc_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "store unavailable",
                    );
                }
            };
            if c > head {
                future = Some(format!("cursor {c} is beyond the job log's end ({head})"));
            }
            // -1: only what is queued from now on. Any other cursor hides nothing.
            (c == -1).then_some(head)
        }
    };
    let Some(key) = websocket_key(headers) else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "expected a WebSocket upgrade (GET with Connection: upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and a key)",
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key);
    let upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(io) => io,
            Err(e) => {
                tracing::warn!(error = %e, "a scanner's upgrade failed");
                return;
            }
        };
        let held = Arc::new(Held::default());
        let io = Budgeted::new(
            hyper_util::rt::TokioIo::new(io),
            hub.budget.clone(),
            held.clone(),
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        if let Some(message) = future {
            tracing::info!(%peer, message, "scanner refused: FutureCursor");
            let frame = ErrorFrame::new(errors::FUTURE_CURSOR, message);
            let _ = ws.send(Message::Text(frame.to_json().into())).await;
            refuse(
                &mut ws,
                close_frame(CloseCode::Policy, errors::FUTURE_CURSOR),
            )
            .await;
            return;
        }
        Connection::new(hub, floor, concurrency, held).run(ws).await;
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("upgrade"),
    );
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    if let Ok(v) = accept.parse() {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// A job this connection holds.
struct Lease {
    job: Job,
    sent: Instant,
    deadline: tokio::time::Instant,
}

/// Why a connection ended, and whether its leases count as interrupted.
struct End {
    reason: &'static str,
    /// The scanner's doing (gone, silent, misbehaving), not the hub's.
    scanners_fault: bool,
}

struct Connection {
    hub: Arc<Hub>,
    holder: String,
    floor: Option<i64>,
    concurrency: usize,
    leased: BTreeMap<String, Lease>,
    expired: VecDeque<Job>,
    held: Arc<Held>,
    /// Where this connection's jobs say to pull from (the hub's own endpoint).
    hold_endpoint: String,
}

impl Connection {
    fn new(hub: Arc<Hub>, floor: Option<i64>, concurrency: usize, held: Arc<Held>) -> Self {
        let holder = format!("{}:{}", hub.instance, uuid::Uuid::new_v4().simple());
        let hold_endpoint = hub.config.hold_endpoint();
        Self {
            hub,
            holder,
            floor,
            concurrency,
            leased: BTreeMap::new(),
            expired: VecDeque::new(),
            held,
            hold_endpoint,
        }
    }

    async fn run<S>(mut self, ws: WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        metrics::gauge!("ferret_connected_scanners").increment(1.0);
        self.hub
            .scanner_connected(&self.holder, self.concurrency, true);
        tracing::info!(holder = %self.holder, floor = ?self.floor, concurrency = self.concurrency, "scanner connected");
        let end = self.serve(ws).await;
        metrics::gauge!("ferret_connected_scanners").decrement(1.0);
        self.hub
            .scanner_connected(&self.holder, self.concurrency, false);
        tracing::info!(holder = %self.holder, reason = end.reason, "scanner disconnected");
        let reason = format!("lease lost: {}", end.reason);
        let (lease_end, how) = if end.scanners_fault {
            (LeaseEnd::Interrupted(reason), "lost")
        } else {
            (LeaseEnd::Returned(reason), "returned")
        };
        match self
            .hub
            .store
            .release_holder(&self.holder, &lease_end, self.hub.limits())
            .await
        {
            Ok(r) => self.hub.ended(&r, how),
            Err(e) => tracing::error!(error = %e, "releasing a scanner's leases"),
        }
    }

    /// Runs the connection; returns why it ended.
    async fn serve<S>(&mut self, ws: WebSocketStream<S>) -> End
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut tx, mut rx) = ws.split();
        let hub = self.hub.clone();
        let ping_every = hub.config.ping_interval;
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut asking: Option<tokio::sync::oneshot::Receiver<Vec<Job>>> = None;
        let close = close_frame;
        loop {
            if asking.is_none() && self.leased.len() < self.concurrency && !hub.stopping() {
                asking = Some(hub.dispatcher.ask(
                    &self.holder,
                    self.floor,
                    self.concurrency - self.leased.len(),
                ));
            }
            let next_deadline = self.leased.values().map(|l| l.deadline).min();
            tokio::select! {
                jobs = async { asking.as_mut().expect("guarded by is_some").await }, if asking.is_some() => {
                    asking = None;
                    for job in jobs.unwrap_or_default() {
                        if !self.send_job(&mut tx, job).await {
                            return End { reason: "send failed", scanners_fault: true };
                        }
                    }
                }
                msg = rx.next() => {
                    let outcome = match msg {
                        Some(Ok(Message::Text(text))) => {
                            last_heard = Instant::now();
                            let (jobs, error) = self.on_result(text, asking.is_none()).await;
                            let mut failed = false;
                            if let Some(e) = error {
                                failed |= tx.send(Message::Text(e.to_json().into())).await.is_err();
                            }
                            for job in jobs {
                                failed |= !self.send_job(&mut tx, job).await;
                            }
                            failed.then_some(End { reason: "send failed", scanners_fault: true })
                        }
                        Some(Ok(Message::Pong(_) | Message::Ping(_))) => {
                            last_heard = Instant::now();
                            None
                        }
                        Some(Ok(Message::Binary(_))) => {
                            last_heard = Instant::now();
                            tracing::warn!(holder = %self.holder, "binary frame ignored: frames are JSON text");
                            metrics::counter!("ferret_results_refused_total", "reason" => "invalid").increment(1);
                            let e = ErrorFrame::new(errors::INVALID_FRAME, "binary frame ignored: frames of this subscription are JSON text");
                            tx.send(Message::Text(e.to_json().into())).await.is_err()
                                .then_some(End { reason: "send failed", scanners_fault: true })
                        }
                        Some(Ok(Message::Frame(_))) => None,
                        Some(Ok(Message::Close(_))) | None => Some(End { reason: "connection closed", scanners_fault: true }),
                        Some(Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. }))) => {
                            refuse(&mut tx, close(CloseCode::Size, "frame too large")).await;
                            Some(End { reason: "frame too large", scanners_fault: true })
                        }
                        Some(Err(tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                            tracing::warn!(holder = %self.holder, error = %e, "result frame refused");
                            refuse(&mut tx, close(CloseCode::Size, "frame larger than the hub's result memory budget")).await;
                            Some(End { reason: "frame larger than the result memory budget", scanners_fault: true })
                        }
                        Some(Err(tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::OutOfMemory => {
                            tracing::warn!(holder = %self.holder, error = %e, "result frame refused");
                            refuse(&mut tx, close(CloseCode::Again, "result memory budget exhausted: try again later")).await;
                            Some(End { reason: "result memory budget exhausted", scanners_fault: false })
                        }
                        Some(Err(_)) => Some(End { reason: "connection error", scanners_fault: true }),
                    };
                    // Whatever the message was, its room in the memory budget goes back.
                    self.held.message_done();
                    if let Some(end) = outcome {
                        return end;
                    }
                }
                () = async { tokio::time::sleep_until(next_deadline.expect("guarded by is_some")).await }, if next_deadline.is_some() => {
                    self.expire_due().await;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * 2 {
                        let _ = tx.send(close(CloseCode::Policy, "no answer to pings")).await;
                        return End { reason: "no answer to pings", scanners_fault: true };
                    }
                    if tx.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return End { reason: "send failed", scanners_fault: true };
                    }
                }
                () = hub.stopped() => {
                    let _ = tx.send(close(CloseCode::Away, "hub shutting down")).await;
                    return End { reason: "hub shutting down", scanners_fault: false };
                }
            }
        }
    }

    /// Sends a leased job's frame; `false` when the connection is gone.
    async fn send_job<S>(&mut self, tx: &mut S, job: Job) -> bool
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        let frame = job_frame(&job, &self.hub.config.hub_did, &self.hold_endpoint);
        let text = serde_json::to_string(&frame).unwrap_or_default();
        tracing::debug!(digest = %job.digest, seq = job.seq, holder = %self.holder, "job dispatched");
        self.leased.insert(
            job.digest.clone(),
            Lease {
                job,
                sent: Instant::now(),
                deadline: tokio::time::Instant::now() + self.hub.config.lease_timeout,
            },
        );
        tx.send(Message::Text(text.into())).await.is_ok()
    }

    /// Ends the leases whose time is up: the jobs go back to the queue, the slots are free.
    async fn expire_due(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<String> = self
            .leased
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for digest in due {
            let Some(lease) = self.leased.remove(&digest) else {
                continue;
            };
            let end = LeaseEnd::Interrupted(format!(
                "lease timed out after {} s",
                self.hub.config.lease_timeout.as_secs()
            ));
            match self
                .hub
                .store
                .release(&lease.job.id, &self.holder, &end, self.hub.limits())
                .await
            {
                Ok(r) => {
                    if r.is_some() {
                        metrics::counter!("ferret_lease_expiries_total").increment(1);
                    }
                    self.hub.ended(&r.into_iter().collect::<Vec<_>>(), "lost");
                }
                Err(e) => tracing::error!(error = %e, "ending a lease"),
            }
            if self.expired.len() >= EXPIRED_REMEMBERED {
                self.expired.pop_front();
            }
            self.expired.push_back(lease.job);
        }
    }

    /// Handles a result frame. With `may_claim` (no ask pending), the jobs that fill the
    /// slot it frees are claimed in the same commit and returned, to be sent. A frame the
    /// hub could not use is answered with an error frame.
    async fn on_result(
        &mut self,
        frame: tungstenite::Utf8Bytes,
        may_claim: bool,
    ) -> (Vec<Job>, Option<ErrorFrame>) {
        // A large frame is read on a blocking thread: parsing and checking 100 MiB takes
        // long enough to hold up every other connection on an async worker.
        let parsed = if frame.len() <= crate::service::results::INLINE_RESULT {
            frames::parse_result(frame.as_str())
        } else {
            let owned = frame.clone();
            tokio::task::spawn_blocking(move || frames::parse_result(owned.as_str()))
                .await
                .unwrap_or_else(|e| Err(frames::FrameError::new(format!("reading the frame: {e}"))))
        };
        let text = frame.as_str();
        let result = match parsed {
            Ok(r) => r,
            Err(e) => {
                // An invalid result fails the attempt of the job it names, if leased here.
                let digest = frames::digest_of(text);
                tracing::warn!(holder = %self.holder, error = %e, "invalid scan_result");
                metrics::counter!("ferret_results_refused_total", "reason" => "invalid")
                    .increment(1);
                let (name, mut message) = if e.not_json {
                    (errors::INVALID_FRAME, e.to_string())
                } else {
                    (errors::INVALID_RESULT, format!("invalid result: {e}"))
                };
                if let Some(lease) = digest.and_then(|d| self.leased.remove(&d)) {
                    let reason = format!("invalid result: {e}");
                    match self
                        .hub
                        .store
                        .reject(&lease.job.id, &self.holder, &reason, self.hub.limits())
                        .await
                    {
                        Ok(r) => self
                            .hub
                            .ended(&r.into_iter().collect::<Vec<_>>(), "invalid"),
                        Err(e) => tracing::error!(error = %e, "refusing a result"),
                    }
                    message.push_str(&format!(
                        " (this attempt at {} failed; the lease ended)",
                        lease.job.digest
                    ));
                }
                return (Vec::new(), Some(ErrorFrame::new(name, message)));
            }
        };
        let digest = result.digest.clone();
        let (recorded, jobs) = if let Some(lease) = self.leased.remove(&result.digest) {
            let free = self.concurrency - self.leased.len();
            let next = (may_claim && !self.hub.stopping()).then_some(Next {
                floor: self.floor,
                want: free,
            });
            record_result(
                &self.hub,
                &lease.job,
                &self.holder,
                result,
                lease.sent,
                false,
                next,
            )
            .await
        } else if let Some(i) = self.expired.iter().position(|j| j.digest == result.digest) {
            let job = self.expired.remove(i).expect("found above");
            record_result(
                &self.hub,
                &job,
                &self.holder,
                result,
                Instant::now(),
                true,
                None,
            )
            .await
        } else {
            metrics::counter!("ferret_results_refused_total", "reason" => "not held").increment(1);
            tracing::info!(digest = %result.digest, holder = %self.holder, "result for a job this connection does not hold: ignored");
            let message = format!(
                "no job for {} is leased to this connection: result ignored",
                result.digest
            );
            return (
                Vec::new(),
                Some(ErrorFrame::new(errors::NOT_LEASED, message)),
            );
        };
        let error = match recorded {
            Recorded::Refused { error, reason } => Some(ErrorFrame::new(
                error,
                format!("result for {digest} not kept: {reason}"),
            )),
            Recorded::Completed | Recorded::Failed | Recorded::Repeated => None,
        };
        (jobs, error)
    }
}

fn close_frame(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Sends a closing frame for a refused frame, then keeps the connection (unread) a moment
/// before it is dropped, so the scanner reads why before the socket is reset.
async fn refuse<S>(tx: &mut S, close: Message)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let _ = tx.send(close).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// The frame for a job: pulled from `hold_endpoint` (the hub's distribution endpoint),
/// not from the registry the job names.
pub(crate) fn job_frame(job: &Job, hold_did: &str, hold_endpoint: &str) -> ScanJob {
    ScanJob {
        lex_type: frames::JOB_TYPE.to_owned(),
        kind: "scan_job".to_owned(),
        seq: job.seq,
        digest: job.digest.clone(),
        repository: job.repository.clone(),
        tag: job.tag.clone(),
        user_did: job.owner.clone(),
        hold_did: hold_did.to_owned(),
        hold_endpoint: hold_endpoint.to_owned(),
        priority: Some(job.priority),
    }
}
