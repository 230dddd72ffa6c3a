//! Parts for driving the hub's queue from outside, in the fault tests and the queue
//! benchmark: a scriptable fake registry (any tag resolves to an image of its own), hub
//! processes, an enqueuer over the native REST API, and fake scanners on real WebSocket
//! clients that answer, hang or go silent, and reconnect with their cursor.
//!
//! The fake registry stands in for Debian's `docker-registry` in load and fault tests
//! only, where thousands of distinct images are needed; the end-to-end tests use the
//! real one.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferret_worker::ScanOutput;
use ferret_worker::frames::{AtcrSummary, ErrorFrame, ScanJob, parse_job};
use ferret_worker::remote::result_frame;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::free_port;
use crate::service::wait_for;

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// An OCI distribution API that answers any `name:tag` with a small image of its own: a
/// config naming the tag and one empty gzip layer. Manifests are remembered by digest once
/// served, so a digest reference resolves too.
pub struct FakeRegistry {
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct RegistryState {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

/// An empty tar (two zero blocks), gzipped.
fn empty_layer() -> (Vec<u8>, String) {
    let tar = vec![0u8; 1024];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (gz.finish().unwrap(), format!("sha256:{}", sha256_hex(&tar)))
}

impl RegistryState {
    /// The manifest of `name:reference`, its digest, and the blobs it names, stored.
    fn manifest(&self, name: &str, reference: &str) -> Option<(Vec<u8>, String)> {
        if reference.starts_with("sha256:") {
            let blobs = self.blobs.lock().unwrap();
            return blobs
                .get(reference)
                .map(|m| (m.clone(), reference.to_owned()));
        }
        let (layer, diff_id) = empty_layer();
        let layer_digest = format!("sha256:{}", sha256_hex(&layer));
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"ferret.test.image": format!("{name}:{reference}")}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let digest = format!("sha256:{}", sha256_hex(&manifest));
        let mut blobs = self.blobs.lock().unwrap();
        blobs.insert(config_digest, config);
        blobs.insert(layer_digest, layer);
        blobs.insert(digest.clone(), manifest.clone());
        Some((manifest, digest))
    }
}

async fn registry_route(
    axum::extract::State(state): axum::extract::State<Arc<RegistryState>>,
    method: axum::http::Method,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let head = method == axum::http::Method::HEAD;
    if let Some((name, reference)) = path.rsplit_once("/manifests/") {
        return match state.manifest(name, reference) {
            Some((body, digest)) => (
                [
                    (
                        "content-type",
                        "application/vnd.oci.image.manifest.v1+json".to_owned(),
                    ),
                    ("docker-content-digest", digest),
                ],
                if head { Vec::new() } else { body },
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let Some((_, digest)) = path.rsplit_once("/blobs/") {
        let blob = state.blobs.lock().unwrap().get(digest).cloned();
        return match blob {
            Some(b) => (
                [("content-type", "application/octet-stream".to_owned())],
                if head { Vec::new() } else { b },
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    StatusCode::NOT_FOUND.into_response()
}

impl FakeRegistry {
    pub fn start() -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let bind = addr.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let state = Arc::new(RegistryState::default());
                let app = axum::Router::new()
                    .route("/v2/", axum::routing::get(|| async { "{}" }))
                    .route(
                        "/v2/{*path}",
                        axum::routing::get(registry_route).head(registry_route),
                    )
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind(&bind).await.unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        wait_for(&addr);
        Self {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const SECRET: &str = "s3cret";

/// A hub's configuration: a data directory, free ports, the fake registry as `local`,
/// an admin, the scanner secret, no embedded scanner.
pub struct HubSetup {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub http: String,
    pub database: Option<String>,
    /// Environment variables the hub process gets.
    pub env: Vec<(String, String)>,
}

impl HubSetup {
    pub fn new(
        dir: &Path,
        name: &str,
        registry: &str,
        database: Option<&str>,
        extra: &str,
    ) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let grpc = format!("127.0.0.1:{}", free_port());
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nhttp = {http:?}\ngrpc = {grpc:?}\nadmin_password = \"admin-pw\"\nscanner_secrets = [{SECRET:?}]\nembedded_scanner = false\n{extra}\n[[registries]]\nname = \"local\"\nurl = \"http://{registry}\"\n",
                dir.join(name).display().to_string(),
            ),
        )
        .unwrap();
        Self {
            dir: dir.to_owned(),
            config,
            http,
            database: database.map(str::to_owned),
            env: Vec::new(),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            self.config.display().to_string(),
        ];
        if let Some(url) = &self.database {
            a.extend(["--database-url".to_owned(), url.clone()]);
        }
        a
    }

    /// `ferret serve`, logging to `log`, once `/healthz` answers.
    pub fn start(&self, log: &Path) -> HubProcess {
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(crate::binary())
            .args(self.args())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("FERRET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            if http_status(&self.http, "/healthz") == Some(200) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the hub did not start: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HubProcess {
            child: Some(child),
            http: self.http.clone(),
            log: log.to_owned(),
        }
    }

    /// An API token of the first admin.
    pub fn admin_token(&self) -> String {
        let mut args = vec![
            "token".to_owned(),
            "create".to_owned(),
            "admin".to_owned(),
            "--config".to_owned(),
            self.config.display().to_string(),
        ];
        if let Some(url) = &self.database {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        let out = Command::new(crate::binary()).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The store the hub uses, opened from the test (as another process would).
    pub async fn store(&self) -> ferret_store::Store {
        let url = self.database.clone().unwrap_or_else(|| {
            format!(
                "sqlite:{}",
                self.dir
                    .join(self.config.file_stem().unwrap())
                    .join("ferret.db")
                    .display()
            )
        });
        ferret_store::Store::open(&url).await.unwrap()
    }
}

/// A running `ferret serve`; killed (`SIGKILL`) when dropped.
pub struct HubProcess {
    child: Option<Child>,
    pub http: String,
    pub log: PathBuf,
}

impl HubProcess {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.success();
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The hub's Prometheus metrics: name with labels → value.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        metrics_of(&self.http)
    }

    /// CPU seconds (user + system) used so far, and resident memory now and at its peak,
    /// in bytes.
    pub fn usage(&self) -> (f64, u64, u64) {
        process_usage(self.pid())
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// CPU seconds, RSS and peak RSS of a process.
pub fn process_usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

/// A plain HTTP/1.1 GET's status, `None` when nothing answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.get(9..12)?.parse().ok()
}

pub fn metrics_of(addr: &str) -> BTreeMap<String, f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The sum of a metric over its labels.
pub fn metric(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
        .fold(0.0, |sum, (_, v)| sum + v)
}

/// Queues scans over `POST /api/ferret/v1/scans`.
#[derive(Clone)]
pub struct Enqueuer {
    client: reqwest::Client,
    token: String,
}

/// What an enqueue returned.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub status: u16,
    pub body: Value,
    pub latency: Duration,
    pub at: Instant,
}

impl Enqueuer {
    pub fn new(token: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            token: token.to_owned(),
        }
    }

    /// Queues `local/app:<tag>` for `owner` at `priority`.
    pub async fn enqueue(&self, hub: &str, tag: &str, owner: &str, priority: i64) -> Enqueued {
        let started = Instant::now();
        let r = self
            .client
            .post(format!("http://{hub}/api/ferret/v1/scans"))
            .bearer_auth(&self.token)
            .json(&json!({"registry": "local", "repository": "app", "tag": tag, "owner": owner, "priority": priority}))
            .send()
            .await;
        let (status, body) = match r {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        };
        Enqueued {
            status,
            body,
            latency: started.elapsed(),
            at: Instant::now(),
        }
    }

    /// Queues `tags` with `parallel` requests in flight; returns each answer.
    pub async fn enqueue_many(
        &self,
        hubs: &[String],
        tags: Vec<String>,
        owners: &[&str],
        priority: i64,
        parallel: usize,
    ) -> Vec<Enqueued> {
        let owners: Vec<String> = owners.iter().map(|s| (*s).to_owned()).collect();
        let hubs = hubs.to_vec();
        futures_util::stream::iter(tags.into_iter().enumerate())
            .map(|(i, tag)| {
                let this = self.clone();
                let hub = hubs[i % hubs.len()].clone();
                let owner = owners[i % owners.len()].clone();
                async move { this.enqueue(&hub, &tag, &owner, priority).await }
            })
            .buffer_unordered(parallel)
            .collect()
            .await
    }
}

/// How a fake scanner behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers each job with a small valid result after `delay`.
    Answer(Duration),
    /// Takes jobs and never answers them (but answers pings).
    Hang,
}

/// What a fake scanner saw and did.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every job frame: (digest, seq, when it arrived).
    pub jobs: Mutex<Vec<(String, i64, Instant)>>,
    /// Results sent, per digest.
    pub results: Mutex<HashMap<String, u32>>,
    pub connects: AtomicU64,
    /// The cursor sent on each connect.
    pub cursors: Mutex<Vec<Option<i64>>>,
}

/// A scanner on a real WebSocket client, reconnecting (to the next hub of its list) with
/// the largest `seq` it has seen as its cursor.
pub struct FakeScanner {
    pub seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Set to make it hang on every job from now on.
    pub hang: Arc<AtomicBool>,
}

impl FakeScanner {
    pub fn start(hubs: Vec<String>, concurrency: usize, behaviour: Behaviour) -> Self {
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let hang = Arc::new(AtomicBool::new(behaviour == Behaviour::Hang));
        let delay = match behaviour {
            Behaviour::Answer(d) => d,
            Behaviour::Hang => Duration::ZERO,
        };
        let task = tokio::spawn(scanner_loop(
            hubs,
            concurrency,
            delay,
            seen.clone(),
            stop.clone(),
            hang.clone(),
        ));
        Self {
            seen,
            stop,
            task: Some(task),
            hang,
        }
    }

    pub async fn stop(mut self) -> Arc<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.seen.clone()
    }

    pub fn results_sent(&self) -> u32 {
        self.seen.results.lock().unwrap().values().sum()
    }
}

impl Drop for FakeScanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The result a scanner sends: an SBOM and a report naming the image, so each result is
/// distinct content.
pub fn fake_result(job: &ScanJob) -> String {
    let report = json!({"matches": [{
        "vulnerability": {"id": "CVE-2024-0001", "severity": "High", "dataSource": "https://security-tracker.debian.org/tracker/CVE-2024-0001", "fix": {"versions": ["1.1"], "state": "fixed"}},
        "artifact": {"name": "openssl", "version": "1.0", "type": "deb", "purl": "pkg:deb/debian/openssl@1.0"}
    }], "source": {"target": job.digest}});
    let sbom = json!({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": job.digest});
    result_frame(
        job,
        Ok(ScanOutput {
            sbom: serde_json::to_vec(&sbom).unwrap(),
            report: serde_json::to_vec(&report).unwrap(),
            summary: AtcrSummary {
                high: 1,
                total: 1,
                ..AtcrSummary::default()
            },
        }),
    )
}

async fn scanner_loop(
    hubs: Vec<String>,
    concurrency: usize,
    delay: Duration,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
) {
    let mut cursor: Option<i64> = None;
    let mut next = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let hub = &hubs[next % hubs.len()];
        let mut url =
            format!("ws://{hub}/xrpc/io.atcr.hold.subscribeScanJobs?concurrency={concurrency}");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("X-Scanner-Secret", SECRET.parse().unwrap());
        let ws = match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => ws,
            Err(_) => {
                next += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        seen.connects.fetch_add(1, Ordering::SeqCst);
        seen.cursors.lock().unwrap().push(cursor);
        let (mut tx, mut rx) = ws.split();
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = tx.send(Message::Close(None)).await;
                return;
            }
            tokio::select! {
                msg = rx.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(e) = ErrorFrame::parse(t.as_str()) {
                            // FutureCursor: the log is shorter than we saw (a new
                            // database); the hub closes, and we resume from its head.
                            if e.error == "FutureCursor" {
                                cursor = None;
                            }
                            continue;
                        }
                        let Ok(job) = parse_job(t.as_str()) else { continue };
                        cursor = Some(cursor.map_or(job.seq, |c| c.max(job.seq)));
                        seen.jobs.lock().unwrap().push((job.digest.clone(), job.seq, Instant::now()));
                        if hang.load(Ordering::SeqCst) {
                            continue;
                        }
                        let out = out_tx.clone();
                        tokio::spawn(async move {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            let _ = out.send((job.digest.clone(), fake_result(&job)));
                        });
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
                Some((digest, frame)) = out_rx.recv() => {
                    if tx.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                    *seen.results.lock().unwrap().entry(digest).or_default() += 1;
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        // Results of the jobs in hand are dropped with the connection, as `ferret scanner`
        // drops them.
        next += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads every scan in the store: READY scans per digest, and scans not finished.
pub async fn outcomes(store: &ferret_store::Store) -> (BTreeMap<String, u32>, u32, u32) {
    use ferret_store::{ScanFilter, ScanKey, ScanStatus, ScanStore};
    let mut ready: BTreeMap<String, u32> = BTreeMap::new();
    let (mut running, mut errors) = (0, 0);
    let mut after: Option<ScanKey> = None;
    loop {
        let page = store
            .scans(&ScanFilter::default(), after.as_ref(), 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ScanKey::of(last));
        for s in &page {
            match s.status {
                ScanStatus::Ready => *ready.entry(s.digest.clone()).or_default() += 1,
                ScanStatus::Running => running += 1,
                ScanStatus::Error => errors += 1,
            }
        }
    }
    (ready, running, errors)
}

/// Waits until `done` holds, checking every 100 ms, for at most `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh schema on the test PostgreSQL, as a URL; `None` (said loudly) without one.
pub fn postgres(label: &str) -> Option<String> {
    crate::service::postgres_schema_url(label)
}

/// The metrics identity every hub keeps: each lease it took ended once or is held.
pub fn leases_add_up(m: &BTreeMap<String, f64>) -> Result<(), String> {
    let dispatched = metric(m, "ferret_jobs_dispatched_total");
    let ended = metric(m, "ferret_leases_ended_total");
    if (dispatched - ended).abs() > 0.5 {
        return Err(format!(
            "dispatched {dispatched} but {ended} leases ended: {:?}",
            m.iter()
                .filter(|(k, _)| k.starts_with("ferret_"))
                .collect::<Vec<_>>()
        ));
    }
    Ok(())
}
