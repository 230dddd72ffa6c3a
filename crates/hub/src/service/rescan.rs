//! Advisory-driven rescans: when the advisory database's snapshot changes (`ferret db
//! update` or `db import` from outside, or the hub's own `db_update_interval`), every
//! digest's latest scan is judged again from its stored SBOM — never the registry — and
//! where the findings change a new READY scan is stored for each image of the digest,
//! reason `advisories`, with the snapshot and the diff (new, fixed or withdrawn, severity
//! changed). One hub at a time does it (a lease), in batches, on at most `rescan_threads`
//! threads, so scans people wait for keep their cores; a batch lost to a crash is done
//! again, and a digest whose scan changed meanwhile is left for the next round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferret_report::grype::Document;
use ferret_store::{Candidate, Finding, Rescan, Scan, ScanStore};
use ferret_worker::rematch::{Snapshot, rematch};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::Hub;
use crate::service::results::{blob_ref, findings_of, read_blob, rfc3339_now};

/// Digests judged per batch.
const BATCH: i64 = 256;
/// The rescanner's lease outlives a batch by far; a hub that dies loses it this soon.
const LEASE: Duration = Duration::from_secs(30);

/// One finding's identity across scans.
type Key = (String, String, String, String);

fn key(f: &Finding) -> Key {
    (
        f.vulnerability.clone(),
        f.package.clone(),
        f.version.clone(),
        f.kind.clone().unwrap_or_default(),
    )
}

/// A finding as a diff lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Changed {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<String>,
}

impl From<&Finding> for Changed {
    fn from(f: &Finding) -> Self {
        Self {
            vulnerability: f.vulnerability.clone(),
            package: f.package.clone(),
            version: f.version.clone(),
            severity: f.severity.clone(),
            fixed_by: f.fixed_by.clone(),
        }
    }
}

/// A finding whose severity changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Regraded {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub from: String,
    pub to: String,
}

/// What changed between two scans of a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub previous_scan_id: String,
    pub snapshot: String,
    /// Findings the new scan has and the previous did not.
    pub new: Vec<Changed>,
    /// Findings the previous scan had and the new does not: fixed, or withdrawn.
    pub fixed: Vec<Changed>,
    pub severity_changed: Vec<Regraded>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.fixed.is_empty() && self.severity_changed.is_empty()
    }
}

/// The diff between two sets of findings, each list sorted by vulnerability then package.
pub fn diff(old: &[Finding], new: &[Finding]) -> (Vec<Changed>, Vec<Changed>, Vec<Regraded>) {
    let before: BTreeMap<Key, &Finding> = old.iter().map(|f| (key(f), f)).collect();
    let after: BTreeMap<Key, &Finding> = new.iter().map(|f| (key(f), f)).collect();
    let added = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, f)| Changed::from(*f))
        .collect();
    let gone = before
        .iter()
        .filter(|(k, _)| !after.contains_key(*k))
        .map(|(_, f)| Changed::from(*f))
        .collect();
    let regraded = after
        .iter()
        .filter_map(|(k, f)| {
            let was = before.get(k)?;
            (was.severity != f.severity).then(|| Regraded {
                vulnerability: f.vulnerability.clone(),
                package: f.package.clone(),
                version: f.version.clone(),
                from: was.severity.clone(),
                to: f.severity.clone(),
            })
        })
        .collect();
    (added, gone, regraded)
}

/// A digest to judge, with what its latest scan stored.
struct Input {
    candidate: Candidate,
    scan: Scan,
    sbom: Vec<u8>,
    report: Vec<u8>,
}

/// What judging a digest came to.
enum Verdict {
    /// The findings stand (or were matched against this snapshot already).
    Stands,
    Changed {
        report: Vec<u8>,
        findings: Vec<Finding>,
        counts: ferret_model::Counts,
        diff: Diff,
    },
    /// The stored scan could not be matched again (why); it stands.
    Failed(String),
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Round {
    pub judged: u64,
    pub changed: u64,
    pub failed: u64,
}

impl Round {
    fn add(&mut self, other: Round) {
        self.judged += other.judged;
        self.changed += other.changed;
        self.failed += other.failed;
    }
}

pub(crate) async fn run(hub: Arc<Hub>) {
    let Some(db) = hub.config.advisory_db.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(hub.config.advisory_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut updated = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = hub.stopped() => return,
        }
        if let Some(every) = hub.config.db_update_interval
            && updated.elapsed() >= every
        {
            updated = Instant::now();
            crate::service::dbupdate::update(&hub, &db).await;
        }
        if !db.exists() {
            continue;
        }
        match hub
            .store
            .take_lease("rescanner", &hub.instance, crate::millis(LEASE))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "taking the rescanner's lease");
                continue;
            }
        }
        match round(&hub, &db).await {
            Ok(r) if r.changed > 0 || r.failed > 0 => {
                tracing::info!(
                    judged = r.judged,
                    changed = r.changed,
                    failed = r.failed,
                    "advisory rescan"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "advisory rescan"),
        }
    }
}

