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

/// A SQLite file in `dir`, and a fresh PostgreSQL schema when there is one, by name.
async fn database_urls(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![("sqlite", format!("sqlite:{}", dir.join("hub.db").display()))];
    if let Some(url) = postgres_url().await {
        urls.push(("postgres", url));
    }
    urls
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
        reason: ferret_store::ScanReason::Request,
    }
}

fn d(n: u32) -> String {
    format!("sha256:{n:064x}")
}

const LIMITS: Limits = Limits {
    max_attempts: 3,
    max_interruptions: 3,
};

/// The hub part of a holder `hub:connection`.
fn hub_of(holder: &str) -> &str {
    holder.split_once(':').map_or(holder, |(h, _)| h)
}

/// Leases the next job to `holder`.
async fn lease(s: &Store, holder: &str) -> Option<Job> {
    lease_above(s, holder, None).await
}

async fn lease_above(s: &Store, holder: &str, floor: Option<i64>) -> Option<Job> {
    let lessee = Lessee {
        hub: hub_of(holder),
        holder,
    };
    let mut jobs = s.claim(lessee, floor, 1, 60_000).await.unwrap();
    assert!(jobs.len() <= 1);
    jobs.pop()
}

fn result(total: i64) -> ScanResult {
    ScanResult {
        scanner_version: "ferret-0.1.0".to_owned(),
        sbom_blob: None,
        report_blob: None,
        counts: Counts {
            unknown: u64::try_from(total).unwrap(),
            ..Counts::default()
        },
        findings: Vec::new(),
        record: serde_json::json!({"total": total}),
        inline_blobs: Vec::new(),
    }
}

