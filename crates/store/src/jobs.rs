//! Jobs: the durable priority queue (DESIGN.md §3).
//!
//! - One job per digest while it is queued or leased; asking again joins it and keeps the
//!   more urgent priority.
//! - Order: priority, then a fair-share key, then `seq`. The key is given at enqueue: each
//!   owner's jobs take consecutive keys starting no lower than the current head of that
//!   priority's queue, so owners interleave whatever their backlog, and a newcomer waits
//!   behind at most one job per owner ahead of it. Picking is one seek on a partial index;
//!   nothing on that path updates a shared row.
//! - A lease names its holder (a connection) and its hub process. It ends with a result,
//!   with the holder's end, with its timeout, or with its hub's death (the hub stopped
//!   renewing its row in `hubs`). A lost lease queues the job again under a new `seq` and
//!   counts as an interruption; a result refused as invalid counts as an attempt. Each has
//!   its own bound, past which the job ends in ERROR with the reason. A hub shutting down
//!   gives its leases back without counting anything.
//! - Every path that ends a lease locks the job's row first (PostgreSQL: `FOR UPDATE`,
//!   passing over rows another hub holds where it sweeps) and re-checks the state, so each
//!   lease ends exactly once and each job has exactly one outcome. Locks are taken in one
//!   order: the job, then its fair-share row, then its scans.

use sqlx::Row;

use crate::row::{Arg, Columns};
use crate::scans::{Scan, ScanResult, store_result};
use crate::sqlite_ops;
use crate::{Backend, Result, Store, StoreError, new_id, now_ms};

/// What asks for a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub digest: String,
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub owner: String,
    pub hold_did: String,
    pub hold_endpoint: String,
    /// Lower is more urgent: 0 on-demand, 1 push, 2 rescans.
    pub priority: i64,
    /// Why the scan is asked for; each owner's scan keeps its own.
    pub reason: crate::ScanReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Leased,
    Done,
    Error,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Leased => "leased",
            Self::Done => "done",
            Self::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "leased" => Self::Leased,
            "done" => Self::Done,
            "error" => Self::Error,
            other => {
                return Err(StoreError::Corrupt {
                    what: "job",
                    message: format!("unknown state {other:?}"),
                });
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub digest: String,
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub owner: String,
    pub hold_did: String,
    pub hold_endpoint: String,
    pub priority: i64,
    pub seq: i64,
    pub state: JobState,
    /// Results refused as invalid (bounded by [`Limits::max_attempts`]).
    pub attempts: i64,
    /// Leases lost without an outcome (bounded by [`Limits::max_interruptions`]).
    pub interruptions: i64,
    /// Times the job was leased.
    pub dispatches: i64,
    pub lease_holder: Option<String>,
    pub lease_hub: Option<String>,
    /// When the lease times out (Unix ms).
    pub lease_expires: Option<i64>,
    pub last_error: Option<String>,
    /// The scan this job fills.
    pub scan_id: String,
    pub fair_key: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.col("id")?,
            digest: r.col("digest")?,
            registry: r.col("registry")?,
            repository: r.col("repository")?,
            tag: r.col("tag")?,
            owner: r.col("owner")?,
            hold_did: r.col("hold_did")?,
            hold_endpoint: r.col("hold_endpoint")?,
            priority: r.col("priority")?,
            seq: r.col("seq")?,
            state: JobState::parse(&r.col::<String>("state")?)?,
            attempts: r.col("attempts")?,
            interruptions: r.col("interruptions")?,
            dispatches: r.col("dispatches")?,
            lease_holder: r.col("lease_holder")?,
            lease_hub: r.col("lease_hub")?,
            lease_expires: r.col("lease_expires")?,
            last_error: r.col("last_error")?,
            scan_id: r.col("scan_id")?,
            fair_key: r.col("fair_key")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    }
}

/// What [`JobStore::submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub job: Job,
    /// The asker's scan of the job: the job's own, or one added for another owner who
    /// joined it.
    pub scan_id: String,
    /// `false` when the ask joined a job already queued or leased for the digest.
    pub created: bool,
}

/// Who takes leases: a holder (one scanner connection) in a hub process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lessee<'a> {
    pub hub: &'a str,
    pub holder: &'a str,
}

