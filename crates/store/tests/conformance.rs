//! One conformance suite, run against both backends: SQLite in a temporary directory, and
//! PostgreSQL from `FERRET_TEST_POSTGRES_URL` (each test in a schema of its own). Without
//! that variable the PostgreSQL half says loudly that it skipped.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use ferret_store::*;

/// A fresh store per backend; the guard keeps the SQLite directory alive.
async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("hub.db").display());
    let mut out = vec![("sqlite", Store::open(&url).await.unwrap(), Some(dir))];
    if let Some(url) = postgres_url().await {
        out.push(("postgres", Store::open(&url).await.unwrap(), None));
    }
    out
}

/// A URL for a fresh schema on the test PostgreSQL, or `None` (said loudly).
async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("FERRET_TEST_POSTGRES_URL") else {
        eprintln!(
            "\n*** SKIPPED (PostgreSQL half): FERRET_TEST_POSTGRES_URL is not set; only SQLite was tested ***\n"
        );
        return None;
    };
    let schema = format!("ferret_t_{}", uuid_like());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{n:x}{:x}", std::process::id())
}

fn req(digest: &str, owner: &str, priority: i64) -> JobRequest {
    JobRequest {
        digest: digest.to_owned(),
        registry: "reg".to_owned(),
        repository: "app".to_owned(),
        tag: Some("latest".to_owned()),
        owner: owner.to_owned(),
        hold_did: "did:web:hub.example".to_owned(),
        hold_endpoint: "http://127.0.0.1:5000".to_owned(),
        priority,
    }
}

