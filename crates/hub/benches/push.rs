//! Push → scan queued (`cargo bench -p ferret-hub --bench push`): a real registry (Debian's
//! `docker-registry`) holding the Debian fixture image in 200 repositories, and the hub's
//! `POST /hooks/registry/{registry}` given each push's notification envelope as the
//! registry sends it. The time from the request to its answer is the time to queue the
//! scan: the hook answers after resolving the manifest in the registry and committing the
//! job. Target: p99 ≤ 100 ms. Needs `docker-registry` and `skopeo` (skipped without).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use common::{free_addr, latency};

use ferret_hub::{Hub, HubConfig, RegistryConfig};
use ferret_testsupport::*;
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REPOSITORIES: usize = 200;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if !service::have("docker-registry") || !service::have("skopeo") {
        println!("skipped: docker-registry and skopeo are needed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    debian_fixture_root(&root);
    let layout = d.join("layout");
    image_of_root(&root, &layout);
    let registry = start_registry(None);
    let started = Instant::now();
    for i in 0..REPOSITORIES {
        push(
            &layout,
            "root",
            &format!("{}/bench/app{i}:1", registry.addr),
            None,
            false,
        );
    }
    println!(
        "pushed the image to {REPOSITORIES} repositories in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let digest = format!(
        "sha256:{}",
        std::fs::read_to_string(layout.join("index.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["manifests"][0]["digest"].as_str().map(str::to_owned))
            .unwrap()
            .trim_start_matches("sha256:")
    );
    let mut config = HubConfig::new(d.join("hub"));
    config.http = free_addr();
    config.grpc = free_addr();
    config.embedded_scanner = false;
    config.admin_password = Some("bench".to_owned());
    config.registries = vec![RegistryConfig {
        name: "local".to_owned(),
        url: format!("http://{}", registry.addr),
        webhook_token: Some("bench-token".to_owned()),
        owner: Some("admin".to_owned()),
        ..RegistryConfig::default()
    }];
    let http = config.http;
    let hub = Hub::open(config).await.unwrap();
    tokio::spawn(ferret_hub::serve(hub.clone()));
    while tokio::net::TcpStream::connect(http).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 0..REPOSITORIES {
        let envelope = json!({"events": [{
            "id": format!("event-{i}"), "timestamp": "2026-12-03T00:00:00Z", "action": "push",
            "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                       "size": 1000, "length": 1000, "repository": format!("bench/app{i}"), "tag": "1",
                       "url": format!("http://{}/v2/bench/app{i}/manifests/{digest}", registry.addr)},
            "request": {"id": "r", "addr": "127.0.0.1", "host": registry.addr, "method": "PUT", "useragent": "skopeo"},
            "actor": {}, "source": {"addr": registry.addr, "instanceID": "bench"}
        }]});
        let t = Instant::now();
        let r = client
            .post(format!("http://{http}/hooks/registry/local"))
            .bearer_auth("bench-token")
            .header(
                "content-type",
                "application/vnd.docker.distribution.events.v1+json",
            )
            .body(envelope.to_string())
            .send()
            .await
            .unwrap();
        let took = t.elapsed();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["queued"], 1, "{body}");
        times.push(took);
    }
    let l = latency(times);
    println!(
        "push -> scan queued over {} pushes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.n, l.p50, l.p99, l.max
    );
}
