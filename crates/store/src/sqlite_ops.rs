//! The store's writes on SQLite, run by the writer thread ([`crate::sqlite`]) inside its
//! group transaction. They mirror the PostgreSQL paths in `jobs.rs` and `scans.rs` step for
//! step, with the same SQL and the same decisions (`jobs::lease_end`); no row locks are
//! needed, as the writer is the only one. The conformance suite runs both.

use rusqlite::{OptionalExtension as _, Transaction, params};

use crate::jobs::{
    COLUMNS, Completion, Job, JobRequest, JobState, LeaseEnd, Limits, PICK_ORDER, Released,
    Submitted, UNLEASE, lease_end,
};
use crate::row::Arg;
use crate::scans::{IMAGE_COLUMNS, Image, SCAN_COLUMNS, Scan, ScanResult, finding_inserts};
use crate::{Result, StoreError, new_id, now_ms};

/// The database's clock in Unix milliseconds.
const NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

fn job_in(tx: &Transaction<'_>, id: &str) -> Result<Job> {
    let mut st = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))?;
    st.query_row([id], |r| Ok(Job::from_row(r)))?
}

fn job_where(tx: &Transaction<'_>, condition: &str, args: &[Arg]) -> Result<Option<Job>> {
    let mut st = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE {condition}"))?;
    st.query_row(rusqlite::params_from_iter(args), |r| Ok(Job::from_row(r)))
        .optional()?
        .transpose()
}

fn next_seq(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx
        .prepare_cached("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value")?
        .query_row([], |r| r.get(0))?)
}

/// As `Store::fair_key`: the owner's next key, never below the priority's frontier.
fn fair_key(tx: &Transaction<'_>, owner: &str, priority: i64) -> Result<i64> {
    let frontier: i64 = tx
        .prepare_cached(&format!(
            "SELECT COALESCE(
                (SELECT fair_key FROM jobs WHERE state = 'queued' AND priority = ?1 {PICK_ORDER} LIMIT 1),
                (SELECT MAX(next_key) FROM fair_clock WHERE priority = ?1),
                0)"
        ))?
        .query_row([priority], |r| r.get(0))?;
    let next: i64 = tx
        .prepare_cached(
            "INSERT INTO fair_clock (owner, priority, next_key) VALUES (?1, ?2, ?3)
             ON CONFLICT (owner, priority) DO UPDATE
             SET next_key = MAX(fair_clock.next_key, excluded.next_key - 1) + 1
             RETURNING next_key",
        )?
        .query_row(params![owner, priority, frontier + 1], |r| r.get(0))?;
    Ok(next - 1)
}

fn insert_scan(
    tx: &Transaction<'_>,
    scan_id: &str,
    job_id: &str,
    image_id: Option<&str>,
    req: &JobRequest,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, critical, high, medium, low, negligible, undefined, total, created_at, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'RUNNING', 0, 0, 0, 0, 0, 0, 0, ?8, ?9)",
    )?
    .execute(params![
        scan_id,
        image_id,
        job_id,
        req.owner,
        req.registry,
        req.repository,
        req.digest,
        now_ms(),
        req.reason.as_str()
    ])?;
    Ok(())
}

