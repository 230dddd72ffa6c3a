//! Vulnerability reports: the inventory plus what matching found, as a table or as
//! Ferret's JSON scan document (`ferret.scan/v1`, documented in `docs/json-schema.md`).

use std::io::Write;

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};
use ferret_matcher::{Counts, Finding, Fix, Severity};
use ferret_matcher::{Outcome, PackageMatches, Suppressed};
use ferret_model::Inventory;
use serde_json::{Value, json};

use crate::{ReportError, Tool, write_json};

pub const SCHEMA: &str = "ferret.scan/v2";

/// Output formats of `ferret scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFormat {
    Table,
    Json,
    GrypeJson,
    Sarif,
    /// CycloneDX 1.6 with a `vulnerabilities` section.
    CycloneDxJson,
    /// The scanned inventory as SPDX 2.3, beside the report in one run.
    SpdxJson,
}

impl ScanFormat {
    pub const ALL: &[(&'static str, ScanFormat)] = &[
        ("table", Self::Table),
        ("json", Self::Json),
        ("grype-json", Self::GrypeJson),
        ("sarif", Self::Sarif),
        ("cyclonedx-json", Self::CycloneDxJson),
        ("spdx-json", Self::SpdxJson),
    ];
}

/// The advisory database a scan read, named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    pub snapshot: String,
    pub schema_version: u32,
}

/// Everything a scan report shows.
#[derive(Debug, Clone)]
pub struct ScanReport<'a> {
    pub inventory: &'a Inventory,
    pub matches: &'a [PackageMatches],
    pub database: DatabaseInfo,
    /// How the table and Ferret JSON order findings.
    pub order: Order,
}

/// The order of findings in the table and Ferret JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Packages with the most severe findings first, each package's findings most severe
    /// first.
    #[default]
    Severity,
    /// Every finding by risk: known exploited (KEV) first, then EPSS × severity, then
    /// severity.
    Risk,
}

/// A finding's weight for [`Order::Risk`]: its chosen CVSS score, else the middle of its
/// severity's band (an unrated finding weighs as a medium one: unknown is not harmless).
pub fn risk(f: &Finding) -> (bool, f64) {
    let weight =
        f.rating
            .chosen
            .as_ref()
            .and_then(|c| c.score)
            .unwrap_or(match f.rating.severity {
                Severity::Critical => 9.5,
                Severity::High => 8.0,
                Severity::Medium | Severity::Unknown => 5.5,
                Severity::Low => 2.0,
                Severity::Negligible => 0.0,
            });
    (
        f.kev.is_some(),
        f.epss.as_ref().map_or(0.0, |e| e.score) * weight,
    )
}

impl ScanReport<'_> {
    /// [`Self::findings`] in the report's [`Order`].
    pub fn findings_in_order(&self) -> Vec<(usize, &Finding)> {
        let mut all: Vec<(usize, &Finding)> = self.findings().collect();
        if self.order == Order::Risk {
            all.sort_by(|(pa, a), (pb, b)| {
                let (ka, ra) = risk(a);
                let (kb, rb) = risk(b);
                kb.cmp(&ka)
                    .then(rb.total_cmp(&ra))
                    .then(b.rating.severity.cmp(&a.rating.severity))
                    .then_with(|| a.id.cmp(&b.id))
                    .then(pa.cmp(pb))
            });
        }
        all
    }

    /// Every finding with its package index.
    pub fn findings(&self) -> impl Iterator<Item = (usize, &Finding)> {
        self.matches.iter().flat_map(|m| match &m.outcome {
            Outcome::Matched { findings, .. } => findings.iter().map(|f| (m.package, f)).collect(),
            Outcome::Unmatched { .. } => Vec::new(),
        })
    }

    pub fn summary(&self) -> Counts {
        Counts::of(self.findings().map(|(_, f)| f.rating.severity))
    }

    /// Findings the user's rules suppressed, with their package index.
    pub fn suppressed(&self) -> impl Iterator<Item = (usize, &Suppressed)> {
        self.matches.iter().flat_map(|m| match &m.outcome {
            Outcome::Matched { suppressed, .. } => {
                suppressed.iter().map(|s| (m.package, s)).collect()
            }
            Outcome::Unmatched { .. } => Vec::new(),
        })
    }

    /// Records that could not be evaluated for a package, with its index.
    fn skipped(&self) -> impl Iterator<Item = (usize, &ferret_matcher::SkippedRecord)> {
        self.matches.iter().flat_map(|m| match &m.outcome {
            Outcome::Matched { skipped, .. } => skipped.iter().map(|s| (m.package, s)).collect(),
            Outcome::Unmatched { .. } => Vec::new(),
        })
    }

    fn unmatched(&self) -> impl Iterator<Item = (usize, &str)> {
        self.matches.iter().filter_map(|m| match &m.outcome {
            Outcome::Unmatched { reason } => Some((m.package, reason.as_str())),
            Outcome::Matched { .. } => None,
        })
    }
}

