//! The queue under faults, with real processes on loopback: `ferret serve` killed with
//! `kill -9` under load and restarted, a graceful restart under a resuming `ferret
//! scanner`, scanners that hang until their leases time out, and two hubs on one
//! PostgreSQL with one of them killed. Each scenario is bounded in jobs and time, runs on
//! SQLite and on PostgreSQL where it can, and checks the store itself: every job has
//! exactly one outcome, `seq` only grows, and each surviving hub's counters add up
//! (every lease it took ended once). A fake registry (any tag is an image of its own)
//! stands in for Debian's `docker-registry`, which the end-to-end tests use.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferret_testsupport::queue::*;

/// (label, database URL): SQLite always, PostgreSQL when the test database is set.
fn backends(label: &str) -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if let Some(url) = postgres(label) {
        out.push(("postgres", Some(url)));
    }
    out
}

fn tags(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn digests(answers: &[Enqueued]) -> BTreeSet<String> {
    for a in answers {
        assert_eq!(a.status, 202, "an enqueue failed: {:?}", a.body);
    }
    answers
        .iter()
        .map(|a| a.body["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Every job frame any scanner saw had a `seq` of its own, and a job delivered again came
/// under a larger one.
fn seqs_only_grow(scanners: &[&Seen]) {
    let mut by_seq: BTreeMap<i64, String> = BTreeMap::new();
    let mut by_digest: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut frames: Vec<(String, i64, std::time::Instant)> = Vec::new();
    for s in scanners {
        frames.extend(s.jobs.lock().unwrap().iter().cloned());
    }
    frames.sort_by_key(|f| f.2);
    for (digest, seq, _) in frames {
        if let Some(other) = by_seq.insert(seq, digest.clone()) {
            panic!("seq {seq} was delivered twice ({other}, {digest})");
        }
        by_digest.entry(digest).or_default().push(seq);
    }
    for (digest, seqs) in by_digest {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{digest} came back under a smaller seq: {seqs:?}"
        );
    }
}

/// Reads the store until every digest has a READY scan; returns READY scans per digest.
async fn all_ready(
    store: &ferret_store::Store,
    want: &BTreeSet<String>,
    limit: Duration,
) -> BTreeMap<String, u32> {
    let started = std::time::Instant::now();
    loop {
        let (ready, running, errors) = outcomes(store).await;
        if want.iter().all(|d| ready.contains_key(d)) {
            assert_eq!(running, 0, "scans still running");
            assert_eq!(errors, 0, "scans in error");
            return ready;
        }
        assert!(
            started.elapsed() < limit,
            "{} of {} jobs done after {limit:?} ({running} running, {errors} in error)",
            ready.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn exactly_once(ready: &BTreeMap<String, u32>, want: &BTreeSet<String>) {
    let keys: BTreeSet<String> = ready.keys().cloned().collect();
    assert_eq!(&keys, want, "READY scans for other digests than queued");
    let twice: Vec<_> = ready.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs completed more than once: {twice:?}");
}

/// `kill -9` of the hub while four reconnecting scanners drain 300 jobs of two owners:
/// after a restart on the same database every job is completed exactly once, the jobs
/// leased at the kill come back under larger seqs, and the new hub's counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_completes_each_job_exactly_once() {
    for (name, database) in backends("q_kill") {
        let registry = FakeRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let setup = HubSetup::new(
            dir.path(),
            "hub",
            &registry.addr,
            database.as_deref(),
            "ping_interval = 1\nhub_liveness = 2",
        );
        let mut hub = setup.start(&dir.path().join("a.log"));
        let enqueuer = Enqueuer::new(&setup.admin_token());
        let answers = enqueuer
            .enqueue_many(
                std::slice::from_ref(&setup.http),
                tags("k", 300),
                &["did:ferret:alice", "did:ferret:bob"],
                1,
                16,
            )
            .await;
        let want = digests(&answers);
        assert_eq!(want.len(), 300);
        let store = setup.store().await;
        let scanners: Vec<FakeScanner> = (0..4)
            .map(|_| {
                FakeScanner::start(
                    vec![setup.http.clone()],
                    2,
                    Behaviour::Answer(Duration::from_millis(5)),
                )
            })
            .collect();
        wait_until(
            Duration::from_secs(60),
            "a third of the jobs done",
            || async { outcomes(&store).await.0.len() >= 100 },
        )
        .await;
        hub.kill9();
        let hub = setup.start(&dir.path().join("b.log"));
        let ready = all_ready(&store, &want, Duration::from_secs(90)).await;
        exactly_once(&ready, &want);
        let mut seen = Vec::new();
        for s in scanners {
            seen.push(s.stop().await);
        }
        seqs_only_grow(&seen.iter().map(|s| s.as_ref()).collect::<Vec<_>>());
        assert!(
            seen.iter()
                .all(|s| s.connects.load(std::sync::atomic::Ordering::SeqCst) >= 2),
            "{name}: every scanner reconnected"
        );
        // Quiet now: every lease the new hub took has ended.
        let m = hub.metrics();
        assert!(
            metric(&m, "ferret_leases_reclaimed_total") >= 1.0,
            "{name}: the killed hub's leases were taken back: {m:?}"
        );
        leases_add_up(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!hub.log_text().contains("deadlock"), "{name}");
        store.close().await;
    }
}

/// The scenario of a scanner resuming with its cursor: two owners × 100 jobs, the real
/// `ferret scanner`, and a graceful restart of the hub after a few jobs. The scanner
/// reconnects with `cursor` = the largest seq it saw, and is still offered every queued
/// job, older ones included, until all are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_scanner_is_offered_every_queued_job() {
    for (name, database) in backends("q_resume") {
        let registry = FakeRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The scanner needs an advisory database; the Debian tracker sample will do.
        let feed = d.join("tracker.json");
        ferret_testsupport::debian_fixture_tracker(&feed);
        let db = d.join("db");
        ferret_testsupport::import(&db, "debian-tracker", &[feed]);
        let setup = HubSetup::new(
            d,
            "hub",
            &registry.addr,
            database.as_deref(),
            "ping_interval = 1",
        );
        let mut hub = setup.start(&d.join("a.log"));
        let enqueuer = Enqueuer::new(&setup.admin_token());
        let answers = enqueuer
            .enqueue_many(
                std::slice::from_ref(&setup.http),
                tags("r", 200),
                &["did:ferret:alice", "did:ferret:bob"],
                1,
                8,
            )
            .await;
        let want = digests(&answers);
        let log = std::fs::File::create(d.join("scanner.log")).unwrap();
        let scanner = ferret_testsupport::service::Killed(
            std::process::Command::new(env!("CARGO_BIN_EXE_ferret"))
                .args([
                    "scanner",
                    "--hub",
                    &format!("http://{}", setup.http),
                    "--secret",
                    SECRET,
                    "--db-dir",
                    db.to_str().unwrap(),
                ])
                .env("FERRET_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let store = setup.store().await;
        wait_until(Duration::from_secs(60), "the first jobs done", || async {
            outcomes(&store).await.0.len() >= 10
        })
        .await;
        assert!(hub.terminate(), "{name}: the hub exits 0 on SIGTERM");
        let _hub = setup.start(&d.join("b.log"));
        let ready = all_ready(&store, &want, Duration::from_secs(120)).await;
        exactly_once(&ready, &want);
        let scanner_log = std::fs::read_to_string(d.join("scanner.log")).unwrap();
        assert!(
            scanner_log.contains("cursor=Some("),
            "{name}: the scanner resumed with a cursor:\n{scanner_log}"
        );
        drop(scanner);
        store.close().await;
    }
}

/// Scanners that take jobs and never answer: each lease ends on time (the slot is free
/// again, so a hung scanner with `concurrency=1` gets the next job), a job lost too often
/// ends in ERROR with the reason, a healthy scanner completes the rest, and the counters
/// add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_scanners_lose_their_leases_on_time() {
    for (name, database) in backends("q_hang") {
        let registry = FakeRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let setup = HubSetup::new(
            dir.path(),
            "hub",
            &registry.addr,
            database.as_deref(),
            "lease_timeout = 1\nmax_interruptions = 3",
        );
        let hub = setup.start(&dir.path().join("hub.log"));
        let enqueuer = Enqueuer::new(&setup.admin_token());
        let hung = FakeScanner::start(vec![setup.http.clone()], 1, Behaviour::Hang);
        let first = enqueuer
            .enqueue(&setup.http, "stuck", "did:ferret:a", 1)
            .await;
        let stuck = first.body["digest"].as_str().unwrap().to_owned();
        let store = setup.store().await;
        // The only scanner hangs: the job is offered to it again after each timeout, until
        // it has been lost three times.
        wait_until(Duration::from_secs(20), "the stuck job ended", || async {
            outcomes(&store).await.2 == 1
        })
        .await;
        let got: Vec<String> = hung
            .seen
            .jobs
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.0.clone())
            .collect();
        assert_eq!(got, [stuck.clone(), stuck.clone(), stuck.clone()], "{name}");
        let job = {
            use ferret_store::{ScanFilter, ScanStore};
            store.scans(&ScanFilter::default(), None, 10).await.unwrap()
        };
        assert_eq!(
            job[0].error.as_deref(),
            Some("lease timed out after 1 s (lease lost 3 times)"),
            "{name}"
        );
        // Each time, the hung scanner's one slot came free again: it was offered the job
        // three times. Without it, a healthy scanner completes new jobs.
        drop(hung);
        let healthy = FakeScanner::start(
            vec![setup.http.clone()],
            1,
            Behaviour::Answer(Duration::from_millis(1)),
        );
        let answers = enqueuer
            .enqueue_many(
                std::slice::from_ref(&setup.http),
                tags("h", 10),
                &["did:ferret:a"],
                1,
                4,
            )
            .await;
        let want = digests(&answers);
        wait_until(Duration::from_secs(30), "the new jobs done", || async {
            let ready = outcomes(&store).await.0;
            want.iter().all(|d| ready.contains_key(d))
        })
        .await;
        drop(healthy);
        // No scanner left: every lease the hub took has ended.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let m = hub.metrics();
        leases_add_up(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            metric(&m, "ferret_lease_expiries_total"),
            3.0,
            "{name}: {m:?}"
        );
        store.close().await;
    }
}

/// Two hubs on one PostgreSQL, scanners split between them, jobs queued through both at
/// once; one hub is killed with `kill -9` halfway. The other takes its leases back within
/// seconds, every job is completed exactly once, no enqueue failed, neither log mentions a
/// deadlock, and the survivor's counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_postgres_survive_one_killed() {
    let Some(url) = postgres("q_two") else {
        return;
    };
    let registry = FakeRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let extra = "ping_interval = 1\nhub_liveness = 2";
    let a = HubSetup::new(d, "a", &registry.addr, Some(&url), extra);
    let b = HubSetup::new(d, "b", &registry.addr, Some(&url), extra);
    let mut hub_a = a.start(&d.join("a.log"));
    let hub_b = b.start(&d.join("b.log"));
    let enqueuer = Enqueuer::new(&a.admin_token());
    let hubs = vec![a.http.clone(), b.http.clone()];
    let mut scanners = Vec::new();
    for i in 0..6 {
        // Half start on each hub; when theirs is gone they go to the other.
        let mut list = hubs.clone();
        list.rotate_left(i % 2);
        // Slow enough that hub A's scanners hold leases when it is killed.
        scanners.push(FakeScanner::start(
            list,
            2,
            Behaviour::Answer(Duration::from_millis(200)),
        ));
    }
    let store = b.store().await;
    let first = enqueuer
        .enqueue_many(
            &hubs,
            tags("t", 200),
            &["did:ferret:a", "did:ferret:b", "did:ferret:c"],
            1,
            16,
        )
        .await;
    let mut want = digests(&first);
    wait_until(Duration::from_secs(60), "some jobs done", || async {
        outcomes(&store).await.0.len() >= 80
    })
    .await;
    let before_kill = hub_a.log_text();
    hub_a.kill9();
    // Jobs keep coming through the survivor.
    let more = enqueuer
        .enqueue_many(
            std::slice::from_ref(&b.http),
            tags("u", 100),
            &["did:ferret:a", "did:ferret:b"],
            1,
            16,
        )
        .await;
    want.extend(digests(&more));
    let ready = all_ready(&store, &want, Duration::from_secs(90)).await;
    exactly_once(&ready, &want);
    let mut seen = Vec::new();
    for s in scanners {
        seen.push(s.stop().await);
    }
    seqs_only_grow(&seen.iter().map(|s| s.as_ref()).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = hub_b.metrics();
    leases_add_up(&m).unwrap();
    assert!(
        metric(&m, "ferret_leases_reclaimed_total") >= 1.0,
        "the killed hub's leases were taken back by the other: {m:?}"
    );
    for log in [before_kill, hub_b.log_text()] {
        assert!(!log.contains("deadlock"), "a deadlock was logged:\n{log}");
        assert!(!log.contains("ERROR"), "an error was logged:\n{log}");
    }
    store.close().await;
}

/// `moto` in server mode (PyPI `moto[server]`), an S3-compatible server, on a free port;
/// `None` (said loudly) when it is not installed.
fn start_moto(dir: &std::path::Path) -> Option<(ferret_testsupport::service::Killed, String)> {
    if !ferret_testsupport::service::have("moto_server") {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto_server is required in CI (.ci/run installs moto[server])"
        );
        eprintln!("\n*** SKIPPED: moto_server (PyPI moto[server]) is not installed ***\n");
        return None;
    }
    let port = ferret_testsupport::free_port();
    let log = std::fs::File::create(dir.join("moto.log")).unwrap();
    let child = ferret_testsupport::service::Killed(
        std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    ferret_testsupport::service::wait_for(&addr);
    Some((child, addr))
}

/// Two hubs on one PostgreSQL with their blobs in one S3 bucket: a result a scanner sent to
/// one hub is served, SBOM and report, by the other, and the blobs are in the bucket under
/// the configured prefix, content-addressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_serve_each_others_results_from_s3() {
    let Some(url) = postgres("q_s3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some((_moto, s3)) = start_moto(d) else {
        return;
    };
    let http = reqwest::Client::new();
    let made = http
        .put(format!("http://{s3}/ferret"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "creating the bucket: {made:?}");
    let registry = FakeRegistry::start();
    // Every blob to S3, however small (by default small ones stay in the database).
    let extra = "blob_store = \"s3://ferret/results\"\nblob_inline_limit = 0";
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", &format!("http://{s3}")),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let mut a = HubSetup::new(d, "a", &registry.addr, Some(&url), extra);
    let mut b = HubSetup::new(d, "b", &registry.addr, Some(&url), extra);
    for setup in [&mut a, &mut b] {
        setup.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }
    let _hub_a = a.start(&d.join("a.log"));
    let _hub_b = b.start(&d.join("b.log"));
    let token = a.admin_token();
    let enqueuer = Enqueuer::new(&token);
    // Results reach hub A only (its scanner); the scans are asked for through both.
    let scanner = FakeScanner::start(vec![a.http.clone()], 2, Behaviour::Answer(Duration::ZERO));
    let answers = enqueuer
        .enqueue_many(
            &[a.http.clone(), b.http.clone()],
            tags("s", 4),
            &["did:ferret:a"],
            1,
            2,
        )
        .await;
    let want = digests(&answers);
    let store = b.store().await;
    all_ready(&store, &want, Duration::from_secs(60)).await;
    drop(scanner);
    for answer in &answers {
        let id = answer.body["id"].as_str().unwrap();
        let digest = answer.body["digest"].as_str().unwrap();
        for hub in [&a.http, &b.http] {
            let sbom = http
                .get(format!("http://{hub}/api/ferret/v1/scans/{id}/sbom"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(sbom.status(), 200, "{hub}");
            let etag = sbom.headers()["etag"].to_str().unwrap().to_owned();
            let body = sbom.bytes().await.unwrap();
            // Content-addressed: the entity tag is the SBOM's own SHA-256.
            assert_eq!(etag, format!("\"{}\"", ferret_testsupport::sha256(&body)));
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["name"], digest, "{hub}: the SBOM the scanner sent");
            let report = http
                .get(format!("http://{hub}/api/ferret/v1/scans/{id}/report"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(report.status(), 200);
            let report: serde_json::Value = report.json().await.unwrap();
            assert_eq!(report["source"]["target"], digest);
        }
    }
    // In the bucket: an SBOM and a report per scan. Neither hub kept anything on its own disk.
    let listing = http
        .get(format!("http://{s3}/ferret?list-type=2&prefix=results/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        listing.matches("<Key>").count(),
        2 * answers.len(),
        "{listing}"
    );
    for hub in ["a", "b"] {
        assert!(
            !d.join(hub).join("blobs").exists(),
            "hub {hub} wrote blobs locally"
        );
    }
    store.close().await;
}
