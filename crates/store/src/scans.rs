//! Images the hub knows, scans with their findings, and the latest finished scan per
//! digest (the `io.atcr.hold.scan` record).

pub use ferret_model::Counts;
use sqlx::Row;

use crate::row::{Arg, Columns};
use crate::{Result, Store, StoreError, new_id, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub owner: String,
    pub registry: String,
    pub repository: String,
    pub digest: String,
    /// Sorted.
    pub tags: Vec<String>,
    pub size: i64,
    pub created_at: i64,
    /// When the registry said the image was deleted: its history stays, the lists leave it
    /// out. A later push of the same digest brings it back.
    pub deleted_at: Option<i64>,
}

impl Image {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        let tags: String = r.col("tags")?;
        Ok(Self {
            id: r.col("id")?,
            owner: r.col("owner")?,
            registry: r.col("registry")?,
            repository: r.col("repository")?,
            digest: r.col("digest")?,
            tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt {
                what: "image tags",
                message: e.to_string(),
            })?,
            size: r.col("size")?,
            created_at: r.col("created_at")?,
            deleted_at: r.col("deleted_at")?,
        })
    }
}

#[allow(async_fn_in_trait)]
pub trait ImageStore {
    /// Records an image (owner, registry, repository, digest), adding `tag` to its tags.
    async fn upsert_image(
        &self,
        owner: &str,
        registry: &str,
        repository: &str,
        digest: &str,
        tag: Option<&str>,
        size: i64,
    ) -> Result<Image>;
    async fn image(&self, id: &str) -> Result<Option<Image>>;
    /// Images of `owner` (all when `None`), by registry, repository, then digest; deleted
    /// ones are left out (here and in `find_images`; `image` still finds them).
    async fn images(&self, owner: Option<&str>) -> Result<Vec<Image>>;
    /// Images matching `filter`, by registry, repository, digest and id, after the image
    /// `after` in that order when given.
    async fn find_images(
        &self,
        filter: &ImageFilter,
        after: Option<&Image>,
        limit: i64,
    ) -> Result<Vec<Image>>;
}

/// Which images [`ImageStore::find_images`] lists; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    pub owner: Option<String>,
    pub registry: Option<String>,
    pub repository: Option<String>,
}

pub(crate) const IMAGE_COLUMNS: &str =
    "id, owner, registry, repository, digest, tags, size, created_at, deleted_at";

impl Store {
    /// A blob kept in the database with its result (see [`ScanResult::inline_blobs`]).
    pub async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT data FROM blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<String, _>("data")?.into_bytes()),
            None => None,
        })
    }

    async fn upsert_image_once(
        &self,
        owner: &str,
        registry: &str,
        repository: &str,
        digest: &str,
        tag: Option<&str>,
        size: i64,
    ) -> Result<Image> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE owner = $1 AND registry = $2 AND repository = $3 AND digest = $4{}",
            self.for_update()
        )))
        .bind(owner)
        .bind(registry)
        .bind(repository)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        let image = match existing {
            Some(row) => {
                let mut image = Image::from_row(&row)?;
                let tagged = tag.is_some_and(|t| !image.tags.iter().any(|x| x == t));
                if let Some(t) = tag.filter(|_| tagged) {
                    image.tags.push(t.to_owned());
                    image.tags.sort();
                }
                if tagged || image.deleted_at.is_some() {
                    image.deleted_at = None;
                    sqlx::query("UPDATE images SET tags = $1, deleted_at = NULL WHERE id = $2")
                        .bind(serde_json::to_string(&image.tags).unwrap_or_default())
                        .bind(&image.id)
                        .execute(&mut *tx)
                        .await?;
                }
                image
            }
            None => {
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
                sqlx::query(
                    "INSERT INTO images (id, owner, registry, repository, digest, tags, size, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&image.id)
                .bind(&image.owner)
                .bind(&image.registry)
                .bind(&image.repository)
                .bind(&image.digest)
                .bind(serde_json::to_string(&image.tags).unwrap_or_default())
                .bind(image.size)
                .bind(image.created_at)
                .execute(&mut *tx)
                .await?;
                image
            }
        };
        tx.commit().await?;
        Ok(image)
    }
}

