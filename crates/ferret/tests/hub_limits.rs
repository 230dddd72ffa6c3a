//! No client can starve `ferret serve`: requests whose headers dribble in, connections
//! that send nothing, bodies that stall, a flood of half-sent requests, scanners sending
//! huge frames all at once, and wrong secrets or tokens tried again and again. Each case
//! runs against a real hub process on loopback; health checks must keep answering while
//! it lasts. (How fast they answer is measured by `bench/queue.sh`, not asserted here.)

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferret_testsupport::queue::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A health check over a fresh connection: its status, `None` if none came within 10 s.
async fn healthz(addr: &str) -> Option<u16> {
    let check = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.ok()?;
        String::from_utf8_lossy(&out).get(9..12)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), check)
        .await
        .ok()
        .flatten()
}

/// Runs `n` health checks one after another, each of which must answer 200.
async fn health_checks_answer(addr: &str, n: usize) {
    for i in 0..n {
        assert_eq!(healthz(addr).await, Some(200), "health check {i} failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the peer closes `s` (EOF or reset); returns how long that took.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::now() + limit, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn hub(dir: &std::path::Path, registry: &FakeRegistry, extra: &str) -> (HubSetup, HubProcess) {
    let setup = HubSetup::new(dir, "hub", &registry.addr, None, extra);
    let process = setup.start(&dir.join("hub.log"));
    (setup, process)
}

/// Headers that dribble in, connections that send nothing, and a body that stalls are
/// cut off after their timeouts, while health checks keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_on_time() {
    let registry = FakeRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (setup, _hub) = hub(
        dir.path(),
        &registry,
        "[http_limits]\nheader_timeout = 2\nidle_timeout = 3\nbody_timeout = 2",
    );
    let addr = setup.http.clone();
    // 300 requests whose headers come a byte every 300 ms.
    let mut dribblers = Vec::new();
    for _ in 0..300 {
        let addr = addr.clone();
        dribblers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if s.write_all(b"a").await.is_err() {
                    return Some(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(15) {
                    return None;
                }
            }
        }));
    }
    // 100 connections that say nothing at all.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // A body promised and stalled.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
        .await
        .unwrap();
    health_checks_answer(&addr, 50).await;
    for d in dribblers {
        let cut = d.await.unwrap();
        assert!(
            cut.is_some_and(|t| t < Duration::from_secs(6)),
            "a dribbling request was not cut off: {cut:?}"
        );
    }
    for mut s in idle {
        let cut = closed_within(&mut s, Duration::from_secs(8)).await;
        assert!(cut.is_some(), "an idle connection was kept");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(8), stalled.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.is_empty() || answer.contains(" 400 "),
        "a stalled body was waited for: {answer}"
    );
    health_checks_answer(&addr, 10).await;
}

/// More half-sent requests than the hub takes connections: the ones waiting longest are
/// closed to make room, so new clients still get in, and the hub's open files stay
/// bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_sent_requests_cannot_lock_others_out() {
    let registry = FakeRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (setup, hub) = hub(
        dir.path(),
        &registry,
        "[http_limits]\nmax_connections = 200\nheader_timeout = 60",
    );
    let addr = setup.http.clone();
    let mut flood = Vec::new();
    for _ in 0..1000 {
        if let Ok(mut s) = TcpStream::connect(&addr).await {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
            flood.push(s);
        }
    }
    health_checks_answer(&addr, 30).await;
    let fds = std::fs::read_dir(format!("/proc/{}/fd", hub.pid()))
        .unwrap()
        .count();
    assert!(fds < 200 + 100, "the hub holds {fds} open files");
    let m = hub.metrics();
    assert!(
        metric(&m, "ferret_http_connections_evicted_total") >= 700.0,
        "{m:?}"
    );
    drop(flood);
}

fn ws_request(
    addr: &str,
    secret: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = format!("ws://{addr}/xrpc/io.atcr.hold.subscribeScanJobs")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("X-Scanner-Secret", secret.parse().unwrap());
    req
}

