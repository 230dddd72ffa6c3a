//! Advisory-driven rescans at scale (`cargo bench -p ferret-hub --bench rescan`): N stored
//! images (10,000 by default, `FERRET_BENCH_IMAGES`), 200 Debian packages each drawn from
//! a pool of 4,000, scanned against a generated Debian tracker feed and stored as the
//! embedded scanner stores them (findings rows; SPDX SBOM and Grype report in the database
//! when at most `blob_inline_limit`, else in the blob store: `FERRET_BENCH_INLINE` sets the
//! limit). Then
//! new feeds are imported and a rescan round judges every image from its stored SBOM,
//! twice: a narrow change (three CVEs added: about one image in seven changes), then a
//! broad one (250 CVEs added, 100 withdrawn, 100 regraded: every image changes). Reported
//! per round: its time, the images whose findings changed, the peak RSS during it, and
//! the latency of on-demand submissions made meanwhile (every 20 ms). Threads:
//! `FERRET_BENCH_THREADS` (default: the hub's, every core). Target: ≤ 10 s on 2 cores.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferret_hub::{Hub, HubConfig};
use ferret_store::{ImageStore, JobRequest, JobStore, Lessee, ScanReason, ScanResult};
use ferret_worker::rematch::{Snapshot, rematch};
use serde_json::json;

// As the `ferret` binary, which the hub runs in.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POOL: u64 = 4_000;
const PACKAGES: u64 = 200;

/// A small deterministic generator (xorshift), so every run stores the same images.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn name(p: u64) -> String {
    format!("pkg{p:04}")
}

fn version(p: u64) -> String {
    format!("1.{}-1", p % 17)
}

/// An SPDX 2.3 document shaped as Ferret writes one for a Debian 12 image.
fn sbom(image: u64, packages: &[u64]) -> Vec<u8> {
    let mut pkgs = vec![json!({
        "SPDXID": "SPDXRef-OperatingSystem-debian-12", "copyrightText": "NOASSERTION",
        "description": "Debian GNU/Linux 12 (bookworm)", "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
        "name": "debian", "primaryPackagePurpose": "OPERATING-SYSTEM", "versionInfo": "12"
    })];
    for p in packages {
        let (n, v) = (name(*p), version(*p));
        pkgs.push(json!({
            "SPDXID": format!("SPDXRef-Package-deb-{n}-{p:016x}"), "copyrightText": "NOASSERTION",
            "downloadLocation": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER",
                "referenceLocator": format!("pkg:deb/debian/{n}@{v}?arch=amd64&distro=debian-12"),
                "referenceType": "purl"}],
            "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "GPL-2.0-or-later",
            "name": n,
            "sourceInfo": "acquired package info from os/dpkg database: /var/lib/dpkg/status (layer sha256:7f391c2a05edccbe6d8586289cdf292e44defb1bd8017636e783bc3864437d8f)",
            "supplier": "Organization: Debian Developers <debian-devel@lists.debian.org>", "versionInfo": v
        }));
    }
    serde_json::to_vec(&json!({
        "SPDXID": "SPDXRef-DOCUMENT",
        "creationInfo": {"created": "2026-11-01T00:00:00Z", "creators": ["Tool: ferret-0.1.0"]},
        "dataLicense": "CC0-1.0",
        "documentNamespace": format!("https://ferret.invalid/spdx/bench-{image}"),
        "name": format!("registry.example/app{image}:1"),
        "packages": pkgs,
        "spdxVersion": "SPDX-2.3"
    }))
    .unwrap()
}

/// How the second snapshot differs from the first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    /// Three CVEs added: about one image in seven changes.
    Narrow,
    /// 250 CVEs added, 100 withdrawn, 100 regraded: every image changes.
    Broad,
}