impl ImageStore for Store {
    async fn upsert_image(
        &self,
        owner: &str,
        registry: &str,
        repository: &str,
        digest: &str,
        tag: Option<&str>,
        size: i64,
    ) -> Result<Image> {
        if let Some(w) = &self.sqlite {
            let (owner, registry, repository, digest, tag) = (
                owner.to_owned(),
                registry.to_owned(),
                repository.to_owned(),
                digest.to_owned(),
                tag.map(str::to_owned),
            );
            return w
                .run(move |tx| {
                    crate::sqlite_ops::upsert_image(
                        tx,
                        &owner,
                        &registry,
                        &repository,
                        &digest,
                        tag.as_deref(),
                        size,
                    )
                })
                .await;
        }
        // Two hubs on one PostgreSQL may insert the same image at once; the unique key stops
        // the second, which then finds the first's row.
        let once = || self.upsert_image_once(owner, registry, repository, digest, tag, size);
        match self.retrying(once).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                self.retrying(once).await
            }
            other => other,
        }
    }

    async fn image(&self, id: &str) -> Result<Option<Image>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Image::from_row)
        .transpose()
    }

    async fn find_images(
        &self,
        filter: &ImageFilter,
        after: Option<&Image>,
        limit: i64,
    ) -> Result<Vec<Image>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images
             WHERE deleted_at IS NULL AND ($1 IS NULL OR owner = $1) AND ($2 IS NULL OR registry = $2) AND ($3 IS NULL OR repository = $3)
               AND ($4 IS NULL OR (registry, repository, digest, id) > ($4, $5, $6, $7))
             ORDER BY registry, repository, digest, id LIMIT $8"
        )))
        .bind(filter.owner.as_deref())
        .bind(filter.registry.as_deref())
        .bind(filter.repository.as_deref())
        .bind(after.map(|i| i.registry.as_str()))
        .bind(after.map(|i| i.repository.as_str()))
        .bind(after.map(|i| i.digest.as_str()))
        .bind(after.map(|i| i.id.as_str()))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Image::from_row).collect()
    }

    async fn images(&self, owner: Option<&str>) -> Result<Vec<Image>> {
        let rows = match owner {
            Some(o) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {IMAGE_COLUMNS} FROM images WHERE owner = $1 AND deleted_at IS NULL ORDER BY registry, repository, digest, id"
                )))
                .bind(o)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {IMAGE_COLUMNS} FROM images WHERE deleted_at IS NULL ORDER BY registry, repository, digest, id"
                )))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(Image::from_row).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStatus {
    Running,
    Ready,
    Error,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Ready => "READY",
            Self::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RUNNING" => Some(Self::Running),
            "READY" => Some(Self::Ready),
            "ERROR" => Some(Self::Error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub id: String,
    pub image_id: Option<String>,
    pub job_id: String,
    pub owner: String,
    pub registry: String,
    pub repository: String,
    pub digest: String,
    pub status: ScanStatus,
    pub error: Option<String>,
    pub scanner_version: Option<String>,
    /// Blob digests (`sha256:…`) in the blob store.
    pub sbom_blob: Option<String>,
    pub report_blob: Option<String>,
    pub counts: Counts,
    pub created_at: i64,
    pub scanned_at: Option<i64>,
    /// Why it ran; `None` for scans stored before reasons were kept.
    pub reason: Option<ScanReason>,
    /// The advisory snapshot an advisory rescan matched against.
    pub snapshot: Option<String>,
    /// An advisory rescan's changes since the scan before it (JSON, as the hub wrote it).
    pub diff: Option<String>,
}

/// Why a scan ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScanReason {
    /// Someone asked (any front door).
    Request,
    /// The registry said the image was pushed.
    Push,
    /// A scan policy's schedule rule.
    Schedule,
    /// The advisory database changed: the stored SBOM matched again, nothing pulled.
    Advisories,
}