/// Scanners sending 40 MiB frames all at once: with a 48 MiB budget they are let in one at
/// a time, so the hub's memory stays near the budget, and each is still handled; a frame
/// larger than the whole budget is refused at once with close code 1009.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanners_frames_share_a_memory_budget() {
    let registry = FakeRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (setup, hub) = hub(dir.path(), &registry, "result_memory_mb = 48");
    let addr = setup.http.clone();
    let (_, _, peak_before) = hub.usage();
    // Invalid (a negative count), so each is judged and refused once read.
    let big = format!(
        "{{\"type\":\"scan_result\",\"digest\":\"sha256:00\",\"summary\":{{\"critical\":-1,\"high\":0,\"medium\":0,\"low\":0,\"total\":0}},\"x\":\"{}\"}}",
        "a".repeat(40 << 20)
    );
    let mut senders = Vec::new();
    for _ in 0..6 {
        let (addr, big) = (addr.clone(), big.clone());
        senders.push(tokio::spawn(async move {
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(None)
                .max_frame_size(None);
            let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
                ws_request(&addr, SECRET),
                Some(config),
                false,
            )
            .await
            .unwrap();
            ws.send(Message::Text(big.into())).await.unwrap();
            // Stay until the hub has read it (a ping round trip behind it).
            ws.send(Message::Ping(Vec::new().into())).await.unwrap();
            loop {
                match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
                    Ok(Some(Ok(Message::Pong(_)))) => return None,
                    Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| f.code),
                    Ok(Some(Ok(_))) => {}
                    other => panic!("{other:?}"),
                }
            }
        }));
    }
    for s in senders {
        assert_eq!(
            s.await.unwrap(),
            None,
            "a frame within the budget was refused"
        );
    }
    let m = hub.metrics();
    assert_eq!(
        m.get("ferret_results_refused_total{reason=\"invalid\"}")
            .copied(),
        Some(6.0),
        "each frame was read and judged: {m:?}"
    );
    let (_, _, peak) = hub.usage();
    let grew = peak.saturating_sub(peak_before) >> 20;
    eprintln!("peak grew {grew} MiB");
    // 240 MiB were sent at once; without the budget the hub would hold all of it. With it,
    // the frame let in and the one being handled (about 80 MiB).
    assert!(grew < 128, "the hub's peak memory grew by {grew} MiB");
    // Larger than the whole budget: refused at once, with the reason.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        ws_request(&addr, SECRET),
        Some(config),
        false,
    )
    .await
    .unwrap();
    let (mut tx, mut rx) = ws.split();
    let sending = tokio::spawn(async move {
        let _ = tx.send(Message::Text("a".repeat(60 << 20).into())).await;
    });
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| f.code),
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?}"),
        }
    };
    sending.abort();
    assert_eq!(code, Some(CloseCode::Size));
    health_checks_answer(&addr, 5).await;
}

/// Wrong secrets and tokens from one address: past the limit (20 a minute by default) the
/// address is refused unchecked with 429, the refusals are counted in `/metrics`, and the
/// log gets a line a second at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_throttled_per_address() {
    let registry = FakeRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (setup, hub) = hub(dir.path(), &registry, "");
    let addr = setup.http.clone();
    let mut statuses = Vec::new();
    for _ in 0..100 {
        match tokio_tungstenite::connect_async(ws_request(&addr, "wrong")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                statuses.push(r.status().as_u16());
                if r.status() == 429 {
                    assert!(r.headers().contains_key("retry-after"));
                    let body: serde_json::Value =
                        serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
                    assert_eq!(body["error"], "RateLimitExceeded");
                }
            }
            other => panic!("a wrong secret got in: {other:?}"),
        }
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // The right secret from the same address waits for the window too (unchecked).
    let right = tokio_tungstenite::connect_async(ws_request(&addr, SECRET)).await;
    assert!(
        matches!(right, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429)
    );
    // The REST front doors, with a token that is not one, from another address: each
    // address has its own count.
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut api = Vec::new();
    for _ in 0..30 {
        let r = client
            .get(format!("http://{addr}/api/ferret/v1/scans"))
            .bearer_auth("fer_not-a-token")
            .send()
            .await
            .unwrap();
        api.push(r.status().as_u16());
    }
    assert!(api[..20].iter().all(|s| *s == 401), "{api:?}");
    assert!(api[20..].iter().all(|s| *s == 429), "{api:?}");
    let m = hub.metrics();
    assert_eq!(metric(&m, "ferret_auth_failures_total"), 40.0, "{m:?}");
    assert!(metric(&m, "ferret_auth_throttled_total") >= 91.0, "{m:?}");
    let lines = hub
        .log_text()
        .lines()
        .filter(|l| l.contains("authentication refused"))
        .count();
    assert!(lines <= 10, "{lines} log lines for 130 refusals");
    health_checks_answer(&addr, 5).await;
}
