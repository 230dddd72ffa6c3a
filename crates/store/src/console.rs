//! What the operator's console reads beyond the APIs: images with their newest scan's
//! summary (kept on `images` by triggers, so that every order and filter runs on an index),
//! the queue by state, and console login sessions.

use sqlx::Row;

use crate::accounts::{ACCOUNT_COLUMNS_A, Account};
use crate::row::{Arg, Columns, bind_all};
use crate::scans::{Counts, IMAGE_COLUMNS, Image, ScanStatus};
use crate::{Backend, Job, Result, Store};

/// An image and its newest scans' summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub image: Image,
    /// The newest scan, whatever its status.
    pub last_scan_id: Option<String>,
    pub last_status: Option<ScanStatus>,
    /// The newest READY scan: when it finished, its counts and known exploited findings.
    pub ready_scan_id: Option<String>,
    pub scanned_at: Option<i64>,
    pub counts: Counts,
    pub kev: i64,
}

impl ImageSummary {
    fn from_row(r: &impl Columns) -> Result<Self> {
        let n = |c: &str| -> Result<u64> { Ok(u64::try_from(r.col::<i64>(c)?).unwrap_or(0)) };
        let scanned_at: i64 = r.col("scanned_at")?;
        Ok(Self {
            image: Image::from_row(r)?,
            last_scan_id: r.col("last_scan_id")?,
            last_status: r
                .col::<Option<String>>("last_status")?
                .as_deref()
                .and_then(ScanStatus::parse),
            ready_scan_id: r.col("ready_scan_id")?,
            scanned_at: (scanned_at > 0).then_some(scanned_at),
            counts: Counts {
                critical: n("critical")?,
                high: n("high")?,
                medium: n("medium")?,
                low: n("low")?,
                negligible: n("negligible")?,
                unknown: n("unknown")?,
            },
            kev: r.col("kev")?,
        })
    }
}

/// How [`Store::image_summaries`] orders images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageOrder {
    /// Registry, repository, digest.
    #[default]
    Name,
    /// Most critical, then high, medium and low findings first.
    Risk,
    /// Most recently scanned first; never scanned last.
    Recent,
}

/// Which images to list; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub owner: Option<String>,
    pub registry: Option<String>,
    pub repository: Option<String>,
    /// A case-insensitive substring of `registry/repository` or a tag, or the start of the
    /// digest (with or without `sha256:`).
    pub search: Option<String>,
    /// Only images with a finding at or above this severity (0 critical … 3 low).
    pub at_least: Option<u8>,
    /// Only images with a known exploited finding.
    pub kev: bool,
    pub order: ImageOrder,
}

/// A state's jobs per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCount {
    pub leased: bool,
    pub priority: i64,
    pub count: i64,
}

/// A console login: its account and the token its forms carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub account: Account,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

const SUMMARY_COLUMNS: &str = "last_scan_id, last_status, ready_scan_id, scanned_at, critical, high, medium, low, negligible, unknown, kev";

/// `%s%` for LIKE, with LIKE's own characters escaped (by `\`).
fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Up to this many images matching a search term, a page is found by sorting the matches,
/// which costs in proportion to them. Past it the order's index is walked and each image
/// tested, which stops once the page is full: soon for a term this common, unless its
/// matches all sort after most other images.
pub(crate) const SEARCH_SORT_LIMIT: i64 = 20_000;