/// A job's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Results refused as invalid before the job ends in ERROR.
    pub max_attempts: i64,
    /// Leases lost (scanner gone, lease timeout, hub died) before the job ends in ERROR.
    pub max_interruptions: i64,
}

/// Why a lease ends without an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEnd {
    /// The scanner went away, stopped answering or ran out of time, or its hub died: it
    /// counts toward [`Limits::max_interruptions`].
    Interrupted(String),
    /// The hub gives the job back (it is shutting down): nothing counts.
    Returned(String),
}

impl LeaseEnd {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Self::Interrupted(r) | Self::Returned(r) => r,
        }
    }
}

/// What became of a job whose lease ended without a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Queued again, under a new `seq`.
    Requeued(Job),
    /// Past its bound: the job and its scans ended in error with the reason.
    Failed(Job),
}

impl Released {
    pub fn job(&self) -> &Job {
        match self {
            Self::Requeued(j) | Self::Failed(j) => j,
        }
    }
}

/// What became of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Stored: the job is done and each of its scans READY (`scan` is the job's own).
    /// `held`: the holder's lease ended with it (otherwise the lease had ended before and
    /// the job waited in the queue).
    Completed { scan: Box<Scan>, held: bool },
    /// The job was finished already: a repeat, ignored.
    AlreadyDone,
    /// Refused, with the reason: the job is leased to another holder, or ended in error.
    Refused(String),
}

pub(crate) const COLUMNS: &str = "id, digest, registry, repository, tag, owner, hold_did, hold_endpoint, priority, seq, state, attempts, interruptions, dispatches, lease_holder, lease_hub, lease_expires, last_error, scan_id, fair_key, created_at, updated_at";

/// Queue order; `jobs_pick` holds the queued jobs in exactly this order.
pub(crate) const PICK_ORDER: &str = "ORDER BY priority, fair_key, seq";

/// Sets a row to "not leased".
pub(crate) const UNLEASE: &str =
    "lease_holder = NULL, lease_hub = NULL, leased_at = NULL, lease_expires = NULL";

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The queue.
#[allow(async_fn_in_trait)]
pub trait JobStore {
    /// Queues a scan of a digest, or joins the job already waiting or running for it
    /// (raising its priority when this ask is more urgent). A new job comes with its scan,
    /// in state RUNNING.
    async fn submit(&self, req: &JobRequest) -> Result<Submitted>;
    /// Leases up to `max` of the next queued jobs to `lessee` until `now + lease_ms`, in
    /// queue order. With `floor`, only jobs whose `seq` is above it.
    async fn claim(
        &self,
        lessee: Lessee<'_>,
        floor: Option<i64>,
        max: i64,
        lease_ms: i64,
    ) -> Result<Vec<Job>>;
    /// Stores `result` as the job's outcome when `holder` holds its lease, or when its lease
    /// ended and it waits in the queue (a late result; it leaves the queue). Otherwise the
    /// result is a repeat or is refused; see [`Completion`].
    async fn complete(&self, job_id: &str, holder: &str, result: &ScanResult)
    -> Result<Completion>;
    /// [`JobStore::complete`], then [`JobStore::claim`] of up to `max` jobs for the same
    /// holder, whose slot the result freed: on SQLite in one commit.
    async fn complete_and_claim(
        &self,
        job_id: &str,
        result: &ScanResult,
        lessee: Lessee<'_>,
        floor: Option<i64>,
        max: i64,
        lease_ms: i64,
    ) -> Result<(Completion, Vec<Job>)>;
    /// Ends a job `holder` holds in error at once (the scanner reported an error).
    async fn fail(&self, job_id: &str, holder: &str, reason: &str) -> Result<Option<Job>>;
    /// Refuses an invalid result of a job `holder` holds: one attempt used, the job queued
    /// again or, past [`Limits::max_attempts`], ended in error.
    async fn reject(
        &self,
        job_id: &str,
        holder: &str,
        reason: &str,
        limits: Limits,
    ) -> Result<Option<Released>>;
    /// Ends one lease of `holder` without a result.
    async fn release(
        &self,
        job_id: &str,
        holder: &str,
        end: &LeaseEnd,
        limits: Limits,
    ) -> Result<Option<Released>>;
    /// Ends every lease of `holder` (its connection ended).
    async fn release_holder(
        &self,
        holder: &str,
        end: &LeaseEnd,
        limits: Limits,
    ) -> Result<Vec<Released>>;
    /// Ends the leases of hub `hub` that timed out before `now`.
    async fn expire(&self, hub: &str, now: i64, limits: Limits) -> Result<Vec<Released>>;
    /// Records that hub `hub` is alive for `liveness_ms` more (by the database's clock).
    async fn heartbeat(&self, hub: &str, liveness_ms: i64) -> Result<()>;
    /// Ends the leases of hubs that stopped renewing their liveness (or never had any),
    /// and forgets those hubs.
    async fn reclaim(&self, limits: Limits) -> Result<Vec<Released>>;
    /// Forgets every hub but `hub`, so that [`JobStore::reclaim`] ends their leases at once
    /// (SQLite: no other hub can share the database, so what is leased is a past run's).
    async fn forget_other_hubs(&self, hub: &str) -> Result<()>;
    /// Gives back every lease of hub `hub`, counting nothing, and forgets the hub: it is
    /// shutting down (or restarting on a database no other hub shares).
    async fn retire(&self, hub: &str, reason: &str) -> Result<Vec<Released>>;
    async fn job(&self, id: &str) -> Result<Option<Job>>;
    /// The job queued or leased for a digest.
    async fn active_job(&self, digest: &str) -> Result<Option<Job>>;
    async fn leased_by(&self, holder: &str) -> Result<Vec<Job>>;
    /// The jobs of a repository that are leased now, oldest first.
    async fn leased_in(&self, repository: &str) -> Result<Vec<Job>>;
    /// The largest `seq` given so far.
    async fn max_seq(&self) -> Result<i64>;
    /// Queued jobs per priority, most urgent first.
    async fn queue_depth(&self) -> Result<Vec<(i64, i64)>>;
}

