//! Running one job with the engine, as the embedded scanner and `ferret scanner` both do:
//! pull the image over the OCI distribution API (a remote scanner from the job's
//! `holdEndpoint`, the hub's pull-through endpoint; the embedded one from the registry
//! itself), catalog, match, and render the SPDX SBOM and the Grype-compatible report.

use std::path::PathBuf;

use ferret_advisory::Database;
use ferret_engine::{MatchOptions, ScanOptions};
use ferret_image::{ImageSource, RegistryOptions};
use ferret_report::{DatabaseInfo, SbomFormat, ScanFormat, ScanReport, Tool};

use crate::frames::AtcrSummary;

/// What a scan of a job produced.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    pub sbom: Vec<u8>,
    pub report: Vec<u8>,
    pub summary: AtcrSummary,
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
    /// Layers read before, kept by diff ID: only an image's own layers are read.
    pub layer_cache: Option<std::sync::Arc<ferret_engine::LayerCache>>,
}

/// An image to pull: the distribution endpoint's URL, the repository and the manifest
/// digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullTarget {
    pub endpoint: String,
    pub repository: String,
    pub digest: String,
}

impl PullTarget {
    /// `host[:port]` of the endpoint.
    pub fn host(&self) -> Result<String, String> {
        let url = url::Url::parse(&self.endpoint)
            .map_err(|e| format!("holdEndpoint {:?}: {e}", self.endpoint))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("holdEndpoint {:?} names no host", self.endpoint))?;
        Ok(match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        })
    }

    /// The registry reference: `host[:port]/repository@digest`, and the host when the
    /// endpoint is plain HTTP.
    pub fn reference(&self) -> Result<(String, Option<String>), String> {
        let host = self.host()?;
        let insecure = self.endpoint.starts_with("http://").then(|| host.clone());
        Ok((
            format!("{host}/{}@{}", self.repository, self.digest),
            insecure,
        ))
    }
}

/// Scans an image. The error is the reason the result reports.
pub fn scan_image(
    target: &PullTarget,
    db: &Database,
    pull: &PullOptions,
) -> Result<ScanOutput, String> {
    let (reference, insecure) = target.reference()?;
    let source = ImageSource::parse(&reference).map_err(|e| e.to_string())?;
    let mut insecure_registries = pull.insecure_registries.clone();
    insecure_registries.extend(insecure);
    // Go findings whose vulnerable functions the binaries lack are suppressed, as by
    // `ferret scan`.
    let go_symbols = std::sync::Arc::new(ferret_engine::GoSymbolSet::new(
        db.go_symbols().map_err(|e| e.to_string())?,
    ));
    let options = ScanOptions {
        go_symbols: Some(go_symbols.clone()),
        layer_cache: pull.layer_cache.clone(),
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
    let matches = ferret_engine::match_inventory(
        &inventory,
        db,
        MatchOptions {
            go_symbols: Some(&go_symbols),
            ..MatchOptions::default()
        },
    )
    .map_err(|e| format!("matching {reference}: {e}"))?;
    let status = db.status().map_err(|e| e.to_string())?;
    let report = ScanReport {
        inventory: &inventory,
        matches: &matches,
        database: DatabaseInfo {
            snapshot: status.snapshot,
            schema_version: status.schema_version,
        },
        order: ferret_report::Order::Severity,
    };
    let tool = Tool::default();
    let mut sbom = Vec::new();
    ferret_report::write_sbom(&inventory, SbomFormat::SpdxJson, &tool, &mut sbom)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    ferret_report::write_scan(&report, ScanFormat::GrypeJson, &tool, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(ScanOutput {
        sbom,
        report: out,
        summary: report.summary().atcr(),
    })
}

/// Runs a scan on a blocking thread, opening the advisory database for it.
pub async fn scan(
    target: PullTarget,
    db: PathBuf,
    pull: PullOptions,
) -> Result<ScanOutput, String> {
    tokio::task::spawn_blocking(move || {
        let db = ferret_advisory::Database::open_file(&db)
            .map_err(|e| format!("advisory database {}: {e}", db.display()))?;
        scan_image(&target, &db, &pull)
    })
    .await
    .map_err(|e| format!("scan task: {e}"))?
}
