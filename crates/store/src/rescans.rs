//! What advisory-driven rescans keep: which digests' latest scans have not been judged
//! against the current advisory snapshot, and a rescan's result stored beside the scans
//! before it (one scan per image of the digest, READY, reason `advisories`).

use sqlx::Row as _;

use crate::row::Arg;
use crate::scans::{
    Finding, IMAGE_COLUMNS, Image, SCAN_COLUMNS, Scan, column_counts, severity_rank,
};
use crate::{Counts, Result, Store, new_id, now_ms};

/// A digest whose latest scan is to be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: String,
    /// Its latest scan.
    pub scan_id: String,
    /// The snapshot it was last judged against, when that judgement is of this scan.
    pub judged_snapshot: Option<String>,
}

/// A rescan's result, for every image of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescan {
    pub digest: String,
    /// The latest scan matched again: stored only while it is still the latest.
    pub previous_scan_id: String,
    pub snapshot: String,
    pub scanner_version: String,
    pub sbom_blob: Option<String>,
    pub report_blob: String,
    pub counts: Counts,
    pub findings: Vec<Finding>,
    /// JSON: what changed.
    pub diff: String,
    /// The digest's new latest record (`io.atcr.hold.scan`).
    pub record: serde_json::Value,
    /// The report, when small enough to keep in the database.
    pub inline_report: Option<String>,
}

impl Store {
    /// Up to `limit` digests after `after` whose latest scan is not judged against
    /// `snapshot`, by digest.
    pub async fn rescan_candidates(
        &self,
        snapshot: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Candidate>> {
        let rows = sqlx::query(
            "SELECT digest, scan_id, judged_scan_id, judged_snapshot FROM latest_scans
             WHERE digest > $1 AND (judged_scan_id IS NULL OR judged_scan_id <> scan_id OR judged_snapshot <> $2)
             ORDER BY digest LIMIT $3",
        )
        .bind(after)
        .bind(snapshot)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let scan_id: String = r.try_get("scan_id")?;
                let judged: Option<String> = r.try_get("judged_scan_id")?;
                Ok(Candidate {
                    digest: r.try_get("digest")?,
                    judged_snapshot: if judged.as_deref() == Some(scan_id.as_str()) {
                        r.try_get("judged_snapshot")?
                    } else {
                        None
                    },
                    scan_id,
                })
            })
            .collect()
    }

    /// Records that `digest`'s latest scan `scan_id` was judged against `snapshot` (and
    /// stands), if it is still the latest.
    pub async fn judged(&self, digest: &str, scan_id: &str, snapshot: &str) -> Result<()> {
        self.exec(
            "UPDATE latest_scans SET judged_scan_id = $1, judged_snapshot = $2 WHERE digest = $3 AND scan_id = $1",
            vec![scan_id.into(), snapshot.into(), digest.into()],
        )
        .await?;
        Ok(())
    }

    /// The images (of any owner, not deleted) of `digest`.
    pub async fn images_of(&self, digest: &str) -> Result<Vec<Image>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE digest = $1 AND deleted_at IS NULL ORDER BY id"
        )))
        .bind(digest)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(Image::from_row).collect()
    }

    /// Stores a rescan: a READY scan per image of the digest (`images`), with the findings,
    /// and the digest's latest record pointing at the first, judged against the snapshot.
    /// Nothing is stored when `previous_scan_id` is no longer the digest's latest (a scan
    /// finished meanwhile); then `None`.
    pub async fn store_rescan(&self, r: &Rescan, images: &[Image]) -> Result<Option<Vec<Scan>>> {
        if images.is_empty() {
            self.judged(&r.digest, &r.previous_scan_id, &r.snapshot)
                .await?;
            return Ok(Some(Vec::new()));
        }
        let now = now_ms();
        let job_id = new_id("rsc");
        let ids: Vec<String> = images.iter().map(|_| new_id("scn")).collect();
        let mut statements: Vec<(String, Vec<Arg>)> = vec![(
            "UPDATE latest_scans SET scan_id = $1, record = $2, judged_scan_id = $1, judged_snapshot = $3
             WHERE digest = $4 AND scan_id = $5"
                .to_owned(),
            vec![
                ids[0].clone().into(),
                r.record.to_string().into(),
                r.snapshot.clone().into(),
                r.digest.clone().into(),
                r.previous_scan_id.clone().into(),
            ],
        )];
        let c = column_counts(&r.counts);
        for (id, image) in ids.iter().zip(images) {
            let mut args: Vec<Arg> = vec![
                id.clone().into(),
                image.id.clone().into(),
                job_id.clone().into(),
                image.owner.clone().into(),
                image.registry.clone().into(),
                image.repository.clone().into(),
                image.digest.clone().into(),
                r.scanner_version.clone().into(),
                r.sbom_blob.clone().into(),
                r.report_blob.clone().into(),
            ];
            args.extend(c.iter().map(|n| Arg::Int(*n)));
            args.extend([now.into(), r.snapshot.clone().into(), r.diff.clone().into()]);
            statements.push((
                "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, scanner_version, sbom_blob, report_blob,
                 critical, high, medium, low, negligible, undefined, total, created_at, scanned_at, reason, snapshot, diff)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'READY', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, 'advisories', $19, $20)"
                    .to_owned(),
                args,
            ));
            for (chunk_no, chunk) in r
                .findings
                .chunks(crate::scans::FINDINGS_PER_INSERT)
                .enumerate()
            {
                let mut sql = String::from(
                    "INSERT INTO findings (scan_id, ord, vulnerability, severity, severity_rank, package, version, fixed_by, source, link, origin, kind) VALUES ",
                );
                let mut args = Vec::with_capacity(chunk.len() * 12);
                for (i, f) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let b = i * 12;
                    sql.push('(');
                    sql.push_str(
                        &(1..=12)
                            .map(|k| format!("${}", b + k))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    sql.push(')');
                    let ord = chunk_no * crate::scans::FINDINGS_PER_INSERT + i;
                    args.extend([
                        Arg::from(id.clone()),
                        Arg::Int(i64::try_from(ord).unwrap_or(i64::MAX)),
                        f.vulnerability.clone().into(),
                        f.severity.clone().into(),
                        Arg::Int(severity_rank(&f.severity)),
                        f.package.clone().into(),
                        f.version.clone().into(),
                        f.fixed_by.clone().into(),
                        f.source.clone().into(),
                        f.link.clone().into(),
                        f.origin.clone().into(),
                        f.kind.clone().into(),
                    ]);
                }
                statements.push((sql, args));
            }
        }
        if let Some(data) = &r.inline_report {
            statements.push((
                "INSERT INTO blobs (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING"
                    .to_owned(),
                vec![r.report_blob.clone().into(), data.clone().into()],
            ));
        }
        if !self.exec_guarded(statements).await? {
            return Ok(None);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE job_id = $1 ORDER BY id"
        )))
        .bind(&job_id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(
            rows.iter().map(Scan::from_row).collect::<Result<_>>()?,
        ))
    }
}