impl ScanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Push => "push",
            Self::Schedule => "schedule",
            Self::Advisories => "advisories",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Request, Self::Push, Self::Schedule, Self::Advisories]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl Scan {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        let status: String = r.col("status")?;
        Ok(Self {
            id: r.col("id")?,
            image_id: r.col("image_id")?,
            job_id: r.col("job_id")?,
            owner: r.col("owner")?,
            registry: r.col("registry")?,
            repository: r.col("repository")?,
            digest: r.col("digest")?,
            status: ScanStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
                what: "scan",
                message: format!("unknown status {status:?}"),
            })?,
            error: r.col("error")?,
            scanner_version: r.col("scanner_version")?,
            sbom_blob: r.col("sbom_blob")?,
            report_blob: r.col("report_blob")?,
            // `total` is kept as a column for queries; it is the sum of the others.
            counts: Counts {
                critical: count(r.col("critical")?),
                high: count(r.col("high")?),
                medium: count(r.col("medium")?),
                low: count(r.col("low")?),
                negligible: count(r.col("negligible")?),
                unknown: count(r.col("undefined")?),
            },
            created_at: r.col("created_at")?,
            scanned_at: r.col("scanned_at")?,
            reason: r
                .col::<Option<String>>("reason")?
                .as_deref()
                .and_then(ScanReason::parse),
            snapshot: r.col("snapshot")?,
            diff: r.col("diff")?,
        })
    }
}

/// One (vulnerability, package) row of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub vulnerability: String,
    /// CRITICAL, HIGH, MEDIUM, LOW, NEGLIGIBLE or UNDEFINED.
    pub severity: String,
    pub package: String,
    pub version: String,
    pub fixed_by: Option<String>,
    /// The package manager: dpkg, apk, rpm, pypi, npm, …
    pub source: String,
    pub link: Option<String>,
    pub origin: Option<String>,
    pub kind: Option<String>,
    /// In CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
    /// `fixed`, `not-fixed`, `wont-fix` or `unknown`, as the report says.
    pub fix_state: Option<String>,
    /// Who rated the severity (`debian`, `nvd@nist.gov`, …).
    pub severity_source: Option<String>,
    /// FIRST's EPSS probability and percentile, in millionths.
    pub epss: Option<i64>,
    pub epss_percentile: Option<i64>,
    /// The image layer (`sha256:…`) the package came in.
    pub layer: Option<String>,
    /// Why the finding is suppressed (an ignore rule or a VEX statement); suppressed
    /// findings are kept for the record but neither counted nor listed by the APIs.
    pub suppressed: Option<String>,
}

pub(crate) const FINDING_COLUMNS: &str = "vulnerability, severity, package, version, fixed_by, source, link, origin, kind, kev, fix_state, severity_source, epss, epss_percentile, layer, suppressed";

impl Finding {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            vulnerability: r.col("vulnerability")?,
            severity: r.col("severity")?,
            package: r.col("package")?,
            version: r.col("version")?,
            fixed_by: r.col("fixed_by")?,
            source: r.col("source")?,
            link: r.col("link")?,
            origin: r.col("origin")?,
            kind: r.col("kind")?,
            kev: r.col::<i64>("kev")? != 0,
            fix_state: r.col("fix_state")?,
            severity_source: r.col("severity_source")?,
            epss: r.col("epss")?,
            epss_percentile: r.col("epss_percentile")?,
            layer: r.col("layer")?,
            suppressed: r.col("suppressed")?,
        })
    }
}

