//! The management API under load, on SQLite (`cargo bench -p ferret-hub --bench api`):
//!
//! 1. `ListVulnerabilities` over a scan with 5,000 findings, every page of 100 walked
//!    again and again: latency per page in the service layer and over REST on loopback
//!    (p50, p99, max), in report order and by severity. Target: p99 ≤ 10 ms.
//! 2. Dispatch: jobs leased to a scanner on the subscription, which answers each at once,
//!    timed alone and while 200 clients poll `GET /operations/{id}` of scans in progress
//!    (each client once a second, as the SDK's waiter does, then ten times a second).
//!    Target: dispatch slows by at most 10%. The pollers run in this process, so their
//!    own HTTP work competes for the same cores as the hub's.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{free_addr, latency};

use ferret_hub::auth::{Principal, new_api_token};
use ferret_hub::service::Paging;
use ferret_hub::{Hub, HubConfig, RegistryConfig};
use ferret_store::{
    AccountStore, Counts, Finding, ImageStore, JobRequest, JobStore, Lessee, ScanResult,
    ScanStatus, ScanStore,
};
use ferret_worker::ScanOutput;
use ferret_worker::frames::{AtcrSummary, parse_job};
use ferret_worker::remote::result_frame;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn digest(n: u64) -> String {
    format!("sha256:{n:064x}")
}

fn stats(label: &str, v: Vec<Duration>) {
    let l = latency(v);
    println!(
        "{label:<44} {:>6} pages  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        l.n, l.p50, l.p99, l.max
    );
}