/// Judges every digest whose latest scan is not judged against the database's snapshot.
pub async fn round(hub: &Arc<Hub>, db: &std::path::Path) -> Result<Round, String> {
    let path = db.to_owned();
    let snapshot = tokio::task::spawn_blocking(move || Snapshot::open(&path))
        .await
        .map_err(|e| e.to_string())??;
    let id = snapshot.info.snapshot.clone();
    // A database connection is used by one thread at a time.
    type Shared = Arc<std::sync::Mutex<Snapshot>>;
    let threads = hub.config.rescan_threads.max(1);
    // One opened database per thread, kept for the round.
    let mut snapshots: Vec<Shared> = vec![Arc::new(std::sync::Mutex::new(snapshot))];
    let mut round = Round::default();
    let mut storing: Option<tokio::task::JoinHandle<Result<Round, String>>> = None;
    let mut after = String::new();
    let started = Instant::now();
    // Three batches in flight: the next one read, this one judged, the last one stored.
    let mut loading = next_batch(hub, &id, &mut after).await?;
    while let Some(current) = loading.take() {
        let inputs = current.await.map_err(|e| e.to_string())?;
        loading = next_batch(hub, &id, &mut after).await?;
        while snapshots.len() < threads.min(inputs.len()) {
            let path = db.to_owned();
            let s = tokio::task::spawn_blocking(move || Snapshot::open(&path))
                .await
                .map_err(|e| e.to_string())??;
            if s.info.snapshot != id {
                return Err("the advisory database changed during the round".to_owned());
            }
            snapshots.push(Arc::new(std::sync::Mutex::new(s)));
        }
        let verdicts = judge(&snapshots, inputs).await?;
        if let Some(previous) = storing.take() {
            round.add(previous.await.map_err(|e| e.to_string())??);
        }
        storing = Some(tokio::spawn(store_all(hub.clone(), verdicts, id.clone())));
    }
    if let Some(previous) = storing.take() {
        round.add(previous.await.map_err(|e| e.to_string())??);
    }
    if round.judged > 0 {
        metrics::counter!("ferret_rescans_judged_total").increment(round.judged);
        metrics::counter!("ferret_rescans_changed_total").increment(round.changed);
        metrics::histogram!("ferret_rescan_round_seconds").record(started.elapsed().as_secs_f64());
    }
    Ok(round)
}

