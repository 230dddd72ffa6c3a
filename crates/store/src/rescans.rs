//! What advisory-driven rescans keep: which digests' latest scans have not been judged
//! against the current advisory snapshot, and a rescan's result stored beside the scans
//! before it (one scan per image of the digest, READY, reason `advisories`).

use sqlx::Row as _;

use crate::row::Arg;
use crate::scans::{Finding, IMAGE_COLUMNS, Image, column_counts, finding_inserts};
use crate::sqlite::Lane;
use crate::{Counts, Result, Store, new_id, now_ms};

/// A digest whose latest scan is to be judged, with what judging it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub digest: String,
    /// Its latest scan.
    pub scan_id: String,
    /// The snapshot it was last judged against, when that judgement is of this scan.
    pub judged_snapshot: Option<String>,
    /// The latest scan's SBOM and report, by digest.
    pub sbom_blob: Option<String>,
    pub report_blob: Option<String>,
    /// Their content when the database keeps it (small ones; the rest are in the blob
    /// store).
    pub sbom: Option<String>,
    pub report: Option<String>,
    /// The digest's latest record (`io.atcr.hold.scan`).
    pub record: serde_json::Value,
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
    /// `snapshot`, by digest, each with its scan's blobs (one query for the batch).
    pub async fn rescan_candidates(
        &self,
        snapshot: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Candidate>> {
        let rows = sqlx::query(
            "SELECT l.digest, l.scan_id, l.judged_scan_id, l.judged_snapshot, l.record, s.sbom_blob, s.report_blob,
                    sb.data AS sbom, rb.data AS report
             FROM latest_scans l
             LEFT JOIN scans s ON s.id = l.scan_id
             LEFT JOIN blobs sb ON sb.digest = s.sbom_blob
             LEFT JOIN blobs rb ON rb.digest = s.report_blob
             WHERE l.digest > $1 AND (l.judged_scan_id IS NULL OR l.judged_scan_id <> l.scan_id OR l.judged_snapshot <> $2)
             ORDER BY l.digest LIMIT $3",
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
                    sbom_blob: r.try_get("sbom_blob")?,
                    report_blob: r.try_get("report_blob")?,
                    sbom: r.try_get("sbom")?,
                    report: r.try_get("report")?,
                    record: serde_json::from_str(&r.try_get::<String, _>("record")?).map_err(
                        |e| crate::StoreError::Corrupt {
                            what: "latest record",
                            message: e.to_string(),
                        },
                    )?,
                })
            })
            .collect()
    }

    /// Records that each (digest, scan id)'s latest scan was judged against `snapshot` (and
    /// stands), where that scan is still the latest.
    pub async fn judged(&self, judged: &[(&str, &str)], snapshot: &str) -> Result<()> {
        // In small parts: SQLite's writer lets a submission in between two.
        let parts = judged.chunks(32).map(|chunk| {
            let statements = chunk
                .iter()
                .map(|(digest, scan_id)| {
                    (
                        "UPDATE latest_scans SET judged_scan_id = $1, judged_snapshot = $2 WHERE digest = $3 AND scan_id = $1".to_owned(),
                        vec![(*scan_id).into(), snapshot.into(), (*digest).into()],
                    )
                })
                .collect();
            self.exec_all_in(Lane::Background, statements)
        });
        for done in futures_util::future::join_all(parts).await {
            done?;
        }
        Ok(())
    }

    /// The images (of any owner, not deleted) of `digests`, by digest then id.
    pub async fn images_of(&self, digests: &[&str]) -> Result<Vec<Image>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let params = (1..=digests.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE digest IN ({params}) AND deleted_at IS NULL ORDER BY digest, id"
        )));
        for d in digests {
            q = q.bind(*d);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(Image::from_row).collect()
    }

    /// Stores a rescan: a READY scan per image of the digest (`images`), with the findings,
    /// and the digest's latest record pointing at the first, judged against the snapshot.
    /// Nothing is stored when `previous_scan_id` is no longer the digest's latest (a scan
    /// finished meanwhile); then `None`, else the new scans' ids, by image.
    pub async fn store_rescan(&self, r: &Rescan, images: &[Image]) -> Result<Option<Vec<String>>> {
        if images.is_empty() {
            self.judged(&[(&r.digest, &r.previous_scan_id)], &r.snapshot)
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
            statements.extend(finding_inserts(id, &r.findings));
        }
        if let Some(data) = &r.inline_report {
            statements.push((
                "INSERT INTO blobs (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING"
                    .to_owned(),
                vec![r.report_blob.clone().into(), data.clone().into()],
            ));
        }
        if !self.exec_guarded_in(Lane::Background, statements).await? {
            return Ok(None);
        }
        Ok(Some(ids))
    }
}