/// Tracker records: every fourth package of the pool has a CVE fixed above its version;
/// a change adds, withdraws and regrades some.
fn tracker(change: Change) -> serde_json::Value {
    let changed = change == Change::Broad;
    let release = |fixed: Option<String>, urgency: &str| {
        let mut r = json!({"status": if fixed.is_some() {"resolved"} else {"open"},
            "repositories": {"bookworm": "x"}, "urgency": urgency});
        if let Some(f) = fixed {
            r["fixed_version"] = json!(f);
        }
        r
    };
    let mut doc = serde_json::Map::new();
    for p in (0..POOL).step_by(4) {
        let withdrawn = changed && p % 40 == 0;
        let regraded = changed && p % 40 == 4;
        let mut cves = serde_json::Map::new();
        if !withdrawn {
            cves.insert(
                format!("CVE-2025-{p:05}"),
                json!({"releases": {"bookworm": release(Some(format!("1.{}-2", p % 17)), if regraded {"low"} else {"high"})}}),
            );
        }
        doc.insert(name(p), serde_json::Value::Object(cves));
    }
    if change == Change::Narrow {
        for p in [1u64, 1001, 2001] {
            doc.insert(
                name(p),
                json!({format!("CVE-2026-{p:05}"): {"releases": {"bookworm": release(None, "medium")}}}),
            );
        }
    }
    if changed {
        for p in (1..POOL).step_by(16) {
            doc.insert(
                name(p),
                json!({format!("CVE-2026-{p:05}"): {"releases": {"bookworm": release(None, "medium")}}}),
            );
        }
    }
    serde_json::Value::Object(doc)
}

fn import(dir: &std::path::Path, change: Change) {
    let feed = dir.join("tracker.json");
    std::fs::write(&feed, serde_json::to_vec(&tracker(change)).unwrap()).unwrap();
    let mut db = ferret_advisory::Database::open(&dir.join("db")).unwrap();
    let results = ferret_advisory::import_feeds(
        &mut db,
        ferret_advisory::FeedKind::parse("debian-tracker").unwrap(),
        &[feed],
        None,
        "2026-11-01T00:00:00Z",
        &ferret_advisory::Validators::default(),
    )
    .unwrap();
    for r in results {
        r.unwrap();
    }
}

/// Starts the peak RSS count again (Linux's `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: u64 = std::env::var("FERRET_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    import(dir.path(), Change::None);
    let db = dir.path().join("db").join(ferret_advisory::DB_FILE);
    let mut config = HubConfig::new(dir.path().join("hub"));
    config.embedded_scanner = false;
    config.advisory_db = Some(db.clone());
    if let Some(l) = std::env::var("FERRET_BENCH_INLINE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.blob_inline_limit = l;
    }
    if let Some(t) = std::env::var("FERRET_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.rescan_threads = t;
    }
    let threads = config.rescan_threads;
    let hub = Hub::open(config).await.unwrap();

    // Store N scans as the embedded scanner would have.
    let started = Instant::now();
    print!("storing {n} scanned images … ");
    std::io::stdout().flush().unwrap();
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get()) as u64;
    let holder = "bench:scanner";
    for chunk in (0..n).collect::<Vec<u64>>().chunks(500) {
        let ids = chunk.to_vec();
        let db = db.clone();
        let scanned: Vec<(u64, Vec<u8>, Vec<u8>)> = tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let parts: Vec<_> = (0..workers as usize)
                    .map(|w| {
                        let (db, ids) = (db.clone(), &ids);
                        scope.spawn(move || {
                            let snapshot = Snapshot::open(&db).unwrap();
                            ids.iter()
                                .skip(w)
                                .step_by(workers as usize)
                                .map(|&i| {
                                    let mut rng = Rng(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                                    let mut picked: Vec<u64> =
                                        (0..PACKAGES).map(|_| rng.next() % POOL).collect();
                                    picked.sort_unstable();
                                    picked.dedup();
                                    let sbom = sbom(i, &picked);
                                    let doc = rematch(&snapshot, &sbom, None, &Default::default())
                                        .unwrap();
                                    (i, sbom, serde_json::to_vec(&doc).unwrap())
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                parts.into_iter().flat_map(|p| p.join().unwrap()).collect()
            })
        })
        .await
        .unwrap();
        for (i, sbom, report) in scanned {
            store_scan(&hub, holder, i, sbom, report).await;
        }
    }
    println!("{:.1} s", started.elapsed().as_secs_f64());

    // Judged against the snapshot they were scanned with: nothing to match.
    let t = Instant::now();
    let first = ferret_hub::service::rescan::round(&hub, &db).await.unwrap();
    println!(
        "first round (same snapshot):   {:>6} judged, {:>5} changed in {:.2} s",
        first.judged,
        first.changed,
        t.elapsed().as_secs_f64()
    );

    for (change, label) in [(Change::Narrow, "narrow"), (Change::Broad, "broad")] {
        import(dir.path(), change);
        timed_round(&hub, &db, label, threads).await;
    }
}

/// One round against the database's new snapshot, with on-demand submissions made during
/// it (every 20 ms) timed, and the peak RSS of the round.
async fn timed_round(hub: &Arc<Hub>, db: &std::path::Path, label: &str, threads: usize) {
    reset_peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (hub, stop) = (hub.clone(), stop.clone());
        let label = label.to_owned();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                hub.store
                    .submit(&JobRequest {
                        digest: format!(
                            "sha256:{:064x}",
                            (1u64 << 40) | (u64::from(label == "broad") << 32) | k
                        ),
                        registry: "local".to_owned(),
                        repository: "probe".to_owned(),
                        tag: None,
                        owner: "did:web:probe".to_owned(),
                        hold_did: "did:web:bench".to_owned(),
                        hold_endpoint: "http://127.0.0.1:9".to_owned(),
                        priority: 0,
                        reason: ScanReason::Request,
                    })
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                k += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            lat
        })
    };
    let t = Instant::now();
    let round = ferret_hub::service::rescan::round(hub, db).await.unwrap();
    let took = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut lat = probe.await.unwrap();
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
    println!(
        "{label:<6} change: {:>6} judged, {:>5} changed in {:>6.2} s on {threads} thread(s) ({:>5.0} images/s; waited {:.1} s reading, {:.1} s judging, {:.1} s storing); peak RSS {} MiB; on-demand submit p50 {:.2} ms, p99 {:.2} ms ({} during the round)",
        round.judged,
        round.changed,
        took.as_secs_f64(),
        round.judged as f64 / took.as_secs_f64(),
        round.waited[0].as_secs_f64(),
        round.waited[1].as_secs_f64(),
        round.waited[2].as_secs_f64(),
        peak_rss_mib(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        lat.len(),
    );
}

