//! Storing a scanner's validated result, whichever scanner sent it: what the store keeps
//! (the blobs, the findings row by row read from the Grype-compatible report, and the
//! digest's latest record shaped like `io.atcr.hold.scan`), and the one outcome of the
//! job, decided by the store under the job's lock.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use ferret_model::{AtcrSummary, Counts, PackageKind, Severity};
use ferret_report::grype;
use ferret_store::{Completion, Finding, Job, JobStore, LeaseEnd, Lessee, ScanResult};
use ferret_worker::frames::{ValidResult, errors};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Hub;

/// The package manager a package type belongs to, as the Yandex API names `source`.
fn package_manager(kind: &str) -> &'static str {
    PackageKind::from_name(kind).map_or("unknown", PackageKind::package_manager)
}

/// Grype's title-case severity.
fn severity(s: &str) -> Severity {
    Severity::from_str(s).unwrap_or(Severity::Unknown)
}

/// The findings of a Grype-compatible report, in its order, and their counts.
pub fn findings(report: &[u8]) -> Result<(Vec<Finding>, Counts), String> {
    let doc: grype::Document = serde_json::from_slice(report)
        .map_err(|e| format!("vulnReport: not a Grype report: {e}"))?;
    Ok(findings_of(&doc))
}

/// The findings of a Grype-compatible report, in its order, and their counts.
pub fn findings_of(doc: &grype::Document) -> (Vec<Finding>, Counts) {
    let mut counts = Counts::default();
    let mut out = Vec::with_capacity(doc.matches.len() + doc.ignored_matches.len());
    for m in &doc.matches {
        let sev = severity(&m.vulnerability.severity);
        counts.add(sev);
        out.push(finding(m, sev, None));
    }
    // Suppressed ones after the rest, with the rule that applied; not counted.
    for x in &doc.ignored_matches {
        let m = &x.found;
        let why = x
            .applied_ignore_rules
            .iter()
            .map(ignore_reason)
            .collect::<Vec<_>>()
            .join("; ");
        out.push(finding(m, severity(&m.vulnerability.severity), Some(why)));
    }
    (out, counts)
}

fn finding(m: &grype::Match, sev: Severity, suppressed: Option<String>) -> Finding {
    let (artifact, vulnerability) = (&m.artifact, &m.vulnerability);
    let some = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
    let millionths = |v: f64| (v * 1e6).round() as i64;
    let epss = vulnerability
        .epss
        .iter()
        .max_by(|a, b| a.epss.total_cmp(&b.epss));
    Finding {
        vulnerability: vulnerability.id.clone(),
        severity: sev.yandex_name().to_owned(),
        package: artifact.name.clone(),
        version: artifact.version.clone(),
        fixed_by: vulnerability
            .fix
            .as_ref()
            .and_then(|f| f.versions.first().cloned()),
        source: package_manager(&artifact.kind).to_owned(),
        link: some(&vulnerability.data_source),
        origin: some(&artifact.purl),
        kind: some(&artifact.kind),
        kev: !vulnerability.known_exploited.is_empty(),
        fix_state: vulnerability.fix.as_ref().and_then(|f| some(&f.state)),
        severity_source: vulnerability.severity_source.clone(),
        epss: epss.map(|e| millionths(e.epss)),
        epss_percentile: epss.map(|e| millionths(e.percentile)),
        layer: artifact
            .locations
            .iter()
            .find(|l| !l.layer_id.is_empty())
            .map(|l| l.layer_id.clone()),
        suppressed,
    }
}

/// An ignore rule as a reason: its own words, else what it matched on.
fn ignore_reason(rule: &grype::IgnoreRule) -> String {
    if let Some(r) = rule.reason.as_deref().filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    match (&rule.vex_status, &rule.vex_justification) {
        (Some(s), Some(j)) => format!("VEX {s}: {j}"),
        (Some(s), None) => format!("VEX {s}"),
        _ => rule.vulnerability.as_ref().map_or_else(
            || "an ignore rule".to_owned(),
            |v| format!("ignore rule for {v}"),
        ),
    }
}