fn d(n: u32) -> String {
    format!("sha256:{n:064x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_dedupe_and_keep_the_most_urgent_priority() {
    for (name, s, _g) in stores().await {
        let a = s.submit(&req(&d(1), "alice", 2)).await.unwrap();
        assert!(a.created, "{name}");
        assert_eq!(a.job.state, JobState::Queued);
        let again = s.submit(&req(&d(1), "bob", 1)).await.unwrap();
        assert!(!again.created, "{name}");
        assert_eq!(again.job.id, a.job.id);
        assert_eq!(
            again.job.priority, 1,
            "{name}: raised to the more urgent ask"
        );
        assert_eq!(again.job.seq, a.job.seq, "{name}: joining keeps its place");
        let lower = s.submit(&req(&d(1), "bob", 2)).await.unwrap();
        assert_eq!(lower.job.priority, 1, "{name}: never lowered");
        let scan = s.scan(&a.job.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.status, ScanStatus::Running);
        // Leased still counts as active; once done, a new ask makes a new job.
        let leased = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
        assert_eq!(leased.id, a.job.id);
        assert!(!s.submit(&req(&d(1), "alice", 0)).await.unwrap().created);
        assert!(s.finish(&leased.id, "h:1").await.unwrap());
        let next = s.submit(&req(&d(1), "alice", 0)).await.unwrap();
        assert!(next.created, "{name}");
        assert!(next.job.seq > a.job.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_then_fair_share_then_seq() {
    for (name, s, _g) in stores().await {
        // Alice queues four rescans, Bob two; then an on-demand ask arrives.
        for i in 0..4 {
            s.submit(&req(&d(10 + i), "alice", 2)).await.unwrap();
        }
        for i in 0..2 {
            s.submit(&req(&d(20 + i), "bob", 2)).await.unwrap();
        }
        s.submit(&req(&d(30), "carol", 0)).await.unwrap();
        let mut order = Vec::new();
        while let Some(j) = s.lease("h:1", 0, 60_000).await.unwrap() {
            order.push((j.owner.clone(), j.digest.clone()));
        }
        let owners: Vec<&str> = order.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(
            owners,
            ["carol", "alice", "bob", "alice", "bob", "alice", "alice"],
            "{name}"
        );
        // Within one owner, by seq.
        let alice: Vec<&str> = order
            .iter()
            .filter(|(o, _)| o == "alice")
            .map(|(_, d)| d.as_str())
            .collect();
        assert_eq!(alice, [d(10), d(11), d(12), d(13)], "{name}");
        assert_eq!(s.queue_depth().await.unwrap(), vec![], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_and_requeues_with_new_seqs() {
    for (name, s, _g) in stores().await {
        let a = s.submit(&req(&d(1), "o", 1)).await.unwrap().job;
        let b = s.submit(&req(&d(2), "o", 1)).await.unwrap().job;
        assert!(b.seq > a.seq);
        assert_eq!(s.max_seq().await.unwrap(), b.seq);
        // A floor at a's seq sees only b.
        let got = s.lease("h:x", a.seq, 60_000).await.unwrap().unwrap();
        assert_eq!(got.id, b.id, "{name}");
        assert!(s.lease("h:x", b.seq, 60_000).await.unwrap().is_none());
        // Released, b comes back above every floor so far.
        let r = s
            .release(&b.id, "h:x", "scanner went away", 3)
            .await
            .unwrap();
        let Some(Released::Requeued(b2)) = r else {
            panic!("{name}: {r:?}")
        };
        assert!(b2.seq > b.seq, "{name}");
        assert_eq!(b2.last_error.as_deref(), Some("scanner went away"));
        assert_eq!(
            s.lease("h:y", b.seq, 60_000).await.unwrap().unwrap().id,
            b.id
        );
        // Only the holder can end a lease.
        assert!(s.release(&b.id, "h:x", "x", 3).await.unwrap().is_none());
        assert!(!s.finish(&b.id, "h:x").await.unwrap());
        assert_eq!(s.leased_by("h:y").await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_end_in_error_with_the_reason() {
    for (name, s, _g) in stores().await {
        let job = s.submit(&req(&d(7), "o", 1)).await.unwrap().job;
        for attempt in 1..=3 {
            let j = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
            assert_eq!(j.attempts, attempt, "{name}");
            let r = s
                .release(&j.id, "h:1", "lease lost", 3)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(matches!(r, Released::Failed(_)), attempt == 3, "{name}");
        }
        let failed = s.job(&job.id).await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Error);
        assert_eq!(
            failed.last_error.as_deref(),
            Some("lease lost (after 3 attempts)")
        );
        let scan = s.scan(&job.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.status, ScanStatus::Error);
        assert_eq!(scan.error, failed.last_error);
        assert!(s.lease("h:1", 0, 60_000).await.unwrap().is_none());
        // A scanner's own error ends it at once.
        let other = s.submit(&req(&d(8), "o", 1)).await.unwrap().job;
        let j = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
        let failed = s
            .fail(&j.id, "h:1", "pull failed: 404")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.state, JobState::Error);
        let scan = s.scan(&other.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.error.as_deref(), Some("pull failed: 404"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_and_holders_are_released_together() {
    for (name, s, _g) in stores().await {
        for i in 0..3 {
            s.submit(&req(&d(i), "o", 1)).await.unwrap();
        }
        let a = s.lease("hub1:c1", 0, 1_000).await.unwrap().unwrap();
        let b = s.lease("hub1:c2", 0, 60_000).await.unwrap().unwrap();
        let c = s.lease("hub2:c1", 0, 60_000).await.unwrap().unwrap();
        let now = now_ms();
        // a's liveness lapses; c was taken too long ago.
        let expired = s.release_expired(now + 5_000, 3_000, 3).await.unwrap();
        let ids: BTreeSet<&str> = expired.iter().map(|r| r.job().id.as_str()).collect();
        assert_eq!(
            ids,
            BTreeSet::from([a.id.as_str(), b.id.as_str(), c.id.as_str()])
        );
        let a = s.lease("hub1:c1", 0, 60_000).await.unwrap().unwrap();
        let b = s.lease("hub1:c2", 0, 60_000).await.unwrap().unwrap();
        s.lease("hub2:c1", 0, 60_000).await.unwrap().unwrap();
        assert_eq!(
            s.renew("hub1:", now_ms() + 120_000).await.unwrap(),
            2,
            "{name}"
        );
        let gone = s
            .release_holders("hub1:", "hub restarted", 3)
            .await
            .unwrap();
        let ids: BTreeSet<&str> = gone.iter().map(|r| r.job().id.as_str()).collect();
        assert_eq!(
            ids,
            BTreeSet::from([a.id.as_str(), b.id.as_str()]),
            "{name}"
        );
        assert_eq!(s.queue_depth().await.unwrap(), vec![(1, 2)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leases_never_share_a_job() {
    for (name, s, _g) in stores().await {
        for i in 0..40 {
            s.submit(&req(&d(i), &format!("o{}", i % 3), i64::from(i % 2)))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(j) = s.lease(&format!("h:{t}"), 0, 60_000).await.unwrap() {
                    got.push(j.id);
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 40, "{name}");
        assert_eq!(unique.len(), 40, "{name}");
    }
}

fn finding(id: &str, severity: &str, package: &str) -> Finding {
    Finding {
        vulnerability: id.to_owned(),
        severity: severity.to_owned(),
        package: package.to_owned(),
        version: "1.0".to_owned(),
        fixed_by: Some("1.1".to_owned()),
        source: "dpkg".to_owned(),
        link: Some(format!("https://security-tracker.debian.org/tracker/{id}")),
        origin: None,
        kind: Some("deb".to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_findings_and_the_latest_record() {
    for (name, s, _g) in stores().await {
        let image = s
            .upsert_image("alice", "reg", "app", &d(1), Some("v1"), 123)
            .await
            .unwrap();
        let again = s
            .upsert_image("alice", "reg", "app", &d(1), Some("latest"), 123)
            .await
            .unwrap();
        assert_eq!(again.id, image.id);
        assert_eq!(again.tags, ["latest", "v1"], "{name}");
        assert_eq!(s.images(Some("alice")).await.unwrap().len(), 1);
        assert!(s.images(Some("bob")).await.unwrap().is_empty());
        // Listed by name then digest, paged after an image.
        s.upsert_image("alice", "reg", "app", &d(0), None, 1)
            .await
            .unwrap();
        s.upsert_image("alice", "reg", "zed", &d(0), None, 1)
            .await
            .unwrap();
        s.upsert_image("bob", "reg", "app", &d(5), None, 1)
            .await
            .unwrap();
        let alices = ImageFilter {
            owner: Some("alice".to_owned()),
            ..ImageFilter::default()
        };
        let mut walked = Vec::new();
        let mut after: Option<Image> = None;
        while let Some(i) = s
            .find_images(&alices, after.as_ref(), 1)
            .await
            .unwrap()
            .pop()
        {
            walked.push((i.repository.clone(), i.digest.clone()));
            after = Some(i);
        }
        assert_eq!(
            walked,
            [
                ("app".to_owned(), d(0)),
                ("app".to_owned(), d(1)),
                ("zed".to_owned(), d(0))
            ],
            "{name}"
        );
        let apps = ImageFilter {
            repository: Some("app".to_owned()),
            ..ImageFilter::default()
        };
        assert_eq!(
            s.find_images(&apps, None, 10).await.unwrap().len(),
            3,
            "{name}"
        );

        let job = s.submit(&req(&d(1), "alice", 0)).await.unwrap().job;
        let scan = s.scan(&job.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.image_id.as_deref(), Some(image.id.as_str()), "{name}");
        let leased = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
        let findings = vec![
            finding("CVE-1", "HIGH", "openssl"),
            finding("CVE-2", "LOW", "zlib"),
            finding("CVE-3", "HIGH", "zlib"),
        ];
        let result = ScanResult {
            scanner_version: "ferret-0.1.0".to_owned(),
            sbom_blob: Some(d(99)),
            report_blob: None,
            counts: Counts {
                high: 2,
                low: 1,
                total: 3,
                ..Counts::default()
            },
            findings,
            record: serde_json::json!({"total": 3}),
        };
        let done = s.complete_scan(&leased.scan_id, &result).await.unwrap();
        assert!(s.finish(&leased.id, "h:1").await.unwrap());
        assert_eq!(done.status, ScanStatus::Ready);
        assert_eq!(done.counts.high, 2);
        let high = s
            .findings(
                &done.id,
                &FindingFilter {
                    severity: Some("HIGH".to_owned()),
                    ..FindingFilter::default()
                },
                FindingKey::default(),
                10,
            )
            .await
            .unwrap();
        let ids: Vec<&str> = high.iter().map(|(_, f)| f.vulnerability.as_str()).collect();
        assert_eq!(ids, ["CVE-1", "CVE-3"], "{name}");
        let page = s
            .findings(&done.id, &FindingFilter::default(), high[0].0, 1)
            .await
            .unwrap();
        assert_eq!(page[0].1.vulnerability, "CVE-2");
        // Most severe first, report order within a severity, paged by the keyset.
        let by_severity = FindingFilter {
            by_severity: true,
            ..FindingFilter::default()
        };
        let mut walked = Vec::new();
        let mut key = FindingKey::default();
        loop {
            let page = s.findings(&done.id, &by_severity, key, 1).await.unwrap();
            let Some((k, f)) = page.into_iter().next() else {
                break;
            };
            walked.push(f.vulnerability);
            key = k;
        }
        assert_eq!(walked, ["CVE-1", "CVE-3", "CVE-2"], "{name}");
        assert_eq!(s.latest(&d(1)).await.unwrap().unwrap().record["total"], 3);
        assert_eq!(
            s.last_finished_scan(&image.id).await.unwrap().unwrap().id,
            done.id
        );

        // A rescan replaces the latest record; both scans stay in the history.
        let job2 = s.submit(&req(&d(1), "alice", 2)).await.unwrap().job;
        let l2 = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
        let mut r2 = result.clone();
        r2.record = serde_json::json!({"total": 0});
        r2.findings.clear();
        s.complete_scan(&job2.scan_id, &r2).await.unwrap();
        s.finish(&l2.id, "h:1").await.unwrap();
        let latest = s.latest(&d(1)).await.unwrap().unwrap();
        assert_eq!(
            (latest.scan_id.as_str(), latest.record["total"].as_i64()),
            (job2.scan_id.as_str(), Some(0))
        );
        let filter = ScanFilter {
            image_id: Some(image.id.clone()),
            status: Some(ScanStatus::Ready),
            ..ScanFilter::default()
        };
        let all = s.scans(&filter, None, 10).await.unwrap();
        assert_eq!(all.len(), 2, "{name}");
        let first = s.scans(&filter, None, 1).await.unwrap();
        let rest = s
            .scans(&filter, Some(&ScanKey::of(&first[0])), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1, "{name}: keyset paging");
        assert_ne!(rest[0].id, first[0].id);

        // By status: a running scan after the finished ones, each page continuing.
        let job3 = s.submit(&req(&d(1), "alice", 1)).await.unwrap();
        let by_status = ScanFilter {
            image_id: Some(image.id.clone()),
            by_status: true,
            ..ScanFilter::default()
        };
        let mut seen = Vec::new();
        let mut key: Option<ScanKey> = None;
        loop {
            let page = s.scans(&by_status, key.as_ref(), 1).await.unwrap();
            let Some(scan) = page.into_iter().next() else {
                break;
            };
            key = Some(ScanKey::of(&scan));
            seen.push((scan.status, scan.id));
        }
        assert_eq!(seen.len(), 3, "{name}");
        assert_eq!(seen[2], (ScanStatus::Running, job3.scan_id), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_joining_a_job_get_scans_of_their_own() {
    for (name, s, _g) in stores().await {
        let a = s
            .upsert_image("alice", "reg", "app", &d(7), Some("v1"), 1)
            .await
            .unwrap();
        let b = s
            .upsert_image("bob", "reg", "app", &d(7), Some("v1"), 1)
            .await
            .unwrap();
        let first = s.submit(&req(&d(7), "alice", 1)).await.unwrap();
        let joined = s.submit(&req(&d(7), "bob", 0)).await.unwrap();
        assert!(!joined.created, "{name}");
        assert_eq!(joined.job.id, first.job.id);
        assert_ne!(joined.scan_id, first.scan_id, "{name}: bob's own scan");
        let again = s.submit(&req(&d(7), "bob", 0)).await.unwrap();
        assert_eq!(
            again.scan_id, joined.scan_id,
            "{name}: asked twice, one scan"
        );
        let bobs = s.scan(&joined.scan_id).await.unwrap().unwrap();
        assert_eq!(
            (bobs.owner.as_str(), bobs.image_id.as_deref()),
            ("bob", Some(b.id.as_str()))
        );

        let leased = s.lease("h:1", 0, 60_000).await.unwrap().unwrap();
        let result = ScanResult {
            scanner_version: "ferret-0.1.0".to_owned(),
            sbom_blob: None,
            report_blob: None,
            counts: Counts {
                critical: 1,
                total: 1,
                ..Counts::default()
            },
            findings: vec![finding("CVE-9", "CRITICAL", "zlib")],
            record: serde_json::json!({}),
        };
        s.complete_scan(&leased.scan_id, &result).await.unwrap();
        for (scan_id, image_id) in [(&first.scan_id, &a.id), (&joined.scan_id, &b.id)] {
            let scan = s.scan(scan_id).await.unwrap().unwrap();
            assert_eq!(scan.status, ScanStatus::Ready, "{name}");
            assert_eq!(scan.counts.critical, 1);
            let f = s
                .findings(
                    scan_id,
                    &FindingFilter::default(),
                    FindingKey::default(),
                    10,
                )
                .await
                .unwrap();
            assert_eq!(f.len(), 1, "{name}");
            assert_eq!(
                s.last_finished_scan(image_id).await.unwrap().unwrap().id,
                *scan_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_set_once() {
    for (name, s, _g) in stores().await {
        let first = s.setting_or_init("key", || "one".to_owned()).await.unwrap();
        let second = s.setting_or_init("key", || "two".to_owned()).await.unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("one", "one"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_tokens_and_operations() {
    for (name, s, _g) in stores().await {
        assert_eq!(s.account_count().await.unwrap(), 0);
        let a = s
            .create_account("admin", "$argon2id$x", true)
            .await
            .unwrap();
        assert!(a.admin);
        assert!(matches!(
            s.create_account("admin", "y", false).await,
            Err(StoreError::Conflict(_))
        ));
        s.add_token(&a.id, &"ab".repeat(32), "ci").await.unwrap();
        assert_eq!(
            s.account_by_token(&"ab".repeat(32))
                .await
                .unwrap()
                .unwrap()
                .id,
            a.id,
            "{name}"
        );
        assert!(
            s.account_by_token(&"cd".repeat(32))
                .await
                .unwrap()
                .is_none()
        );
        let op = s
            .create_operation(&a.id, "Scan image", "scan1")
            .await
            .unwrap();
        assert_eq!(s.operation(&op.id).await.unwrap().unwrap(), op);
    }
}

/// What was queued survives closing and reopening the database, and `seq` keeps growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite:{}", dir.path().join("hub.db").display())];
    urls.extend(postgres_url().await);
    for url in urls {
        let s = Store::open(&url).await.unwrap();
        let a = s.submit(&req(&d(1), "o", 1)).await.unwrap().job;
        s.submit(&req(&d(2), "o", 1)).await.unwrap();
        s.lease("old:c", 0, 60_000).await.unwrap().unwrap();
        s.close().await;
        let s = Store::open(&url).await.unwrap();
        let back = s.release_holders("old:", "hub restarted", 3).await.unwrap();
        assert_eq!(back.len(), 1, "{url}");
        assert!(back[0].job().seq > a.seq + 1, "{url}: seq keeps growing");
        assert_eq!(s.queue_depth().await.unwrap(), vec![(1, 2)], "{url}");
    }
}

#[test]
fn blobs_are_content_addressed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path());
    let digest = blobs.put(b"{}").unwrap();
    assert_eq!(
        digest,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(blobs.put(b"{}").unwrap(), digest);
    assert_eq!(blobs.get(&digest).unwrap().unwrap(), b"{}");
    assert!(
        blobs
            .get(&format!("sha256:{}", "0".repeat(64)))
            .unwrap()
            .is_none()
    );
    assert!(matches!(blobs.get("md5:x"), Err(BlobError::BadDigest(_))));
}