/// Stores image `i`'s scan as a completed job, blobs inline, as the embedded scanner does.
async fn store_scan(hub: &Arc<Hub>, holder: &str, i: u64, sbom: Vec<u8>, report: Vec<u8>) {
    let digest = format!("sha256:{i:064x}");
    hub.store
        .upsert_image(
            "did:web:bench",
            "local",
            &format!("app{i}"),
            &digest,
            Some("1"),
            1,
        )
        .await
        .unwrap();
    hub.store
        .submit(&JobRequest {
            digest: digest.clone(),
            registry: "local".to_owned(),
            repository: format!("app{i}"),
            tag: Some("1".to_owned()),
            owner: "did:web:bench".to_owned(),
            hold_did: "did:web:bench".to_owned(),
            hold_endpoint: "http://127.0.0.1:9".to_owned(),
            priority: 1,
            reason: ScanReason::Push,
        })
        .await
        .unwrap();
    let lessee = Lessee {
        hub: &hub.instance,
        holder,
    };
    let job = hub
        .store
        .claim(lessee, None, 1, 600_000)
        .await
        .unwrap()
        .remove(0);
    let (findings, counts) = ferret_hub::service::results::findings(&report).unwrap();
    let hex = |b: &[u8]| {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
    };
    let (sbom_blob, report_blob) = (hex(&sbom), hex(&report));
    // Small blobs in the database, the rest in the blob store, as the hub keeps them.
    let mut inline_blobs = Vec::new();
    for (digest, data) in [(&sbom_blob, sbom), (&report_blob, report)] {
        match ferret_hub::service::results::inline(data, hub.config.blob_inline_limit) {
            Ok(text) => inline_blobs.push((digest.clone(), text)),
            Err(data) => hub.blobs.put_as(digest, data).await.unwrap(),
        }
    }
    hub.store
        .complete(
            &job.id,
            holder,
            &ScanResult {
                scanner_version: "ferret-bench".to_owned(),
                sbom_blob: Some(sbom_blob.clone()),
                report_blob: Some(report_blob.clone()),
                counts,
                findings,
                record: json!({"$type": "io.atcr.hold.scan"}),
                inline_blobs,
            },
        )
        .await
        .unwrap();
}
