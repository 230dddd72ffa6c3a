//! The queue benchmark (`cargo bench -p ferret --bench queue`; `bench/queue.sh` runs it
//! and keeps the output). A release `ferret serve` runs as its own process on loopback,
//! with a fake registry (any tag is an image of its own) and fake scanners on real
//! WebSocket clients in this process, on SQLite and, when `FERRET_TEST_POSTGRES_URL` is
//! set, on PostgreSQL. Every figure includes the clients' work on the same cores.
//!
//! - enqueue: `POST /api/ferret/v1/scans` with 32 in flight, jobs/s;
//! - drain: with 1, 10 and 50 scanners (one job at a time each, answered at once with a
//!   small SBOM and report of its own), jobs completed per second while the queue holds
//!   0, 5,000 and 20,000 more jobs behind the ones timed;
//! - enqueue → frame: 10 idle scanners, jobs queued at 30/s, from the enqueue's answer to
//!   the job frame's arrival, p50 / p99;
//! - cross-hub wake-up (PostgreSQL): jobs queued on one hub at 10/s, scanners only on
//!   another, from the enqueue's answer to the frame, p50 / p99;
//! - starvation: `/healthz` latency p50 / p99 while 2,000 connections dribble headers,
//!   while 19,000 half-sent requests are held open, while four scanners send 100 MiB frames
//!   at once, and while a wrong secret is tried as fast as one client can;
//! - the hub's CPU seconds and RSS.
//!
//! `BENCH_ONLY=enqueue,drain,latency,wakeup,starve` picks parts; `BENCH_JOBS` sets how many
//! jobs each drain times (default 4,000), `BENCH_DEPTHS` and `BENCH_SCANNERS` which depths
//! and fleets it runs (default 0,5000,20000 and 1,10,50), `BENCH_BLOB_STORE` a blob store
//! other than the hub's data directory.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferret_testsupport::queue::*;
use tokio::io::AsyncWriteExt;

fn wanted(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |v| v.split(',').any(|p| p == part))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Bench {
    registry: FakeRegistry,
    dir: tempfile::TempDir,
    postgres: bool,
    n: usize,
}

impl Bench {
    /// A hub of its own: a fresh data directory, or a fresh PostgreSQL schema.
    fn setup(&self, name: &str, extra: &str) -> HubSetup {
        let database = self
            .postgres
            .then(|| postgres(&format!("bench_{name}")))
            .flatten();
        // BENCH_BLOB_STORE puts the hub's blobs elsewhere (another disk, an S3 bucket).
        let extra = match std::env::var("BENCH_BLOB_STORE") {
            Ok(store) => format!("{extra}\nblob_store = {:?}", format!("{store}/{name}")),
            Err(_) => extra.to_owned(),
        };
        HubSetup::new(
            self.dir.path(),
            name,
            &self.registry.addr,
            database.as_deref(),
            &extra,
        )
    }

    /// Two hubs on one database.
    fn pair(&self, a: &str, b: &str) -> (HubSetup, HubSetup) {
        let first = self.setup(a, "");
        let second = HubSetup::new(
            self.dir.path(),
            b,
            &self.registry.addr,
            first.database.as_deref(),
            "",
        );
        (first, second)
    }