/// The first `rows=` of a PostgreSQL plan: the planner's estimate of the rows a query yields.
fn plan_rows(plan: &str) -> Option<f64> {
    let rest = &plan[plan.find("rows=")? + 5..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Store {
    /// How many images' names and tags match the full-text `phrase` (SQLite), counted up to
    /// `cap`.
    async fn text_matches(&self, phrase: &str, cap: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM images_text WHERE images_text MATCH $1 LIMIT $2)",
        )
        .bind(phrase)
        .bind(cap)
        .fetch_one(self.pool())
        .await?)
    }

    /// PostgreSQL's estimate of how many images satisfy `conditions`.
    async fn estimated_images(&self, conditions: &str, args: &[Arg]) -> Result<f64> {
        let sql = format!("EXPLAIN SELECT 1 FROM images WHERE {conditions}");
        let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
            .persistent(false)
            .fetch_one(self.pool())
            .await?;
        let plan: String = row.try_get(0)?;
        Ok(plan_rows(&plan).unwrap_or(f64::MAX))
    }

    /// Images matching `q` in its order, after the image `after` (the last of the previous
    /// page) when given; deleted images are left out.
    pub async fn image_summaries(
        &self,
        q: &ImageQuery,
        after: Option<&ImageSummary>,
        limit: i64,
    ) -> Result<Vec<ImageSummary>> {
        let mut args: Vec<Arg> = Vec::new();
        let mut arg = |a: Arg| {
            args.push(a);
            format!("${}", args.len())
        };
        let mut conditions = vec!["deleted_at IS NULL".to_owned()];
        if let Some(o) = &q.owner {
            conditions.push(format!("owner = {}", arg(o.as_str().into())));
        }
        if let Some(r) = &q.registry {
            conditions.push(format!("registry = {}", arg(r.as_str().into())));
        }
        if let Some(r) = &q.repository {
            conditions.push(format!("repository = {}", arg(r.as_str().into())));
        }
        // Where the images come from when a page is found by sorting a search's matches
        // (SQLite); `None` while the page is found by testing images in order.
        let mut matches_from = None;
        let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        // Long enough to have a trigram, so that an index can find the matches.
        let trigrams = search.is_some_and(|s| s.chars().count() >= 3);
        if let Some(s) = search {
            let lower = s.to_lowercase();
            // Digests by their start, with or without the algorithm.
            let hex = lower.strip_prefix("sha256:").unwrap_or(&lower);
            let digest =
                (hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| (format!("sha256:{hex}"), format!("sha256:{hex}~")));
            // Names and tags by a substring: on SQLite through its trigram index, on
            // PostgreSQL through pg_trgm's index on the same expression (when the server
            // has it).
            let phrase = format!("\"{}\"", lower.replace('"', "\"\""));
            if self.backend() == Backend::Sqlite
                && trigrams
                && self
                    .text_matches(&phrase, self.search_sort_limit + 1)
                    .await?
                    <= self.search_sort_limit
            {
                let mut keys = format!(
                    "SELECT rowid AS k FROM images_text WHERE images_text MATCH {}",
                    arg(phrase.into())
                );
                if let Some((from, to)) = digest {
                    keys.push_str(&format!(
                        " UNION SELECT text_rowid FROM images WHERE digest >= {} AND digest < {}",
                        arg(from.into()),
                        arg(to.into())
                    ));
                }
                // CROSS JOIN: the matches lead, so SQLite cannot walk an order's index.
                matches_from = Some(format!(
                    "({keys}) m CROSS JOIN images ON images.text_rowid = m.k"
                ));
            } else {
                let by_name = format!(
                    "lower(registry || '/' || repository || ' ' || tags) LIKE {} ESCAPE '\\'",
                    arg(like_pattern(&lower).into())
                );
                conditions.push(match digest {
                    Some((from, to)) => format!(
                        "({by_name} OR (digest >= {} AND digest < {}))",
                        arg(from.into()),
                        arg(to.into())
                    ),
                    None => by_name,
                });
            }
        }
        // Outside risk order the counts only filter: `+` keeps a planner from ranging over
        // the risk index and sorting what it finds, instead of walking the order's index.
        let plus = if q.order == ImageOrder::Risk { "" } else { "+" };
        if let Some(at_least) = q.at_least {
            let columns = ["critical", "high", "medium", "low"];
            let any: Vec<String> = columns[..=usize::from(at_least.min(3))]
                .iter()
                .map(|c| format!("{plus}{c} > 0"))
                .collect();
            conditions.push(format!("({})", any.join(" OR ")));
        }
        if q.kev {
            conditions.push(format!("{plus}kev > 0"));
        }
        let order = match q.order {
            ImageOrder::Name => {
                if let Some(a) = after {
                    let i = &a.image;
                    conditions.push(format!(
                        "(registry, repository, digest, id) > ({}, {}, {}, {})",
                        arg(i.registry.as_str().into()),
                        arg(i.repository.as_str().into()),
                        arg(i.digest.as_str().into()),
                        arg(i.id.as_str().into())
                    ));
                }
                "registry, repository, digest, id"
            }
            ImageOrder::Risk => {
                if let Some(a) = after {
                    let c = crate::scans::column_counts(&a.counts);
                    conditions.push(format!(
                        "(critical, high, medium, low, id) < ({}, {}, {}, {}, {})",
                        arg(c[0].into()),
                        arg(c[1].into()),
                        arg(c[2].into()),
                        arg(c[3].into()),
                        arg(a.image.id.as_str().into())
                    ));
                }
                "critical DESC, high DESC, medium DESC, low DESC, id DESC"
            }
            ImageOrder::Recent => {
                if let Some(a) = after {
                    conditions.push(format!(
                        "(scanned_at, id) < ({}, {})",
                        arg(a.scanned_at.unwrap_or(0).into()),
                        arg(a.image.id.as_str().into())
                    ));
                }
                "scanned_at DESC, id DESC"
            }
        };
        let conditions = conditions.join(" AND ");
        // PostgreSQL's planner, which assumes matches spread evenly over the order, would
        // walk the order's index for a term it expects many images to match: a walk past
        // every image when they all sort last. A page of no more than the limit's matches
        // is found by sorting them instead.
        let sort_matches = self.backend() == Backend::Postgres
            && trigrams
            && self.estimated_images(&conditions, &args).await? <= self.search_sort_limit as f64;
        args.push(limit.into());
        let limit = format!("${}", args.len());
        let columns = format!("{IMAGE_COLUMNS}, {SUMMARY_COLUMNS}");
        // Sorting a search's matches: the page's ids are sorted out of them, then read whole.
        let matches = match matches_from {
            Some(from) => Some(format!("SELECT images.id FROM {from} WHERE {conditions}")),
            // `OFFSET 0` keeps the matches' subquery apart from the order, so it is planned
            // to find them all (a bitmap scan of the trigram index) and only their sort
            // keys are sorted; unlike a MATERIALIZED CTE, nothing is stored on the way.
            None if sort_matches => Some(format!(
                "SELECT id FROM (
                    SELECT id, registry, repository, digest, critical, high, medium, low, scanned_at
                    FROM images WHERE {conditions} OFFSET 0) m"
            )),
            None => None,
        };
        let sql = match matches {
            Some(ids) => format!(
                "SELECT {columns} FROM images WHERE id IN ({ids} ORDER BY {order} LIMIT {limit})
                 ORDER BY {order}"
            ),
            None => format!(
                "SELECT {columns} FROM images WHERE {conditions} ORDER BY {order} LIMIT {limit}"
            ),
        };
        // A search is planned for its own term, not a plan cached for any term.
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .persistent(search.is_none())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ImageSummary::from_row).collect()
    }

    /// One image with its summary, deleted or not.
    pub async fn image_summary(&self, id: &str) -> Result<Option<ImageSummary>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS}, {SUMMARY_COLUMNS} FROM images WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(ImageSummary::from_row)
        .transpose()
    }

    /// Queued and leased jobs per priority, of `owner` (everyone's when `None`).
    pub async fn job_counts(&self, owner: Option<&str>) -> Result<Vec<JobCount>> {
        let rows = sqlx::query(
            "SELECT state, priority, COUNT(*) AS n FROM jobs
             WHERE state IN ('queued', 'leased') AND ($1 IS NULL OR owner = $1)
             GROUP BY state, priority ORDER BY state DESC, priority",
        )
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobCount {
                    leased: r.try_get::<String, _>("state")? == "leased",
                    priority: r.try_get("priority")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Jobs in `state` (`queued` or `leased`), in the order they are served, of `owner`.
    pub async fn jobs_in(&self, state: &str, owner: Option<&str>, limit: i64) -> Result<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM jobs WHERE state = $1 AND ($2 IS NULL OR owner = $2)
             ORDER BY priority, seq LIMIT $3",
            crate::jobs::COLUMNS
        )))
        .bind(state)
        .bind(owner)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Job::from_row).collect()
    }

    /// The jobs that failed last, newest first, of `owner`.
    pub async fn recent_failures(&self, owner: Option<&str>, limit: i64) -> Result<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM jobs WHERE state = 'error' AND ($1 IS NULL OR owner = $1)
             ORDER BY updated_at DESC LIMIT $2",
            crate::jobs::COLUMNS
        )))
        .bind(owner)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Job::from_row).collect()
    }

    /// Records a console login by the SHA-256 of its cookie.
    pub async fn create_console_session(
        &self,
        id_hash: &str,
        account_id: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO console_sessions (id_hash, account_id, csrf, created_at, last_seen, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
            vec![
                id_hash.into(),
                account_id.into(),
                csrf.into(),
                now.into(),
                expires_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The live session whose cookie hashes to `id_hash`: neither past its end nor idle
    /// since before `idle_since`.
    pub async fn console_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_since: i64,
    ) -> Result<Option<ConsoleSession>> {
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS_A}, s.csrf, s.created_at AS s_created, s.last_seen, s.expires_at
             FROM console_sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen > $3"
        )))
        .bind(id_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(ConsoleSession {
            account: Account::from_row(&r)?,
            csrf: r.try_get("csrf")?,
            created_at: r.try_get("s_created")?,
            last_seen: r.try_get("last_seen")?,
            expires_at: r.try_get("expires_at")?,
        }))
    }

    /// Marks a session as used at `now`.
    pub async fn touch_console_session(&self, id_hash: &str, now: i64) -> Result<()> {
        self.exec(
            "UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2",
            vec![now.into(), id_hash.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn delete_console_session(&self, id_hash: &str) -> Result<()> {
        self.exec(
            "DELETE FROM console_sessions WHERE id_hash = $1",
            vec![id_hash.into()],
        )
        .await?;
        Ok(())
    }

    /// Ends every console session of an account.
    pub async fn delete_console_sessions_of(&self, account_id: &str) -> Result<()> {
        self.exec(
            "DELETE FROM console_sessions WHERE account_id = $1",
            vec![account_id.into()],
        )
        .await?;
        Ok(())
    }

    /// Forgets sessions that ended or went idle; how many.
    pub async fn prune_console_sessions(&self, now: i64, idle_since: i64) -> Result<u64> {
        self.exec(
            "DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen <= $2",
            vec![now.into(), idle_since.into()],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_like_characters() {
        assert_eq!(super::like_pattern("Lib_1%"), "%lib\\_1\\%%");
    }

    #[test]
    fn plan_rows_reads_the_top_node_estimate() {
        let plan = "Bitmap Heap Scan on images  (cost=173.60..3861.12 rows=14141 width=4)";
        assert_eq!(super::plan_rows(plan), Some(14141.0));
        assert_eq!(super::plan_rows("Result"), None);
    }
}