async fn job_in(tx: &mut Tx, id: &str) -> Result<Job> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Job::from_row(&row)
}

impl Store {
    /// The leased jobs whose `column` (one of ours, never input) is `value`, oldest first.
    async fn leased_where(&self, column: &'static str, value: &str) -> Result<Vec<Job>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'leased' AND {column} = $1 ORDER BY seq"
        )))
        .bind(value)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Job::from_row)
        .collect()
    }

    /// A new, larger `seq`.
    async fn next_seq(&self, tx: &mut Tx) -> Result<i64> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value"
            }
            Backend::Postgres => "SELECT nextval('job_seq') AS value",
        };
        let row = sqlx::query(sql).fetch_one(&mut **tx).await?;
        Ok(row.try_get("value")?)
    }

    /// The fair-share key of `owner`'s next job at `priority`: its own next key, but never
    /// below the priority's frontier — the head of its queue, or, when nothing waits there,
    /// the furthest any owner has come — so an owner idle for a while does not jump the
    /// line, and one with a backlog does not hold everyone else back.
    async fn fair_key(&self, tx: &mut Tx, owner: &str, priority: i64) -> Result<i64> {
        let frontier: i64 = sqlx::query(
            "SELECT COALESCE(
                (SELECT fair_key FROM jobs WHERE state = 'queued' AND priority = $1
                 ORDER BY priority, fair_key, seq LIMIT 1),
                (SELECT MAX(next_key) FROM fair_clock WHERE priority = $2),
                0) AS frontier",
        )
        .bind(priority)
        .bind(priority)
        .fetch_one(&mut **tx)
        .await?
        .try_get("frontier")?;
        let upsert = match self.backend {
            Backend::Sqlite => {
                "INSERT INTO fair_clock (owner, priority, next_key) VALUES ($1, $2, $3)
                 ON CONFLICT (owner, priority) DO UPDATE
                 SET next_key = MAX(fair_clock.next_key, excluded.next_key - 1) + 1
                 RETURNING next_key"
            }
            Backend::Postgres => {
                "INSERT INTO fair_clock (owner, priority, next_key) VALUES ($1, $2, $3)
                 ON CONFLICT (owner, priority) DO UPDATE
                 SET next_key = GREATEST(fair_clock.next_key, excluded.next_key - 1) + 1
                 RETURNING next_key"
            }
        };
        let next: i64 = sqlx::query(upsert)
            .bind(owner)
            .bind(priority)
            .bind(frontier + 1)
            .fetch_one(&mut **tx)
            .await?
            .try_get("next_key")?;
        Ok(next - 1)
    }

    async fn submit_once(&self, req: &JobRequest) -> Result<Submitted> {
        let mut tx = self.begin_write().await?;
        let active = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE digest = $1 AND state IN ('queued', 'leased'){}",
            self.for_update()
        )))
        .bind(&req.digest)
        .fetch_optional(&mut *tx)
        .await?;
        let image_id = sqlx::query(
            "SELECT id FROM images WHERE owner = $1 AND registry = $2 AND repository = $3 AND digest = $4",
        )
        .bind(&req.owner)
        .bind(&req.registry)
        .bind(&req.repository)
        .bind(&req.digest)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get::<String, _>("id"))
        .transpose()?;
        if let Some(row) = active {
            let mut job = Job::from_row(&row)?;
            if req.priority < job.priority {
                // Moving up a tier takes a place in that tier's fair share.
                let key = self.fair_key(&mut tx, &job.owner, req.priority).await?;
                sqlx::query(
                    "UPDATE jobs SET priority = $1, fair_key = $2, updated_at = $3 WHERE id = $4",
                )
                .bind(req.priority)
                .bind(key)
                .bind(now_ms())
                .bind(&job.id)
                .execute(&mut *tx)
                .await?;
                job = job_in(&mut tx, &job.id).await?;
            }
            // Another owner (or another image of the same digest) joining the job gets a
            // scan of its own, so what each one sees stays its own; all of a job's scans
            // finish together.
            let existing = sqlx::query(
                "SELECT id FROM scans WHERE job_id = $1 AND owner = $2 AND registry = $3 AND repository = $4",
            )
            .bind(&job.id)
            .bind(&req.owner)
            .bind(&req.registry)
            .bind(&req.repository)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get::<String, _>("id"))
            .transpose()?;
            let scan_id = match existing {
                Some(id) => id,
                None => {
                    let id = new_id("scn");
                    insert_scan(&mut tx, &id, &job.id, image_id.as_deref(), req).await?;
                    id
                }
            };
            tx.commit().await?;
            return Ok(Submitted {
                job,
                scan_id,
                created: false,
            });
        }
        let now = now_ms();
        let seq = self.next_seq(&mut tx).await?;
        let key = self.fair_key(&mut tx, &req.owner, req.priority).await?;
        let (id, scan_id) = (new_id("job"), new_id("scn"));
        sqlx::query(
            "INSERT INTO jobs (id, digest, registry, repository, tag, owner, hold_did, hold_endpoint, priority, seq, state, attempts, interruptions, dispatches, scan_id, fair_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, 0, 0, $11, $12, $13, $14)",
        )
        .bind(&id)
        .bind(&req.digest)
        .bind(&req.registry)
        .bind(&req.repository)
        .bind(&req.tag)
        .bind(&req.owner)
        .bind(&req.hold_did)
        .bind(&req.hold_endpoint)
        .bind(req.priority)
        .bind(seq)
        .bind(&scan_id)
        .bind(key)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_scan(&mut tx, &scan_id, &id, image_id.as_deref(), req).await?;
        let job = job_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(Submitted {
            job,
            scan_id,
            created: true,
        })
    }

    /// Ends the leases of the jobs `ids` (each still leased, re-checked under its lock):
    /// queued again under a new `seq`, or failed past their bound. `invalid` counts an
    /// attempt instead of an interruption.
    async fn end_leases(
        &self,
        tx: &mut Tx,
        ids: &[String],
        end: &LeaseEnd,
        invalid: bool,
        limits: Limits,
    ) -> Result<Vec<Released>> {
        let mut out = Vec::with_capacity(ids.len());
        let now = now_ms();
        for id in ids {
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND state = 'leased'{}",
                self.for_update()
            )))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            else {
                continue;
            };
            let job = Job::from_row(&row)?;
            let reason = end.reason();
            let (attempts, interruptions, failed) = lease_end(&job, end, invalid, limits);
            if let Some(reason) = failed {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET state = 'error', {UNLEASE}, attempts = $1, interruptions = $2, last_error = $3, updated_at = $4 WHERE id = $5"
                )))
                .bind(attempts)
                .bind(interruptions)
                .bind(&reason)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "UPDATE scans SET status = 'ERROR', error = $1, scanned_at = $2 WHERE job_id = $3",
                )
                .bind(&reason)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                out.push(Released::Failed(job_in(tx, id).await?));
            } else {
                let seq = self.next_seq(tx).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET state = 'queued', seq = $1, {UNLEASE}, attempts = $2, interruptions = $3, last_error = $4, updated_at = $5 WHERE id = $6"
                )))
                .bind(seq)
                .bind(attempts)
                .bind(interruptions)
                .bind(reason)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                out.push(Released::Requeued(job_in(tx, id).await?));
            }
        }
        Ok(out)
    }

    /// Selects leased jobs by `condition` (binding `binds` from `$1`), locking them in id
    /// order and passing over those another transaction holds, then ends their leases.
    async fn end_leases_where(
        &self,
        condition: &str,
        binds: &[Arg],
        end: &LeaseEnd,
        invalid: bool,
        limits: Limits,
    ) -> Result<Vec<Released>> {
        self.end_leases_locking(condition, binds, end, invalid, limits, self.skip_locked())
            .await
    }

    /// As [`Store::end_leases_where`], with `lock` the locking clause: a sweep passes over
    /// rows others hold, a holder ending its own lease waits for its row (passing over it
    /// would leave the lease held by nobody).
    async fn end_leases_locking(
        &self,
        condition: &str,
        binds: &[Arg],
        end: &LeaseEnd,
        invalid: bool,
        limits: Limits,
        lock: &'static str,
    ) -> Result<Vec<Released>> {
        if let Some(w) = &self.sqlite {
            let (condition, binds, end) = (condition.to_owned(), binds.to_vec(), end.clone());
            return w
                .run(move |tx| {
                    sqlite_ops::end_leases_where(tx, &condition, &binds, &end, invalid, limits)
                })
                .await;
        }
        self.retrying(move || async move {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT id FROM jobs WHERE state = 'leased' AND ({condition}) ORDER BY id{lock}"
            );
            let ids: Vec<String> =
                crate::row::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>("id"))
                    .collect::<Result<_, _>>()?;
            let out = self.end_leases(&mut tx, &ids, end, invalid, limits).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}

