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
use ferret_store::{Candidate, Finding, Rescan};
use ferret_worker::rematch::{Snapshot, rematch};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::Hub;
use crate::service::results::{blob_ref, findings_of, inline, rfc3339_now};

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
    /// In CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kev: bool,
}

impl From<&Finding> for Changed {
    fn from(f: &Finding) -> Self {
        Self {
            vulnerability: f.vulnerability.clone(),
            package: f.package.clone(),
            version: f.version.clone(),
            severity: f.severity.clone(),
            fixed_by: f.fixed_by.clone(),
            kev: f.kev,
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
    sbom: Vec<u8>,
    report: Vec<u8>,
}

/// What judging a digest came to.
enum Verdict {
    /// The findings stand (or were matched against this snapshot already).
    Stands,
    Changed(Box<Change>),
    /// The stored scan could not be matched again (why); it stands.
    Failed(String),
}

/// A digest's new findings, made ready to store on the judging thread.
struct Change {
    report: Vec<u8>,
    /// The report's SHA-256.
    hash: [u8; 32],
    findings: Vec<Finding>,
    counts: ferret_model::Counts,
    diff: Diff,
    /// `diff` as stored (JSON).
    diff_json: String,
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Round {
    pub judged: u64,
    pub changed: u64,
    pub failed: u64,
    /// How long the round waited for batches to be read, judged, and stored: where its
    /// time went.
    pub waited: [Duration; 3],
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
    let mut round = Round::default();
    let mut storing: Option<tokio::task::JoinHandle<Result<Round, String>>> = None;
    let mut after = String::new();
    let started = Instant::now();
    // Four batches in flight: the next two read, this one judged, the last one stored.
    let mut waited = [Duration::ZERO; 3];
    let mut loading = std::collections::VecDeque::new();
    while loading.len() < 2 {
        match next_batch(hub, &id, &mut after).await? {
            Some(batch) => loading.push_back(batch),
            None => break,
        }
    }
    if loading.is_empty() {
        return Ok(round);
    }
    let judges = Judges::start(snapshot, db, hub.config.rescan_threads.max(1)).await?;
    while let Some(current) = loading.pop_front() {
        let t = Instant::now();
        let inputs = current.await.map_err(|e| e.to_string())?;
        if let Some(batch) = next_batch(hub, &id, &mut after).await? {
            loading.push_back(batch);
        }
        waited[0] += t.elapsed();
        let t = Instant::now();
        let verdicts = judges.judge(inputs).await?;
        waited[1] += t.elapsed();
        let t = Instant::now();
        if let Some(previous) = storing.take() {
            round.add(previous.await.map_err(|e| e.to_string())??);
        }
        waited[2] += t.elapsed();
        storing = Some(tokio::spawn(store_all(hub.clone(), verdicts, id.clone())));
    }
    let t = Instant::now();
    if let Some(previous) = storing.take() {
        round.add(previous.await.map_err(|e| e.to_string())??);
    }
    waited[2] += t.elapsed();
    round.waited = waited;
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
    let mut round = Round {
        judged: verdicts.len() as u64,
        ..Round::default()
    };
    // What stands is marked judged at once; the images of what changed are read at once.
    let mut stands = Vec::new();
    let mut changed = Vec::new();
    for (input, verdict) in verdicts {
        let c = &input.candidate;
        match verdict {
            Verdict::Stands => stands.push(input.candidate),
            Verdict::Failed(why) => {
                round.failed += 1;
                tracing::warn!(digest = %c.digest, scan = %c.scan_id, error = %why, "a stored scan could not be matched again; it stands");
                stands.push(input.candidate);
            }
            Verdict::Changed(change) => changed.push((input, change)),
        }
    }
    let judged: Vec<(&str, &str)> = stands
        .iter()
        .map(|c| (c.digest.as_str(), c.scan_id.as_str()))
        .collect();
    hub.store
        .judged(&judged, snapshot)
        .await
        .map_err(|e| e.to_string())?;
    let digests: Vec<&str> = changed
        .iter()
        .map(|(i, _)| i.candidate.digest.as_str())
        .collect();
    let mut images: BTreeMap<String, Vec<ferret_store::Image>> = BTreeMap::new();
    for image in hub
        .store
        .images_of(&digests)
        .await
        .map_err(|e| e.to_string())?
    {
        images.entry(image.digest.clone()).or_default().push(image);
    }
    let stored: Vec<bool> = futures_util::stream::iter(changed)
        .map(|(input, change)| {
            let images = images.remove(&input.candidate.digest).unwrap_or_default();
            async move {
                let c = &input.candidate;
                match store(hub, &input, snapshot, change, &images).await {
                    Ok(stored) => stored,
                    Err(e) => {
                        tracing::warn!(digest = %c.digest, error = %e, "storing an advisory rescan");
                        false
                    }
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    // Not stored: a scan finished meanwhile, and the next round judges it.
    round.changed = stored.into_iter().filter(|s| *s).count() as u64;
    Ok(round)
}

/// Reads the stored scans of a batch (SBOM and report) that the database does not keep
/// itself; a digest whose scan has no SBOM or report cannot be matched again and is
/// judged, as it stands, against `snapshot`.
async fn load(hub: &Hub, batch: Vec<Candidate>, snapshot: &str) -> Vec<Input> {
    let reads = batch.into_iter().map(|mut candidate| async move {
        let (Some(sbom), Some(report)) = (&candidate.sbom_blob, &candidate.report_blob) else {
            let _ = hub
                .store
                .judged(&[(&candidate.digest, &candidate.scan_id)], snapshot)
                .await;
            return None;
        };
        let sbom = match candidate.sbom.take() {
            Some(text) => text.into_bytes(),
            None => hub.blobs.get(sbom).await.ok()??,
        };
        let report = match candidate.report.take() {
            Some(text) => text.into_bytes(),
            None => hub.blobs.get(report).await.ok()??,
        };
        Some(Input {
            candidate,
            sbom,
            report,
        })
    });
    // A few files at a time: each read is a blocking thread's.
    use futures_util::StreamExt as _;
    futures_util::stream::iter(reads)
        .buffered(8)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// Part of a batch, and where its verdicts go.
type Work = (
    Vec<Input>,
    tokio::sync::oneshot::Sender<Vec<(Input, Verdict)>>,
);

/// Digests a judge takes at a time: small enough that the threads finish a batch together.
const CHUNK: usize = 16;

/// The round's judging threads, each with the database open (a connection is one
/// thread's), each at a lower CPU priority than the rest of the hub: a scan someone waits
/// for takes the cores first, a rescan has what is left. They take work from one queue
/// and end with the round.
struct Judges {
    queue: std::sync::mpsc::Sender<Work>,
}

impl Judges {
    /// `threads` judges, the first with `first` (opened already), the rest opening `db`,
    /// which must still hold the same snapshot.
    async fn start(first: Snapshot, db: &std::path::Path, threads: usize) -> Result<Self, String> {
        let id = first.info.snapshot.clone();
        let (queue, work) = std::sync::mpsc::channel::<Work>();
        let work = Arc::new(std::sync::Mutex::new(work));
        let mut first = Some(first);
        for n in 0..threads {
            let (opened, ready) = tokio::sync::oneshot::channel::<Result<(), String>>();
            let (given, path, id) = (first.take(), db.to_owned(), id.clone());
            let work = work.clone();
            std::thread::Builder::new()
                .name(format!("ferret-rescan-{n}"))
                .spawn(move || {
                    lower_priority();
                    let snapshot = match given.map_or_else(|| Snapshot::open(&path), Ok) {
                        Ok(s) if s.info.snapshot == id => s,
                        Ok(_) => {
                            let _ = opened.send(Err(
                                "the advisory database changed during the round".to_owned(),
                            ));
                            return;
                        }
                        Err(e) => {
                            let _ = opened.send(Err(e));
                            return;
                        }
                    };
                    let _ = opened.send(Ok(()));
                    loop {
                        // The lock is held only while taking the next part.
                        let next = work
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok((inputs, reply)) = next else { return };
                        let verdicts = inputs
                            .into_iter()
                            .map(|input| {
                                let verdict = verdict(&snapshot, &input);
                                (input, verdict)
                            })
                            .collect();
                        let _ = reply.send(verdicts);
                    }
                })
                .map_err(|e| format!("starting a rescan thread: {e}"))?;
            ready
                .await
                .map_err(|_| "a rescan thread stopped".to_owned())??;
        }
        Ok(Self { queue })
    }

    /// Judges a batch, in parts of [`CHUNK`] whichever thread is free takes.
    async fn judge(&self, inputs: Vec<Input>) -> Result<Vec<(Input, Verdict)>, String> {
        let mut rest = inputs.into_iter().peekable();
        let mut answers = Vec::new();
        while rest.peek().is_some() {
            let part: Vec<Input> = rest.by_ref().take(CHUNK).collect();
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.queue
                .send((part, reply))
                .map_err(|_| "a rescan thread stopped".to_owned())?;
            answers.push(answer);
        }
        let mut out = Vec::new();
        for answer in answers {
            out.extend(
                answer
                    .await
                    .map_err(|_| "a rescan thread stopped".to_owned())?,
            );
        }
        Ok(out)
    }
}

/// Makes the calling thread yield the CPU to the hub's other threads (nice 10; Linux's
/// nice value is a thread's own).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %e, "lowering a rescan thread's priority");
    }
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
    let sbom_digest = input.candidate.sbom_blob.as_deref();
    let doc = match rematch(snapshot, &input.sbom, sbom_digest, &previous) {
        Ok(d) => d,
        Err(e) => return Verdict::Failed(e),
    };
    let (old, _) = findings_of(&previous);
    let (new, counts) = findings_of(&doc);
    let (added, gone, regraded) = diff(&old, &new);
    let diff = Diff {
        previous_scan_id: input.candidate.scan_id.clone(),
        snapshot: snapshot.info.snapshot.clone(),
        new: added,
        fixed: gone,
        severity_changed: regraded,
    };
    if diff.is_empty() {
        return Verdict::Stands;
    }
    let (report, diff_json) = match (serde_json::to_vec(&doc), serde_json::to_string(&diff)) {
        (Ok(r), Ok(d)) => (r, d),
        (Err(e), _) | (_, Err(e)) => return Verdict::Failed(e.to_string()),
    };
    Verdict::Changed(Box::new(Change {
        hash: Sha256::digest(&report).into(),
        report,
        findings: new,
        counts,
        diff,
        diff_json,
    }))
}

/// Stores a changed digest's rescan for its `images`; `false` when its scan changed
/// meanwhile.
async fn store(
    hub: &Arc<Hub>,
    input: &Input,
    snapshot: &str,
    change: Box<Change>,
    images: &[ferret_store::Image],
) -> Result<bool, String> {
    let c = &input.candidate;
    let Change {
        report,
        hash,
        findings,
        counts,
        diff,
        diff_json,
    } = *change;
    let report_blob = format!("sha256:{}", hex::encode(hash));
    let size = report.len();
    let inline_report = match inline(report, hub.config.blob_inline_limit) {
        Ok(text) => Some(text),
        Err(data) => {
            hub.blobs
                .put_as(&report_blob, data)
                .await
                .map_err(|e| e.to_string())?;
            None
        }
    };
    let mut record = c.record.clone();
    if !record.is_object() {
        record = serde_json::json!({"$type": "io.atcr.hold.scan"});
    }
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
        sbom_blob: c.sbom_blob.clone(),
        report_blob,
        counts,
        findings,
        diff: diff_json,
        record,
        inline_report,
    };
    let Some(scans) = hub
        .store
        .store_rescan(&rescan, images)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    tracing::info!(digest = %c.digest, new = diff.new.len(), fixed = diff.fixed.len(), regraded = diff.severity_changed.len(), scans = scans.len(), "findings changed with the advisories");
    Ok(true)
}