/// Starts reading the next batch after `after` (and moves `after` past it), renewing the
/// rescanner's lease; `None` when no digest is left.
async fn next_batch(
    hub: &Arc<Hub>,
    snapshot: &str,
    after: &mut String,
) -> Result<Option<tokio::task::JoinHandle<Vec<Input>>>, String> {
    let batch = hub
        .store
        .rescan_candidates(snapshot, after, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let Some(last) = batch.last() else {
        return Ok(None);
    };
    after.clone_from(&last.digest);
    if !hub
        .store
        .take_lease("rescanner", &hub.instance, crate::millis(LEASE))
        .await
        .map_err(|e| e.to_string())?
    {
        return Err("the rescanner's lease went to another hub".to_owned());
    }
    let (hub, snapshot) = (hub.clone(), snapshot.to_owned());
    Ok(Some(tokio::spawn(async move {
        load(&hub, batch, &snapshot).await
    })))
}

/// Stores a batch's verdicts, several at once (the store groups their commits).
async fn store_all(
    hub: Arc<Hub>,
    verdicts: Vec<(Input, Verdict)>,
    snapshot: String,
) -> Result<Round, String> {
    use futures_util::StreamExt as _;
    let (hub, snapshot) = (&hub, snapshot.as_str());
    let done: Vec<Result<Round, String>> = futures_util::stream::iter(verdicts)
        .map(|(input, verdict)| async move {
            let mut r = Round {
                judged: 1,
                ..Round::default()
            };
            let c = &input.candidate;
            match verdict {
                Verdict::Stands => {}
                Verdict::Failed(why) => {
                    r.failed += 1;
                    tracing::warn!(digest = %c.digest, scan = %c.scan_id, error = %why, "a stored scan could not be matched again; it stands");
                }
                Verdict::Changed {
                    report,
                    findings,
                    counts,
                    diff,
                } => {
                    match store(hub, &input, snapshot, report, findings, counts, &diff).await {
                        Ok(true) => r.changed += 1,
                        // A scan finished meanwhile: the next round judges it.
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(digest = %c.digest, error = %e, "storing an advisory rescan");
                        }
                    }
                    return Ok(r);
                }
            }
            hub.store
                .judged(&c.digest, &c.scan_id, snapshot)
                .await
                .map_err(|e| e.to_string())?;
            Ok(r)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut round = Round::default();
    for r in done {
        round.add(r?);
    }
    Ok(round)
}

/// Reads the stored scans of a batch (SBOM and report); a digest whose scan has no SBOM or
/// report cannot be matched again and is judged, as it stands, against `snapshot`.
async fn load(hub: &Hub, batch: Vec<Candidate>, snapshot: &str) -> Vec<Input> {
    let reads = batch.into_iter().map(|candidate| async move {
        let scan = hub.store.scan(&candidate.scan_id).await.ok()??;
        let (Some(sbom), Some(report)) = (&scan.sbom_blob, &scan.report_blob) else {
            let _ = hub
                .store
                .judged(&candidate.digest, &candidate.scan_id, snapshot)
                .await;
            return None;
        };
        let sbom = read_blob(hub, sbom).await.ok()??;
        let report = read_blob(hub, report).await.ok()??;
        Some(Input {
            candidate,
            scan,
            sbom,
            report,
        })
    });
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Judges a batch on the snapshots' threads, one share each.
async fn judge(
    snapshots: &[Arc<std::sync::Mutex<Snapshot>>],
    inputs: Vec<Input>,
) -> Result<Vec<(Input, Verdict)>, String> {
    let share = inputs.len().div_ceil(snapshots.len()).max(1);
    let mut shares = Vec::new();
    let mut rest = inputs.into_iter();
    for s in snapshots {
        let part: Vec<Input> = rest.by_ref().take(share).collect();
        if part.is_empty() {
            break;
        }
        let s = s.clone();
        shares.push(tokio::task::spawn_blocking(move || {
            let s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            part.into_iter()
                .map(|input| {
                    let verdict = verdict(&s, &input);
                    (input, verdict)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::new();
    for share in shares {
        out.extend(share.await.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn verdict(snapshot: &Snapshot, input: &Input) -> Verdict {
    let previous: Document = match serde_json::from_slice(&input.report) {
        Ok(d) => d,
        Err(e) => return Verdict::Failed(format!("the stored report: {e}")),
    };
    // Never judged: the scan itself was matched against this snapshot.
    if input.candidate.judged_snapshot.is_none()
        && previous.descriptor.db.snapshot == snapshot.info.snapshot
    {
        return Verdict::Stands;
    }
    let doc = match rematch(snapshot, &input.sbom, &previous) {
        Ok(d) => d,
        Err(e) => return Verdict::Failed(e),
    };
    let (old, _) = findings_of(&previous);
    let (new, counts) = findings_of(&doc);
    let (added, gone, regraded) = diff(&old, &new);
    let diff = Diff {
        previous_scan_id: input.scan.id.clone(),
        snapshot: snapshot.info.snapshot.clone(),
        new: added,
        fixed: gone,
        severity_changed: regraded,
    };
    if diff.is_empty() {
        return Verdict::Stands;
    }
    let report = match serde_json::to_vec(&doc) {
        Ok(r) => r,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    Verdict::Changed {
        report,
        findings: new,
        counts,
        diff,
    }
}

/// Stores a changed digest's rescan; `false` when its scan changed meanwhile.
#[allow(clippy::too_many_arguments)]
async fn store(
    hub: &Arc<Hub>,
    input: &Input,
    snapshot: &str,
    report: Vec<u8>,
    findings: Vec<Finding>,
    counts: ferret_model::Counts,
    diff: &Diff,
) -> Result<bool, String> {
    let c = &input.candidate;
    let hash = Sha256::digest(&report);
    let report_blob = format!("sha256:{}", hex::encode(hash));
    let size = report.len();
    let inline_report = match String::from_utf8(report) {
        Ok(text) if text.len() <= hub.config.blob_inline_limit && !text.contains('\0') => {
            Some(text)
        }
        Ok(text) => {
            hub.blobs
                .put_as(&report_blob, text.into_bytes())
                .await
                .map_err(|e| e.to_string())?;
            None
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut record = hub
        .store
        .latest(&c.digest)
        .await
        .map_err(|e| e.to_string())?
        .map(|l| l.record)
        .unwrap_or_else(|| serde_json::json!({"$type": "io.atcr.hold.scan"}));
    let a = counts.atcr();
    for (k, v) in [
        ("critical", a.critical),
        ("high", a.high),
        ("medium", a.medium),
        ("low", a.low),
        ("total", a.total),
    ] {
        record[k] = v.into();
    }
    record["scannedAt"] = rfc3339_now().into();
    record["scannerVersion"] = ferret_worker::scanner_version().into();
    record["vulnReportBlob"] = blob_ref(&hash, size, "application/vnd.atcr.vulnerabilities+json");
    let rescan = Rescan {
        digest: c.digest.clone(),
        previous_scan_id: c.scan_id.clone(),
        snapshot: snapshot.to_owned(),
        scanner_version: ferret_worker::scanner_version(),
        sbom_blob: input.scan.sbom_blob.clone(),
        report_blob,
        counts,
        findings,
        diff: serde_json::to_string(diff).map_err(|e| e.to_string())?,
        record,
        inline_report,
    };
    let images = hub
        .store
        .images_of(&c.digest)
        .await
        .map_err(|e| e.to_string())?;
    let Some(scans) = hub
        .store
        .store_rescan(&rescan, &images)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    tracing::info!(digest = %c.digest, new = diff.new.len(), fixed = diff.fixed.len(), regraded = diff.severity_changed.len(), scans = scans.len(), "findings changed with the advisories");
    Ok(true)
}
