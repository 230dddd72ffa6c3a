//! Continuous monitoring with real parts: Debian's `docker-registry` sends its
//! notifications to `ferret serve`, `skopeo` pushes, pulls and deletes, and the embedded
//! scanner scans what the pushes queue.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferret_store::{
    AccountStore, ImageStore, JobStore, ScanFilter, ScanReason, ScanStatus, ScanStore,
};
use ferret_testsupport::queue::metrics_of;
use ferret_testsupport::service::*;
use ferret_testsupport::*;
use serde_json::{Value, json};

const TOKEN: &str = "registry-hook-token";

/// A registry that notifies `hub_http` (deletes enabled), and a hub config taking its
/// notifications with `policy` (TOML under `[registries.scan_policy]`-level keys).
struct Setup {
    registry: Registry,
    conf: Conf,
    db: std::path::PathBuf,
    layout: std::path::PathBuf,
}

fn setup(d: &Path, top: &str, policy: &str) -> Setup {
    let root = d.join("root");
    debian_fixture_root(&root);
    let layout = d.join("layout");
    image_of_root(&root, &layout);
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    import(&db, "debian-tracker", &[feed]);
    let http = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let extra = format!(
        "notifications:\n  endpoints:\n    - name: ferret\n      url: http://{http}/hooks/registry/local\n      headers:\n        Authorization: [\"Bearer {TOKEN}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 500ms\n"
    );
    let registry = start_registry_with(None, Some(extra), tempfile::tempdir().unwrap());
    let path = d.join("hub.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\nhttp = {http:?}\ngrpc = {grpc:?}\nadmin_password = \"admin-pw\"\n{top}\n[[registries]]\nname = \"local\"\nurl = \"http://{}\"\nwebhook_token = {TOKEN:?}\nowner = \"admin\"\n{policy}\n",
            d.join("hub").display().to_string(),
            registry.addr
        ),
    )
    .unwrap();
    Setup {
        registry,
        conf: Conf { path, http, grpc },
        db,
        layout,
    }
}

/// Whether Debian's `docker-registry` and `skopeo` are here (said loudly when not).
fn registry_tools() -> bool {
    let here = have("docker-registry") && have("skopeo");
    if !here {
        eprintln!("\n*** SKIPPED: docker-registry and skopeo are needed ***\n");
    }
    here
}