fn interrupted(why: &str) -> LeaseEnd {
    LeaseEnd::Interrupted(why.to_owned())
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
        let leased = lease(&s, "h:1").await.unwrap();
        assert_eq!(leased.id, a.job.id);
        assert!(!s.submit(&req(&d(1), "alice", 0)).await.unwrap().created);
        let done = s.complete(&leased.id, "h:1", &result(0)).await.unwrap();
        assert!(
            matches!(done, Completion::Completed { held: true, .. }),
            "{name}: {done:?}"
        );
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
        while let Some(j) = lease(&s, "h:1").await {
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

/// An owner arriving while another's backlog drains waits behind one of its jobs, not
/// behind the backlog; an owner back after everything drained does not jump the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomers_interleave_with_a_backlog() {
    for (name, s, _g) in stores().await {
        for i in 0..10 {
            s.submit(&req(&d(100 + i), "alice", 1)).await.unwrap();
        }
        for _ in 0..4 {
            lease(&s, "h:1").await.unwrap();
        }
        s.submit(&req(&d(200), "bob", 1)).await.unwrap();
        s.submit(&req(&d(201), "bob", 1)).await.unwrap();
        let next: Vec<String> = [
            lease(&s, "h:1").await,
            lease(&s, "h:1").await,
            lease(&s, "h:1").await,
            lease(&s, "h:1").await,
        ]
        .into_iter()
        .map(|j| j.unwrap().owner)
        .collect();
        assert_eq!(next, ["alice", "bob", "alice", "bob"], "{name}");
        while lease(&s, "h:1").await.is_some() {}
        // Everything drained; carol (new) and alice (old) start level.
        s.submit(&req(&d(300), "alice", 1)).await.unwrap();
        s.submit(&req(&d(301), "alice", 1)).await.unwrap();
        s.submit(&req(&d(302), "carol", 1)).await.unwrap();
        let owners: Vec<String> = [lease(&s, "h:1").await, lease(&s, "h:1").await]
            .into_iter()
            .map(|j| j.unwrap().owner)
            .collect();
        assert_eq!(owners, ["alice", "carol"], "{name}");
    }
}

/// The pick reads the queue's partial index in order: no sort, whatever the depth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pick_is_an_index_seek() {
    for (name, s, _g) in stores().await {
        for i in 0..300 {
            s.submit(&req(&d(i), &format!("o{}", i % 7), i64::from(i % 3)))
                .await
                .unwrap();
        }
        let plan = s.pick_plan().await.unwrap();
        assert!(plan.contains("jobs_pick"), "{name}: {plan}");
        assert!(
            !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
            "{name}: the pick sorts: {plan}"
        );
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
        let got = lease_above(&s, "h:x", Some(a.seq)).await.unwrap();
        assert_eq!(got.id, b.id, "{name}");
        assert!(lease_above(&s, "h:x", Some(b.seq)).await.is_none());
        // Released, b comes back above every floor so far.
        let r = s
            .release(&b.id, "h:x", &interrupted("scanner went away"), LIMITS)
            .await
            .unwrap();
        let Some(Released::Requeued(b2)) = r else {
            panic!("{name}: {r:?}")
        };
        assert!(b2.seq > b.seq, "{name}");
        assert_eq!(b2.interruptions, 1, "{name}");
        assert_eq!(b2.last_error.as_deref(), Some("scanner went away"));
        assert_eq!(s.max_seq().await.unwrap(), b2.seq, "{name}");
        assert_eq!(lease_above(&s, "h:y", Some(b.seq)).await.unwrap().id, b.id);
        // Only the holder can end a lease.
        assert!(
            s.release(&b.id, "h:x", &interrupted("x"), LIMITS)
                .await
                .unwrap()
                .is_none()
        );
        assert!(s.fail(&b.id, "h:x", "x").await.unwrap().is_none());
        assert_eq!(s.leased_by("h:y").await.unwrap().len(), 1);
        // Batches: up to K at once, in queue order.
        for i in 3..8 {
            s.submit(&req(&d(i), "o", 1)).await.unwrap();
        }
        let batch = s
            .claim(
                Lessee {
                    hub: "h",
                    holder: "h:z",
                },
                None,
                3,
                60_000,
            )
            .await
            .unwrap();
        let digests: Vec<&str> = batch.iter().map(|j| j.digest.as_str()).collect();
        assert_eq!(digests, [d(1), d(3), d(4)], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_end_in_error_with_the_reason() {
    for (name, s, _g) in stores().await {
        // Invalid results use attempts.
        let job = s.submit(&req(&d(7), "o", 1)).await.unwrap().job;
        for attempt in 1..=3 {
            let j = lease(&s, "h:1").await.unwrap();
            let r = s
                .reject(&j.id, "h:1", "invalid result: no sbom", LIMITS)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.job().attempts, attempt, "{name}");
            assert_eq!(matches!(r, Released::Failed(_)), attempt == 3, "{name}");
        }
        let failed = s.job(&job.id).await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Error);
        assert_eq!(
            failed.last_error.as_deref(),
            Some("invalid result: no sbom (after 3 attempts)")
        );
        let scan = s.scan(&job.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.status, ScanStatus::Error);
        assert_eq!(scan.error, failed.last_error);
        assert!(lease(&s, "h:1").await.is_none());
        // Lost leases use interruptions; a hub giving jobs back uses nothing.
        let job = s.submit(&req(&d(8), "o", 1)).await.unwrap().job;
        for _ in 0..5 {
            let j = lease(&s, "h:1").await.unwrap();
            let r = s
                .release(
                    &j.id,
                    "h:1",
                    &LeaseEnd::Returned("hub shut down".into()),
                    LIMITS,
                )
                .await
                .unwrap()
                .unwrap();
            assert!(matches!(r, Released::Requeued(_)), "{name}");
        }
        for lost in 1..=3 {
            let j = lease(&s, "h:1").await.unwrap();
            let r = s
                .release(&j.id, "h:1", &interrupted("lease timed out"), LIMITS)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.job().interruptions, lost, "{name}");
            assert_eq!(r.job().attempts, 0, "{name}: not an attempt");
            assert_eq!(matches!(r, Released::Failed(_)), lost == 3, "{name}");
        }
        let failed = s.job(&job.id).await.unwrap().unwrap();
        assert_eq!(
            failed.last_error.as_deref(),
            Some("lease timed out (lease lost 3 times)"),
            "{name}"
        );
        assert_eq!(failed.dispatches, 8, "{name}");
        // A scanner's own error ends it at once.
        let other = s.submit(&req(&d(9), "o", 1)).await.unwrap().job;
        let j = lease(&s, "h:1").await.unwrap();
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
async fn leases_end_by_timeout_holder_and_hub() {
    for (name, s, _g) in stores().await {
        for i in 0..5 {
            s.submit(&req(&d(i), "o", 1)).await.unwrap();
        }
        s.heartbeat("hub1", 60_000).await.unwrap();
        s.heartbeat("hub2", 60_000).await.unwrap();
        let a = s
            .claim(
                Lessee {
                    hub: "hub1",
                    holder: "hub1:c1",
                },
                None,
                1,
                1_000,
            )
            .await
            .unwrap()
            .remove(0);
        let b = lease(&s, "hub1:c2").await.unwrap();
        let c = lease(&s, "hub2:c1").await.unwrap();
        // a's lease times out; b's does not; hub2's leases are not hub1's to expire.
        let now = now_ms() + 5_000;
        let expired = s.expire("hub1", now, LIMITS).await.unwrap();
        let ids: Vec<&str> = expired.iter().map(|r| r.job().id.as_str()).collect();
        assert_eq!(ids, [a.id.as_str()], "{name}");
        assert!(
            s.expire("hub1", now, LIMITS).await.unwrap().is_empty(),
            "{name}: once"
        );
        // A connection's end gives back its leases only.
        let gone = s
            .release_holder("hub1:c2", &interrupted("connection closed"), LIMITS)
            .await
            .unwrap();
        assert_eq!(gone.len(), 1, "{name}");
        assert_eq!(gone[0].job().id, b.id);
        // Live hubs keep their leases; one that stops renewing loses them.
        assert!(s.reclaim(LIMITS).await.unwrap().is_empty(), "{name}");
        s.heartbeat("hub2", -1).await.unwrap();
        let back = s.reclaim(LIMITS).await.unwrap();
        let ids: Vec<&str> = back.iter().map(|r| r.job().id.as_str()).collect();
        assert_eq!(ids, [c.id.as_str()], "{name}");
        assert_eq!(
            back[0].job().last_error.as_deref(),
            Some("hub hub2 stopped answering")
        );
        assert_eq!(back[0].job().interruptions, 1);
        // A hub shutting down gives back its leases, counting nothing.
        let d1 = lease(&s, "hub1:c3").await.unwrap();
        let retired = s.retire("hub1", "hub shut down").await.unwrap();
        assert_eq!(retired.len(), 1, "{name}");
        assert_eq!(retired[0].job().id, d1.id);
        assert_eq!(retired[0].job().interruptions, d1.interruptions);
        assert_eq!(s.queue_depth().await.unwrap(), vec![(1, 5)], "{name}");
        // Leases of a hub that never had a heartbeat are reclaimed too.
        lease(&s, "ghost:c").await.unwrap();
        assert_eq!(s.reclaim(LIMITS).await.unwrap().len(), 1, "{name}");
    }
}

/// One outcome per job: the holder's result completes it; a repeat is ignored; a late
/// result completes a job waiting in the queue (and takes it out) but not one leased to
/// someone else or ended in error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_have_one_outcome() {
    for (name, s, _g) in stores().await {
        let j1 = s.submit(&req(&d(1), "o", 1)).await.unwrap().job;
        let l1 = lease(&s, "h:a").await.unwrap();
        assert!(matches!(
            s.complete(&l1.id, "h:a", &result(1)).await.unwrap(),
            Completion::Completed { held: true, .. }
        ));
        assert_eq!(
            s.complete(&l1.id, "h:a", &result(1)).await.unwrap(),
            Completion::AlreadyDone,
            "{name}"
        );
        assert_eq!(s.job(&j1.id).await.unwrap().unwrap().state, JobState::Done);
        // Late, the job queued again: the result completes it and it leaves the queue.
        s.submit(&req(&d(2), "o", 1)).await.unwrap();
        let l2 = lease(&s, "h:a").await.unwrap();
        s.release(&l2.id, "h:a", &interrupted("lease timed out"), LIMITS)
            .await
            .unwrap();
        let late = s.complete(&l2.id, "h:a", &result(2)).await.unwrap();
        let Completion::Completed { scan, held: false } = late else {
            panic!("{name}: {late:?}")
        };
        assert_eq!(scan.counts.total(), 2);
        assert!(lease(&s, "h:b").await.is_none(), "{name}: out of the queue");
        // Late, the job leased to another: refused, and the other's result counts.
        s.submit(&req(&d(3), "o", 1)).await.unwrap();
        let l3 = lease(&s, "h:a").await.unwrap();
        s.release(&l3.id, "h:a", &interrupted("lease timed out"), LIMITS)
            .await
            .unwrap();
        let again = lease(&s, "h:b").await.unwrap();
        assert_eq!(again.id, l3.id);
        assert!(matches!(
            s.complete(&l3.id, "h:a", &result(3)).await.unwrap(),
            Completion::Refused(_)
        ));
        assert!(matches!(
            s.complete(&l3.id, "h:b", &result(3)).await.unwrap(),
            Completion::Completed { held: true, .. }
        ));
        // Ended in error: refused.
        s.submit(&req(&d(4), "o", 1)).await.unwrap();
        let l4 = lease(&s, "h:a").await.unwrap();
        s.fail(&l4.id, "h:a", "pull failed").await.unwrap().unwrap();
        assert!(matches!(
            s.complete(&l4.id, "h:a", &result(4)).await.unwrap(),
            Completion::Refused(r) if r.contains("pull failed")
        ));
        // Exactly one READY scan per completed job.
        for (digest, total) in [(d(1), 1), (d(2), 2), (d(3), 3)] {
            let latest = s.latest(&digest).await.unwrap().unwrap();
            assert_eq!(latest.record["total"], total, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leases_never_share_a_job() {
    for (name, s, _g) in stores().await {
        for i in 0..60 {
            s.submit(&req(&d(i), &format!("o{}", i % 3), i64::from(i % 2)))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("h:{t}");
                let mut got = Vec::new();
                loop {
                    let lessee = Lessee {
                        hub: "h",
                        holder: &holder,
                    };
                    let batch = s.claim(lessee, None, 3, 60_000).await.unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    got.extend(batch.into_iter().map(|j| j.id));
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 60, "{name}");
        assert_eq!(unique.len(), 60, "{name}");
    }
}

/// Two stores on one database, as two hubs: while both claim, complete, give back and
/// reclaim each other's leases at once, every lease ends exactly once and every job has
/// exactly one outcome; no statement fails (no deadlock survives the retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_database_end_each_lease_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite:{}", dir.path().join("hub.db").display())];
    urls.extend(postgres_url().await);
    for url in urls {
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        const JOBS: u32 = 200;
        for i in 0..JOBS {
            a.submit(&req(&d(i), &format!("o{}", i % 5), 1))
                .await
                .unwrap();
        }
        a.heartbeat("A", 60_000).await.unwrap();
        b.heartbeat("B", 60_000).await.unwrap();
        let mut tasks = Vec::new();
        for (hub, s) in [("A", a.clone()), ("B", b.clone())] {
            for c in 0..4 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    let holder = format!("{hub}:{c}");
                    let mut completed = 0u32;
                    let mut round = 0u32;
                    loop {
                        round += 1;
                        let lessee = Lessee {
                            hub,
                            holder: &holder,
                        };
                        let jobs = s.claim(lessee, None, 2, 60_000).await.unwrap();
                        if jobs.is_empty() {
                            // What others give back comes back to the queue: stop only
                            // when it is empty.
                            if s.queue_depth().await.unwrap().is_empty() {
                                break;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            continue;
                        }
                        for (i, j) in jobs.iter().enumerate() {
                            // Every third round the first job is dropped (the scanner went
                            // away); otherwise completed.
                            if round.is_multiple_of(3) && i == 0 {
                                s.release(
                                    &j.id,
                                    &holder,
                                    &LeaseEnd::Returned("gone".into()),
                                    LIMITS,
                                )
                                .await
                                .unwrap();
                            } else if let Completion::Completed { .. } =
                                s.complete(&j.id, &holder, &result(1)).await.unwrap()
                            {
                                completed += 1;
                            }
                        }
                        // Meanwhile, sweep for dead hubs (there are none) as hubs do.
                        assert!(s.reclaim(LIMITS).await.unwrap().is_empty());
                    }
                    completed
                }));
            }
        }
        let mut completed = 0;
        for t in tasks {
            completed += t.await.unwrap();
        }
        assert_eq!(completed, JOBS, "{url}: each job completed once");
        for i in 0..JOBS {
            let job = a.active_job(&d(i)).await.unwrap();
            assert!(job.is_none(), "{url}: {job:?}");
        }
        a.close().await;
        b.close().await;
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
        // Some of each backend's findings are known exploited.
        kev: severity == "CRITICAL",
        fix_state: None,
        severity_source: None,
        epss: None,
        epss_percentile: None,
        layer: None,
        suppressed: None,
    }
}

/// JSON as a scanner may write it: non-ASCII, escapes, a NUL spelled as an escape.
const SMALL_BLOB: &str = "{\"name\": \"caf\u{e9} \\u0000 \\\"q\\\"\",\n \"n\": [1, 2]}";

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
        let leased = lease(&s, "h:1").await.unwrap();
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
                ..Counts::default()
            },
            findings,
            record: serde_json::json!({"total": 3}),
            inline_blobs: vec![(d(99), SMALL_BLOB.to_owned())],
        };
        let Completion::Completed { scan: done, .. } =
            s.complete(&leased.id, "h:1", &result).await.unwrap()
        else {
            panic!("{name}: not completed")
        };
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
        assert_eq!(
            s.blob(&d(99)).await.unwrap().as_deref(),
            Some(SMALL_BLOB.as_bytes()),
            "{name}: kept with the result, byte for byte"
        );
        assert_eq!(s.blob(&d(98)).await.unwrap(), None, "{name}");
        // A late result for a job nobody holds keeps its blobs too.
        let late = s.submit(&req(&d(7), "alice", 0)).await.unwrap().job;
        let mut r3 = result.clone();
        r3.inline_blobs = vec![(d(98), "{}".to_owned()), (d(99), SMALL_BLOB.to_owned())];
        assert!(matches!(
            s.complete(&late.id, "h:9", &r3).await.unwrap(),
            Completion::Completed { held: false, .. }
        ));
        assert_eq!(s.blob(&d(98)).await.unwrap().as_deref(), Some(&b"{}"[..]));

        // A rescan replaces the latest record; both scans stay in the history.
        let job2 = s.submit(&req(&d(1), "alice", 2)).await.unwrap().job;
        let l2 = lease(&s, "h:1").await.unwrap();
        assert_eq!(l2.scan_id, job2.scan_id);
        let mut r2 = result.clone();
        r2.record = serde_json::json!({"total": 0});
        r2.findings.clear();
        s.complete(&l2.id, "h:1", &r2).await.unwrap();
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

        let leased = lease(&s, "h:1").await.unwrap();
        let result = ScanResult {
            scanner_version: "ferret-0.1.0".to_owned(),
            sbom_blob: None,
            report_blob: None,
            counts: Counts {
                critical: 1,
                ..Counts::default()
            },
            findings: vec![finding("CVE-9", "CRITICAL", "zlib")],
            record: serde_json::json!({}),
            inline_blobs: Vec::new(),
        };
        s.complete(&leased.id, "h:1", &result).await.unwrap();
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
            let read: Vec<Finding> = f.into_iter().map(|(_, f)| f).collect();
            assert_eq!(read, result.findings, "{name}: every column, KEV too");
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
        // Use is recorded at most once a minute.
        assert_eq!(
            s.tokens(None).await.unwrap()[0].last_used_at,
            None,
            "{name}"
        );
        s.touch_token(&"ab".repeat(32), 1_000_000).await.unwrap();
        assert_eq!(
            s.tokens(None).await.unwrap()[0].last_used_at,
            Some(1_000_000),
            "{name}"
        );
        s.touch_token(&"ab".repeat(32), 1_030_000).await.unwrap();
        assert_eq!(
            s.tokens(None).await.unwrap()[0].last_used_at,
            Some(1_000_000),
            "{name}: within the minute"
        );
        s.touch_token(&"ab".repeat(32), 1_070_000).await.unwrap();
        assert_eq!(
            s.tokens(None).await.unwrap()[0].last_used_at,
            Some(1_070_000),
            "{name}"
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
        s.heartbeat("old", 60_000).await.unwrap();
        lease(&s, "old:c").await.unwrap();
        s.close().await;
        let s = Store::open(&url).await.unwrap();
        s.forget_other_hubs("new").await.unwrap();
        let back = s.reclaim(LIMITS).await.unwrap();
        assert_eq!(back.len(), 1, "{url}");
        assert!(back[0].job().seq > a.seq + 1, "{url}: seq keeps growing");
        assert_eq!(s.queue_depth().await.unwrap(), vec![(1, 2)], "{url}");
    }
}