const SEVERITIES: [&str; 6] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::new(dir.path().to_path_buf());
    config.http = free_addr();
    config.grpc = free_addr();
    config.embedded_scanner = false;
    config.secrets = vec!["bench".to_owned()];
    config.admin_password = Some("bench".to_owned());
    config.registries = vec![RegistryConfig {
        name: "local".to_owned(),
        url: "http://127.0.0.1:9".to_owned(),
        ..RegistryConfig::default()
    }];
    let http = config.http;
    let hub = Hub::open(config).await.unwrap();
    tokio::spawn(ferret_hub::serve(hub.clone()));
    while tokio::net::TcpStream::connect(http).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let account = hub.store.account_by_name("admin").await.unwrap().unwrap();
    let (token, hash) = new_api_token();
    hub.store
        .add_token(&account.id, &hash, "bench")
        .await
        .unwrap();
    let principal = Principal::of(&account);

    // A scanned image with 5,000 findings.
    let image = hub
        .store
        .upsert_image(&principal.owner, "local", "big", &digest(1), Some("1"), 1)
        .await
        .unwrap();
    let op = hub.yc_scan(&principal, &image.id).await.unwrap();
    let bench = Lessee {
        hub: "bench",
        holder: "bench:0",
    };
    let job = hub
        .store
        .claim(bench, None, 1, 600_000)
        .await
        .unwrap()
        .remove(0);
    let findings: Vec<Finding> = (0..5000)
        .map(|i| Finding {
            vulnerability: format!("CVE-2024-{i:05}"),
            severity: SEVERITIES[i % 6].to_owned(),
            package: format!("package-{}", i / 3),
            version: "1.0.0".to_owned(),
            fixed_by: Some("1.0.1".to_owned()),
            source: "dpkg".to_owned(),
            link: Some(format!(
                "https://security-tracker.debian.org/tracker/CVE-2024-{i:05}"
            )),
            origin: Some(format!("package-{}", i / 3)),
            kind: Some("os".to_owned()),
            kev: i % 50 == 0,
            fix_state: None,
            severity_source: None,
            epss: None,
            epss_percentile: None,
            layer: None,
            suppressed: None,
        })
        .collect();
    let result = ScanResult {
        scanner_version: "bench".to_owned(),
        sbom_blob: None,
        report_blob: None,
        counts: Counts {
            unknown: 5000,
            ..Counts::default()
        },
        findings,
        record: serde_json::json!({}),
        inline_blobs: Vec::new(),
    };
    hub.store
        .complete(&job.id, "bench:0", &result)
        .await
        .unwrap();
    let scan_id = op.scan.id.clone();

    println!("ListVulnerabilities, scan of 5,000 findings, pages of 100, SQLite:");
    for order in ["", "severity"] {
        let mut service = Vec::new();
        for _ in 0..20 {
            let mut paging = Paging {
                page_size: 100,
                order_by: order.to_owned(),
                ..Paging::default()
            };
            loop {
                let t = Instant::now();
                let (rows, next) = hub
                    .yc_list_vulnerabilities(&principal, &scan_id, &paging)
                    .await
                    .unwrap();
                service.push(t.elapsed());
                assert!(rows.len() == 100);
                if next.is_empty() {
                    break;
                }
                paging.page_token = next;
            }
        }
        let label = if order.is_empty() {
            "report order"
        } else {
            "by severity"
        };
        stats(&format!("  service layer, {label}"), service);
        let client = reqwest::Client::new();
        let mut rest = Vec::new();
        for _ in 0..20 {
            let mut page_token = String::new();
            loop {
                let t = Instant::now();
                let body = client
                    .get(format!(
                        "http://{http}/container-registry/v1/scans/{scan_id}:listVulnerabilities"
                    ))
                    .query(&[
                        ("pageSize", "100"),
                        ("pageToken", &page_token),
                        ("orderBy", order),
                    ])
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                rest.push(t.elapsed());
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                page_token = v["nextPageToken"].as_str().unwrap().to_owned();
                if page_token.is_empty() {
                    break;
                }
            }
        }
        stats(&format!("  REST on loopback, {label}"), rest);
    }

    // Twenty scans in progress (leased to a scanner that never answers), whose operations
    // the pollers wait on, as SDK clients do.
    let mut running = Vec::new();
    for n in 0..20 {
        let image = hub
            .store
            .upsert_image(
                &principal.owner,
                "local",
                "waiting",
                &digest(100 + n),
                Some("1"),
                1,
            )
            .await
            .unwrap();
        running.push(
            hub.yc_scan(&principal, &image.id)
                .await
                .unwrap()
                .operation
                .id,
        );
        let idle = Lessee {
            hub: &hub.instance,
            holder: "idle:0",
        };
        hub.store.claim(idle, None, 1, 3_600_000).await.unwrap();
    }
    let running = Arc::new(running);

    println!("\nDispatch: jobs leased to one scanner that answers at once (concurrency 4):");
    let polls = Arc::new(AtomicU64::new(0));
    let mut next_digest = 1_000u64;
    for poll_ms in [1000u64, 100] {
        let mut alone = Vec::new();
        let mut loaded = Vec::new();
        for round in 0..7 {
            // Alternate which goes first, so the growing tables favour neither.
            let order = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for with_pollers in order {
                let stop = Arc::new(AtomicBool::new(false));
                let mut pollers = Vec::new();
                if with_pollers {
                    for i in 0..200u64 {
                        let (stop, polls, token, running) =
                            (stop.clone(), polls.clone(), token.clone(), running.clone());
                        pollers.push(tokio::spawn(async move {
                            // One client (one connection) each, started out of step.
                            let client = reqwest::Client::new();
                            tokio::time::sleep(Duration::from_millis(i * poll_ms / 200)).await;
                            let mut tick = tokio::time::interval(Duration::from_millis(poll_ms));
                            let op_id = &running[(i % 20) as usize];
                            while !stop.load(Ordering::Relaxed) {
                                tick.tick().await;
                                let r = client
                                    .get(format!("http://{http}/operations/{op_id}"))
                                    .bearer_auth(&token)
                                    .send()
                                    .await;
                                if let Ok(r) = r {
                                    let _ = r.bytes().await;
                                    polls.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }));
                    }
                    tokio::time::sleep(Duration::from_millis(poll_ms)).await;
                }
                let jobs = 1000;
                let first = next_digest;
                next_digest += jobs;
                let elapsed = dispatch(&hub, http, first, jobs).await;
                stop.store(true, Ordering::Relaxed);
                for p in pollers {
                    let _ = p.await;
                }
                if round > 0 {
                    if with_pollers {
                        &mut loaded
                    } else {
                        &mut alone
                    }
                    .push(elapsed);
                }
            }
        }
        alone.sort();
        loaded.sort();
        let (a, l) = (alone[alone.len() / 2], loaded[loaded.len() / 2]);
        println!(
            "  1000 jobs alone {:>6.3} s; with 200 clients polling every {poll_ms} ms {:>6.3} s: {:+.1}%",
            a.as_secs_f64(),
            l.as_secs_f64(),
            (l.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0
        );
    }
    println!(
        "  ({} GetOperation polls answered)",
        polls.load(Ordering::Relaxed)
    );
    hub.stop();
}

/// Queues `n` jobs, then times a scanner connection taking and answering all of them.
async fn dispatch(hub: &Arc<Hub>, http: std::net::SocketAddr, first: u64, n: u64) -> Duration {
    let mut scans = Vec::new();
    for d in first..first + n {
        let submitted = hub
            .store
            .submit(&JobRequest {
                digest: digest(d),
                registry: "local".to_owned(),
                repository: "app".to_owned(),
                tag: None,
                owner: "did:web:bench".to_owned(),
                hold_did: "did:web:bench".to_owned(),
                hold_endpoint: "http://127.0.0.1:9".to_owned(),
                priority: 1,
                reason: ferret_store::ScanReason::Request,
            })
            .await
            .unwrap();
        scans.push(submitted.scan_id);
    }
    let started = Instant::now();
    let url = format!("ws://{http}/xrpc/io.atcr.hold.subscribeScanJobs?secret=bench&concurrency=4");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut answered = 0;
    while answered < n {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            continue;
        };
        let Ok(job) = parse_job(&text) else { continue };
        let out = ScanOutput {
            sbom: br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec(),
            report: br#"{"matches":[]}"#.to_vec(),
            summary: AtcrSummary::default(),
        };
        ws.send(Message::Text(result_frame(&job, Ok(out)).into()))
            .await
            .unwrap();
        answered += 1;
    }
    // Done when every result is stored.
    for id in &scans {
        while hub.store.scan(id).await.unwrap().unwrap().status == ScanStatus::Running {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let elapsed = started.elapsed();
    let _ = ws.close(None).await;
    elapsed
}
