//! Jobs: the durable priority queue (DESIGN.md §3). One job per digest while it is queued
//! or leased (asking again joins it and keeps the more urgent priority); ordering by
//! priority, then round-robin across owners within a priority, then `seq`; leases that end
//! with a result, with the scanner's connection, or with their expiry, after which the job
//! is queued again under a new `seq` until it has been tried `max_attempts` times.

use sqlx::Row;
use sqlx::any::AnyRow;

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
    pub attempts: i64,
    pub lease_holder: Option<String>,
    pub last_error: Option<String>,
    /// The scan this job fills.
    pub scan_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            digest: r.try_get("digest")?,
            registry: r.try_get("registry")?,
            repository: r.try_get("repository")?,
            tag: r.try_get("tag")?,
            owner: r.try_get("owner")?,
            hold_did: r.try_get("hold_did")?,
            hold_endpoint: r.try_get("hold_endpoint")?,
            priority: r.try_get("priority")?,
            seq: r.try_get("seq")?,
            state: JobState::parse(&r.try_get::<String, _>("state")?)?,
            attempts: r.try_get("attempts")?,
            lease_holder: r.try_get("lease_holder")?,
            last_error: r.try_get("last_error")?,
            scan_id: r.try_get("scan_id")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
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

/// What became of a job whose lease ended without a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Queued again, under a new `seq`.
    Requeued(Job),
    /// Tried `max_attempts` times: the job and its scan ended in error with the reason.
    Failed(Job),
}

impl Released {
    pub fn job(&self) -> &Job {
        match self {
            Self::Requeued(j) | Self::Failed(j) => j,
        }
    }
}

const COLUMNS: &str = "id, digest, registry, repository, tag, owner, hold_did, hold_endpoint, priority, seq, state, attempts, lease_holder, last_error, scan_id, created_at, updated_at";

/// The queue.
#[allow(async_fn_in_trait)]
pub trait JobStore {
    /// Queues a scan of a digest, or joins the job already waiting or running for it
    /// (raising its priority when this ask is more urgent). A new job comes with its scan,
    /// in state RUNNING.
    async fn submit(&self, req: &JobRequest) -> Result<Submitted>;
    /// Leases the next job with `seq > after_seq` to `holder` for `lease_ms`.
    async fn lease(&self, holder: &str, after_seq: i64, lease_ms: i64) -> Result<Option<Job>>;
    /// Extends to `until` the leases of every holder whose name starts with `prefix`.
    async fn renew(&self, prefix: &str, until: i64) -> Result<u64>;
    /// Marks a leased job done (its result was stored).
    async fn finish(&self, job_id: &str, holder: &str) -> Result<bool>;
    /// Ends a leased job in error at once (the scanner reported an error).
    async fn fail(&self, job_id: &str, holder: &str, reason: &str) -> Result<Option<Job>>;
    /// Ends one lease without a result.
    async fn release(
        &self,
        job_id: &str,
        holder: &str,
        reason: &str,
        max_attempts: i64,
    ) -> Result<Option<Released>>;
    /// Ends every lease of holders whose name starts with `prefix` (a connection's end, a
    /// hub's restart).
    async fn release_holders(
        &self,
        prefix: &str,
        reason: &str,
        max_attempts: i64,
    ) -> Result<Vec<Released>>;
    /// Ends leases whose liveness lapsed before `now`, or that were taken before
    /// `now - max_lease_ms`.
    async fn release_expired(
        &self,
        now: i64,
        max_lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Vec<Released>>;
    async fn job(&self, id: &str) -> Result<Option<Job>>;
    /// The job queued or leased for a digest.
    async fn active_job(&self, digest: &str) -> Result<Option<Job>>;
    async fn leased_by(&self, holder: &str) -> Result<Vec<Job>>;
    /// The largest `seq` given so far.
    async fn max_seq(&self) -> Result<i64>;
    /// Queued jobs per priority, most urgent first.
    async fn queue_depth(&self) -> Result<Vec<(i64, i64)>>;
}

async fn next_counter(tx: &mut sqlx::Transaction<'static, sqlx::Any>, name: &str) -> Result<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("value")?)
}

async fn job_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: &str) -> Result<Job> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Job::from_row(&row)
}

