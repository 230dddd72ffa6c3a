//! Scanners: the one embedded in `ferret serve`, which leases straight from the store, and
//! `ferret scanner`, which takes jobs over the subscription, pulls each image from its
//! `holdEndpoint`, and sends back the SBOM, the report and the summary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::frames::{self, Bytes, MAX_FRAME, ScanJob, ScanResultFrame, ValidResult, VulnSummary};
use crate::run::{PullOptions, scan_job, scanner_version};
use crate::{Hub, subscription};

/// Runs a job's scan on a blocking thread, opening the advisory database for it.
async fn scan(job: ScanJob, db: PathBuf, pull: PullOptions) -> Result<crate::ScanOutput, String> {
    tokio::task::spawn_blocking(move || {
        let db = ferret_advisory::Database::open_file(&db)
            .map_err(|e| format!("advisory database {}: {e}", db.display()))?;
        scan_job(&job, &db, &pull)
    })
    .await
    .map_err(|e| format!("scan task: {e}"))?
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The scanner inside `ferret serve`.
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
            let frame = ScanJob::new(&job, &hub.config.hub_did);
            let result = match scan(frame, db.clone(), PullOptions::default()).await {
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
                    summary: VulnSummary::default(),
                    sbom: None,
                    report: None,
                    scanner_version: Some(scanner_version()),
                    error: Some(truncate(e, 1024)),
                },
            };
            // The lease may have timed out meanwhile: treated as late.
            subscription::record_result(&hub, &job, &holder, result, started, true, None).await;
        }
    }
}

/// How `ferret scanner` runs.
#[derive(Debug, Clone)]
pub struct ScannerConfig {
    /// The hub's base URL (`http://host:port`).
    pub hub: String,
    pub secret: String,
    pub concurrency: usize,
    pub advisory_db: PathBuf,
    pub pull: PullOptions,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScannerError {
    #[error("hub URL {0:?}: expected http://… or https://…")]
    Url(String),
    #[error("the hub refused the secret (InvalidSecret)")]
    InvalidSecret,
}

/// The result frame `ferret scanner` sends for a job's outcome.
pub fn result_frame(job: &ScanJob, outcome: Result<crate::ScanOutput, String>) -> String {
    let frame = match outcome {
        Ok(out) => {
            let mut f = ScanResultFrame::new(&job.digest, out.summary);
            f.sbom = Some(Bytes::encode(&out.sbom));
            f.vuln_report = Some(Bytes::encode(&out.report));
            f.scanner_version = Some(scanner_version());
            f
        }
        Err(e) => {
            let mut f = ScanResultFrame::new(&job.digest, VulnSummary::default());
            f.scanner_version = Some(scanner_version());
            f.error = Some(truncate(e, 1024));
            f
        }
    };
    serde_json::to_string(&frame).unwrap_or_default()
}

/// Connects to the hub and scans what it sends until `stop` resolves; reconnects with
/// exponential backoff, resuming after the last `seq` it saw. On stop it finishes the
/// jobs it holds, sends their results, and returns.
pub async fn run_scanner(
    config: ScannerConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ScannerError> {
    let base = config.hub.trim_end_matches('/');
    let ws_base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        return Err(ScannerError::Url(config.hub.clone()));
    };
    tokio::pin!(stop);
    let mut cursor: Option<i64> = None;
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut url = format!(
            "{ws_base}/xrpc/{}?concurrency={}",
            frames::NSID,
            config.concurrency
        );
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let mut request = match url.as_str().into_client_request() {
            Ok(r) => r,
            Err(_) => return Err(ScannerError::Url(config.hub.clone())),
        };
        if let Ok(v) = config.secret.parse() {
            request.headers_mut().insert("X-Scanner-Secret", v);
        }
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), false);
        let conn = tokio::select! {
            c = connect => c,
            () = &mut stop => return Ok(()),
        };
        let socket = match conn {
            Ok((socket, _)) => socket,
            Err(tungstenite::Error::Http(resp)) if resp.status() == 401 => {
                return Err(ScannerError::InvalidSecret);
            }
            // The hub's job log is shorter than what this scanner saw (a new database):
            // start over from its head.
            Err(tungstenite::Error::Http(resp))
                if resp.status() == 400
                    && resp
                        .body()
                        .as_deref()
                        .is_some_and(|b| String::from_utf8_lossy(b).contains("FutureCursor")) =>
            {
                tracing::warn!(cursor = ?cursor, "the hub's job log ends before this cursor: resuming from its head");
                cursor = None;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot reach the hub");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut stop => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        tracing::info!(hub = %config.hub, cursor = ?cursor, "connected");
        let stopped = session(&config, socket, &mut cursor, &mut stop).await;
        if stopped {
            return Ok(());
        }
        tracing::warn!(retry_in = ?backoff, "disconnected from the hub");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = &mut stop => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// One connection. Returns `true` when it ended because of `stop`.
async fn session<S>(
    config: &ScannerConfig,
    socket: tokio_tungstenite::WebSocketStream<S>,
    cursor: &mut Option<i64>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, mut rx) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(config.concurrency.max(1));
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut stopping = false;
    let mut running = 0usize;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    loop {
        if stopping && running == 0 {
            let _ = tx.send(Message::Close(None)).await;
            return true;
        }
        tokio::select! {
            msg = rx.next(), if !stopping => match msg {
                Some(Ok(Message::Text(text))) => match frames::parse_job(text.as_str()) {
                    Ok(job) => {
                        *cursor = Some(cursor.map_or(job.seq, |c| c.max(job.seq)));
                        tracing::info!(digest = %job.digest, seq = job.seq, "job received");
                        running += 1;
                        let (out_tx, done_tx, slots) = (out_tx.clone(), done_tx.clone(), slots.clone());
                        let (db, pull) = (config.advisory_db.clone(), config.pull.clone());
                        tokio::spawn(async move {
                            let _permit = slots.acquire_owned().await;
                            let outcome = scan(job.clone(), db, pull).await;
                            if let Err(e) = &outcome {
                                tracing::warn!(digest = %job.digest, error = %e, "scan failed");
                            }
                            let _ = out_tx.send(result_frame(&job, outcome)).await;
                            let _ = done_tx.send(());
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "frame ignored"),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                Some(Ok(_)) => {}
            },
            Some(frame) = out_rx.recv() => {
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    return false;
                }
            }
            Some(()) = done_rx.recv() => running -= 1,
            () = stop.as_mut(), if !stopping => {
                tracing::info!(running, "stopping: finishing the jobs in hand");
                stopping = true;
            }
        }
    }
}