/// Sort rank of a stored severity (its Yandex name): the most severe first.
pub fn severity_rank(severity: &str) -> i64 {
    ferret_model::Severity::from_yandex_name(severity).map_or(5, ferret_model::Severity::rank)
}

/// What a scanner returned for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    pub scanner_version: String,
    pub sbom_blob: Option<String>,
    pub report_blob: Option<String>,
    pub counts: Counts,
    pub findings: Vec<Finding>,
    /// The `io.atcr.hold.scan`-shaped record kept as the digest's latest.
    pub record: serde_json::Value,
    /// Blobs small enough to keep in the database, as (digest, JSON text): stored with the
    /// result, read back with [`Store::blob`].
    pub inline_blobs: Vec<(String, String)>,
}

/// Which scans to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    pub owner: Option<String>,
    pub image_id: Option<String>,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub status: Option<ScanStatus>,
    /// By status (ERROR, READY, RUNNING), then newest first, instead of newest first.
    pub by_status: bool,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub severity: Option<String>,
    pub package: Option<String>,
    /// The vulnerability's id (CVE-…, GHSA-…).
    pub vulnerability: Option<String>,
    /// Most severe first (then report order) instead of report order.
    pub by_severity: bool,
    /// `fixed`, `not-fixed`, `wont-fix` or `unknown`.
    pub fix_state: Option<String>,
    /// Known exploited ones only.
    pub kev: bool,
    /// The suppressed findings instead of the others.
    pub suppressed: bool,
}

/// The latest finished scan of a digest, as an `io.atcr.hold.scan` record.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestScan {
    pub digest: String,
    pub scan_id: String,
    pub record: serde_json::Value,
}

/// Where a page of scans ends: the last scan's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanKey {
    pub status: ScanStatus,
    pub created_at: i64,
    pub id: String,
}

impl ScanKey {
    pub fn of(scan: &Scan) -> Self {
        Self {
            status: scan.status,
            created_at: scan.created_at,
            id: scan.id.clone(),
        }
    }
}

/// Where a page of findings ends: the last finding's severity rank and report position.
/// The default starts before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingKey {
    pub rank: i64,
    pub ord: i64,
}

impl Default for FindingKey {
    fn default() -> Self {
        Self { rank: -1, ord: -1 }
    }
}

#[allow(async_fn_in_trait)]
pub trait ScanStore {
    async fn scan(&self, id: &str) -> Result<Option<Scan>>;
    /// Scans matching `filter`, newest first (by status first when `filter.by_status`),
    /// after the keyset `after` when given.
    async fn scans(
        &self,
        filter: &ScanFilter,
        after: Option<&ScanKey>,
        limit: i64,
    ) -> Result<Vec<Scan>>;
    /// The newest finished (READY or ERROR) scan of an image.
    async fn last_finished_scan(&self, image_id: &str) -> Result<Option<Scan>>;
    /// A scan's findings matching `filter`, in report order (`ord`) or by severity then
    /// `ord`, after the keyset `after`.
    async fn findings(
        &self,
        scan_id: &str,
        filter: &FindingFilter,
        after: FindingKey,
        limit: i64,
    ) -> Result<Vec<(FindingKey, Finding)>>;
    async fn latest(&self, digest: &str) -> Result<Option<LatestScan>>;
}

pub(crate) const SCAN_COLUMNS: &str = "id, image_id, job_id, owner, registry, repository, digest, status, error, scanner_version, sbom_blob, report_blob, critical, high, medium, low, negligible, undefined, total, created_at, scanned_at, reason, snapshot, diff";