pub fn write_scan(
    report: &ScanReport<'_>,
    format: ScanFormat,
    tool: &Tool,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        ScanFormat::Table => table(report, out)?,
        ScanFormat::Json => write_json(&document(report, tool), out)?,
        ScanFormat::GrypeJson => write_json(&crate::grype::document(report, tool), out)?,
        ScanFormat::Sarif => write_json(&crate::sarif::document(report, tool), out)?,
        ScanFormat::CycloneDxJson => {
            write_json(&crate::cyclonedx::scan_document(report, tool), out)?
        }
        ScanFormat::SpdxJson => {
            crate::write_sbom(report.inventory, crate::SbomFormat::SpdxJson, tool, out)?
        }
    }
    Ok(())
}

fn fix_text(fix: &Fix) -> (String, &'static str) {
    match fix {
        Fix::Fixed(v) => (v.join(", "), "fixed"),
        Fix::NotFixed => (String::new(), "not fixed"),
        Fix::WillNotFix => (String::new(), "will not fix"),
    }
}

/// `KEV` for a known exploited vulnerability (`KEV, ransomware` when used so), and the
/// EPSS score as a percentage with its percentile.
fn exploitation(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &f.kev {
        parts.push(
            if k.ransomware {
                "KEV, ransomware"
            } else {
                "KEV"
            }
            .to_owned(),
        );
    }
    if let Some(e) = &f.epss {
        parts.push(format!(
            "EPSS {:.1}% (p{:.0})",
            e.score * 100.0,
            (e.percentile * 100.0).floor()
        ));
    }
    parts.join("; ")
}