impl Store {
    /// The database's plan for picking the next job (for tests and diagnostics): it should
    /// read `jobs_pick` in order and sort nothing.
    pub async fn pick_plan(&self) -> Result<String> {
        let pick = format!("SELECT id FROM jobs WHERE state = 'queued' {PICK_ORDER} LIMIT 1");
        let (sql, column) = match self.backend {
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {pick}"), "detail"),
            Backend::Postgres => {
                sqlx::query("ANALYZE jobs").execute(self.writer()).await?;
                (
                    format!("EXPLAIN {pick}{}", self.skip_locked()),
                    "QUERY PLAN",
                )
            }
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(column))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }
}

/// How a lease's end counts against its job: the new `attempts` and `interruptions`, and
/// the reason the job fails with when that takes it past a bound.
pub(crate) fn lease_end(
    job: &Job,
    end: &LeaseEnd,
    invalid: bool,
    limits: Limits,
) -> (i64, i64, Option<String>) {
    let reason = end.reason();
    let (attempts, interruptions) = match (invalid, end) {
        (true, _) => (job.attempts + 1, job.interruptions),
        (false, LeaseEnd::Interrupted(_)) => (job.attempts, job.interruptions + 1),
        (false, LeaseEnd::Returned(_)) => (job.attempts, job.interruptions),
    };
    let failed = if invalid && attempts >= limits.max_attempts {
        Some(format!("{reason} (after {attempts} attempts)"))
    } else if interruptions > job.interruptions && interruptions >= limits.max_interruptions {
        Some(format!("{reason} (lease lost {interruptions} times)"))
    } else {
        None
    };
    (attempts, interruptions, failed)
}