impl ScanStore for Store {
    async fn scan(&self, id: &str) -> Result<Option<Scan>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Scan::from_row)
        .transpose()
    }

    async fn scans(
        &self,
        filter: &ScanFilter,
        after: Option<&ScanKey>,
        limit: i64,
    ) -> Result<Vec<Scan>> {
        // Only the conditions asked for: `($n IS NULL OR col = $n)` would hide the image's
        // (or owner's) index from SQLite's planner and scan every scan.
        let mut args: Vec<Arg> = Vec::new();
        let mut arg = |a: Arg| {
            args.push(a);
            format!("${}", args.len())
        };
        let mut conditions = Vec::new();
        for (column, value) in [
            ("owner", filter.owner.as_deref()),
            ("image_id", filter.image_id.as_deref()),
            ("registry", filter.registry.as_deref()),
            ("repository", filter.repository.as_deref()),
            ("status", filter.status.map(ScanStatus::as_str)),
        ] {
            if let Some(v) = value {
                conditions.push(format!("{column} = {}", arg(v.into())));
            }
        }
        let order = if filter.by_status {
            if let Some(k) = after {
                let (status, at, id) = (
                    arg(k.status.as_str().into()),
                    arg(k.created_at.into()),
                    arg(k.id.as_str().into()),
                );
                conditions.push(format!(
                    "(status > {status} OR (status = {status} AND (created_at < {at} OR (created_at = {at} AND id < {id}))))"
                ));
            }
            "status, created_at DESC, id DESC"
        } else {
            if let Some(k) = after {
                let (at, id) = (arg(k.created_at.into()), arg(k.id.as_str().into()));
                conditions.push(format!(
                    "(created_at < {at} OR (created_at = {at} AND id < {id}))"
                ));
            }
            "created_at DESC, id DESC"
        };
        let limit = arg(limit.into());
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let rows = crate::row::bind_all(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SCAN_COLUMNS} FROM scans {filter_sql} ORDER BY {order} LIMIT {limit}"
            ))),
            &args,
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Scan::from_row).collect()
    }

    async fn last_finished_scan(&self, image_id: &str) -> Result<Option<Scan>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE image_id = $1 AND status <> 'RUNNING'
             ORDER BY scanned_at DESC, id DESC LIMIT 1"
        )))
        .bind(image_id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Scan::from_row)
        .transpose()
    }

    async fn findings(
        &self,
        scan_id: &str,
        filter: &FindingFilter,
        after: FindingKey,
        limit: i64,
    ) -> Result<Vec<(FindingKey, Finding)>> {
        let (order, keyset) = if filter.by_severity {
            (
                "severity_rank, ord",
                "(severity_rank > $2 OR (severity_rank = $2 AND ord > $3))",
            )
        } else {
            ("ord", "($2 IS NOT NULL AND ord > $3)")
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT ord, severity_rank, {FINDING_COLUMNS} FROM findings
             WHERE scan_id = $1 AND {keyset} AND ($4 IS NULL OR severity = $4) AND ($5 IS NULL OR package = $5)
               AND ($7 IS NULL OR vulnerability = $7) AND ($8 IS NULL OR fix_state = $8)
               AND suppressed IS {suppressed}{kev}
             ORDER BY {order} LIMIT $6",
            suppressed = if filter.suppressed { "NOT NULL" } else { "NULL" },
            kev = if filter.kev { " AND kev = 1" } else { "" },
        )))
        .bind(scan_id)
        .bind(after.rank)
        .bind(after.ord)
        .bind(filter.severity.as_deref())
        .bind(filter.package.as_deref())
        .bind(limit)
        .bind(filter.vulnerability.as_deref())
        .bind(filter.fix_state.as_deref())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    FindingKey {
                        rank: r.try_get("severity_rank")?,
                        ord: r.try_get("ord")?,
                    },
                    Finding::from_row(r)?,
                ))
            })
            .collect()
    }

    async fn latest(&self, digest: &str) -> Result<Option<LatestScan>> {
        let Some(row) =
            sqlx::query("SELECT digest, scan_id, record FROM latest_scans WHERE digest = $1")
                .bind(digest)
                .fetch_optional(self.pool())
                .await?
        else {
            return Ok(None);
        };
        let record: String = row.try_get("record")?;
        Ok(Some(LatestScan {
            digest: row.try_get("digest")?,
            scan_id: row.try_get("scan_id")?,
            record: serde_json::from_str(&record).map_err(|e| StoreError::Corrupt {
                what: "latest scan record",
                message: e.to_string(),
            })?,
        }))
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds what both ways of storing a result set, as `$1` … `$12`: scanner version, SBOM
/// and report blobs, the six counts and the total, the time, and the job.
/// A stored count (BIGINT, never negative) as a count.
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The counts as their columns hold them: critical, high, medium, low, negligible,
/// undefined, total.
pub(crate) fn column_counts(c: &Counts) -> [i64; 7] {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    [
        n(c.critical),
        n(c.high),
        n(c.medium),
        n(c.low),
        n(c.negligible),
        n(c.unknown),
        n(c.total()),
    ]
}

fn bind_result<'q>(
    q: AnyQuery<'q>,
    result: &'q ScanResult,
    now: i64,
    job_id: &'q str,
) -> AnyQuery<'q> {
    let c = column_counts(&result.counts);
    q.bind(&result.scanner_version)
        .bind(&result.sbom_blob)
        .bind(&result.report_blob)
        .bind(c[0])
        .bind(c[1])
        .bind(c[2])
        .bind(c[3])
        .bind(c[4])
        .bind(c[5])
        .bind(c[6])
        .bind(now)
        .bind(job_id)
}

