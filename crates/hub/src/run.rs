//! Running one job with the engine, as the embedded scanner and `ferret scanner` both do:
//! pull the image from the job's `holdEndpoint` over the OCI distribution API, catalog,
//! match, and render the SPDX SBOM and the Grype-compatible report.

use std::path::PathBuf;

use ferret_advisory::Database;
use ferret_engine::{MatchOptions, ScanOptions};
use ferret_image::{ImageSource, RegistryOptions};
use ferret_report::{DatabaseInfo, SbomFormat, ScanFormat, ScanReport, Tool};

use crate::frames::{ScanJob, VulnSummary};

/// What a scan of a job produced.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    pub sbom: Vec<u8>,
    pub report: Vec<u8>,
    pub summary: VulnSummary,
}

/// `ferret-<version>`, as results name their scanner.
pub fn scanner_version() -> String {
    format!("ferret-{}", env!("CARGO_PKG_VERSION"))
}

/// How a scanner reaches registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// A docker `config.json` with credentials per registry host.
    pub docker_config: Option<PathBuf>,
    /// Hosts that may be reached over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Credentials for every registry; they win over `docker_config`.
    pub credentials: Option<ferret_image::Credentials>,
}

/// The registry reference of a job: `host[:port]/repository@digest`, and whether the
/// endpoint is plain HTTP.
pub fn job_reference(job: &ScanJob) -> Result<(String, Option<String>), String> {
    let url = url::Url::parse(&job.hold_endpoint)
        .map_err(|e| format!("holdEndpoint {:?}: {e}", job.hold_endpoint))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("holdEndpoint {:?} names no host", job.hold_endpoint))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let insecure = (url.scheme() == "http").then(|| host.clone());
    Ok((
        format!("{host}/{}@{}", job.repository, job.digest),
        insecure,
    ))
}

/// Scans the job's image. The error is the reason the result reports.
pub fn scan_job(job: &ScanJob, db: &Database, pull: &PullOptions) -> Result<ScanOutput, String> {
    let (reference, insecure) = job_reference(job)?;
    let source = ImageSource::parse(&reference).map_err(|e| e.to_string())?;
    let mut insecure_registries = pull.insecure_registries.clone();
    insecure_registries.extend(insecure);
    let options = ScanOptions {
        resolve: ferret_image::ResolveOptions {
            platform: None,
            registry: RegistryOptions {
                insecure_registries,
                docker_config: pull.docker_config.clone(),
                credentials: pull.credentials.clone(),
                ..RegistryOptions::default()
            },
        },
        ..ScanOptions::default()
    };
    let inventory = ferret_engine::inventory(&source, &options, &|_| {})
        .map_err(|e| format!("scanning {reference}: {e}"))?;
    let matches = ferret_engine::match_inventory(&inventory, db, MatchOptions::default())
        .map_err(|e| format!("matching {reference}: {e}"))?;
    let status = db.status().map_err(|e| e.to_string())?;
    let report = ScanReport {
        inventory: &inventory,
        matches: &matches,
        database: DatabaseInfo {
            snapshot: status.snapshot,
            schema_version: status.schema_version,
        },
    };
    let tool = Tool::default();
    let mut sbom = Vec::new();
    ferret_report::write_sbom(&inventory, SbomFormat::SpdxJson, &tool, &mut sbom)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    ferret_report::write_scan(&report, ScanFormat::GrypeJson, &tool, &mut out)
        .map_err(|e| e.to_string())?;
    let c = report.summary().atcr();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok(ScanOutput {
        sbom,
        report: out,
        summary: VulnSummary {
            critical: n(c.critical),
            high: n(c.high),
            medium: n(c.medium),
            low: n(c.low),
            total: n(c.total),
        },
    })
}