fn store_of(d: &Path) -> ferret_store::Store {
    rt().block_on(ferret_store::Store::open(&format!(
        "sqlite:{}",
        d.join("hub").join("ferret.db").display()
    )))
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every scan of `repository`, oldest first.
fn scans_of(store: &ferret_store::Store, repository: &str) -> Vec<ferret_store::Scan> {
    let filter = ScanFilter {
        repository: Some(repository.to_owned()),
        ..ScanFilter::default()
    };
    let mut scans = rt().block_on(store.scans(&filter, None, 100)).unwrap();
    scans.reverse();
    scans
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn post_hook(http: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .post(format!("http://{http}/hooks/registry/local"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn events(m: &std::collections::BTreeMap<String, f64>, outcome: &str) -> f64 {
    m.get(&format!(
        "ferret_registry_events_total{{outcome=\"{outcome}\"}}"
    ))
    .copied()
    .unwrap_or(0.0)
}

/// A push of an image queues one scan at tier 1 for the registry's owner and it completes;
/// blob pushes and pulls queue nothing; a repository the push rule leaves out is not
/// scanned; the same image under a new tag gains the tag without another scan; a wrong or
/// missing token is refused; a redelivered event is taken once; a delete hides the image
/// from the lists and keeps its history; a schedule rule rescans its prefix at tier 2.
#[test]
fn pushes_to_a_real_registry_are_scanned() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = setup(
        d,
        "",
        "[registries.scan_policy.push_rule]\nrepository_prefixes = [\"app\", \"sched/\"]\n[[registries.scan_policy.schedule_rules]]\nrepository_prefixes = [\"sched/\"]\nrescan_period = 3\n",
    );
    let _hub = serve(
        &s.conf,
        &["--db-dir", s.db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    let log = || std::fs::read_to_string(d.join("hub.log")).unwrap_or_default();
    let reg = &s.registry.addr;
    let src = format!("oci:{}:root", s.layout.display());
    let copy = |dest: &str| {
        skopeo(&[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &src,
            &format!("docker://{reg}/{dest}"),
        ]);
    };
    copy("app:1.0");
    copy("other/app:1.0");
    let store = store_of(d);
    wait_until(Duration::from_secs(60), "the pushed image's scan", || {
        scans_of(&store, "app")
            .first()
            .is_some_and(|s| s.status == ScanStatus::Ready)
    });
    let scans = scans_of(&store, "app");
    assert_eq!(scans.len(), 1, "{scans:?}\n{}", log());
    let scan = &scans[0];
    assert_eq!(scan.reason, Some(ScanReason::Push));
    let job = rt().block_on(store.job(&scan.job_id)).unwrap().unwrap();
    assert_eq!(job.priority, 1, "pushes are tier 1");
    let admin = rt()
        .block_on(store.account_by_name("admin"))
        .unwrap()
        .unwrap();
    assert_eq!(scan.owner, ferret_hub::auth::owner_did(&admin.id));
    assert!(scan.counts.total() > 0, "{scan:?}");
    // The push rule leaves other/ out.
    wait_until(Duration::from_secs(20), "the other push's event", || {
        events(&metrics_of(&s.conf.http), "policy") >= 1.0
    });
    assert!(scans_of(&store, "other/app").is_empty());

    // Pulls (the scanner's own, and this one) and blob pushes queue nothing.
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{reg}/app:1.0"),
        &format!("dir:{}", d.join("pulled").display()),
    ]);
    // A new tag for the same image: tagged, not scanned again.
    copy("app:1.1");
    wait_until(Duration::from_secs(20), "the new tag", || {
        rt().block_on(store.images(None))
            .unwrap()
            .iter()
            .any(|i| i.repository == "app" && i.tags == ["1.0", "1.1"])
    });
    let m = metrics_of(&s.conf.http);
    assert_eq!(events(&m, "queued"), 1.0, "{m:?}");
    assert!(events(&m, "tagged") >= 1.0, "{m:?}");
    assert!(events(&m, "ignored") >= 2.0, "blobs and pulls: {m:?}");
    assert_eq!(scans_of(&store, "app").len(), 1);

    // The token.
    let envelope = json!({"events": [{
        "id": "one-event", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": scan.digest, "repository": "app", "tag": "1.2"}
    }]});
    assert_eq!(post_hook(&s.conf.http, None, &envelope).0, 401);
    assert_eq!(post_hook(&s.conf.http, Some("wrong"), &envelope).0, 401);
    // Taken once.
    let (status, first) = post_hook(&s.conf.http, Some(TOKEN), &envelope);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["tagged"], 1, "{first}");
    let (_, again) = post_hook(&s.conf.http, Some(TOKEN), &envelope);
    assert_eq!(again["repeated"], 1, "{again}");
    assert_eq!(again["tagged"], 0, "{again}");
    // Not an envelope: named.
    let (status, bad) = post_hook(&s.conf.http, Some(TOKEN), &json!({"event": []}));
    assert_eq!(status, 400);
    assert!(bad["message"].as_str().unwrap().contains("events"), "{bad}");

    // A delete hides the image; its scans stay.
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{reg}/app@{}", scan.digest),
    ]);
    wait_until(Duration::from_secs(20), "the delete", || {
        !rt()
            .block_on(store.images(None))
            .unwrap()
            .iter()
            .any(|i| i.repository == "app")
    });
    let image = rt()
        .block_on(store.image(scan.image_id.as_deref().unwrap()))
        .unwrap()
        .unwrap();
    assert!(image.deleted_at.is_some());
    assert_eq!(scans_of(&store, "app").len(), 1);

    // Schedule: sched/ is scanned on push, then again every 3 s at tier 2.
    copy("sched/app:1.0");
    wait_until(Duration::from_secs(60), "a scheduled rescan", || {
        scans_of(&store, "sched/app")
            .iter()
            .any(|s| s.reason == Some(ScanReason::Schedule) && s.status == ScanStatus::Ready)
    });
    let sched = scans_of(&store, "sched/app");
    assert_eq!(sched[0].reason, Some(ScanReason::Push), "{sched:?}");
    let rescan = sched
        .iter()
        .find(|s| s.reason == Some(ScanReason::Schedule))
        .unwrap();
    let job = rt().block_on(store.job(&rescan.job_id)).unwrap().unwrap();
    assert_eq!(job.priority, 2, "scheduled rescans are tier 2");
    assert_eq!(rescan.counts, sched[0].counts);
    // The deleted image is not rescanned, nor anything outside the rule.
    assert_eq!(scans_of(&store, "app").len(), 1);
}

/// The Debian fixture's tracker feed with one CVE added (bar), one regraded (openssl's
/// CVE-2024-0001, high to low) and one withdrawn (foo's CVE-2024-0005).
fn changed_tracker(path: &Path) {
    debian_fixture_tracker(path);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["bar"]["CVE-2024-0100"] = json!({"releases": {"bookworm": release("open", None, "high")}});
    doc["openssl"]["CVE-2024-0001"]["releases"]["bookworm"]["urgency"] = json!("low");
    doc["foo"].as_object_mut().unwrap().remove("CVE-2024-0005");
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// A scan's stored findings, in report order.
fn stored_findings(store: &ferret_store::Store, scan: &str) -> Vec<ferret_store::Finding> {
    rt().block_on(store.findings(
        scan,
        &ferret_store::FindingFilter::default(),
        ferret_store::FindingKey::default(),
        1000,
    ))
    .unwrap()
    .into_iter()
    .map(|(_, f)| f)
    .collect()
}

/// The (vulnerability, package, severity) of a scan's findings, sorted.
fn finding_set(store: &ferret_store::Store, scan: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = stored_findings(store, scan)
        .into_iter()
        .map(|f| (f.vulnerability, f.package, f.severity))
        .collect();
    out.sort();
    out
}

/// An advisory import while `ferret serve` runs, with the registry stopped: the image whose
/// SBOM the change touches gets a new READY scan (reason advisories, the new snapshot, the
/// diff: one new, one fixed or withdrawn, one regraded) whose findings are exactly what
/// `ferret scan` finds in the image with the new database; the untouched image gets none;
/// the latest record follows. The new finding is in CISA's KEV catalog: a webhook that
/// wants known exploited findings only hears of the rescan and its new finding, nothing
/// else.
#[test]
fn advisory_changes_rescan_stored_sboms_without_the_registry() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let receiver = std::sync::Arc::new(Receiver::default());
    let at = start_receiver(receiver.clone());
    let top = format!(
        "advisory_poll = 1\n\n[[webhooks]]\nname = \"kev\"\nurl = \"http://{at}/hook\"\nsecret = {WEBHOOK_SECRET:?}\nkev_only = true\n"
    );
    let Setup {
        registry,
        conf,
        db,
        layout,
    } = setup(d, &top, "");
    // Known exploited before the tracker names it for bar.
    let kev = d.join("kev.json");
    std::fs::write(
        &kev,
        serde_json::to_vec(&json!({
            "title": "CISA Catalog of Known Exploited Vulnerabilities",
            "catalogVersion": "2026.12.01",
            "dateReleased": "2026-12-01T12:00:00.000Z",
            "count": 1,
            "vulnerabilities": [{
                "cveID": "CVE-2024-0100", "vendorProject": "bar", "product": "bar",
                "vulnerabilityName": "bar remote code execution", "dateAdded": "2026-12-01",
                "shortDescription": "x", "requiredAction": "Update.", "dueDate": "2026-12-22",
                "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    import(&db, "kev", &[kev]);
    // A second image none of the changes touch.
    let root2 = d.join("root2");
    debian_fixture_root(&root2);
    std::fs::write(
        root2.join("var/lib/dpkg/status"),
        dpkg_entry("qux", "0.9-3", None),
    )
    .unwrap();
    let layout2 = d.join("layout2");
    image_of_root(&root2, &layout2);
    let _hub = serve(
        &conf,
        &["--db-dir", db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    let log = || std::fs::read_to_string(d.join("hub.log")).unwrap_or_default();
    for (layout, dest) in [(&layout, "app:1.0"), (&layout2, "quiet:1.0")] {
        skopeo(&[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:root", layout.display()),
            &format!("docker://{}/{dest}", registry.addr),
        ]);
    }
    let store = store_of(d);
    wait_until(Duration::from_secs(60), "both scans", || {
        ["app", "quiet"].iter().all(|r| {
            scans_of(&store, r)
                .first()
                .is_some_and(|s| s.status == ScanStatus::Ready)
        })
    });
    let before = scans_of(&store, "app").remove(0);
    let quiet = scans_of(&store, "quiet").remove(0);
    // Judged against the snapshot they were scanned with: nothing new.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scans_of(&store, "app").len(), 1, "{}", log());
    // No registry from here on.
    drop(registry);

    let feed = d.join("tracker2.json");
    changed_tracker(&feed);
    import(&db, "debian-tracker", &[feed]);
    wait_until(Duration::from_secs(60), "the advisory rescan", || {
        scans_of(&store, "app").len() == 2
    });
    let after = scans_of(&store, "app").remove(1);
    assert_eq!(after.status, ScanStatus::Ready);
    assert_eq!(after.reason, Some(ScanReason::Advisories), "{after:?}");
    assert_eq!(
        after.sbom_blob, before.sbom_blob,
        "the same SBOM, matched again"
    );
    let status: Value = {
        let (code, out, err) = run(&["db", "status", "--db-dir", db.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(
        after.snapshot.as_deref(),
        status["snapshot"].as_str(),
        "{status}"
    );
    let diff: Value = serde_json::from_str(after.diff.as_deref().unwrap()).unwrap();
    assert_eq!(diff["previousScanId"], before.id.as_str());
    let ids = |k: &str| -> Vec<String> {
        diff[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["vulnerability"].as_str().unwrap(),
                    f["package"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(ids("new"), ["CVE-2024-0100 bar"], "{diff}");
    assert_eq!(ids("fixed"), ["CVE-2024-0005 libfoo1"], "{diff}");
    assert_eq!(ids("severityChanged"), ["CVE-2024-0001 openssl"], "{diff}");
    assert_eq!(diff["severityChanged"][0]["from"], "HIGH");
    assert_eq!(diff["severityChanged"][0]["to"], "LOW");
    // Exactly what a scan of the image with the new database finds.
    let local = scan_as(
        &db,
        &format!("oci:{}:root", layout.display()),
        "grype-json",
        &[],
    );
    let mut expected: Vec<(String, String, String)> = local["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["vulnerability"]["id"].as_str().unwrap().to_owned(),
                m["artifact"]["name"].as_str().unwrap().to_owned(),
                m["vulnerability"]["severity"]
                    .as_str()
                    .unwrap()
                    .to_uppercase(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(finding_set(&store, &after.id), expected);
    // The untouched image: judged, not rescanned.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(scans_of(&store, "quiet").len(), 1);
    assert_eq!(scans_of(&store, "quiet")[0].id, quiet.id);
    let latest = rt().block_on(store.latest(&after.digest)).unwrap().unwrap();
    assert_eq!(latest.scan_id, after.id);
    assert_eq!(latest.record["total"], json!(after.counts.total()));

    // Known exploited: the new finding alone, stored so and in the diff.
    let kev_findings: Vec<String> = stored_findings(&store, &after.id)
        .into_iter()
        .filter(|f| f.kev)
        .map(|f| f.vulnerability)
        .collect();
    assert_eq!(kev_findings, ["CVE-2024-0100"]);
    assert_eq!(diff["new"][0]["kev"], true, "{diff}");
    // The KEV-only webhook: the rescan (it has a known exploited finding) and its new
    // finding; not the first scans, not the fixed finding.
    wait_until(Duration::from_secs(30), "the KEV webhook's events", || {
        receiver.seen.lock().unwrap().len() >= 2
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut told: Vec<String> = receiver
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.event["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            format!("{}.findings.new", after.id),
            format!("{}.scan.completed", after.id)
        ],
        "{}",
        log()
    );
}

/// What the test's webhook receiver saw: one entry per request.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: Value,
    signed: bool,
    status: u16,
}

#[derive(Default)]
struct Receiver {
    seen: std::sync::Mutex<Vec<Received>>,
    /// Requests still to answer 500.
    fail: std::sync::atomic::AtomicU32,
    /// While set, requests wait (the hub is killed meanwhile).
    hang: std::sync::atomic::AtomicBool,
    hanging: std::sync::atomic::AtomicU32,
}

/// HMAC-SHA256 written out from RFC 2104, independent of the hub's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::Digest as _;
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    hex::encode(
        sha2::Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}

const WEBHOOK_SECRET: &str = "whsec-test";

fn start_receiver(state: std::sync::Arc<Receiver>) -> String {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let state = state.clone();
                    async move {
                        let header = |k: &str| {
                            headers
                                .get(k)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        let sig = header("ferret-signature");
                        let t = sig
                            .split(',')
                            .find_map(|p| p.strip_prefix("t="))
                            .unwrap_or("");
                        let signed = sig
                            .split(',')
                            .find_map(|p| p.strip_prefix("v1="))
                            .is_some_and(|v| {
                                v == hmac_sha256(
                                    WEBHOOK_SECRET.as_bytes(),
                                    format!("{t}.{body}").as_bytes(),
                                )
                            })
                            && header("content-type") == "application/cloudevents+json";
                        if state.hang.load(Ordering::SeqCst) {
                            state.hanging.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        let fail = state
                            .fail
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let status = if fail { 500 } else { 200 };
                        state.seen.lock().unwrap().push(Received {
                            delivery: header("ferret-delivery"),
                            event: serde_json::from_str(&body).unwrap_or(Value::Null),
                            signed,
                            status,
                        });
                        StatusCode::from_u16(status).unwrap()
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// Webhooks: a push's scan is told as a CloudEvent (structured JSON, signed with
/// HMAC-SHA256 over `<t>.<body>`), retried with backoff while the receiver answers 500
/// and accepted once; a hub killed (`kill -9`) while a delivery is in flight delivers it
/// after its restart; repeats carry the same event id and delivery id; a receiver that
/// never answers has its delivery dead-lettered, counted in the metrics.
#[test]
fn webhooks_are_delivered_at_least_once_and_survive_kill_9() {
    use std::sync::atomic::Ordering;
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let receiver = std::sync::Arc::new(Receiver::default());
    receiver.fail.store(2, Ordering::SeqCst);
    let at = start_receiver(receiver.clone());
    let nobody = format!("127.0.0.1:{}", free_port());
    let top = format!(
        "webhook_timeout = 2\nwebhook_max_attempts = 3\nwebhook_retry_base_ms = 200\n\n[[webhooks]]\nname = \"ci\"\nurl = \"http://{at}/hook\"\nsecret = {WEBHOOK_SECRET:?}\nevents = [\"scan.completed\"]\n\n[[webhooks]]\nname = \"gone\"\nurl = \"http://{nobody}/hook\"\nsecret = \"x\"\nevents = [\"scan.completed\"]\nrepository_prefix = \"app\"\n"
    );
    let Setup {
        registry,
        conf,
        db,
        layout,
    } = setup(d, &top, "");
    let start = || {
        serve(
            &conf,
            &["--db-dir", db.to_str().unwrap()],
            &d.join("hub.log"),
        )
    };
    let mut hub = start();
    let log = || std::fs::read_to_string(d.join("hub.log")).unwrap_or_default();
    let copy = |layout: &Path, dest: &str| {
        skopeo(&[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:root", layout.display()),
            &format!("docker://{}/{dest}", registry.addr),
        ]);
    };
    let accepted = |r: &Receiver| -> Vec<Received> {
        r.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.status == 200)
            .cloned()
            .collect()
    };
    copy(&layout, "app:1.0");
    wait_until(Duration::from_secs(60), "the first event", || {
        !accepted(&receiver).is_empty()
    });
    let store = store_of(d);
    let scan = scans_of(&store, "app").remove(0);
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        3,
        "two 500s, then accepted: {seen:?}\n{}",
        log()
    );
    let event = &seen[2].event;
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "io.ferret.scan.completed");
    assert_eq!(event["id"], format!("{}.scan.completed", scan.id));
    assert_eq!(
        event["subject"],
        format!("local/app@{}", scan.digest),
        "{event}"
    );
    assert_eq!(event["data"]["scan"]["status"], "READY");
    assert_eq!(event["data"]["scan"]["reason"], "push");
    assert!(seen.iter().all(|x| x.signed), "{seen:?}");
    assert!(
        seen.iter()
            .all(|x| x.delivery == seen[0].delivery && x.event["id"] == event["id"])
    );

    // The next event's delivery hangs; the hub is killed while it does.
    receiver.hang.store(true, Ordering::SeqCst);
    let root2 = d.join("root2");
    debian_fixture_root(&root2);
    std::fs::write(
        root2.join("var/lib/dpkg/status"),
        dpkg_entry("qux", "0.9-3", None),
    )
    .unwrap();
    let layout2 = d.join("layout2");
    image_of_root(&root2, &layout2);
    copy(&layout2, "second:1.0");
    wait_until(
        Duration::from_secs(60),
        "the second delivery in flight",
        || receiver.hanging.load(Ordering::SeqCst) > 0,
    );
    hub.0.kill().unwrap();
    hub.0.wait().unwrap();
    receiver.hang.store(false, Ordering::SeqCst);
    let _hub = start();
    wait_until(
        Duration::from_secs(60),
        "the second event after the restart",
        || accepted(&receiver).len() >= 2,
    );
    let second = scans_of(&store, "second").remove(0);
    let ok = accepted(&receiver);
    let ids: Vec<&str> = ok.iter().map(|x| x.event["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            format!("{}.scan.completed", scan.id),
            format!("{}.scan.completed", second.id)
        ],
        "each event accepted once"
    );
    // Every repeat is the same delivery of the same event.
    let all = receiver.seen.lock().unwrap().clone();
    for x in &all {
        let same = all.iter().filter(|y| y.delivery == x.delivery);
        assert!(same.into_iter().all(|y| y.event["id"] == x.event["id"]));
    }
    // Nobody listens for "gone": dead after 3 attempts, app's event only (its prefix).
    wait_until(Duration::from_secs(30), "the dead letter", || {
        let m = metrics_of(&conf.http);
        m.get("ferret_webhook_outbox{state=\"dead\"}")
            .copied()
            .unwrap_or(0.0)
            >= 1.0
    });
    let dead = rt()
        .block_on(store.deliveries(Some(ferret_store::DeliveryState::Dead), None, 10))
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].webhook_id, "config:gone");
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0].last_error.as_deref().unwrap().contains(&nobody),
        "{dead:?}"
    );

    // The API: the dead letter is listed; a user's webhook is added, listed and removed.
    let token = admin_token(&conf, None);
    let client = reqwest::blocking::Client::new();
    let api = format!("http://{}/api/ferret/v1/webhooks", conf.http);
    let listed: Value = client
        .get(format!("{api}/deliveries?state=dead"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        listed["deliveries"][0]["webhookId"], "config:gone",
        "{listed}"
    );
    assert_eq!(listed["deliveries"][0]["state"], "dead");
    let bad = client
        .post(&api)
        .bearer_auth(&token)
        .json(&json!({"url": "http://127.0.0.1:9/x", "events": ["scan.done"]}))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().unwrap().contains("scan.done"));
    let made: Value = client
        .post(&api)
        .bearer_auth(&token)
        .json(&json!({"url": format!("http://{at}/hook"), "minSeverity": "high"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(made["secret"].as_str().unwrap().len(), 64, "{made}");
    let id = made["id"].as_str().unwrap();
    let all: Value = client
        .get(&api)
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = all["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["config:ci", "config:gone", id], "{all}");
    assert!(
        all["webhooks"][2].get("secret").is_none(),
        "secrets are shown once"
    );
    let gone = client
        .delete(format!("{api}/{id}"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 204);
    let config = client
        .delete(format!("{api}/config:ci"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(config.status().as_u16(), 400);
}

/// `ferret scan` with `FERRET_LOG=info`: (exit code, stdout, stderr).
fn scan_logged(args: &[&str]) -> (i32, String, String) {
    let out = ferret()
        .args(args)
        .env("FERRET_LOG", "info")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The layer cache: of two images sharing a base layer, the second reads only its own
/// layer (the base comes from the cache), and its report is exactly an uncached scan's; a
/// damaged cache entry is a miss, read again; the cache stays within its bound.
#[test]
fn the_layer_cache_reads_only_an_images_own_layers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = dpkg_entry("openssl", "3.0.11-1~deb12u2", None)
        + &dpkg_entry("libfoo1", "1.0-1+b1", Some("foo (1.0-1)"));
    let base = tar(&[
        file("etc/os-release", DEBIAN_OS_RELEASE),
        file("var/lib/dpkg/status", &status),
    ]);
    let own_a = tar(&[file("srv/a.txt", "a")]);
    let own_b = tar(&[file(
        "var/lib/dpkg/status",
        &(status.clone() + &dpkg_entry("bar", "2.0-1", None)),
    )]);
    let a = oci_layout(
        &d.join("a"),
        &ImageSpec::new(vec![(base.clone(), Comp::Gzip), (own_a, Comp::Gzip)]),
        "a",
    );
    let b = oci_layout(
        &d.join("b"),
        &ImageSpec::new(vec![(base, Comp::Gzip), (own_b, Comp::Gzip)]),
        "b",
    );
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    import(&db, "debian-tracker", &[feed]);
    let cache = d.join("cache");
    let scan = |image: &str, cached: bool| {
        let mut args = vec!["scan", "-q", "--db-dir", db.to_str().unwrap(), "-f", "json"];
        if cached {
            args.extend(["--cache-dir", cache.to_str().unwrap()]);
        }
        args.push(image);
        let (code, out, err) = scan_logged(&args);
        assert_eq!(code, 0, "{err}");
        (serde_json::from_str::<Value>(&out).unwrap(), err)
    };
    let (image_a, image_b) = (
        format!("oci:{}:a", d.join("a").display()),
        format!("oci:{}:b", d.join("b").display()),
    );
    let (_, first) = scan(&image_a, true);
    assert_eq!(first.matches("layer read").count(), 2, "{first}");
    let (cached, second) = scan(&image_b, true);
    let from_cache: Vec<&str> = second
        .lines()
        .filter(|l| l.contains("layer from the cache"))
        .collect();
    assert_eq!(from_cache.len(), 1, "{second}");
    assert!(from_cache[0].contains(&a.layers[0]), "{second}");
    let read: Vec<&str> = second
        .lines()
        .filter(|l| l.contains("layer read"))
        .collect();
    assert_eq!(read.len(), 1, "only its own layer: {second}");
    assert!(read[0].contains(&b.layers[1]), "{second}");
    let (uncached, _) = scan(&image_b, false);
    assert_eq!(cached, uncached);
    assert!(
        cached["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "CVE-2024-0006"),
        "the own layer's package is there"
    );

    // A damaged entry is a miss: read again, and the result stands.
    for e in std::fs::read_dir(&cache).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&p, bytes).unwrap();
    }
    let (again, third) = scan(&image_b, true);
    assert_eq!(again, uncached);
    assert_eq!(third.matches("layer read").count(), 2, "{third}");
    assert!(third.contains("does not read back"), "{third}");
}