/// Findings per INSERT statement: 13 parameters each, well under both backends' limits.
const FINDINGS_PER_INSERT: usize = 64;

/// The statements that insert `findings` of scan `scan_id` in report order (`ord`), with
/// `$N` parameters (see [`crate::sqlite::sql`] for rusqlite).
pub(crate) fn finding_inserts(scan_id: &str, findings: &[Finding]) -> Vec<(String, Vec<Arg>)> {
    const COLUMNS: usize = 19;
    findings
        .chunks(FINDINGS_PER_INSERT)
        .enumerate()
        .map(|(chunk_no, chunk)| {
            let mut sql = String::from(
                "INSERT INTO findings (scan_id, ord, vulnerability, severity, severity_rank, package, version, fixed_by, source, link, origin, kind, kev, fix_state, severity_source, epss, epss_percentile, layer, suppressed) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
            for (i, f) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for k in 1..=COLUMNS {
                    if k > 1 {
                        sql.push_str(", ");
                    }
                    sql.push('$');
                    sql.push_str(&(i * COLUMNS + k).to_string());
                }
                sql.push(')');
                let ord = chunk_no * FINDINGS_PER_INSERT + i;
                args.extend([
                    Arg::from(scan_id),
                    Arg::Int(i64::try_from(ord).unwrap_or(i64::MAX)),
                    f.vulnerability.as_str().into(),
                    f.severity.as_str().into(),
                    Arg::Int(severity_rank(&f.severity)),
                    f.package.as_str().into(),
                    f.version.as_str().into(),
                    f.fixed_by.as_deref().into(),
                    f.source.as_str().into(),
                    f.link.as_deref().into(),
                    f.origin.as_deref().into(),
                    f.kind.as_deref().into(),
                    Arg::Int(i64::from(f.kev)),
                    f.fix_state.as_deref().into(),
                    f.severity_source.as_deref().into(),
                    f.epss.into(),
                    f.epss_percentile.into(),
                    f.layer.as_deref().into(),
                    f.suppressed.as_deref().into(),
                ]);
            }
            (sql, args)
        })
        .collect()
}