#[tokio::test]
async fn blobs_are_content_addressed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path());
    let digest = blobs.put(b"{}".to_vec()).await.unwrap();
    assert_eq!(
        digest,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(blobs.put(b"{}".to_vec()).await.unwrap(), digest);
    assert_eq!(blobs.get(&digest).await.unwrap().unwrap(), b"{}");
    assert!(
        blobs
            .get(&format!("sha256:{}", "0".repeat(64)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        blobs.get("md5:x").await,
        Err(BlobError::BadDigest(_))
    ));
}

#[tokio::test]
async fn blob_store_locations() {
    let dir = tempfile::tempdir().unwrap();
    for location in [
        dir.path().join("plain").display().to_string(),
        format!("file://{}", dir.path().join("url").display()),
    ] {
        let blobs = BlobStore::open(&location, &[]).unwrap();
        let digest = blobs.put(b"{}".to_vec()).await.unwrap();
        assert_eq!(blobs.get(&digest).await.unwrap().unwrap(), b"{}");
    }
    assert!(dir.path().join("plain/sha256").is_dir());
    assert!(dir.path().join("url/sha256").is_dir());
    for bad in ["", "ftp://host/x", "s3://"] {
        match BlobStore::open(bad, &[]) {
            Err(BlobError::Config { url, .. }) => assert_eq!(url, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_claims_the_next_jobs_for_its_slot() {
    for (name, s, _g) in stores().await {
        let first = s.submit(&req(&d(1), "alice", 1)).await.unwrap().job;
        for n in 2..=4 {
            s.submit(&req(&d(n), "alice", 1)).await.unwrap();
        }
        let urgent = s.submit(&req(&d(5), "bob", 0)).await.unwrap().job;
        let held = lease(&s, "h:1").await.unwrap();
        assert_eq!(held.id, urgent.id, "{name}: the most urgent first");
        let lessee = Lessee {
            hub: "h",
            holder: "h:1",
        };
        let mut r = result(1);
        r.findings = vec![finding("CVE-1", "HIGH", "openssl")];
        r.inline_blobs = vec![(d(90), "{}".to_owned())];
        let (done, next) = s
            .complete_and_claim(&held.id, &r, lessee, Some(first.seq), 2, 60_000)
            .await
            .unwrap();
        let Completion::Completed { scan, held: true } = done else {
            panic!("{name}: {done:?}")
        };
        assert_eq!(scan.job_id, urgent.id, "{name}");
        assert_eq!(scan.counts.total(), 1, "{name}");
        assert_eq!(s.blob(&d(90)).await.unwrap().as_deref(), Some(&b"{}"[..]));
        // Above the floor, in queue order, leased to the same holder until the deadline.
        let digests: Vec<&str> = next.iter().map(|j| j.digest.as_str()).collect();
        assert_eq!(digests, [d(2).as_str(), d(3).as_str()], "{name}");
        for j in &next {
            assert_eq!(j.state, JobState::Leased, "{name}");
            assert_eq!(j.lease_holder.as_deref(), Some("h:1"), "{name}");
            assert_eq!(j.lease_hub.as_deref(), Some("h"), "{name}");
            assert_eq!(j.dispatches, 1, "{name}");
            assert!(j.lease_expires.unwrap() > now_ms() + 50_000, "{name}");
        }
        // Again for a job no longer held: refused, and the slot still gets its next job.
        let (again, more) = s
            .complete_and_claim(&held.id, &r, lessee, None, 1, 60_000)
            .await
            .unwrap();
        assert_eq!(again, Completion::AlreadyDone, "{name}");
        assert_eq!(more.len(), 1, "{name}");
        assert_eq!(
            more[0].id, first.id,
            "{name}: below the floor, now asked for"
        );
        let (_, none) = s
            .complete_and_claim(&next[0].id, &r, lessee, None, 0, 60_000)
            .await
            .unwrap();
        assert!(none.is_empty(), "{name}: no room, no claim");
    }
}

/// A database at schema 4 (as the hub left it before the pull-through endpoint) opens at
/// schema 5: migration 5 runs once, the index the hold endpoint reads is there, and the
/// jobs already leased are found by repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_4_database_upgrades_to_5() {
    let dir = tempfile::tempdir().unwrap();
    let urls = database_urls(dir.path()).await;
    for (name, url) in urls {
        let s = Store::open(&url).await.unwrap();
        s.submit(&req(&d(1), "did:web:a", 0)).await.unwrap();
        let job = lease(&s, "hub1:c1").await.unwrap();
        s.close().await;
        // Back to schema 4.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        for sql in [
            "DROP INDEX jobs_leased_repository",
            "DELETE FROM _sqlx_migrations WHERE version = 5",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let s = Store::open(&url).await.unwrap();
        let leased = s.leased_in("app").await.unwrap();
        assert_eq!(
            leased.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            [job.id.as_str()],
            "{name}"
        );
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let exists = if name == "sqlite" {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'jobs_leased_repository'"
        } else {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'jobs_leased_repository' AND schemaname = current_schema()"
        };
        let n: i64 = sqlx::query_scalar(exists).fetch_one(&pool).await.unwrap();
        assert_eq!(n, 1, "{name}");
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 5")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(applied, 1, "{name}");
        pool.close().await;
        s.close().await;
    }
}

/// Registry notifications: each event id is taken once; a delete hides every owner's image
/// from the lists (the image and its scans stay), a push of the digest brings it back;
/// a tag delete takes the tag off; schedule rules find the images not scanned lately.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_events_deletes_and_due_images() {
    for (name, s, _g) in stores().await {
        assert!(s.first_delivery("local/ev1").await.unwrap(), "{name}");
        assert!(!s.first_delivery("local/ev1").await.unwrap(), "{name}");
        s.forget_delivery("local/ev1").await.unwrap();
        assert!(s.first_delivery("local/ev1").await.unwrap(), "{name}");
        assert_eq!(s.forget_deliveries(now_ms() + 1).await.unwrap(), 1);

        let a = s
            .upsert_image("alice", "reg", "app", &d(1), Some("v1"), 1)
            .await
            .unwrap();
        s.upsert_image("bob", "reg", "app", &d(1), Some("v2"), 1)
            .await
            .unwrap();
        let other = s
            .upsert_image("alice", "reg", "app", &d(2), Some("v1"), 1)
            .await
            .unwrap();
        assert_eq!(s.delete_images("reg", "app", &d(1)).await.unwrap(), 2);
        assert_eq!(s.delete_images("reg", "app", &d(1)).await.unwrap(), 0);
        let listed: Vec<String> = s
            .images(None)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(listed, std::slice::from_ref(&other.id), "{name}");
        let found = s
            .find_images(&ImageFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{name}");
        assert!(s.image(&a.id).await.unwrap().unwrap().deleted_at.is_some());
        let back = s
            .upsert_image("alice", "reg", "app", &d(1), None, 1)
            .await
            .unwrap();
        assert_eq!((back.id.clone(), back.deleted_at), (a.id.clone(), None));
        assert_eq!(s.images(Some("alice")).await.unwrap().len(), 2, "{name}");

        assert_eq!(s.untag_images("reg", "app", "v1").await.unwrap(), 2);
        assert!(
            s.images(Some("alice"))
                .await
                .unwrap()
                .iter()
                .all(|i| i.tags.is_empty()),
            "{name}"
        );

        // Due: alice's two images have no scan; one scanned now is not due.
        let mut r = req(&d(2), "alice", 2);
        r.reason = ScanReason::Schedule;
        let submitted = s.submit(&r).await.unwrap();
        let due = s
            .images_unscanned_since("reg", now_ms() - 60_000)
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            [a.id.as_str()],
            "{name}"
        );
        let scan = s.scan(&submitted.scan_id).await.unwrap().unwrap();
        assert_eq!(scan.reason, Some(ScanReason::Schedule), "{name}");
        assert!(
            s.images_unscanned_since("other", 0)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// A database at schema 5 opens at schema 11: its images are listed (none deleted), its
/// scans have no reason, snapshot or diff, and the new tables work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_5_database_upgrades_to_11() {
    let dir = tempfile::tempdir().unwrap();
    let urls = database_urls(dir.path()).await;
    for (name, url) in urls {
        let s = Store::open(&url).await.unwrap();
        s.close().await;
        // Back to schema 5, then rows as a schema 5 hub wrote them.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 11")
            .execute(&pool)
            .await
            .unwrap();
        // Schema 10's and 11's triggers and indexes first (their syntax differs), then
        // schema 10's columns and tables.
        let triggers: &[&str] = if url.starts_with("postgres") {
            &[
                "DROP TRIGGER findings_kev ON findings",
                "DROP TRIGGER scans_summary_insert ON scans",
                "DROP TRIGGER scans_summary_update ON scans",
                "DROP FUNCTION ferret_findings_kev",
                "DROP FUNCTION ferret_scan_summary",
                "DROP INDEX IF EXISTS images_text",
            ]
        } else {
            &[
                "DROP TRIGGER findings_kev",
                "DROP TRIGGER scans_summary_insert",
                "DROP TRIGGER scans_summary_update",
                "DROP TRIGGER images_text_insert",
                "DROP TRIGGER images_text_update",
                "DROP TRIGGER images_text_delete",
                "DROP INDEX images_text_keys",
                "DROP TABLE images_text",
                "DROP INDEX images_text_rowid",
                "ALTER TABLE images DROP COLUMN text_rowid",
            ]
        };
        for sql in triggers {
            sqlx::query(*sql).execute(&pool).await.unwrap();
        }
        let mut schema_10: Vec<String> = [
            "images_name",
            "images_name_all",
            "images_risk",
            "images_risk_all",
            "images_recent",
            "images_recent_all",
            "jobs_failed",
            "images_digest",
            "scans_owner",
            "tokens_id",
            "tokens_account",
        ]
        .iter()
        .map(|i| format!("DROP INDEX {i}"))
        .collect();
        schema_10.push("DROP TABLE console_sessions".to_owned());
        for (table, columns) in [
            (
                "findings",
                &[
                    "fix_state",
                    "severity_source",
                    "epss",
                    "epss_percentile",
                    "layer",
                    "suppressed",
                ][..],
            ),
            ("scans", &["kev"][..]),
            (
                "images",
                &[
                    "last_scan_id",
                    "last_status",
                    "ready_scan_id",
                    "scanned_at",
                    "critical",
                    "high",
                    "medium",
                    "low",
                    "negligible",
                    "unknown",
                    "kev",
                ][..],
            ),
            ("tokens", &["id", "last_used_at"][..]),
            ("accounts", &["password_changed_at"][..]),
        ] {
            for c in columns {
                schema_10.push(format!("ALTER TABLE {table} DROP COLUMN {c}"));
            }
        }
        schema_10.push("DELETE FROM _sqlx_migrations WHERE version = 10".to_owned());
        for sql in &schema_10 {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(&pool)
                .await
                .unwrap();
        }
        for sql in [
            "ALTER TABLE findings DROP COLUMN kev",
            "DELETE FROM _sqlx_migrations WHERE version = 9",
            "DROP INDEX outbox_due",
            "DROP INDEX scans_scanned",
            "DROP TABLE outbox",
            "DROP TABLE webhooks",
            "DELETE FROM _sqlx_migrations WHERE version = 8",
            "DROP TABLE leases",
            "ALTER TABLE scans DROP COLUMN snapshot",
            "ALTER TABLE scans DROP COLUMN diff",
            "ALTER TABLE latest_scans DROP COLUMN judged_scan_id",
            "ALTER TABLE latest_scans DROP COLUMN judged_snapshot",
            "DELETE FROM _sqlx_migrations WHERE version = 7",
            "DROP INDEX images_registry",
            "DROP INDEX hook_events_received",
            "DROP TABLE hook_events",
            "ALTER TABLE images DROP COLUMN deleted_at",
            "ALTER TABLE scans DROP COLUMN reason",
            "DELETE FROM _sqlx_migrations WHERE version = 6",
            "INSERT INTO images (id, owner, registry, repository, digest, tags, size, created_at) VALUES ('img1', 'alice', 'reg', 'app', 'sha256:00', '[\"v1\"]', 1, 1)",
            "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, critical, high, medium, low, negligible, undefined, total, created_at) VALUES ('scn1', 'img1', 'job1', 'alice', 'reg', 'app', 'sha256:00', 'READY', 0, 0, 0, 0, 0, 0, 0, 1)",
            "INSERT INTO findings (scan_id, ord, vulnerability, severity, severity_rank, package, version, source) VALUES ('scn1', 0, 'CVE-1', 'HIGH', 1, 'zlib', '1.0', 'dpkg')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let s = Store::open(&url).await.unwrap();
        let images = s.images(None).await.unwrap();
        assert_eq!(images.len(), 1, "{name}");
        assert_eq!(images[0].deleted_at, None);
        // Schema 10 summarised the image's newest scan on the way.
        let summary = s.image_summary("img1").await.unwrap().unwrap();
        // And indexed its name for search.
        let q = ImageQuery {
            search: Some("reg/ap".to_owned()),
            ..ImageQuery::default()
        };
        let found = s.image_summaries(&q, None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{name}: found by name after the upgrade");
        assert_eq!(summary.ready_scan_id.as_deref(), Some("scn1"), "{name}");
        assert_eq!(
            summary.last_status,
            Some(ferret_store::ScanStatus::Ready),
            "{name}"
        );
        let scan = s.scan("scn1").await.unwrap().unwrap();
        assert_eq!((scan.reason, scan.snapshot, scan.diff), (None, None, None));
        assert!(s.first_delivery("reg/e").await.unwrap(), "{name}");
        assert!(s.take_lease("rescanner", "hub1", 1000).await.unwrap());
        assert!(s.webhooks(None).await.unwrap().is_empty(), "{name}");
        let f = s
            .findings("scn1", &FindingFilter::default(), FindingKey::default(), 10)
            .await
            .unwrap();
        assert!(
            !f[0].1.kev,
            "{name}: findings from before are not known exploited"
        );
        s.close().await;
    }
}

/// A database at schema 10 opens at schema 11: an image whose scan was running keeps its
/// summary, the scan's end reaches the summary through schema 11's trigger, and the image
/// is found by search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_10_database_upgrades_to_11() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in database_urls(dir.path()).await {
        let s = Store::open(&url).await.unwrap();
        let image = s
            .upsert_image("alice", "reg", "app", &d(1), Some("v1"), 1)
            .await
            .unwrap();
        s.close().await;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        // Back to schema 10: its summary trigger (PostgreSQL), no keys index (SQLite).
        let undo = if url.starts_with("postgres") {
            let m = include_str!("../migrations/0010_console.postgres.sql");
            let start = m.find("CREATE FUNCTION ferret_scan_summary").unwrap();
            let end = start + m[start..].find("END $$;").unwrap() + "END $$;".len();
            m[start..end].replacen("CREATE", "CREATE OR REPLACE", 1)
        } else {
            "DROP INDEX images_text_keys".to_owned()
        };
        for sql in [
            undo,
            "DELETE FROM _sqlx_migrations WHERE version = 11".to_owned(),
            // A scan a schema 10 hub started.
            format!(
                "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, critical, high, medium, low, negligible, undefined, total, created_at) VALUES ('scn1', '{}', 'job1', 'alice', 'reg', 'app', '{}', 'RUNNING', 0, 0, 0, 0, 0, 0, 0, 1)",
                image.id,
                d(1)
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }

        let s = Store::open(&url).await.unwrap();
        let summary = s.image_summary(&image.id).await.unwrap().unwrap();
        assert_eq!(
            (summary.last_scan_id.as_deref(), summary.last_status),
            (Some("scn1"), Some(ScanStatus::Running)),
            "{name}"
        );
        sqlx::query(
            "UPDATE scans SET status = 'READY', critical = 2, total = 2, scanned_at = 5 WHERE id = 'scn1'",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let summary = s.image_summary(&image.id).await.unwrap().unwrap();
        assert_eq!(
            (
                summary.last_status,
                summary.ready_scan_id.as_deref(),
                summary.scanned_at,
                summary.counts.critical
            ),
            (Some(ScanStatus::Ready), Some("scn1"), Some(5), 2),
            "{name}"
        );
        for s in [s.clone(), s.clone().with_search_sort_limit(0)] {
            let q = ImageQuery {
                search: Some("reg/ap".to_owned()),
                ..ImageQuery::default()
            };
            let found = s.image_summaries(&q, None, 10).await.unwrap();
            assert_eq!(found.len(), 1, "{name}: found by name after the upgrade");
        }
        s.close().await;
    }
}

/// Advisory rescans: a finished scan's digest is a candidate until judged against the
/// snapshot; a rescan is stored for every image of the digest (not deleted ones), points
/// the latest record at itself judged, and is refused once another scan became the latest;
/// one holder has the rescanner's lease at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescans_are_judged_once_and_stored_beside_the_scans() {
    for (name, s, _g) in stores().await {
        let alice = s
            .upsert_image("alice", "reg", "app", &d(1), Some("v1"), 1)
            .await
            .unwrap();
        s.upsert_image("bob", "reg", "app", &d(1), Some("v1"), 1)
            .await
            .unwrap();
        s.upsert_image("carol", "reg", "app", &d(1), Some("v1"), 1)
            .await
            .unwrap();
        s.delete_images("reg", "app", &d(1)).await.unwrap();
        s.upsert_image("alice", "reg", "app", &d(1), None, 1)
            .await
            .unwrap();
        s.upsert_image("bob", "reg", "app", &d(1), None, 1)
            .await
            .unwrap();
        let submitted = s.submit(&req(&d(1), "alice", 0)).await.unwrap();
        let job = lease(&s, "hub1:c1").await.unwrap();
        // The SBOM small enough to keep in the database, the report not.
        let mut scanned = result(1);
        scanned.sbom_blob = Some("sha256:5a".to_owned());
        scanned.report_blob = Some("sha256:7a".to_owned());
        scanned.inline_blobs = vec![(
            "sha256:5a".to_owned(),
            "{\"spdxVersion\":\"SPDX-2.3\"}".to_owned(),
        )];
        s.complete(&job.id, "hub1:c1", &scanned).await.unwrap();
        let c = s.rescan_candidates("snap-1", "", 10).await.unwrap();
        assert_eq!(c.len(), 1, "{name}");
        assert_eq!(c[0].scan_id, submitted.scan_id);
        assert_eq!(c[0].judged_snapshot, None);
        assert_eq!(c[0].sbom_blob.as_deref(), Some("sha256:5a"), "{name}");
        assert_eq!(c[0].report_blob.as_deref(), Some("sha256:7a"), "{name}");
        assert_eq!(
            c[0].sbom.as_deref(),
            Some("{\"spdxVersion\":\"SPDX-2.3\"}"),
            "{name}"
        );
        assert_eq!(c[0].report, None, "{name}: kept in the blob store");
        assert_eq!(c[0].record, scanned.record, "{name}");
        s.judged(&[(&d(1), &submitted.scan_id)], "snap-1")
            .await
            .unwrap();
        assert!(
            s.rescan_candidates("snap-1", "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let c = s.rescan_candidates("snap-2", "", 10).await.unwrap();
        assert_eq!(c[0].judged_snapshot.as_deref(), Some("snap-1"), "{name}");
        assert!(
            s.rescan_candidates("snap-2", &d(1), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let rescan = Rescan {
            digest: d(1),
            previous_scan_id: submitted.scan_id.clone(),
            snapshot: "snap-2".to_owned(),
            scanner_version: "ferret-test".to_owned(),
            sbom_blob: Some("sha256:5b".to_owned()),
            report_blob: "sha256:7e".to_owned(),
            counts: Counts {
                high: 1,
                ..Counts::default()
            },
            findings: vec![Finding {
                kev: true,
                fix_state: None,
                severity_source: None,
                epss: None,
                epss_percentile: None,
                layer: None,
                suppressed: None,
                ..finding("CVE-2024-1", "HIGH", "openssl")
            }],
            diff: r#"{"new":[]}"#.to_owned(),
            record: serde_json::json!({"total": 1}),
            inline_report: Some("{}".to_owned()),
        };
        let images = s.images_of(&[&d(1), &d(2)]).await.unwrap();
        assert_eq!(images.len(), 2, "{name}: carol's image is deleted");
        let ids = s.store_rescan(&rescan, &images).await.unwrap().unwrap();
        assert_eq!(ids.len(), 2, "{name}");
        let mut scans = Vec::new();
        for id in &ids {
            scans.push(s.scan(id).await.unwrap().unwrap());
        }
        let mine = scans.iter().find(|x| x.owner == "alice").unwrap();
        assert_eq!(mine.image_id.as_deref(), Some(alice.id.as_str()));
        assert_eq!(mine.status, ScanStatus::Ready);
        assert_eq!(mine.reason, Some(ScanReason::Advisories));
        assert_eq!(mine.snapshot.as_deref(), Some("snap-2"));
        assert_eq!(mine.diff.as_deref(), Some(r#"{"new":[]}"#));
        assert_eq!(mine.counts.high, 1);
        let f = s
            .findings(
                &mine.id,
                &FindingFilter::default(),
                FindingKey::default(),
                10,
            )
            .await
            .unwrap();
        assert_eq!(f.len(), 1, "{name}");
        assert_eq!(f[0].1, rescan.findings[0], "{name}");
        assert_eq!(s.blob("sha256:7e").await.unwrap().unwrap(), b"{}");
        let latest = s.latest(&d(1)).await.unwrap().unwrap();
        assert_eq!(latest.scan_id, scans[0].id, "{name}");
        assert!(
            s.rescan_candidates("snap-2", "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The previous scan is no longer the latest: refused, nothing written.
        assert!(s.store_rescan(&rescan, &images).await.unwrap().is_none());
        let all = s
            .scans(
                &ScanFilter {
                    owner: Some("alice".to_owned()),
                    ..ScanFilter::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 2, "{name}");

        assert!(s.take_lease("rescanner", "hub1", 60_000).await.unwrap());
        assert!(s.take_lease("rescanner", "hub1", 60_000).await.unwrap());
        assert!(!s.take_lease("rescanner", "hub2", 60_000).await.unwrap());
        s.drop_lease("rescanner", "hub1").await.unwrap();
        assert!(s.take_lease("rescanner", "hub2", -1).await.unwrap());
        assert!(
            s.take_lease("rescanner", "hub1", 60_000).await.unwrap(),
            "{name}: expired"
        );
    }
}

/// Notifications: webhooks are put, listed by owner and removed (with their pending
/// deliveries); a delivery is queued once per (event, webhook), leased to one caller at a
/// time until its lease ends, and ends delivered or dead; finished scans are read in
/// (scanned_at, id) order; settings are set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_the_outbox() {
    for (name, s, _g) in stores().await {
        let hook = |id: &str, owner: Option<&str>| Webhook {
            id: id.to_owned(),
            owner: owner.map(str::to_owned),
            url: "http://127.0.0.1:9/hook".to_owned(),
            secret: "k".to_owned(),
            filter: "{}".to_owned(),
            created_at: 1,
        };
        s.put_webhook(&hook("config:ops", None)).await.unwrap();
        s.put_webhook(&hook("whk1", Some("alice"))).await.unwrap();
        s.put_webhook(&hook("whk2", Some("bob"))).await.unwrap();
        assert_eq!(s.webhooks(None).await.unwrap().len(), 3, "{name}");
        let alice: Vec<String> = s
            .webhooks(Some("alice"))
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(alice, ["whk1"]);
        assert!(!s.delete_webhook("whk2", Some("alice")).await.unwrap());

        assert!(
            s.enqueue_delivery("scn1.scan.completed", "whk1", "{}")
                .await
                .unwrap()
        );
        assert!(
            !s.enqueue_delivery("scn1.scan.completed", "whk1", "{}")
                .await
                .unwrap()
        );
        assert!(
            s.enqueue_delivery("scn1.scan.completed", "whk2", "{}")
                .await
                .unwrap()
        );
        let first = s.lease_due_deliveries(10, 60_000).await.unwrap();
        assert_eq!(first.len(), 2, "{name}");
        assert!(
            s.lease_due_deliveries(10, 60_000).await.unwrap().is_empty(),
            "{name}: leased"
        );
        let (a, b) = (&first[0], &first[1]);
        s.delivered(&a.id).await.unwrap();
        s.delivery_failed(&b.id, "500", 0, false).await.unwrap();
        let again = s.lease_due_deliveries(10, -1).await.unwrap();
        assert_eq!(again.len(), 1, "{name}");
        assert_eq!(
            (again[0].attempts, again[0].last_error.as_deref()),
            (1, Some("500"))
        );
        // An expired lease is taken again.
        assert_eq!(s.lease_due_deliveries(10, 60_000).await.unwrap().len(), 1);
        s.delivery_failed(&b.id, "500", 0, true).await.unwrap();
        let dead = s
            .deliveries(Some(DeliveryState::Dead), None, 10)
            .await
            .unwrap();
        assert_eq!(dead.len(), 1, "{name}");
        assert_eq!(dead[0].attempts, 2);
        let alices = s.deliveries(None, Some("alice"), 10).await.unwrap();
        assert_eq!(alices.len(), 1);
        assert_eq!(alices[0].state, DeliveryState::Delivered);
        assert!(alices[0].delivered_at.is_some());
        let counts = s.delivery_counts().await.unwrap();
        assert_eq!(
            counts,
            [("dead".to_owned(), 1), ("delivered".to_owned(), 1)],
            "{name}"
        );
        s.enqueue_delivery("scn2.scan.failed", "whk2", "{}")
            .await
            .unwrap();
        assert!(s.delete_webhook("whk2", None).await.unwrap());
        assert!(
            s.lease_due_deliveries(10, 1).await.unwrap().is_empty(),
            "{name}"
        );

        for n in 0..3 {
            s.submit(&req(&d(40 + n), "alice", 0)).await.unwrap();
            let job = lease(&s, "hub1:c1").await.unwrap();
            s.complete(&job.id, "hub1:c1", &result(1)).await.unwrap();
        }
        let all = s.finished_after(0, "", 10).await.unwrap();
        assert_eq!(all.len(), 3, "{name}");
        let rest = s
            .finished_after(all[0].scanned_at.unwrap(), &all[0].id, 10)
            .await
            .unwrap();
        assert_eq!(rest, all[1..].to_vec(), "{name}");
        s.set_setting("notify_cursor", "5").await.unwrap();
        s.set_setting("notify_cursor", "7").await.unwrap();
        assert_eq!(
            s.setting_or_init("notify_cursor", || "0".to_owned())
                .await
                .unwrap(),
            "7"
        );
    }
}

/// An image's summary follows its scans: the newest one whatever its status, and the newest
/// READY one's time and counts, which a later failure leaves in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_images_summary_follows_its_scans() {
    for (name, s, _g) in stores().await {
        let image = s
            .upsert_image("alice", "reg", "app", &d(70), Some("latest"), 1)
            .await
            .unwrap();
        let summary = |s: Store, id: String| async move {
            let i = s.image_summary(&id).await.unwrap().unwrap();
            (
                i.last_scan_id,
                i.last_status,
                i.ready_scan_id,
                i.scanned_at.is_some(),
                i.counts.unknown,
            )
        };
        assert_eq!(
            summary(s.clone(), image.id.clone()).await,
            (None, None, None, false, 0),
            "{name}: never scanned"
        );

        let first = s.submit(&req(&d(70), "alice", 0)).await.unwrap().scan_id;
        assert_eq!(
            summary(s.clone(), image.id.clone()).await,
            (
                Some(first.clone()),
                Some(ScanStatus::Running),
                None,
                false,
                0
            ),
            "{name}: running"
        );
        let job = lease(&s, "hub1:c1").await.unwrap();
        s.complete(&job.id, "hub1:c1", &result(3)).await.unwrap();
        let ready = (
            Some(first.clone()),
            Some(ScanStatus::Ready),
            Some(first.clone()),
            true,
            3,
        );
        assert_eq!(
            summary(s.clone(), image.id.clone()).await,
            ready,
            "{name}: ready"
        );

        let second = s.submit(&req(&d(70), "alice", 0)).await.unwrap().scan_id;
        assert_ne!(first, second);
        let job = lease(&s, "hub1:c1").await.unwrap();
        s.fail(&job.id, "hub1:c1", "no such manifest")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            summary(s.clone(), image.id.clone()).await,
            (Some(second), Some(ScanStatus::Error), Some(first), true, 3),
            "{name}: a failure after a good scan keeps the good scan's summary"
        );
    }
}

/// The console's image search: substrings of names and tags (through the trigram index
/// where there is one, by scanning for one or two characters), digest prefixes, a tag added
/// later, characters that mean something to LIKE or to full-text queries, and paging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_search_finds_names_tags_and_digests() {
    for (name, s, _g) in stores().await {
        let dig = |c: &str| format!("sha256:{}", c.repeat(64));
        let images = [
            ("alice", "local", "team/Service-Api", dig("a"), "v1.2"),
            ("alice", "local", "team/service-web", dig("b"), "latest"),
            ("alice", "mirror", "library/debian", dig("c"), "bookworm"),
            ("bob", "local", "team/service-apx", dig("e"), "100%_done\"x"),
        ];
        let mut ids = Vec::new();
        for (owner, registry, repository, digest, tag) in &images {
            let i = s
                .upsert_image(owner, registry, repository, digest, Some(tag), 1)
                .await
                .unwrap();
            ids.push(i.id);
        }
        let find = |search: &str, owner: Option<&str>| {
            let q = ImageQuery {
                owner: owner.map(str::to_owned),
                search: Some(search.to_owned()),
                ..ImageQuery::default()
            };
            let s = s.clone();
            let search = search.to_owned();
            async move {
                // Found by sorting the matches and by walking the order: the same page.
                let mut pages = Vec::new();
                for s in [s.clone(), s.with_search_sort_limit(0)] {
                    pages.push(
                        s.image_summaries(&q, None, 10)
                            .await
                            .unwrap()
                            .into_iter()
                            .map(|i| format!("{}/{}", i.image.registry, i.image.repository))
                            .collect::<Vec<_>>(),
                    );
                }
                assert_eq!(pages[0], pages[1], "{search}");
                pages.swap_remove(0)
            }
        };
        assert_eq!(
            find("SERVICE-a", None).await,
            ["local/team/Service-Api", "local/team/service-apx"],
            "{name}: case-insensitive, every owner for an admin"
        );
        assert_eq!(
            find("service-a", Some("alice")).await,
            ["local/team/Service-Api"],
            "{name}: one owner's"
        );
        assert_eq!(
            find("mirror/lib", None).await,
            ["mirror/library/debian"],
            "{name}"
        );
        assert_eq!(
            find("ok", None).await,
            ["mirror/library/debian"],
            "{name}: 2 characters"
        );
        assert_eq!(
            find("bookw", None).await,
            ["mirror/library/debian"],
            "{name}: a tag"
        );
        assert_eq!(
            find("%_d", None).await,
            ["local/team/service-apx"],
            "{name}: LIKE's"
        );
        // A quote means something to full-text queries: here it is only a character.
        find("\"x", None).await;
        find("\"", None).await;
        assert!(find("nothing", None).await.is_empty(), "{name}");
        // Digests by their start, with or without the algorithm.
        let digest = dig("c");
        let hex = digest.strip_prefix("sha256:").unwrap();
        assert_eq!(
            find(&hex[..8], None).await,
            ["mirror/library/debian"],
            "{name}"
        );
        assert_eq!(
            find(&digest[..16], None).await,
            ["mirror/library/debian"],
            "{name}"
        );
        // A tag added later is found; the image is listed once.
        s.upsert_image(
            "alice",
            "mirror",
            "library/debian",
            &digest,
            Some("trixie"),
            1,
        )
        .await
        .unwrap();
        assert_eq!(
            find("trixie", None).await,
            ["mirror/library/debian"],
            "{name}"
        );
        assert_eq!(
            find("debian", None).await,
            ["mirror/library/debian"],
            "{name}"
        );
        // Pages of one over a search, in each order, either way.
        for order in [ImageOrder::Name, ImageOrder::Risk, ImageOrder::Recent] {
            let q = ImageQuery {
                search: Some("service".to_owned()),
                order,
                ..ImageQuery::default()
            };
            let mut ways = Vec::new();
            for s in [s.clone(), s.clone().with_search_sort_limit(0)] {
                let mut seen = Vec::new();
                let mut after = None;
                while let Some(i) = s
                    .image_summaries(&q, after.as_ref(), 1)
                    .await
                    .unwrap()
                    .pop()
                {
                    seen.push(i.image.id.clone());
                    after = Some(i);
                }
                assert_eq!(seen.len(), 3, "{name} {order:?}");
                ways.push(seen);
            }
            assert_eq!(ways[0], ways[1], "{name} {order:?}");
        }
    }
}