/// Grouped by package, the packages with the most severe findings first; each package's
/// findings most severe first; then the summary line.
fn table(report: &ScanReport<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let packages = &report.inventory.packages;
    let mut groups: Vec<(usize, &[Finding])> = report
        .matches
        .iter()
        .filter_map(|m| match &m.outcome {
            Outcome::Matched { findings, .. } if !findings.is_empty() => {
                Some((m.package, findings.as_slice()))
            }
            _ => None,
        })
        .collect();
    groups.sort_by(|(a, fa), (b, fb)| {
        fb[0]
            .rating
            .severity
            .cmp(&fa[0].rating.severity)
            .then_with(|| packages[*a].sort_key().cmp(&packages[*b].sort_key()))
    });
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(vec![
        "NAME",
        "INSTALLED",
        "VULNERABILITY",
        "SEVERITY",
        "RATED BY",
        "FIXED IN",
        "STATE",
        "EXPLOITATION",
    ]);
    let rows: Vec<(usize, &Finding)> = match report.order {
        Order::Severity => groups
            .iter()
            .flat_map(|(p, fs)| fs.iter().map(move |f| (*p, f)))
            .collect(),
        Order::Risk => report.findings_in_order(),
    };
    for (p, f) in rows {
        let pkg = &packages[p];
        let (fixed, state) = fix_text(&f.fix);
        t.add_row(vec![
            Cell::new(&pkg.name),
            Cell::new(&pkg.version),
            Cell::new(&f.id),
            Cell::new(f.rating.severity.as_str()),
            Cell::new(
                f.rating
                    .chosen
                    .as_ref()
                    .map(|c| c.label())
                    .unwrap_or_default(),
            ),
            Cell::new(fixed),
            Cell::new(state),
            Cell::new(exploitation(f)),
        ]);
    }
    if !groups.is_empty() {
        writeln!(out, "{t}")?;
    }
    let s = report.summary();
    let counts: Vec<String> = Severity::DESCENDING
        .iter()
        .filter(|sev| s.count(**sev) > 0)
        .map(|sev| format!("{} {}", s.count(*sev), sev.as_str().to_lowercase()))
        .collect();
    let unmatched = report.unmatched().count();
    writeln!(
        out,
        "{} vulnerabilit{} in {} of {} package{}{}{}",
        s.total(),
        if s.total() == 1 { "y" } else { "ies" },
        groups.len(),
        packages.len(),
        if packages.len() == 1 { "" } else { "s" },
        if counts.is_empty() {
            String::new()
        } else {
            format!(": {}", counts.join(", "))
        },
        if unmatched == 0 {
            String::new()
        } else {
            format!(
                " ({unmatched} package{} not matched, see the JSON report)",
                if unmatched == 1 { "" } else { "s" }
            )
        }
    )?;
    // The commonest reasons, so that "0 vulnerabilities" never hides "nothing to match
    // against" (a distro release no feed covers).
    let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, reason) in report.unmatched() {
        *reasons.entry(reason).or_default() += 1;
    }
    let mut reasons: Vec<(&str, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (reason, n) in reasons.iter().take(MAX_REASONS) {
        writeln!(
            out,
            "  not matched: {n} package{}: {reason}",
            if *n == 1 { "" } else { "s" }
        )?;
    }
    if reasons.len() > MAX_REASONS {
        writeln!(
            out,
            "  not matched: {} other reasons (see the JSON report)",
            reasons.len() - MAX_REASONS
        )?;
    }
    Ok(())
}

/// Reasons for unmatched packages the table lists.
const MAX_REASONS: usize = 3;

fn document(report: &ScanReport<'_>, tool: &Tool) -> Value {
    let inv = report.inventory;
    let s = report.summary();
    json!({
        "schema": SCHEMA,
        "tool": {"name": tool.name, "version": tool.version},
        "source": crate::json::source(inv),
        "distro": inv.distro,
        "database": {
            "snapshot": report.database.snapshot,
            "schemaVersion": report.database.schema_version,
        },
        "packages": inv.packages,
        "findings": report.findings_in_order().into_iter().map(|(p, f)| {
            let mut v = json!({
                "package": p,
                "id": f.id,
                "related": f.related,
                "severity": f.rating.severity,
                "ratings": f.rating.ratings,
                "fix": f.fix,
                "matches": f.matches,
            });
            // Present only when known, as the other optional fields.
            for (key, value) in [
                ("severitySource", serde_json::to_value(&f.rating.chosen)),
                ("kev", serde_json::to_value(&f.kev)),
                ("epss", serde_json::to_value(&f.epss)),
            ] {
                if let Ok(value) = value
                    && !value.is_null()
                {
                    v[key] = value;
                }
            }
            v
        }).collect::<Vec<_>>(),
        "suppressed": report.suppressed().map(|(p, x)| {
            let mut v = json!({
                "package": p,
                "id": x.finding.id,
                "related": x.finding.related,
                "severity": x.finding.rating.severity,
                "by": x.by,
                "reason": x.reason,
            });
            if !x.symbols.is_empty() {
                v["symbols"] = json!(x.symbols);
            }
            v
        }).collect::<Vec<_>>(),
        "unmatched": report.unmatched().map(|(p, reason)| json!({
            "package": p,
            "reason": reason,
        })).collect::<Vec<_>>(),
        "skippedRecords": report.skipped().map(|(p, s)| json!({
            "package": p,
            "record": s.record,
            "reason": s.reason,
        })).collect::<Vec<_>>(),
        "summary": {
            "critical": s.critical,
            "high": s.high,
            "medium": s.medium,
            "low": s.low,
            "negligible": s.negligible,
            "unknown": s.unknown,
            "total": s.total(),
        },
        "notes": inv.notes,
    })
}