/// Inside the transaction that ends a job: every owner's scan of `job_id` gets the result
/// (READY, counts, blobs), its findings in report order, and the digest's latest record
/// points at the job's own scan `scan_id`, which is returned.
pub(crate) async fn store_result(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job_id: &str,
    scan_id: &str,
    result: &ScanResult,
) -> Result<Scan> {
    let now = now_ms();
    // One statement for every owner's scan of the job; a job is completed once, so its
    // scans have no findings yet.
    let q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE scans SET status = 'READY', error = NULL, scanner_version = $1, sbom_blob = $2, report_blob = $3,
         critical = $4, high = $5, medium = $6, low = $7, negligible = $8, undefined = $9, total = $10, scanned_at = $11
         WHERE job_id = $12 RETURNING {SCAN_COLUMNS}"
    )));
    let rows = bind_result(q, result, now, job_id)
        .fetch_all(&mut **tx)
        .await?;
    let scans = rows
        .iter()
        .map(Scan::from_row)
        .collect::<Result<Vec<_>>>()?;
    let Some(scan) = scans.iter().find(|s| s.id == scan_id).cloned() else {
        return Err(StoreError::NotFound {
            what: "scan",
            id: scan_id.to_owned(),
        });
    };
    for id in scans.iter().map(|s| &s.id) {
        for (sql, args) in finding_inserts(id, &result.findings) {
            crate::row::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                .execute(&mut **tx)
                .await?;
        }
    }
    for (digest, data) in &result.inline_blobs {
        sqlx::query(
            "INSERT INTO blobs (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(data)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO latest_scans (digest, scan_id, record) VALUES ($1, $2, $3)
         ON CONFLICT (digest) DO UPDATE SET scan_id = excluded.scan_id, record = excluded.record",
    )
    .bind(&scan.digest)
    .bind(scan_id)
    .bind(result.record.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(scan)
}

/// PostgreSQL: completes job `job_id` leased to `holder` in one statement (its own
/// transaction): the job is done, every owner's scan gets the result and its findings, the
/// result's small blobs are kept, the digest's latest record points at the job's own scan,
/// and `claim`'s jobs are leased to the same holder; the scan and those jobs are returned.
/// `None` when the job is not leased to `holder` or lacks its scan (nothing written; the
/// caller takes the general path, which tells these apart). One round trip instead of one
/// per statement, which is what a completion costs here.
pub(crate) async fn complete_held_pg(
    pool: &sqlx::AnyPool,
    job_id: &str,
    holder: &str,
    result: &ScanResult,
    claim: Option<&PgClaim<'_>>,
) -> Result<Option<(Scan, Vec<crate::Job>)>> {
    let now = now_ms();
    let findings: Vec<serde_json::Value> = result
        .findings
        .iter()
        .enumerate()
        .map(|(ord, f)| {
            serde_json::json!({
                "ord": ord, "vulnerability": f.vulnerability, "severity": f.severity,
                "severity_rank": severity_rank(&f.severity), "package": f.package,
                "version": f.version, "fixed_by": f.fixed_by, "source": f.source,
                "link": f.link, "origin": f.origin, "kind": f.kind, "kev": i64::from(f.kev),
                "fix_state": f.fix_state, "severity_source": f.severity_source, "epss": f.epss,
                "epss_percentile": f.epss_percentile, "layer": f.layer, "suppressed": f.suppressed,
            })
        })
        .collect();
    let sql = format!(
        "WITH j AS (
            UPDATE jobs SET state = 'done', {unlease}, updated_at = $11
            WHERE id = $12 AND state = 'leased' AND lease_holder = $13
              AND EXISTS (SELECT 1 FROM scans WHERE scans.id = jobs.scan_id)
            RETURNING id, scan_id
         ), s AS (
            UPDATE scans SET status = 'READY', error = NULL, scanner_version = $1, sbom_blob = $2, report_blob = $3,
            critical = $4, high = $5, medium = $6, low = $7, negligible = $8, undefined = $9, total = $10, scanned_at = $11
            WHERE job_id IN (SELECT id FROM j) RETURNING {SCAN_COLUMNS}
         ), f AS (
            INSERT INTO findings (scan_id, ord, vulnerability, severity, severity_rank, package, version, fixed_by, source, link, origin, kind, kev,
                 fix_state, severity_source, epss, epss_percentile, layer, suppressed)
            SELECT s.id, u.ord, u.vulnerability, u.severity, u.severity_rank, u.package, u.version, u.fixed_by, u.source, u.link, u.origin, u.kind, u.kev,
                 u.fix_state, u.severity_source, u.epss, u.epss_percentile, u.layer, u.suppressed
            FROM s, jsonb_to_recordset(CAST($14 AS jsonb)) AS u(ord bigint, vulnerability text, severity text, severity_rank bigint,
                 package text, version text, fixed_by text, source text, link text, origin text, kind text, kev bigint,
                 fix_state text, severity_source text, epss bigint, epss_percentile bigint, layer text, suppressed text)
         ), l AS (
            INSERT INTO latest_scans (digest, scan_id, record)
            SELECT s.digest, s.id, $15 FROM s JOIN j ON s.id = j.scan_id
            ON CONFLICT (digest) DO UPDATE SET scan_id = excluded.scan_id, record = excluded.record
         ), b AS (
            INSERT INTO blobs (digest, data)
            SELECT key, value FROM jsonb_each_text(CAST($16 AS jsonb)) WHERE EXISTS (SELECT 1 FROM j)
            ON CONFLICT (digest) DO NOTHING
         ){claim_cte}
         SELECT s.*, {claimed} AS claimed FROM j JOIN s ON s.id = j.scan_id",
        unlease = crate::jobs::UNLEASE,
        claim_cte = if claim.is_some() {
            format!(
                ", c AS (
            UPDATE jobs SET state = 'leased', dispatches = dispatches + 1, lease_holder = $13, lease_hub = $17,
            leased_at = $11, lease_expires = $18, updated_at = $11
            WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND EXISTS (SELECT 1 FROM j){floor}
                         {order} LIMIT $19 FOR UPDATE OF jobs SKIP LOCKED)
            RETURNING {columns}
         )",
                floor = if claim.is_some_and(|c| c.floor.is_some()) { " AND seq > $20" } else { "" },
                order = crate::jobs::PICK_ORDER,
                columns = crate::jobs::COLUMNS,
            )
        } else {
            String::new()
        },
        claimed = if claim.is_some() {
            "(SELECT CAST(COALESCE(json_agg(c), '[]') AS TEXT) FROM c)"
        } else {
            "'[]'"
        },
    );
    let mut q = bind_result(sqlx::query(sqlx::AssertSqlSafe(sql)), result, now, job_id)
        .bind(holder)
        .bind(serde_json::Value::Array(findings).to_string())
        .bind(result.record.to_string())
        .bind(
            serde_json::Value::Object(
                result
                    .inline_blobs
                    .iter()
                    .map(|(d, data)| (d.clone(), serde_json::Value::String(data.clone())))
                    .collect(),
            )
            .to_string(),
        );
    if let Some(c) = claim {
        q = q
            .bind(c.hub)
            .bind(now.saturating_add(c.lease_ms))
            .bind(c.max);
        if let Some(f) = c.floor {
            q = q.bind(f);
        }
    }
    let rows = q.fetch_all(pool).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let claimed: String = row.try_get("claimed")?;
    let claimed: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&claimed).map_err(|e| StoreError::Corrupt {
            what: "claimed jobs",
            message: e.to_string(),
        })?;
    let mut jobs = claimed
        .iter()
        .map(crate::Job::from_row)
        .collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|j| (j.priority, j.fair_key, j.seq));
    Ok(Some((Scan::from_row(row)?, jobs)))
}

/// The next jobs [`complete_held_pg`] leases to the same holder in the same statement.
pub(crate) struct PgClaim<'a> {
    pub hub: &'a str,
    pub floor: Option<i64>,
    pub max: i64,
    pub lease_ms: i64,
}
