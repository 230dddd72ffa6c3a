//! `ferret scanner`: takes jobs over the subscription, pulls each image from its
//! `holdEndpoint` (the hub's pull-through endpoint, with the scanner's secret), and sends
//! back the SBOM, the report and the summary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::frames::{
    self, AtcrSummary, Bytes, ErrorFrame, MAX_FRAME, ScanJob, ScanResultFrame, errors,
};
use crate::run::{PullOptions, PullTarget, ScanOutput, scan, scanner_version};

/// `s` cut to at most `max` bytes, on a character boundary (the lexicon's limits).
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
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

/// How `ferret scanner` pulls a job's image: from the hub's own endpoint with its scanner
/// secret (no registry credentials needed); from anywhere else (a hub that names the
/// registry itself) with the credentials it was given.
fn pull_options(config: &ScannerConfig, target: &PullTarget) -> PullOptions {
    let hub = PullTarget {
        endpoint: config.hub.clone(),
        repository: String::new(),
        digest: String::new(),
    };
    let mut pull = config.pull.clone();
    if hub
        .host()
        .is_ok_and(|h| target.host().is_ok_and(|t| t == h))
    {
        pull.credentials = Some(ferret_image::Credentials {
            username: "scanner".to_owned(),
            password: config.secret.clone(),
        });
        pull.docker_config = None;
    }
    pull
}

/// The result frame `ferret scanner` sends for a job's outcome.
pub fn result_frame(job: &ScanJob, outcome: Result<ScanOutput, String>) -> String {
    let frame = match outcome {
        Ok(out) => {
            let mut f = ScanResultFrame::new(&job.digest, out.summary);
            f.sbom = Some(Bytes::encode(&out.sbom));
            f.vuln_report = Some(Bytes::encode(&out.report));
            f.scanner_version = Some(scanner_version());
            f
        }
        Err(e) => {
            let mut f = ScanResultFrame::new(&job.digest, AtcrSummary::default());
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
        let ended = session(&config, socket, &mut cursor, &mut stop).await;
        match ended {
            Ended::Stopped => return Ok(()),
            // The hub's job log is shorter than what this scanner saw (a new database):
            // start over from its head, at once.
            Ended::FutureCursor => {
                tracing::warn!(cursor = ?cursor, "the hub's job log ends before this cursor: resuming from its head");
                cursor = None;
                continue;
            }
            Ended::Disconnected => {}
        }
        tracing::warn!(retry_in = ?backoff, "disconnected from the hub");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = &mut stop => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// How a connection ended.
enum Ended {
    /// `stop` resolved and the jobs in hand were finished.
    Stopped,
    /// The hub answered the cursor with `FutureCursor`.
    FutureCursor,
    Disconnected,
}

/// One connection.
async fn session<S>(
    config: &ScannerConfig,
    socket: tokio_tungstenite::WebSocketStream<S>,
    cursor: &mut Option<i64>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Ended
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
            return Ended::Stopped;
        }
        tokio::select! {
            msg = rx.next(), if !stopping => match msg {
                Some(Ok(Message::Text(text))) => match frames::parse_job(text.as_str()) {
                    Ok(job) => {
                        *cursor = Some(cursor.map_or(job.seq, |c| c.max(job.seq)));
                        tracing::info!(digest = %job.digest, seq = job.seq, "job received");
                        running += 1;
                        let (out_tx, done_tx, slots) = (out_tx.clone(), done_tx.clone(), slots.clone());
                        let db = config.advisory_db.clone();
                        let target = PullTarget {
                            endpoint: job.hold_endpoint.clone(),
                            repository: job.repository.clone(),
                            digest: job.digest.clone(),
                        };
                        let pull = pull_options(config, &target);
                        tokio::spawn(async move {
                            let _permit = slots.acquire_owned().await;
                            let outcome = scan(target, db, pull).await;
                            if let Err(e) = &outcome {
                                tracing::warn!(digest = %job.digest, error = %e, "scan failed");
                            }
                            let _ = out_tx.send(result_frame(&job, outcome)).await;
                            let _ = done_tx.send(());
                        });
                    }
                    // Not a job: an error frame from the hub, or a frame we do not read.
                    Err(e) => match ErrorFrame::parse(text.as_str()) {
                        Some(f) if f.error == errors::FUTURE_CURSOR => return Ended::FutureCursor,
                        Some(f) => tracing::warn!(error = %f.error, message = f.message.as_deref().unwrap_or(""), "the hub refused a frame"),
                        None => tracing::warn!(error = %e, "frame ignored"),
                    },
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ended::Disconnected,
                Some(Ok(_)) => {}
            },
            Some(frame) = out_rx.recv() => {
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    return Ended::Disconnected;
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