/// An AT Protocol blob reference for content whose SHA-256 is `sha256`: a CIDv1 with the
/// raw codec, base32-encoded.
pub(crate) fn blob_ref(sha256: &[u8], size: usize, mime: &str) -> Value {
    let mut cid = vec![0x01, 0x55, 0x12, 0x20];
    cid.extend_from_slice(sha256);
    let link = format!(
        "b{}",
        data_encoding::BASE32_NOPAD.encode(&cid).to_lowercase()
    );
    json!({"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": size})
}

/// Results (frames, and their SBOM and report) up to this size are read on the async
/// worker; larger ones on a blocking thread.
pub(crate) const INLINE_RESULT: usize = 256 << 10;

/// Why a result could not be kept.
#[derive(Debug)]
pub(crate) enum Error {
    /// The scanner's fault: the result is refused.
    Invalid(String),
    /// The hub's: its blob store failed.
    Blobs(String),
}

/// Refuses a report whose counts are not the result's `summary`, naming both.
fn check_summary(summary: &AtcrSummary, counts: &Counts) -> Result<(), String> {
    let (s, c) = (summary, counts.atcr());
    if *s == c {
        return Ok(());
    }
    Err(format!(
        "summary (critical {}, high {}, medium {}, low {}, total {}) disagrees with vulnReport (critical {}, high {}, medium {}, low {}, total {})",
        s.critical, s.high, s.medium, s.low, s.total, c.critical, c.high, c.medium, c.low, c.total
    ))
}

/// What the store keeps for a successful result, with the digests of the blobs it names
/// (SBOM, report), hashed once. Both blobs are optional (the lexicon's `scanResult`):
/// without a report the counts are the summary's and there are no findings rows.
pub fn scan_result(
    job: &Job,
    result: &ValidResult,
    scanned_at: &str,
) -> Result<(ScanResult, [Option<String>; 2]), String> {
    let (findings, counts) = match &result.report {
        Some(report) => {
            let (findings, counts) = findings(report)?;
            check_summary(&result.summary, &counts)?;
            (findings, counts)
        }
        None => (Vec::new(), Counts::from_atcr(&result.summary)),
    };
    let hashed = |b: &Option<Vec<u8>>| b.as_deref().map(|b| (Sha256::digest(b), b.len()));
    let (sbom_sha, report_sha) = (hashed(&result.sbom), hashed(&result.report));
    let name = |(h, _): &(_, usize)| format!("sha256:{}", hex::encode(h));
    let (sbom_blob, report_blob) = (sbom_sha.as_ref().map(name), report_sha.as_ref().map(name));
    let scanner_version = result
        .scanner_version
        .clone()
        .unwrap_or_else(|| "unknown".to_owned());
    let hex = job
        .digest
        .split_once(':')
        .map_or(job.digest.as_str(), |(_, h)| h);
    let s = result.summary;
    let mut record = json!({
        "$type": "io.atcr.hold.scan",
        "manifest": format!("at://{}/io.atcr.manifest/{hex}", job.owner),
        "repository": job.repository,
        "userDid": job.owner,
        "critical": s.critical,
        "high": s.high,
        "medium": s.medium,
        "low": s.low,
        "total": s.total,
        "scannerVersion": scanner_version,
        "scannedAt": scanned_at,
    });
    if let Some((h, len)) = &sbom_sha {
        record["sbomBlob"] = blob_ref(h, *len, "application/spdx+json");
    }
    if let Some((h, len)) = &report_sha {
        record["vulnReportBlob"] = blob_ref(h, *len, "application/vnd.atcr.vulnerabilities+json");
    }
    Ok((
        ScanResult {
            scanner_version,
            sbom_blob: sbom_blob.clone(),
            report_blob: report_blob.clone(),
            counts,
            findings,
            record,
            inline_blobs: Vec::new(),
        },
        [sbom_blob, report_blob],
    ))
}