pub(crate) fn submit(tx: &Transaction<'_>, req: &JobRequest) -> Result<Submitted> {
    let active = job_where(
        tx,
        "digest = ?1 AND state IN ('queued', 'leased')",
        &[req.digest.as_str().into()],
    )?;
    let image_id: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM images WHERE owner = ?1 AND registry = ?2 AND repository = ?3 AND digest = ?4",
        )?
        .query_row(
            params![req.owner, req.registry, req.repository, req.digest],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(mut job) = active {
        if req.priority < job.priority {
            let key = fair_key(tx, &job.owner, req.priority)?;
            tx.prepare_cached(
                "UPDATE jobs SET priority = ?1, fair_key = ?2, updated_at = ?3 WHERE id = ?4",
            )?
            .execute(params![req.priority, key, now_ms(), job.id])?;
            job = job_in(tx, &job.id)?;
        }
        let existing: Option<String> = tx
            .prepare_cached(
                "SELECT id FROM scans WHERE job_id = ?1 AND owner = ?2 AND registry = ?3 AND repository = ?4",
            )?
            .query_row(
                params![job.id, req.owner, req.registry, req.repository],
                |r| r.get(0),
            )
            .optional()?;
        let scan_id = match existing {
            Some(id) => id,
            None => {
                let id = new_id("scn");
                insert_scan(tx, &id, &job.id, image_id.as_deref(), req)?;
                id
            }
        };
        return Ok(Submitted {
            job,
            scan_id,
            created: false,
        });
    }
    let now = now_ms();
    let seq = next_seq(tx)?;
    let key = fair_key(tx, &req.owner, req.priority)?;
    let (id, scan_id) = (new_id("job"), new_id("scn"));
    tx.prepare_cached(
        "INSERT INTO jobs (id, digest, registry, repository, tag, owner, hold_did, hold_endpoint, priority, seq, state, attempts, interruptions, dispatches, scan_id, fair_key, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', 0, 0, 0, ?11, ?12, ?13, ?13)",
    )?
    .execute(params![
        id,
        req.digest,
        req.registry,
        req.repository,
        req.tag,
        req.owner,
        req.hold_did,
        req.hold_endpoint,
        req.priority,
        seq,
        scan_id,
        key,
        now
    ])?;
    insert_scan(tx, &scan_id, &id, image_id.as_deref(), req)?;
    Ok(Submitted {
        job: job_in(tx, &id)?,
        scan_id,
        created: true,
    })
}

pub(crate) fn claim(
    tx: &Transaction<'_>,
    holder: &str,
    hub: &str,
    floor: Option<i64>,
    max: i64,
    lease_ms: i64,
) -> Result<Vec<Job>> {
    let now = now_ms();
    let sql = format!(
        "UPDATE jobs SET state = 'leased', dispatches = dispatches + 1, lease_holder = ?1, lease_hub = ?2, leased_at = ?3, lease_expires = ?4, updated_at = ?3
         WHERE id IN (SELECT id FROM jobs WHERE state = 'queued'{} {PICK_ORDER} LIMIT ?5)
         RETURNING {COLUMNS}",
        if floor.is_some() { " AND seq > ?6" } else { "" },
    );
    let mut st = tx.prepare_cached(&sql)?;
    let mut args: Vec<Arg> = vec![
        holder.into(),
        hub.into(),
        now.into(),
        now.saturating_add(lease_ms).into(),
        max.into(),
    ];
    if let Some(f) = floor {
        args.push(f.into());
    }
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    let mut jobs = Vec::new();
    while let Some(r) = rows.next()? {
        jobs.push(Job::from_row(r)?);
    }
    jobs.sort_by_key(|j| (j.priority, j.fair_key, j.seq));
    Ok(jobs)
}

pub(crate) fn complete(
    tx: &Transaction<'_>,
    job_id: &str,
    holder: &str,
    result: &ScanResult,
) -> Result<Completion> {
    let Some(job) = job_where(tx, "id = ?1", &[job_id.into()])? else {
        return Err(StoreError::NotFound {
            what: "job",
            id: job_id.to_owned(),
        });
    };
    Ok(match job.state {
        JobState::Leased if job.lease_holder.as_deref() != Some(holder) => Completion::Refused(
            "the job is leased to another scanner since this lease ended".to_owned(),
        ),
        JobState::Leased | JobState::Queued => {
            tx.prepare_cached(&format!(
                "UPDATE jobs SET state = 'done', {UNLEASE}, updated_at = ?1 WHERE id = ?2"
            ))?
            .execute(params![now_ms(), job_id])?;
            let scan = store_result(tx, job_id, &job.scan_id, result)?;
            Completion::Completed {
                scan: Box::new(scan),
                held: job.state == JobState::Leased,
            }
        }
        JobState::Done => Completion::AlreadyDone,
        JobState::Error => Completion::Refused(format!(
            "the job ended in error: {}",
            job.last_error.as_deref().unwrap_or("")
        )),
    })
}