/// Inserts the RUNNING scan `scan_id` of `job_id` for the asker of `req`.
async fn insert_scan(
    tx: &mut Tx,
    scan_id: &str,
    job_id: &str,
    image_id: Option<&str>,
    req: &JobRequest,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, critical, high, medium, low, negligible, undefined, total, created_at, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'RUNNING', 0, 0, 0, 0, 0, 0, 0, $8, $9)",
    )
    .bind(scan_id)
    .bind(image_id)
    .bind(job_id)
    .bind(&req.owner)
    .bind(&req.registry)
    .bind(&req.repository)
    .bind(&req.digest)
    .bind(now_ms())
    .bind(req.reason.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl JobStore for Store {
    async fn submit(&self, req: &JobRequest) -> Result<Submitted> {
        if let Some(w) = &self.sqlite {
            let req = req.clone();
            return w.run(move |tx| sqlite_ops::submit(tx, &req)).await;
        }
        // Two hubs on one PostgreSQL may insert the same digest at once; the unique index
        // stops the second, which then joins the first's job.
        let once = || self.submit_once(req);
        match self.retrying(once).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                self.retrying(once).await
            }
            other => other,
        }
    }

    async fn claim(
        &self,
        lessee: Lessee<'_>,
        floor: Option<i64>,
        max: i64,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        if let Some(w) = &self.sqlite {
            let (holder, hub) = (lessee.holder.to_owned(), lessee.hub.to_owned());
            return w
                .run(move |tx| sqlite_ops::claim(tx, &holder, &hub, floor, max, lease_ms))
                .await;
        }
        // One statement: the pick is a seek on `jobs_pick`, and on PostgreSQL hubs pass over
        // each other's picks instead of waiting on them.
        let sql = format!(
            "UPDATE jobs SET state = 'leased', dispatches = dispatches + 1, lease_holder = $1, lease_hub = $2, leased_at = $3, lease_expires = $4, updated_at = $3
             WHERE id IN (SELECT id FROM jobs WHERE state = 'queued'{} {PICK_ORDER} LIMIT $5{})
             RETURNING {COLUMNS}",
            if floor.is_some() { " AND seq > $6" } else { "" },
            self.skip_locked(),
        );
        let now = now_ms();
        let sql = sql.as_str();
        let rows = self
            .retrying(move || async move {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(lessee.holder)
                    .bind(lessee.hub)
                    .bind(now)
                    .bind(now.saturating_add(lease_ms))
                    .bind(max);
                if let Some(f) = floor {
                    q = q.bind(f);
                }
                Ok(q.fetch_all(self.writer()).await?)
            })
            .await?;
        let mut jobs = rows.iter().map(Job::from_row).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.priority, j.fair_key, j.seq));
        Ok(jobs)
    }

    async fn complete(
        &self,
        job_id: &str,
        holder: &str,
        result: &ScanResult,
    ) -> Result<Completion> {
        if let Some(w) = &self.sqlite {
            let (job_id, holder, result) = (job_id.to_owned(), holder.to_owned(), result.clone());
            return w
                .run(move |tx| sqlite_ops::complete(tx, &job_id, &holder, &result))
                .await;
        }
        // The usual case, a result from the lease's holder, in one statement.
        let held = self
            .retrying(move || {
                crate::scans::complete_held_pg(self.writer(), job_id, holder, result, None)
            })
            .await?;
        if let Some((scan, _)) = held {
            return Ok(Completion::Completed {
                scan: Box::new(scan),
                held: true,
            });
        }
        self.retrying(move || async move {
            let mut tx = self.begin_write().await?;
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM jobs WHERE id = $1{}",
                self.for_update()
            )))
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?
            else {
                return Err(StoreError::NotFound {
                    what: "job",
                    id: job_id.to_owned(),
                });
            };
            let job = Job::from_row(&row)?;
            let outcome = match job.state {
                JobState::Leased if job.lease_holder.as_deref() != Some(holder) => {
                    Completion::Refused(
                        "the job is leased to another scanner since this lease ended".to_owned(),
                    )
                }
                JobState::Leased | JobState::Queued => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE jobs SET state = 'done', {UNLEASE}, updated_at = $1 WHERE id = $2"
                    )))
                    .bind(now_ms())
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                    let scan = store_result(&mut tx, job_id, &job.scan_id, result).await?;
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
            };
            tx.commit().await?;
            Ok(outcome)
        })
        .await
    }

    async fn complete_and_claim(
        &self,
        job_id: &str,
        result: &ScanResult,
        lessee: Lessee<'_>,
        floor: Option<i64>,
        max: i64,
        lease_ms: i64,
    ) -> Result<(Completion, Vec<Job>)> {
        if let Some(w) = &self.sqlite {
            let (job_id, holder, hub, result) = (
                job_id.to_owned(),
                lessee.holder.to_owned(),
                lessee.hub.to_owned(),
                result.clone(),
            );
            return w
                .run(move |tx| {
                    let done = sqlite_ops::complete(tx, &job_id, &holder, &result)?;
                    let next = sqlite_ops::claim(tx, &holder, &hub, floor, max, lease_ms)?;
                    Ok((done, next))
                })
                .await;
        }
        // The usual case in one statement: the result, and the freed slot's next jobs.
        let claim = crate::scans::PgClaim {
            hub: lessee.hub,
            floor,
            max,
            lease_ms,
        };
        let claim = &claim;
        let held = self
            .retrying(move || {
                crate::scans::complete_held_pg(
                    self.writer(),
                    job_id,
                    lessee.holder,
                    result,
                    Some(claim),
                )
            })
            .await?;
        if let Some((scan, next)) = held {
            let done = Completion::Completed {
                scan: Box::new(scan),
                held: true,
            };
            return Ok((done, next));
        }
        let done = self.complete(job_id, lessee.holder, result).await?;
        let next = self.claim(lessee, floor, max, lease_ms).await?;
        Ok((done, next))
    }

    async fn fail(&self, job_id: &str, holder: &str, reason: &str) -> Result<Option<Job>> {
        if let Some(w) = &self.sqlite {
            let (job_id, holder, reason) =
                (job_id.to_owned(), holder.to_owned(), reason.to_owned());
            return w
                .run(move |tx| sqlite_ops::fail(tx, &job_id, &holder, &reason))
                .await;
        }
        self.retrying(move || async move {
            let mut tx = self.begin_write().await?;
            let now = now_ms();
            let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE jobs SET state = 'error', {UNLEASE}, last_error = $1, updated_at = $2
                 WHERE id = $3 AND state = 'leased' AND lease_holder = $4"
            )))
            .bind(reason)
            .bind(now)
            .bind(job_id)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() != 1 {
                tx.commit().await?;
                return Ok(None);
            }
            sqlx::query(
                "UPDATE scans SET status = 'ERROR', error = $1, scanned_at = $2 WHERE job_id = $3",
            )
            .bind(reason)
            .bind(now)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            let job = job_in(&mut tx, job_id).await?;
            tx.commit().await?;
            Ok(Some(job))
        })
        .await
    }

    async fn reject(
        &self,
        job_id: &str,
        holder: &str,
        reason: &str,
        limits: Limits,
    ) -> Result<Option<Released>> {
        let end = LeaseEnd::Interrupted(reason.to_owned());
        let mut out = self
            .end_leases_locking(
                "id = $1 AND lease_holder = $2",
                &[job_id.into(), holder.into()],
                &end,
                true,
                limits,
                self.for_update(),
            )
            .await?;
        Ok(out.pop())
    }

    async fn release(
        &self,
        job_id: &str,
        holder: &str,
        end: &LeaseEnd,
        limits: Limits,
    ) -> Result<Option<Released>> {
        let mut out = self
            .end_leases_locking(
                "id = $1 AND lease_holder = $2",
                &[job_id.into(), holder.into()],
                end,
                false,
                limits,
                self.for_update(),
            )
            .await?;
        Ok(out.pop())
    }

    async fn release_holder(
        &self,
        holder: &str,
        end: &LeaseEnd,
        limits: Limits,
    ) -> Result<Vec<Released>> {
        self.end_leases_locking(
            "lease_holder = $1",
            &[holder.into()],
            end,
            false,
            limits,
            self.for_update(),
        )
        .await
    }

    async fn expire(&self, hub: &str, now: i64, limits: Limits) -> Result<Vec<Released>> {
        let end = LeaseEnd::Interrupted("lease timed out".to_owned());
        self.end_leases_where(
            "lease_hub = $1 AND lease_expires < $2",
            &[hub.into(), now.into()],
            &end,
            false,
            limits,
        )
        .await
    }

    async fn heartbeat(&self, hub: &str, liveness_ms: i64) -> Result<()> {
        if let Some(w) = &self.sqlite {
            let hub = hub.to_owned();
            return w
                .run(move |tx| sqlite_ops::heartbeat(tx, &hub, liveness_ms))
                .await;
        }
        let now = self.db_now();
        self.retrying(move || async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO hubs (instance, started_at, expires) VALUES ($1, {now}, {now} + $2)
                 ON CONFLICT (instance) DO UPDATE SET expires = excluded.expires"
            )))
            .bind(hub)
            .bind(liveness_ms)
            .execute(self.writer())
            .await?;
            Ok(())
        })
        .await
    }

    async fn reclaim(&self, limits: Limits) -> Result<Vec<Released>> {
        if let Some(w) = &self.sqlite {
            return w.run(move |tx| sqlite_ops::reclaim(tx, limits)).await;
        }
        let now = self.db_now();
        let dead: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT lease_hub AS hub FROM jobs WHERE state = 'leased' AND NOT EXISTS
             (SELECT 1 FROM hubs WHERE hubs.instance = jobs.lease_hub AND hubs.expires >= {now})"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<Option<String>, _>("hub"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
        let mut out = Vec::new();
        for hub in dead {
            let end = LeaseEnd::Interrupted(format!("hub {hub} stopped answering"));
            out.extend(
                self.end_leases_where(
                    &format!(
                        "COALESCE(lease_hub, '') = $1 AND NOT EXISTS (SELECT 1 FROM hubs WHERE hubs.instance = jobs.lease_hub AND hubs.expires >= {now})"
                    ),
                    &[hub.as_str().into()],
                    &end,
                    false,
                    limits,
                )
                .await?,
            );
        }
        // Hubs gone for a minute are forgotten (a dead one's leases are back by then).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM hubs WHERE expires < {now} - 60000"
        )))
        .execute(self.writer())
        .await?;
        Ok(out)
    }

    async fn forget_other_hubs(&self, hub: &str) -> Result<()> {
        self.exec("DELETE FROM hubs WHERE instance <> $1", vec![hub.into()])
            .await?;
        Ok(())
    }

    async fn retire(&self, hub: &str, reason: &str) -> Result<Vec<Released>> {
        let end = LeaseEnd::Returned(reason.to_owned());
        let limits = Limits {
            max_attempts: i64::MAX,
            max_interruptions: i64::MAX,
        };
        let out = self
            .end_leases_where("lease_hub = $1", &[hub.into()], &end, false, limits)
            .await?;
        self.exec("DELETE FROM hubs WHERE instance = $1", vec![hub.into()])
            .await?;
        Ok(out)
    }

    async fn job(&self, id: &str) -> Result<Option<Job>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Job::from_row)
        .transpose()
    }

    async fn active_job(&self, digest: &str) -> Result<Option<Job>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE digest = $1 AND state IN ('queued', 'leased')"
        )))
        .bind(digest)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Job::from_row)
        .transpose()
    }

    async fn leased_by(&self, holder: &str) -> Result<Vec<Job>> {
        self.leased_where("lease_holder", holder).await
    }

    async fn leased_in(&self, repository: &str) -> Result<Vec<Job>> {
        self.leased_where("repository", repository).await
    }

    async fn max_seq(&self) -> Result<i64> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT value FROM counters WHERE name = 'seq'",
            Backend::Postgres => {
                "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS value FROM job_seq"
            }
        };
        let row = sqlx::query(sql).fetch_one(self.pool()).await?;
        Ok(row.try_get("value")?)
    }

    async fn queue_depth(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT priority, COUNT(*) AS n FROM jobs WHERE state = 'queued' GROUP BY priority ORDER BY priority",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("priority")?, r.try_get("n")?)))
            .collect()
    }
}