/// Reads a result (off the async workers: a report may be large) and stores its SBOM and
/// report in the hub's blob store, both at once.
pub(crate) async fn store_blobs(
    hub: &Arc<Hub>,
    job: &Job,
    result: ValidResult,
) -> Result<ScanResult, Error> {
    let scanned_at = rfc3339_now();
    let size =
        result.sbom.as_ref().map_or(0, Vec::len) + result.report.as_ref().map_or(0, Vec::len);
    // Small results are read in place; a hop to a blocking thread costs more than that.
    let (prepared, blobs) = if size <= INLINE_RESULT {
        let r = scan_result(job, &result, &scanned_at);
        (r, (result.sbom, result.report))
    } else {
        let job = job.clone();
        tokio::task::spawn_blocking(move || {
            let r = scan_result(&job, &result, &scanned_at);
            (r, (result.sbom, result.report))
        })
        .await
        .map_err(|e| Error::Blobs(e.to_string()))?
    };
    let (mut prepared, [sbom_digest, report_digest]) = prepared.map_err(Error::Invalid)?;
    // Small ones go into the database with the result: a file each would cost more than
    // the rest of the result's write.
    let mut to_store = Vec::new();
    let named = [(sbom_digest, blobs.0), (report_digest, blobs.1)];
    for (digest, data) in named.into_iter().filter_map(|(d, b)| d.zip(b)) {
        match inline(data, hub.config.blob_inline_limit) {
            Ok(text) => prepared.inline_blobs.push((digest, text)),
            Err(data) => to_store.push((digest, data)),
        }
    }
    let writes = to_store
        .into_iter()
        .map(|(digest, data)| async move { hub.blobs.put_as(&digest, data).await });
    for written in futures_util::future::join_all(writes).await {
        written.map_err(|e| Error::Blobs(e.to_string()))?;
    }
    Ok(prepared)
}

/// A blob as the text the database keeps, when it is at most `limit` bytes of UTF-8 without
/// NUL (which PostgreSQL's TEXT cannot hold); otherwise the bytes back, for the blob store.
pub fn inline(data: Vec<u8>, limit: usize) -> Result<String, Vec<u8>> {
    if data.len() > limit || data.contains(&0) {
        return Err(data);
    }
    String::from_utf8(data).map_err(|e| e.into_bytes())
}

/// A result's blob: from the database when it was small enough to keep there, else from
/// the blob store.
pub(crate) async fn read_blob(hub: &Hub, digest: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = hub.store.blob(digest).await.map_err(|e| e.to_string())? {
        return Ok(Some(data));
    }
    hub.blobs.get(digest).await.map_err(|e| e.to_string())
}

/// What became of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    Completed,
    Failed,
    Repeated,
    /// Not kept: the error frame's name (`frames::errors`) and why.
    Refused {
        error: &'static str,
        reason: String,
    },
}

impl Recorded {
    fn refused(error: &'static str, reason: impl Into<String>) -> Self {
        Self::Refused {
            error,
            reason: reason.into(),
        }
    }
}

/// Jobs to claim for a slot a result frees, in the result's commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Next {
    pub floor: Option<i64>,
    pub want: usize,
}

/// Stores a result for a job `holder` holds or held: the scan and its findings, or the
/// scanner's error. One outcome per job: the store decides under the job's lock. With
/// `next`, also claims the jobs for the freed slot and returns them.
pub(crate) async fn record_result(
    hub: &Arc<Hub>,
    job: &Job,
    holder: &str,
    result: ValidResult,
    started: Instant,
    late: bool,
    next: Option<Next>,
) -> (Recorded, Vec<Job>) {
    let recorded = record(hub, job, holder, result, started, late, next).await;
    if !recorded.1.is_empty() {
        metrics::counter!("ferret_jobs_dispatched_total").increment(recorded.1.len() as u64);
    }
    recorded
}