/// As `scans::store_result`.
fn store_result(
    tx: &Transaction<'_>,
    job_id: &str,
    scan_id: &str,
    result: &ScanResult,
) -> Result<Scan> {
    let c = crate::scans::column_counts(&result.counts);
    let mut st = tx.prepare_cached(&format!(
        "UPDATE scans SET status = 'READY', error = NULL, scanner_version = ?1, sbom_blob = ?2, report_blob = ?3,
         critical = ?4, high = ?5, medium = ?6, low = ?7, negligible = ?8, undefined = ?9, total = ?10, scanned_at = ?11
         WHERE job_id = ?12 RETURNING {SCAN_COLUMNS}"
    ))?;
    let mut rows = st.query(params![
        result.scanner_version,
        result.sbom_blob,
        result.report_blob,
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        now_ms(),
        job_id
    ])?;
    let mut scans = Vec::new();
    while let Some(r) = rows.next()? {
        scans.push(Scan::from_row(r)?);
    }
    drop(rows);
    let Some(scan) = scans.iter().find(|s| s.id == scan_id).cloned() else {
        return Err(StoreError::NotFound {
            what: "scan",
            id: scan_id.to_owned(),
        });
    };
    for s in &scans {
        for (sql, args) in finding_inserts(&s.id, &result.findings) {
            tx.prepare_cached(&crate::sqlite::sql(&sql))?
                .execute(rusqlite::params_from_iter(args.iter()))?;
        }
    }
    for (digest, data) in &result.inline_blobs {
        tx.prepare_cached(
            "INSERT INTO blobs (digest, data) VALUES (?1, ?2) ON CONFLICT (digest) DO NOTHING",
        )?
        .execute(params![digest, data])?;
    }
    tx.prepare_cached(
        "INSERT INTO latest_scans (digest, scan_id, record) VALUES (?1, ?2, ?3)
         ON CONFLICT (digest) DO UPDATE SET scan_id = excluded.scan_id, record = excluded.record",
    )?
    .execute(params![scan.digest, scan_id, result.record.to_string()])?;
    Ok(scan)
}

pub(crate) fn fail(
    tx: &Transaction<'_>,
    job_id: &str,
    holder: &str,
    reason: &str,
) -> Result<Option<Job>> {
    let now = now_ms();
    let changed = tx
        .prepare_cached(&format!(
            "UPDATE jobs SET state = 'error', {UNLEASE}, last_error = ?1, updated_at = ?2
             WHERE id = ?3 AND state = 'leased' AND lease_holder = ?4"
        ))?
        .execute(params![reason, now, job_id, holder])?;
    if changed != 1 {
        return Ok(None);
    }
    tx.prepare_cached(
        "UPDATE scans SET status = 'ERROR', error = ?1, scanned_at = ?2 WHERE job_id = ?3",
    )?
    .execute(params![reason, now, job_id])?;
    Ok(Some(job_in(tx, job_id)?))
}

