//! The subscription against a real hub (served on loopback from this process) and real
//! WebSocket clients (tokio-tungstenite, and a scanner written in Python with `websockets`
//! from the lexicon alone, `tests/clients/scanner.py`): cursors, leases, disconnects,
//! pings, attempts, results, error frames, close codes. Every frame either side sends is
//! then checked by the AT Protocol's own code, `@atproto/lexicon` and
//! `@atproto/xrpc-server` (`tests/lexicon/validate.cjs`).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferret_hub::{Hub, HubConfig};
use ferret_store::{JobRequest, JobState, JobStore, ScanStatus, ScanStore};
use ferret_worker::ScanOutput;
use ferret_worker::frames::{AtcrSummary, ScanJob};
use ferret_worker::remote::result_frame;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct TestHub {
    hub: Arc<Hub>,
    addr: String,
    frames: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<Value>>>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(max_attempts: i64, ping: Duration) -> TestHub {
    start_with(max_attempts, ping, Duration::from_secs(1800)).await
}

async fn start_with(max_attempts: i64, ping: Duration, lease_timeout: Duration) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::new(dir.path().join("data"));
    let port = free_port();
    config.http = format!("127.0.0.1:{port}").parse().unwrap();
    config.grpc = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    config.secrets = vec!["s3cret".to_owned()];
    config.embedded_scanner = false;
    config.ping_interval = ping;
    config.max_attempts = max_attempts;
    config.max_interruptions = max_attempts;
    config.lease_timeout = lease_timeout;
    config.hub_did = "did:web:127.0.0.1".to_owned();
    let hub = Hub::open(config).await.unwrap();
    tokio::spawn(ferret_hub::serve(hub.clone()));
    let addr = format!("127.0.0.1:{port}");
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TestHub {
        hub,
        addr,
        frames: Arc::new(Mutex::new(Vec::new())),
        errors: Arc::new(Mutex::new(Vec::new())),
        _dir: dir,
    }
}

impl TestHub {
    async fn submit(&self, n: u32, owner: &str, priority: i64) -> ferret_store::Job {
        let job = self
            .hub
            .store
            .submit(&JobRequest {
                digest: format!("sha256:{n:064x}"),
                registry: "local".to_owned(),
                repository: "app".to_owned(),
                tag: Some("1.0".to_owned()),
                owner: owner.to_owned(),
                hold_did: "did:web:127.0.0.1".to_owned(),
                hold_endpoint: "http://127.0.0.1:5000".to_owned(),
                priority,
                reason: ferret_store::ScanReason::Request,
            })
            .await
            .unwrap()
            .job;
        self.hub.queued();
        job
    }

    async fn connect(&self, query: &str) -> Ws {
        self.try_connect(query).await.unwrap()
    }

    async fn try_connect(&self, query: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let url = format!(
            "ws://{}/xrpc/io.atcr.hold.subscribeScanJobs{query}",
            self.addr
        );
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("X-Scanner-Secret", "s3cret".parse().unwrap());
        tokio_tungstenite::connect_async(req).await.map(|c| c.0)
    }