    fn label(&self) -> &'static str {
        if self.postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

/// Completed jobs so far, from the hub's metrics.
fn completed(hub: &HubProcess) -> f64 {
    metric(&hub.metrics(), "ferret_jobs_completed_total")
}

async fn enqueue_rate(b: &Bench) {
    let setup = b.setup("enqueue", "");
    let hub = setup.start(&b.dir.path().join("enqueue.log"));
    let enqueuer = Enqueuer::new(&setup.admin_token());
    let (cpu0, _, _) = hub.usage();
    let started = Instant::now();
    let answers = enqueuer
        .enqueue_many(
            std::slice::from_ref(&setup.http),
            (0..b.n).map(|i| format!("e{i}")).collect(),
            &["did:ferret:a", "did:ferret:b", "did:ferret:c"],
            1,
            32,
        )
        .await;
    let took = started.elapsed();
    assert!(answers.iter().all(|a| a.status == 202));
    let (cpu, rss, peak) = hub.usage();
    let mut lat: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    lat.sort();
    println!(
        "{}: enqueue {} jobs, 32 in flight: {:.0} jobs/s, p50 {:.1} ms p99 {:.1} ms; hub CPU {:.2} s ({:.0}% of a core), RSS {} MiB (peak {} MiB)",
        b.label(),
        b.n,
        b.n as f64 / took.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        cpu - cpu0,
        (cpu - cpu0) / took.as_secs_f64() * 100.0,
        rss >> 20,
        peak >> 20
    );
}

/// A list from an environment variable (`BENCH_DEPTHS`, `BENCH_SCANNERS`), or the default.
fn list(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

async fn drain(b: &Bench) {
    for depth in list("BENCH_DEPTHS", &[0, 5_000, 20_000]) {
        let setup = b.setup(&format!("drain{depth}"), "");
        let hub = setup.start(&b.dir.path().join(format!("drain{depth}.log")));
        let enqueuer = Enqueuer::new(&setup.admin_token());
        let owners = [
            "did:ferret:a",
            "did:ferret:b",
            "did:ferret:c",
            "did:ferret:d",
        ];
        let mut next_tag = 0usize;
        let mut fill = |count: usize| {
            let tags: Vec<String> = (next_tag..next_tag + count)
                .map(|i| format!("d{i}"))
                .collect();
            next_tag += count;
            tags
        };
        let tags = fill(depth + b.n);
        let answers = enqueuer
            .enqueue_many(std::slice::from_ref(&setup.http), tags, &owners, 1, 32)
            .await;
        assert!(answers.iter().all(|a| a.status == 202));
        for scanners in list("BENCH_SCANNERS", &[1, 10, 50]) {
            let before = completed(&hub);
            let (cpu0, _, _) = hub.usage();
            let started = Instant::now();
            let fleet: Vec<FakeScanner> = (0..scanners)
                .map(|_| {
                    FakeScanner::start(
                        vec![setup.http.clone()],
                        1,
                        Behaviour::Answer(Duration::ZERO),
                    )
                })
                .collect();
            let target = before + b.n as f64;
            loop {
                if completed(&hub) >= target {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let took = started.elapsed();
            let (cpu, rss, _) = hub.usage();
            for f in fleet {
                f.stop().await;
            }
            println!(
                "{}: drain {} jobs with {scanners:>2} scanners, {depth:>5} more queued: {:>6.0} jobs/s; hub CPU {:.0}% of a core, RSS {} MiB",
                b.label(),
                b.n,
                b.n as f64 / took.as_secs_f64(),
                (cpu - cpu0) / took.as_secs_f64() * 100.0,
                rss >> 20
            );
            // Top the queue up again: the next run sees the same depth.
            let answers = enqueuer
                .enqueue_many(std::slice::from_ref(&setup.http), fill(b.n), &owners, 1, 32)
                .await;
            assert!(answers.iter().all(|a| a.status == 202));
            // Let the scanners' leases end before the next fleet.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (_, _, peak) = hub.usage();
        println!(
            "{}: hub peak RSS over the drains at depth {depth}: {} MiB",
            b.label(),
            peak >> 20
        );
    }
}

/// Frames' arrival after their enqueue: `answers` (digest → answered at) against what the
/// scanners saw.
fn arrival(answers: &[Enqueued], seen: &[std::sync::Arc<Seen>]) -> Vec<Duration> {
    let mut frames = std::collections::HashMap::new();
    for s in seen {
        for (digest, _, at) in s.jobs.lock().unwrap().iter() {
            frames.entry(digest.clone()).or_insert(*at);
        }
    }
    let mut lat: Vec<Duration> = answers
        .iter()
        .filter_map(|a| {
            let at = frames.get(a.body["digest"].as_str()?)?;
            Some(at.saturating_duration_since(a.at))
        })
        .collect();
    lat.sort();
    lat
}

/// Queues `count` jobs at `rate` per second on `hub`, one at a time.
async fn paced(
    enqueuer: &Enqueuer,
    hub: &str,
    prefix: &str,
    count: usize,
    rate: f64,
) -> Vec<Enqueued> {
    let mut out = Vec::with_capacity(count);
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(every);
    let mut handles = Vec::new();
    for i in 0..count {
        tick.tick().await;
        let (e, hub, tag) = (enqueuer.clone(), hub.to_owned(), format!("{prefix}{i}"));
        handles.push(tokio::spawn(async move {
            e.enqueue(&hub, &tag, "did:ferret:a", 0).await
        }));
    }
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn latency(b: &Bench) {
    let setup = b.setup("latency", "");
    let hub = setup.start(&b.dir.path().join("latency.log"));
    let enqueuer = Enqueuer::new(&setup.admin_token());
    let fleet: Vec<FakeScanner> = (0..10)
        .map(|_| {
            FakeScanner::start(
                vec![setup.http.clone()],
                1,
                Behaviour::Answer(Duration::ZERO),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, _, _) = hub.usage();
    let started = Instant::now();
    let answers = paced(&enqueuer, &setup.http, "l", 600, 30.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let took = started.elapsed();
    let (cpu, rss, _) = hub.usage();
    let mut seen = Vec::new();
    for f in fleet {
        seen.push(f.stop().await);
    }
    let lat = arrival(&answers, &seen);
    let mut post: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    post.sort();
    println!(
        "{}: enqueue → frame at 30 jobs/s, 10 idle scanners, {} jobs: p50 {:.2} ms p99 {:.2} ms max {:.2} ms (the enqueue itself: p50 {:.2} ms p99 {:.2} ms); hub CPU {:.0}% of a core, RSS {} MiB",
        b.label(),
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        ms(percentile(&post, 0.5)),
        ms(percentile(&post, 0.99)),
        (cpu - cpu0) / took.as_secs_f64() * 100.0,
        rss >> 20
    );
}

async fn wakeup(b: &Bench) {
    let (a, c) = b.pair("wake_a", "wake_b");
    let _hub_a = a.start(&b.dir.path().join("wake_a.log"));
    let _hub_b = c.start(&b.dir.path().join("wake_b.log"));
    let enqueuer = Enqueuer::new(&a.admin_token());
    let fleet: Vec<FakeScanner> = (0..10)
        .map(|_| FakeScanner::start(vec![c.http.clone()], 1, Behaviour::Answer(Duration::ZERO)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = paced(&enqueuer, &a.http, "w", 200, 10.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = Vec::new();
    for f in fleet {
        seen.push(f.stop().await);
    }
    let lat = arrival(&answers, &seen);
    println!(
        "{}: cross-hub wake-up (queued on one hub, scanners on the other), {} jobs at 10/s: p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        b.label(),
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );
}

/// `/healthz` round trips on fresh connections every 20 ms while `load` runs; p50, p99,
/// max, and how many failed.
async fn health_during(
    addr: &str,
    load: impl std::future::Future<Output = ()>,
) -> (Vec<Duration>, usize) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The probe stands for an outside monitor: a thread of its own with blocking I/O, so
    // the load generators' work on this process's runtime does not delay it.
    let probe = {
        let (addr, stop) = (addr.to_owned(), stop.clone());
        std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let mut lat = Vec::new();
            let mut failed = 0;
            let limit = Duration::from_secs(5);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                let ok = (|| {
                    let addr: std::net::SocketAddr = addr.parse().ok()?;
                    let mut s = std::net::TcpStream::connect_timeout(&addr, limit).ok()?;
                    s.set_read_timeout(Some(limit)).ok()?;
                    s.set_write_timeout(Some(limit)).ok()?;
                    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .ok()?;
                    let mut out = Vec::new();
                    s.read_to_end(&mut out).ok()?;
                    out.starts_with(b"HTTP/1.1 200").then_some(())
                })();
                match ok {
                    Some(()) => lat.push(started.elapsed()),
                    None => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (lat, failed)
        })
    };
    load.await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut lat, failed) = tokio::task::spawn_blocking(move || probe.join().unwrap())
        .await
        .unwrap();
    lat.sort();
    (lat, failed)
}

fn report_health(label: &str, case: &str, (lat, failed): (Vec<Duration>, usize)) {
    println!(
        "{label}: /healthz while {case}: {} checks, p50 {:.2} ms p99 {:.2} ms max {:.2} ms, {failed} failed",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
}

async fn starve(b: &Bench) {
    let setup = b.setup("starve", "");
    let hub = setup.start(&b.dir.path().join("starve.log"));
    let addr = setup.http.clone();
    report_health(
        b.label(),
        "idle",
        health_during(&addr, tokio::time::sleep(Duration::from_secs(3))).await,
    );
    // 2,000 connections dribbling headers, a byte a second, for 15 s.
    let load = async {
        let mut tasks = Vec::new();
        for _ in 0..2000 {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                    return;
                };
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
                for _ in 0..15 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if s.write_all(b"a").await.is_err() {
                        return;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    };
    report_health(
        b.label(),
        "2,000 connections dribble headers",
        health_during(&addr, load).await,
    );
    // 19,000 half-sent requests held open (as many as this process may open).
    let load = async {
        let mut held = Vec::new();
        for _ in 0..19_000 {
            match tokio::net::TcpStream::connect(&addr).await {
                Ok(mut s) => {
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
                    held.push(s);
                }
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!("  ({} half-sent requests opened)", held.len());
    };
    report_health(
        b.label(),
        "19,000 half-sent requests are held",
        health_during(&addr, load).await,
    );
    let m = hub.metrics();
    println!(
        "  evicted {} connections, timed out {}",
        metric(&m, "ferret_http_connections_evicted_total"),
        metric(&m, "ferret_http_connections_timed_out_total")
    );
    // Four scanners sending 100 MiB frames at once.
    let (_, _, peak0) = hub.usage();
    let load = async {
        let frame = format!(
            "{{\"type\":\"scan_result\",\"digest\":\"sha256:00\",\"summary\":{{\"critical\":0,\"high\":0,\"medium\":0,\"low\":0,\"total\":0}},\"x\":\"{}\"}}",
            "a".repeat(100 << 20)
        );
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (addr, frame) = (addr.clone(), frame.clone());
            tasks.push(tokio::spawn(async move { big_frame(&addr, frame).await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    };
    report_health(
        b.label(),
        "4 scanners send 100 MiB frames at once",
        health_during(&addr, load).await,
    );
    let (_, _, peak) = hub.usage();
    println!(
        "  hub peak RSS {} MiB (before: {} MiB; budget 512 MiB)",
        peak >> 20,
        peak0 >> 20
    );
    // A wrong secret tried again and again.
    let load = async {
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < Duration::from_secs(5) {
            let _ = tokio_tungstenite::connect_async(ws_request(&addr, "wrong")).await;
            n += 1;
        }
        println!("  ({n} tries with a wrong secret)");
    };
    report_health(
        b.label(),
        "a wrong secret is tried as fast as one client can",
        health_during(&addr, load).await,
    );
    let m = hub.metrics();
    let log_lines = hub
        .log_text()
        .lines()
        .filter(|l| l.contains("authentication refused"))
        .count();
    println!(
        "  refused {} (checked) + {} (throttled), {log_lines} log lines",
        metric(&m, "ferret_auth_failures_total"),
        metric(&m, "ferret_auth_throttled_total")
    );
}

fn ws_request(
    addr: &str,
    secret: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/xrpc/io.atcr.hold.subscribeScanJobs")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("X-Scanner-Secret", secret.parse().unwrap());
    req
}

async fn big_frame(addr: &str, frame: String) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let Ok((mut ws, _)) =
        tokio_tungstenite::connect_async_with_config(ws_request(addr, SECRET), Some(config), false)
            .await
    else {
        return;
    };
    let _ = ws.send(Message::Text(frame.into())).await;
    let _ = ws.send(Message::Ping(Vec::new().into())).await;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
        if matches!(m, Message::Pong(_) | Message::Close(_)) {
            return;
        }
    }
}

fn main() {
    let n = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut backends = vec![None];
        if std::env::var_os("FERRET_TEST_POSTGRES_URL").is_some() {
            backends.push(Some(()));
        } else {
            println!("(FERRET_TEST_POSTGRES_URL is not set: SQLite only)");
        }
        for pg in backends {
            let b = Bench {
                registry: FakeRegistry::start(),
                dir: tempfile::tempdir().unwrap(),
                postgres: pg.is_some(),
                n,
            };
            if wanted("enqueue") {
                enqueue_rate(&b).await;
            }
            if wanted("drain") {
                drain(&b).await;
            }
            if wanted("latency") {
                latency(&b).await;
            }
            if b.postgres && wanted("wakeup") {
                wakeup(&b).await;
            }
            if wanted("starve") && !b.postgres {
                starve(&b).await;
            }
        }
    });
}