impl Store {
    /// Ends one lease inside a transaction: requeue under a new `seq`, or fail for good.
    async fn end_lease(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        job: &Job,
        reason: &str,
        max_attempts: i64,
    ) -> Result<Released> {
        let now = now_ms();
        if job.attempts >= max_attempts {
            let reason = format!("{reason} (after {} attempts)", job.attempts);
            sqlx::query(
                "UPDATE jobs SET state = 'error', lease_holder = NULL, leased_at = NULL, lease_expires = NULL, last_error = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(&reason)
            .bind(now)
            .bind(&job.id)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE scans SET status = 'ERROR', error = $1, scanned_at = $2 WHERE job_id = $3",
            )
            .bind(&reason)
            .bind(now)
            .bind(&job.id)
            .execute(&mut **tx)
            .await?;
            Ok(Released::Failed(job_in(tx, &job.id).await?))
        } else {
            let seq = next_counter(tx, "seq").await?;
            sqlx::query(
                "UPDATE jobs SET state = 'queued', seq = $1, lease_holder = NULL, leased_at = NULL, lease_expires = NULL, last_error = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(seq)
            .bind(reason)
            .bind(now)
            .bind(&job.id)
            .execute(&mut **tx)
            .await?;
            Ok(Released::Requeued(job_in(tx, &job.id).await?))
        }
    }

    async fn end_leases(
        &self,
        jobs: Vec<Job>,
        reason: &str,
        max_attempts: i64,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<Vec<Released>> {
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(self.end_lease(&mut tx, &job, reason, max_attempts).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl Store {
    async fn submit_once(&self, req: &JobRequest) -> Result<Submitted> {
        let mut tx = self.begin_write().await?;
        let active = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE digest = $1 AND state IN ('queued', 'leased')"
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
                sqlx::query("UPDATE jobs SET priority = $1, updated_at = $2 WHERE id = $3")
                    .bind(req.priority)
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
        let seq = next_counter(&mut tx, "seq").await?;
        let (id, scan_id) = (new_id("job"), new_id("scn"));
        sqlx::query(
            "INSERT INTO jobs (id, digest, registry, repository, tag, owner, hold_did, hold_endpoint, priority, seq, state, attempts, scan_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, $12, $13)",
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
}

/// Inserts the RUNNING scan `scan_id` of `job_id` for the asker of `req`.
async fn insert_scan(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    scan_id: &str,
    job_id: &str,
    image_id: Option<&str>,
    req: &JobRequest,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, critical, high, medium, low, negligible, undefined, total, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'RUNNING', 0, 0, 0, 0, 0, 0, 0, $8)",
    )
    .bind(scan_id)
    .bind(image_id)
    .bind(job_id)
    .bind(&req.owner)
    .bind(&req.registry)
    .bind(&req.repository)
    .bind(&req.digest)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl JobStore for Store {
    async fn submit(&self, req: &JobRequest) -> Result<Submitted> {
        // Two hubs on one PostgreSQL may insert the same digest at once; the unique index
        // stops the second, which then joins the first's job.
        match self.submit_once(req).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                self.submit_once(req).await
            }
            other => other,
        }
    }
    async fn lease(&self, holder: &str, after_seq: i64, lease_ms: i64) -> Result<Option<Job>> {
        // Several hubs on PostgreSQL skip each other's candidates instead of waiting on them.
        let pick: &'static str = match self.backend {
            Backend::Sqlite => {
                "SELECT j.id FROM jobs j LEFT JOIN owners o ON o.owner = j.owner
                 WHERE j.state = 'queued' AND j.seq > $1
                 ORDER BY j.priority, COALESCE(o.last_served, 0), j.seq LIMIT 1"
            }
            Backend::Postgres => {
                "SELECT j.id FROM jobs j LEFT JOIN owners o ON o.owner = j.owner
                 WHERE j.state = 'queued' AND j.seq > $1
                 ORDER BY j.priority, COALESCE(o.last_served, 0), j.seq LIMIT 1
                 FOR UPDATE OF j SKIP LOCKED"
            }
        };
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(pick)
            .bind(after_seq)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.commit().await?;
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        let now = now_ms();
        sqlx::query(
            "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_holder = $1, leased_at = $2, lease_expires = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(holder)
        .bind(now)
        .bind(now + lease_ms)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        let job = job_in(&mut tx, &id).await?;
        let served = next_counter(&mut tx, "served").await?;
        sqlx::query(
            "INSERT INTO owners (owner, last_served) VALUES ($1, $2)
             ON CONFLICT (owner) DO UPDATE SET last_served = excluded.last_served",
        )
        .bind(&job.owner)
        .bind(served)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn renew(&self, prefix: &str, until: i64) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_expires = $1 WHERE state = 'leased' AND substr(lease_holder, 1, length($2)) = $3",
        )
        .bind(until)
        .bind(prefix)
        .bind(prefix)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }

    async fn finish(&self, job_id: &str, holder: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_holder = NULL, leased_at = NULL, lease_expires = NULL, updated_at = $1
             WHERE id = $2 AND state = 'leased' AND lease_holder = $3",
        )
        .bind(now_ms())
        .bind(job_id)
        .bind(holder)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn fail(&self, job_id: &str, holder: &str, reason: &str) -> Result<Option<Job>> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE jobs SET state = 'error', lease_holder = NULL, leased_at = NULL, lease_expires = NULL, last_error = $1, updated_at = $2
             WHERE id = $3 AND state = 'leased' AND lease_holder = $4",
        )
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
        let job = job_in(&mut tx, job_id).await?;
        sqlx::query(
            "UPDATE scans SET status = 'ERROR', error = $1, scanned_at = $2 WHERE job_id = $3",
        )
        .bind(reason)
        .bind(now)
        .bind(&job.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn release(
        &self,
        job_id: &str,
        holder: &str,
        reason: &str,
        max_attempts: i64,
    ) -> Result<Option<Released>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND state = 'leased' AND lease_holder = $2"
        )))
        .bind(job_id)
        .bind(holder)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job::from_row(&row)?;
        let mut out = self.end_leases(vec![job], reason, max_attempts, tx).await?;
        Ok(out.pop())
    }

    async fn release_holders(
        &self,
        prefix: &str,
        reason: &str,
        max_attempts: i64,
    ) -> Result<Vec<Released>> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'leased' AND substr(lease_holder, 1, length($1)) = $2 ORDER BY seq"
        )))
        .bind(prefix)
        .bind(prefix)
        .fetch_all(&mut *tx)
        .await?;
        let jobs = rows.iter().map(Job::from_row).collect::<Result<Vec<_>>>()?;
        self.end_leases(jobs, reason, max_attempts, tx).await
    }

    async fn release_expired(
        &self,
        now: i64,
        max_lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Vec<Released>> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'leased' AND (lease_expires < $1 OR leased_at < $2) ORDER BY seq"
        )))
        .bind(now)
        .bind(now - max_lease_ms)
        .fetch_all(&mut *tx)
        .await?;
        let jobs = rows.iter().map(Job::from_row).collect::<Result<Vec<_>>>()?;
        self.end_leases(jobs, "lease expired", max_attempts, tx)
            .await
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
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'leased' AND lease_holder = $1 ORDER BY seq"
        )))
        .bind(holder)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Job::from_row)
        .collect()
    }

    async fn max_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM counters WHERE name = 'seq'")
            .fetch_one(self.pool())
            .await?;
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