    /// The next job frame within `wait`, answering pings on the way; error frames on the
    /// way are kept (`errors`).
    async fn next_job(&self, ws: &mut Ws, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
            match msg.ok()? {
                Message::Text(t) => {
                    self.frames.lock().unwrap().push(t.to_string());
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["op"] == -1 {
                        self.errors.lock().unwrap().push(v);
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn send(&self, ws: &mut Ws, frame: String) {
        self.frames.lock().unwrap().push(frame.clone());
        ws.send(Message::Text(frame.into())).await.unwrap();
    }

    /// Runs `@atproto/lexicon` over every frame seen.
    fn validate_frames(&self) {
        let frames = self.frames.lock().unwrap().clone();
        assert!(!frames.is_empty());
        let file = self._dir.path().join("frames.jsonl");
        std::fs::write(&file, frames.join("\n") + "\n").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lexicon/validate.cjs");
        let lexicon = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/lexicons/io.atcr.hold.subscribeScanJobs.json");
        let out = std::process::Command::new("node")
            .arg(script)
            .arg(lexicon)
            .arg(&file)
            .output();
        let ran = out
            .as_ref()
            .is_ok_and(|o| !String::from_utf8_lossy(&o.stderr).contains("Cannot find module"));
        if !ran {
            assert!(
                std::env::var_os("CI").is_none(),
                "node with @atproto/lexicon is required in CI (.ci/run installs it)"
            );
            eprintln!(
                "\n*** SKIPPED: node with @atproto/lexicon is not available; frames were not validated ***\n"
            );
            return;
        }
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "frames the lexicon refuses:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let checked = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(checked, frames.len());
    }
}

fn job_frame(v: &Value) -> ScanJob {
    serde_json::from_value(v.clone()).unwrap()
}

/// What `ferret scanner` sends for a finished scan: a small SPDX SBOM and a Grype report.
fn good_result(job: &ScanJob) -> String {
    let report = serde_json::json!({"matches": [{
        "vulnerability": {"id": "CVE-2024-0001", "severity": "High", "dataSource": "https://security-tracker.debian.org/tracker/CVE-2024-0001", "fix": {"versions": ["3.0.13-1~deb12u1"], "state": "fixed"}},
        "artifact": {"name": "openssl", "version": "3.0.11-1~deb12u2", "type": "deb", "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2"}
    }]});
    result_frame(
        job,
        Ok(ScanOutput {
            sbom: br#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT"}"#.to_vec(),
            report: serde_json::to_vec(&report).unwrap(),
            summary: AtcrSummary {
                high: 1,
                total: 1,
                ..AtcrSummary::default()
            },
        }),
    )
}

const SHORT: Duration = Duration::from_millis(600);
const LONG: Duration = Duration::from_secs(10);

/// `cursor` is a log position, not a filter: a scanner resuming at N still gets every
/// queued job, older ones included; -1 asks for new jobs only; a cursor beyond the log is
/// refused with `FutureCursor`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_deliver_exactly_the_documented_jobs() {
    let t = start(3, Duration::from_secs(30)).await;
    let j1 = t.submit(1, "did:web:a", 1).await;
    let j2 = t.submit(2, "did:web:a", 1).await;
    let j3 = t.submit(3, "did:web:a", 1).await;
    // Beyond the log's end: an error frame, then the close (1008), as AT Protocol
    // subscriptions answer it.
    let mut future = t.connect(&format!("?cursor={}", j3.seq + 1)).await;
    assert!(t.next_job(&mut future, LONG).await.is_none());
    let errors = t.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["error"], "FutureCursor");
    // -1: nothing already queued, then what is queued afterwards.
    let mut live = t.connect("?cursor=-1&concurrency=5").await;
    assert!(t.next_job(&mut live, SHORT).await.is_none());
    let j4 = t.submit(4, "did:web:a", 1).await;
    let got = t.next_job(&mut live, LONG).await.unwrap();
    assert_eq!(got["seq"], j4.seq);
    assert!(t.next_job(&mut live, SHORT).await.is_none());
    // N: a resuming scanner is offered every queued job, in queue order, even those at or
    // below N.
    let mut resumed = t
        .connect(&format!("?cursor={}&concurrency=2", j3.seq))
        .await;
    let a = t.next_job(&mut resumed, LONG).await.unwrap();
    let b = t.next_job(&mut resumed, LONG).await.unwrap();
    assert_eq!(
        (a["seq"].as_i64(), b["seq"].as_i64()),
        (Some(j1.seq), Some(j2.seq))
    );
    // None: every queued job (here the one left).
    let mut all = t.connect("").await;
    let c = t.next_job(&mut all, LONG).await.unwrap();
    assert_eq!(c["seq"], j3.seq);
    assert_eq!(c["type"], "scan_job");
    assert_eq!(c["$type"], "io.atcr.hold.subscribeScanJobs#scanJob");
    assert_eq!(c["holdDid"], "did:web:127.0.0.1");
    t.validate_frames();
}

/// A lease that outlives the lease timeout ends on time and frees the slot; the job goes to
/// the next idle scanner; the first scanner's late result is refused while the other holds
/// the job, and the other's result completes it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_frees_the_slot_and_late_results_have_one_outcome() {
    let t = start_with(3, Duration::from_secs(30), Duration::from_secs(1)).await;
    let job = t.submit(1, "did:web:a", 1).await;
    let mut hung = t.connect("").await;
    let first = t.next_job(&mut hung, LONG).await.unwrap();
    let mut idle = t.connect("").await;
    // On time, the job moves to the idle scanner under a new seq.
    let moved = t.next_job(&mut idle, Duration::from_secs(5)).await.unwrap();
    assert_eq!(moved["digest"], first["digest"]);
    assert!(moved["seq"].as_i64() > first["seq"].as_i64());
    // The hung scanner's slot is free: it takes the next job.
    let next = t.submit(2, "did:web:a", 1).await;
    let second = t.next_job(&mut hung, LONG).await.unwrap();
    assert_eq!(second["digest"], next.digest.as_str());
    // Its late result for the first job is refused: the job is the idle scanner's now.
    t.send(&mut hung, good_result(&job_frame(&first))).await;
    tokio::time::sleep(SHORT).await;
    let now = t.hub.store.job(&job.id).await.unwrap().unwrap();
    assert_eq!(now.state, JobState::Leased);
    assert_eq!(
        t.hub
            .store
            .scan(&job.scan_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ScanStatus::Running
    );
    // The holder's result completes it.
    t.send(&mut idle, good_result(&job_frame(&moved))).await;
    let done = loop {
        let j = t.hub.store.job(&job.id).await.unwrap().unwrap();
        if j.state != JobState::Leased {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done.state, JobState::Done);
    assert_eq!(
        (done.dispatches, done.interruptions, done.attempts),
        (2, 1, 0)
    );
    t.validate_frames();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_scanner_and_leases_lost_are_redelivered() {
    let t = start(3, Duration::from_secs(30)).await;
    t.submit(1, "did:web:a", 1).await;
    t.submit(2, "did:web:a", 1).await;
    let mut a = t.connect("").await;
    let mut b = t.connect("").await;
    let ja = t.next_job(&mut a, LONG).await.unwrap();
    let jb = t.next_job(&mut b, LONG).await.unwrap();
    assert_ne!(
        ja["digest"], jb["digest"],
        "two scanners never get the same job"
    );
    // One at a time: a third job is not a's while it holds one; another scanner takes it.
    t.submit(3, "did:web:a", 1).await;
    assert!(t.next_job(&mut a, SHORT).await.is_none());
    let mut x = t.connect("").await;
    let jx = t.next_job(&mut x, LONG).await.unwrap();
    t.send(&mut x, good_result(&job_frame(&jx))).await;
    // x leaves, or it would take the next job itself.
    drop(x);
    // a disconnects mid-job: its job comes back with a new seq.
    drop(a);
    let mut c = t.connect(&format!("?cursor={}", ja["seq"])).await;
    let again = t.next_job(&mut c, LONG).await.unwrap();
    assert_eq!(again["digest"], ja["digest"]);
    assert!(again["seq"].as_i64() > ja["seq"].as_i64());
    drop(b);
    t.validate_frames();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_that_stops_answering_pings_loses_its_lease() {
    let t = start(3, Duration::from_millis(500)).await;
    t.submit(1, "did:web:a", 1).await;
    let mut silent = t.connect("").await;
    let job = t.next_job(&mut silent, LONG).await.unwrap();
    // `silent` is never read again, so it answers no ping; the next scanner gets the job.
    let mut d = t.connect("").await;
    let redelivered = t.next_job(&mut d, LONG).await.unwrap();
    assert_eq!(redelivered["digest"], job["digest"]);
    assert!(redelivered["seq"].as_i64() > job["seq"].as_i64());
    t.validate_frames();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_errors_invalid_results_and_attempts() {
    let t = start(2, Duration::from_secs(30)).await;
    let job = t.submit(1, "did:web:a", 1).await;
    let mut ws = t.connect("").await;
    let frame = t.next_job(&mut ws, LONG).await.unwrap();
    // An invalid result fails the attempt, with the reason.
    let mut bad: Value = serde_json::from_str(&good_result(&job_frame(&frame))).unwrap();
    bad["summary"]["high"] = serde_json::json!(-1);
    ws.send(Message::Text(bad.to_string().into()))
        .await
        .unwrap();
    let again = t.next_job(&mut ws, LONG).await.unwrap();
    assert_eq!(again["digest"], frame["digest"]);
    let requeued = t.hub.store.job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        requeued.last_error.as_deref(),
        Some("invalid result: summary.high: -1 is negative")
    );
    // A good result: READY, findings stored, the latest record written.
    t.send(&mut ws, good_result(&job_frame(&again))).await;
    let scan = loop {
        let s = t.hub.store.scan(&job.scan_id).await.unwrap().unwrap();
        if s.status != ScanStatus::Running {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(scan.status, ScanStatus::Ready);
    assert_eq!(scan.counts.high, 1);
    assert_eq!(
        scan.scanner_version.as_deref(),
        Some(ferret_worker::scanner_version().as_str())
    );
    let latest = t.hub.store.latest(&job.digest).await.unwrap().unwrap();
    assert_eq!(latest.record["$type"], "io.atcr.hold.scan");
    assert_eq!(latest.record["high"], 1);
    assert!(
        latest.record["sbomBlob"]["ref"]["$link"]
            .as_str()
            .unwrap()
            .starts_with("bafkrei")
    );
    // A repeat is ignored.
    t.send(&mut ws, good_result(&job_frame(&again))).await;
    tokio::time::sleep(SHORT).await;
    assert_eq!(t.hub.store.scan(&job.scan_id).await.unwrap().unwrap(), scan);

    // A scanner's error ends the scan in ERROR at once.
    let other = t.submit(2, "did:web:a", 1).await;
    let f = t.next_job(&mut ws, LONG).await.unwrap();
    t.send(
        &mut ws,
        result_frame(&job_frame(&f), Err("pull failed: 404".to_owned())),
    )
    .await;
    tokio::time::sleep(SHORT).await;
    let s = t.hub.store.scan(&other.scan_id).await.unwrap().unwrap();
    assert_eq!(
        (s.status, s.error.as_deref()),
        (ScanStatus::Error, Some("pull failed: 404"))
    );

    // Lost twice (at most 2 interruptions here): ERROR with the last reason. (A lease
    // can also be lost to `ws` if the hub has not yet seen it close.)
    drop(ws);
    let third = t.submit(3, "did:web:a", 1).await;
    for _ in 0..2 {
        let mut w = t.connect("").await;
        if t.next_job(&mut w, SHORT).await.is_none() {
            break;
        }
        drop(w);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let failed = loop {
        let j = t.hub.store.job(&third.id).await.unwrap().unwrap();
        if j.state != JobState::Queued && j.state != JobState::Leased {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.state, JobState::Error);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .ends_with("(lease lost 2 times)"),
        "{failed:?}"
    );
    t.validate_frames();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_and_fair_share_over_the_wire() {
    let t = start(3, Duration::from_secs(30)).await;
    for n in 0..3 {
        t.submit(10 + n, "did:web:alice", 2).await;
    }
    t.submit(20, "did:web:bob", 2).await;
    t.submit(30, "did:web:carol", 0).await;
    let mut ws = t.connect("").await;
    let mut owners = Vec::new();
    for _ in 0..5 {
        let f = t.next_job(&mut ws, LONG).await.unwrap();
        owners.push(f["userDid"].as_str().unwrap().to_owned());
        assert!(f["priority"].is_i64());
        t.send(&mut ws, good_result(&job_frame(&f))).await;
    }
    assert_eq!(
        owners,
        [
            "did:web:carol",
            "did:web:alice",
            "did:web:bob",
            "did:web:alice",
            "did:web:alice"
        ]
    );
    t.validate_frames();
}

/// The Python scanner (`tests/clients/scanner.py`) running one scenario, its events read
/// as they come.
struct PyScanner {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<Value>,
}

impl PyScanner {
    /// Starts a scenario; `None` (said loudly, and never in CI) when Python with
    /// `websockets` is not available.
    fn start(t: &TestHub, query: &str, scenario: &str, env: &[(&str, &str)]) -> Option<Self> {
        let python = std::env::var("FERRET_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let has = std::process::Command::new(&python)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has {
            assert!(
                std::env::var_os("CI").is_none(),
                "Python with websockets is required in CI (.ci/run installs it)"
            );
            eprintln!("\n*** SKIPPED: Python with websockets is not available ***\n");
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/scanner.py");
        let url = format!("ws://{}/xrpc/io.atcr.hold.subscribeScanJobs{query}", t.addr);
        let mut child = std::process::Command::new(&python)
            .arg(script)
            .args([url.as_str(), "s3cret", scenario])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        let frames = t.frames.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let event: Value = serde_json::from_str(&line).unwrap();
                // Every JSON frame either side sent is checked against the lexicon later.
                for key in ["sent", "received"] {
                    if let Some(text) = event[key].as_str()
                        && serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
                    {
                        frames.lock().unwrap().push(text.to_owned());
                    }
                }
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        Some(Self { child, events })
    }

    /// The next event, within `wait`.
    fn next(&self, wait: Duration) -> Option<Value> {
        tokio::task::block_in_place(|| self.events.recv_timeout(wait).ok())
    }

    /// Every event left, once the scanner has exited (which it must, within a minute).
    fn finish(mut self) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(e) = self.next(Duration::from_secs(60)) {
            all.push(e);
        }
        let status = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        assert!(status.success(), "the Python scanner failed: {status}");
        all
    }
}

/// The error frames among a scanner's events: (error, message).
fn error_frames(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| e["received"].as_str())
        .filter_map(|t| serde_json::from_str::<Value>(t).ok())
        .filter(|v| v["op"] == -1)
        .map(|v| {
            (
                v["error"].as_str().unwrap_or_default().to_owned(),
                v["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A scanner written from the lexicon alone: frames the hub cannot use are answered with
/// error frames and the connection goes on; a report that disagrees with its summary is
/// refused naming both; a result with neither `sbom` nor `vulnReport` (both optional in the
/// lexicon) is kept, counted by its summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lexicon_scanner_gets_error_frames_and_its_results_without_blobs_are_kept() {
    let t = start(3, Duration::from_secs(30)).await;
    let job = t.submit(1, "did:web:a", 1).await;
    let Some(py) = PyScanner::start(&t, "", "protocol", &[]) else {
        return;
    };
    let events = py.finish();
    let errors = error_frames(&events);
    let names: Vec<&str> = errors.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        ["InvalidFrame", "InvalidFrame", "NotLeased", "InvalidResult"],
        "{events:#?}"
    );
    let (_, disagree) = &errors[3];
    assert!(
        disagree.contains("summary (critical 0, high 0, medium 0, low 0, total 0)")
            && disagree.contains("vulnReport (critical 0, high 1, medium 0, low 0, total 1)"),
        "{disagree}"
    );
    // The job came back after the refused attempt, and nothing answered the good result.
    let jobs = events
        .iter()
        .filter_map(|e| e["received"].as_str())
        .filter(|t| t.contains("\"scan_job\""))
        .count();
    assert_eq!(jobs, 2, "{events:#?}");
    assert!(events.iter().any(|e| e["quiet"] == true), "{events:#?}");
    let scan = t.hub.store.scan(&job.scan_id).await.unwrap().unwrap();
    assert_eq!(scan.status, ScanStatus::Ready);
    assert_eq!(
        (
            scan.counts.critical,
            scan.counts.high,
            scan.counts.unknown,
            scan.counts.total()
        ),
        (1, 2, 1, 4)
    );
    assert_eq!((scan.sbom_blob, scan.report_blob), (None, None));
    let latest = t.hub.store.latest(&job.digest).await.unwrap().unwrap();
    assert_eq!(latest.record["critical"], 1);
    assert!(latest.record.get("sbomBlob").is_none());
    t.validate_frames();
}

/// A cursor beyond the job log: a `FutureCursor` error frame, then the close (1008 with the
/// error's name), as AT Protocol subscriptions answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_cursor_gets_an_error_frame_and_a_close() {
    let t = start(3, Duration::from_secs(30)).await;
    let job = t.submit(1, "did:web:a", 1).await;
    let query = format!("?cursor={}", job.seq + 10);
    let Some(py) = PyScanner::start(&t, &query, "future-cursor", &[]) else {
        return;
    };
    let events = py.finish();
    let errors = error_frames(&events);
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert_eq!(errors[0].0, "FutureCursor");
    assert!(
        errors[0].1.contains("beyond the job log's end"),
        "{errors:?}"
    );
    let closed = events.iter().find(|e| e.get("closed").is_some()).unwrap();
    assert_eq!(closed["closed"], 1008);
    assert_eq!(closed["reason"], "FutureCursor");
    t.validate_frames();
}

/// Close codes a scanner can act on: 1009 for a frame beyond the cap (two 100 MiB blobs,
/// base64-encoded: a 210 MiB blob is one), 1001 when the hub shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_close_with_1009_and_shutdown_with_1001() {
    let t = start(3, Duration::from_secs(30)).await;
    t.submit(1, "did:web:a", 1).await;
    let Some(py) = PyScanner::start(&t, "", "oversized", &[("OVERSIZED_MIB", "210")]) else {
        return;
    };
    let events = py.finish();
    let closed = events.iter().find(|e| e.get("closed").is_some());
    assert_eq!(
        closed.map(|c| &c["closed"]),
        Some(&Value::from(1009)),
        "{events:#?}"
    );

    let Some(idle) = PyScanner::start(&t, "?cursor=-1", "idle", &[]) else {
        return;
    };
    assert_eq!(idle.next(LONG).unwrap()["connected"], true);
    t.hub.stop();
    let events = idle.finish();
    let closed = events.iter().find(|e| e.get("closed").is_some());
    assert_eq!(
        closed.map(|c| &c["closed"]),
        Some(&Value::from(1001)),
        "{events:#?}"
    );
}