async fn record(
    hub: &Arc<Hub>,
    job: &Job,
    holder: &str,
    result: ValidResult,
    started: Instant,
    late: bool,
    next: Option<Next>,
) -> (Recorded, Vec<Job>) {
    if let Some(error) = &result.error {
        let recorded = match hub.store.fail(&job.id, holder, error).await {
            Ok(Some(_)) => {
                metrics::counter!("ferret_jobs_failed_total").increment(1);
                crate::lease_ended("failed", 1);
                tracing::warn!(digest = %job.digest, error = %error, "scan failed");
                Recorded::Failed
            }
            Ok(None) => {
                // The lease ended first; another try may still succeed.
                metrics::counter!("ferret_results_refused_total", "reason" => "late error")
                    .increment(1);
                tracing::info!(digest = %job.digest, "an error for a job no longer leased here: ignored");
                Recorded::refused(errors::NOT_LEASED, "the lease ended before the error came")
            }
            Err(e) => {
                tracing::error!(error = %e, "recording a failed scan");
                Recorded::refused(errors::INTERNAL_ERROR, e.to_string())
            }
        };
        return (recorded, Vec::new());
    }
    // A late result: do no work for a job that has its outcome or another scanner.
    if late {
        match hub.store.job(&job.id).await {
            Ok(Some(now)) => match now.state {
                ferret_store::JobState::Done => return (repeated(job), Vec::new()),
                ferret_store::JobState::Leased if now.lease_holder.as_deref() != Some(holder) => {
                    return (
                        refused(
                            job,
                            "the job is leased to another scanner since this lease ended",
                        ),
                        Vec::new(),
                    );
                }
                ferret_store::JobState::Error => {
                    return (refused(job, "the job ended in error"), Vec::new());
                }
                _ => {}
            },
            Ok(None) => return (refused(job, "no such job"), Vec::new()),
            Err(e) => tracing::warn!(error = %e, "reading a job"),
        }
    }
    let prepared = match store_blobs(hub, job, result).await {
        Ok(r) => r,
        Err(Error::Invalid(reason)) => {
            let reason = format!("invalid result: {reason}");
            metrics::counter!("ferret_results_refused_total", "reason" => "invalid").increment(1);
            match hub
                .store
                .reject(&job.id, holder, &reason, hub.limits())
                .await
            {
                Ok(r) => hub.ended(&r.into_iter().collect::<Vec<_>>(), "invalid"),
                Err(e) => tracing::error!(error = %e, "refusing a result"),
            }
            return (
                Recorded::refused(errors::INVALID_RESULT, reason),
                Vec::new(),
            );
        }
        Err(Error::Blobs(e)) => {
            // The hub could not keep the result: not the scanner's fault; the lease ends
            // with it and the job is scanned again.
            tracing::error!(digest = %job.digest, error = %e, "storing a result's blobs");
            let end = LeaseEnd::Returned(format!("the hub could not store the result: {e}"));
            if let Ok(r) = hub.store.release(&job.id, holder, &end, hub.limits()).await {
                hub.ended(&r.into_iter().collect::<Vec<_>>(), "returned");
            }
            return (Recorded::refused(errors::INTERNAL_ERROR, e), Vec::new());
        }
    };
    let stored = match next {
        Some(n) => {
            let lessee = Lessee {
                hub: &hub.instance,
                holder,
            };
            let lease_ms = i64::try_from(hub.config.lease_timeout.as_millis()).unwrap_or(i64::MAX);
            let want = i64::try_from(n.want).unwrap_or(1);
            hub.store
                .complete_and_claim(&job.id, &prepared, lessee, n.floor, want, lease_ms)
                .await
        }
        None => hub
            .store
            .complete(&job.id, holder, &prepared)
            .await
            .map(|c| (c, Vec::new())),
    };
    match stored {
        Ok((Completion::Completed { held, .. }, next)) => {
            metrics::counter!("ferret_jobs_completed_total").increment(1);
            if held {
                crate::lease_ended("completed", 1);
            }
            metrics::histogram!("ferret_scan_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(digest = %job.digest, total = prepared.counts.total(), "scan stored");
            (Recorded::Completed, next)
        }
        Ok((Completion::AlreadyDone, next)) => (repeated(job), next),
        Ok((Completion::Refused(reason), next)) => (refused(job, &reason), next),
        Err(e) => {
            tracing::error!(error = %e, "storing a scan");
            (
                Recorded::refused(errors::INTERNAL_ERROR, e.to_string()),
                Vec::new(),
            )
        }
    }
}

fn repeated(job: &Job) -> Recorded {
    metrics::counter!("ferret_results_repeated_total").increment(1);
    tracing::info!(digest = %job.digest, "a result for a finished job: ignored");
    Recorded::Repeated
}

fn refused(job: &Job, reason: &str) -> Recorded {
    metrics::counter!("ferret_results_refused_total", "reason" => "not leased here").increment(1);
    tracing::info!(digest = %job.digest, reason, "a late result refused");
    Recorded::refused(errors::NOT_LEASED, reason)
}

/// Now as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