/// Ends the leases of the leased jobs `condition` selects, as `Store::end_leases` does.
pub(crate) fn end_leases_where(
    tx: &Transaction<'_>,
    condition: &str,
    args: &[Arg],
    end: &LeaseEnd,
    invalid: bool,
    limits: Limits,
) -> Result<Vec<Released>> {
    let ids: Vec<String> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT id FROM jobs WHERE state = 'leased' AND ({}) ORDER BY id",
            crate::sqlite::sql(condition)
        ))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = now_ms();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let job = job_in(tx, &id)?;
        let (attempts, interruptions, failed) = lease_end(&job, end, invalid, limits);
        if let Some(reason) = failed {
            tx.prepare_cached(&format!(
                "UPDATE jobs SET state = 'error', {UNLEASE}, attempts = ?1, interruptions = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?5"
            ))?
            .execute(params![attempts, interruptions, reason, now, id])?;
            tx.prepare_cached(
                "UPDATE scans SET status = 'ERROR', error = ?1, scanned_at = ?2 WHERE job_id = ?3",
            )?
            .execute(params![reason, now, id])?;
            out.push(Released::Failed(job_in(tx, &id)?));
        } else {
            let seq = next_seq(tx)?;
            tx.prepare_cached(&format!(
                "UPDATE jobs SET state = 'queued', seq = ?1, {UNLEASE}, attempts = ?2, interruptions = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?6"
            ))?
            .execute(params![seq, attempts, interruptions, end.reason(), now, id])?;
            out.push(Released::Requeued(job_in(tx, &id)?));
        }
    }
    Ok(out)
}

pub(crate) fn heartbeat(tx: &Transaction<'_>, hub: &str, liveness_ms: i64) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO hubs (instance, started_at, expires) VALUES (?1, {NOW}, {NOW} + ?2)
         ON CONFLICT (instance) DO UPDATE SET expires = excluded.expires"
    ))?
    .execute(params![hub, liveness_ms])?;
    Ok(())
}

pub(crate) fn reclaim(tx: &Transaction<'_>, limits: Limits) -> Result<Vec<Released>> {
    let dead: Vec<Option<String>> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT DISTINCT lease_hub FROM jobs WHERE state = 'leased' AND NOT EXISTS
             (SELECT 1 FROM hubs WHERE hubs.instance = jobs.lease_hub AND hubs.expires >= {NOW})"
        ))?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::new();
    for hub in dead {
        let hub = hub.unwrap_or_default();
        let end = LeaseEnd::Interrupted(format!("hub {hub} stopped answering"));
        out.extend(end_leases_where(
            tx,
            "COALESCE(lease_hub, '') = $1",
            &[hub.as_str().into()],
            &end,
            false,
            limits,
        )?);
    }
    tx.prepare_cached(&format!("DELETE FROM hubs WHERE expires < {NOW} - 60000"))?
        .execute([])?;
    Ok(out)
}

pub(crate) fn upsert_image(
    tx: &Transaction<'_>,
    owner: &str,
    registry: &str,
    repository: &str,
    digest: &str,
    tag: Option<&str>,
    size: i64,
) -> Result<Image> {
    let existing = tx
        .prepare_cached(&format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE owner = ?1 AND registry = ?2 AND repository = ?3 AND digest = ?4"
        ))?
        .query_row(params![owner, registry, repository, digest], |r| {
            Ok(Image::from_row(r))
        })
        .optional()?
        .transpose()?;
    if let Some(mut image) = existing {
        let tagged = tag.is_some_and(|t| !image.tags.iter().any(|x| x == t));
        if let Some(t) = tag.filter(|_| tagged) {
            image.tags.push(t.to_owned());
            image.tags.sort();
        }
        if tagged || image.deleted_at.is_some() {
            image.deleted_at = None;
            tx.prepare_cached("UPDATE images SET tags = ?1, deleted_at = NULL WHERE id = ?2")?
                .execute(params![
                    serde_json::to_string(&image.tags).unwrap_or_default(),
                    image.id
                ])?;
        }
        return Ok(image);
    }
    let image = Image {
        id: new_id("img"),
        owner: owner.to_owned(),
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        digest: digest.to_owned(),
        tags: tag.map(str::to_owned).into_iter().collect(),
        size,
        created_at: now_ms(),
        deleted_at: None,
    };
    tx.prepare_cached(
        "INSERT INTO images (id, owner, registry, repository, digest, tags, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        image.id,
        image.owner,
        image.registry,
        image.repository,
        image.digest,
        serde_json::to_string(&image.tags).unwrap_or_default(),
        image.size,
        image.created_at
    ])?;
    Ok(image)
}
