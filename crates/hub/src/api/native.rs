//! The native REST API under `/api/ferret/v1`, for `ferret remote scan`: submit a scan of
//! an image reference (resolved to a digest against a configured registry), read a scan,
//! list scans. Callers authenticate with a bearer token and see what they own. The request
//! and response types are the client's too (`ferret remote`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferret_store::{Scan, ScanStore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Hub;
use crate::api::error::{ApiError, Code, ErrorBody};
use crate::auth::Principal;
use crate::service::submit::{register, resolve};

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/api/ferret/v1/scans", get(list).post(submit))
        .route("/api/ferret/v1/scans/{id}", get(one))
        .route("/api/ferret/v1/scans/{id}/sbom", get(sbom))
        .route("/api/ferret/v1/scans/{id}/report", get(report))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// A configured registry's name.
    pub registry: String,
    pub repository: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    /// 0 on-demand (the default), 1 push, 2 rescan.
    #[serde(default)]
    pub priority: Option<i64>,
    /// The image owner's DID (admins only); the caller's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Findings per severity, as this API has always shown them (`undefined`: no source rated
/// them), with their total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub undefined: u64,
    pub total: u64,
}

impl From<ferret_model::Counts> for CountsView {
    fn from(c: ferret_model::Counts) -> Self {
        Self {
            critical: c.critical,
            high: c.high,
            medium: c.medium,
            low: c.low,
            negligible: c.negligible,
            undefined: c.unknown,
            total: c.total(),
        }
    }
}

impl From<CountsView> for ferret_model::Counts {
    fn from(c: CountsView) -> Self {
        Self {
            critical: c.critical,
            high: c.high,
            medium: c.medium,
            low: c.low,
            negligible: c.negligible,
            unknown: c.undefined,
        }
    }
}

/// A scan: queued (`RUNNING`), done (`READY`) or failed (`ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    pub id: String,
    pub job_id: String,
    pub image_id: Option<String>,
    /// The image owner's DID.
    pub owner: String,
    pub registry: String,
    pub repository: String,
    pub digest: String,
    /// `RUNNING`, `READY` or `ERROR`.
    pub status: String,
    pub error: Option<String>,
    pub scanner_version: Option<String>,
    /// The SBOM's digest (`sha256:…`), read at `/api/ferret/v1/scans/{id}/sbom`.
    pub sbom_blob: Option<String>,
    /// The report's digest, read at `/api/ferret/v1/scans/{id}/report`.
    pub report_blob: Option<String>,
    pub counts: CountsView,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub scanned_at: Option<i64>,
    /// Why it ran: `request`, `push`, `schedule`, or `advisories` (the stored SBOM matched
    /// again after the advisory database changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The advisory snapshot an `advisories` scan matched against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// An `advisories` scan's changes since the scan before it: `previousScanId`,
    /// `snapshot`, `new`, `fixed` (fixed or withdrawn) and `severityChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diff: Option<serde_json::Value>,
}

impl From<&Scan> for ScanView {
    fn from(s: &Scan) -> Self {
        Self {
            id: s.id.clone(),
            job_id: s.job_id.clone(),
            image_id: s.image_id.clone(),
            owner: s.owner.clone(),
            registry: s.registry.clone(),
            repository: s.repository.clone(),
            digest: s.digest.clone(),
            status: s.status.as_str().to_owned(),
            error: s.error.clone(),
            scanner_version: s.scanner_version.clone(),
            sbom_blob: s.sbom_blob.clone(),
            report_blob: s.report_blob.clone(),
            counts: s.counts.into(),
            created_at: s.created_at,
            scanned_at: s.scanned_at,
            reason: s.reason.map(|r| r.as_str().to_owned()),
            snapshot: s.snapshot.clone(),
            diff: s.diff.as_deref().and_then(|d| serde_json::from_str(d).ok()),
        }
    }
}

/// A submitted scan: the scan, and whether this ask queued a job or joined one waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmittedView {
    #[serde(flatten)]
    pub scan: ScanView,
    /// `false` when the ask joined a job already queued for the digest.
    pub created: bool,
    /// The job's position in the job log.
    pub seq: i64,
    pub priority: i64,
}

/// Scans, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanList {
    pub scans: Vec<ScanView>,
}

/// Submits a scan of an image in a configured registry.
#[utoipa::path(post, path = "/api/ferret/v1/scans", operation_id = "submitScan", tag = "Ferret",
    request_body = SubmitRequest, security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>")),
    responses((status = 202, body = SubmittedView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn submit(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    body: Result<Json<SubmitRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::invalid("body", e.body_text()))?;
    let priority = req.priority.unwrap_or(0);
    if !(0..=2).contains(&priority) {
        return Err(ApiError::invalid("priority", "expected 0, 1 or 2"));
    }
    // Only an admin may register an image for someone else.
    let owner = match req.owner.clone() {
        Some(o) if p.admin => o,
        Some(_) => {
            return Err(ApiError::new(
                Code::PermissionDenied,
                "owner: only an admin may register images for another owner",
            ));
        }
        None => p.owner.clone(),
    };
    if !owner.starts_with("did:") || owner.len() > 2048 {
        return Err(ApiError::invalid("owner", "expected a DID (did:…)"));
    }
    let resolved = resolve(
        &hub,
        &req.registry,
        &req.repository,
        req.tag.as_deref(),
        req.digest.as_deref(),
    )
    .await?;
    let submitted = register(
        &hub,
        &owner,
        &resolved,
        &req.repository,
        req.tag.as_deref(),
        crate::service::submit::Why::request(priority),
    )
    .await?;
    let scan = hub
        .store
        .scan(&submitted.scan_id)
        .await?
        .ok_or_else(|| ApiError::internal("a submitted job has no scan"))?;
    let body = SubmittedView {
        scan: ScanView::from(&scan),
        created: submitted.created,
        seq: submitted.job.seq,
        priority: submitted.job.priority,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Reads a scan.
#[utoipa::path(get, path = "/api/ferret/v1/scans/{id}", operation_id = "getFerretScan", tag = "Ferret",
    security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>"),
        ("id" = String, Path, description = "The scan's id")),
    responses((status = 200, body = ScanView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn one(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<ScanView>, ApiError> {
    hub.visible_scan(&p, &id)
        .await
        .map(|s| Json(ScanView::from(&s)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FormatQuery {
    /// SBOM: `spdx` (the default) or `cyclonedx`; report: `grype` (the default) or `sarif`.
    #[serde(default)]
    format: Option<String>,
    /// Answer as an attachment named after the image (for browsers).
    #[serde(default)]
    download: bool,
}

/// A finished scan's SBOM, SPDX 2.3 JSON as stored or CycloneDX 1.6 JSON made from it.
#[utoipa::path(get, path = "/api/ferret/v1/scans/{id}/sbom", operation_id = "getFerretScanSbom", tag = "Ferret",
    security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>"),
        ("id" = String, Path, description = "The scan's id"), FormatQuery),
    responses((status = 200, description = "The SPDX 2.3 JSON document, or CycloneDX JSON", content_type = "application/spdx+json", body = Object),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn sbom(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let format = Download::sbom(q.format.as_deref())?;
    let scan = hub.visible_scan(&p, &id).await?;
    download(&hub, &scan, format, q.download).await
}

/// A finished scan's vulnerability report: Grype-compatible JSON as stored, or SARIF 2.1.0
/// made from it.
#[utoipa::path(get, path = "/api/ferret/v1/scans/{id}/report", operation_id = "getFerretScanReport", tag = "Ferret",
    security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>"),
        ("id" = String, Path, description = "The scan's id"), FormatQuery),
    responses((status = 200, description = "The Grype-compatible JSON report, or SARIF", content_type = "application/json", body = Object),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn report(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let format = Download::report(q.format.as_deref())?;
    let scan = hub.visible_scan(&p, &id).await?;
    download(&hub, &scan, format, q.download).await
}

/// What a scan's stored blobs can be downloaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    Spdx,
    CycloneDx,
    Grype,
    Sarif,
}

impl Download {
    pub fn sbom(format: Option<&str>) -> Result<Self, ApiError> {
        match format.unwrap_or("spdx") {
            "spdx" | "spdx-json" => Ok(Self::Spdx),
            "cyclonedx" | "cyclonedx-json" => Ok(Self::CycloneDx),
            other => Err(ApiError::invalid(
                "format",
                format!("{other:?}: expected spdx or cyclonedx"),
            )),
        }
    }

    pub fn report(format: Option<&str>) -> Result<Self, ApiError> {
        match format.unwrap_or("grype") {
            "grype" | "json" => Ok(Self::Grype),
            "sarif" => Ok(Self::Sarif),
            other => Err(ApiError::invalid(
                "format",
                format!("{other:?}: expected grype or sarif"),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Spdx => "application/spdx+json",
            Self::CycloneDx => "application/vnd.cyclonedx+json",
            Self::Grype => "application/json",
            Self::Sarif => "application/sarif+json",
        }
    }

    /// The file name's ending.
    fn suffix(self) -> &'static str {
        match self {
            Self::Spdx => "spdx.json",
            Self::CycloneDx => "cdx.json",
            Self::Grype => "grype.json",
            Self::Sarif => "sarif",
        }
    }
}

/// A scan's SBOM or report in `format`, made from the stored blob when it is not the
/// stored format; `attachment` names a file for browsers.
pub(crate) async fn download(
    hub: &Hub,
    scan: &Scan,
    format: Download,
    attachment: bool,
) -> Result<Response, ApiError> {
    let (which, digest) = match format {
        Download::Spdx | Download::CycloneDx => ("sbom", &scan.sbom_blob),
        Download::Grype | Download::Sarif => ("report", &scan.report_blob),
    };
    let digest = digest.as_deref().ok_or_else(|| {
        ApiError::new(
            Code::NotFound,
            format!(
                "scan {:?} has no {which} (it is {})",
                scan.id,
                scan.status.as_str()
            ),
        )
    })?;
    let data = crate::service::results::read_blob(hub, digest)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::internal(format!("blob {digest} of scan {} is missing", scan.id))
        })?;
    let data = match format {
        Download::Spdx | Download::Grype => data,
        Download::CycloneDx | Download::Sarif => {
            let digest = scan.digest.clone();
            tokio::task::spawn_blocking(move || convert(format, &data, &digest))
                .await
                .map_err(ApiError::internal)??
        }
    };
    // Content-addressed: the stored blob's digest is the entity tag, with the format's
    // suffix when the document is rendered from it.
    let etag = match format {
        Download::Spdx | Download::Grype => format!("\"{digest}\""),
        Download::CycloneDx | Download::Sarif => format!("\"{digest}.{}\"", format.suffix()),
    };
    let etag = axum::http::HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    let mut response = (
        [
            (
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static(format.content_type()),
            ),
            (axum::http::header::ETAG, etag),
        ],
        data,
    )
        .into_response();
    if attachment {
        let name: String = format!(
            "{}-{}.{}",
            scan.repository.rsplit('/').next().unwrap_or("image"),
            scan.digest
                .trim_start_matches("sha256:")
                .get(..12)
                .unwrap_or("scan"),
            format.suffix()
        )
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
        if let Ok(v) =
            axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        {
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

/// CycloneDX from a stored SPDX SBOM, or SARIF from a stored Grype report.
fn convert(format: Download, data: &[u8], digest: &str) -> Result<Vec<u8>, ApiError> {
    let tool = ferret_report::Tool::default();
    match format {
        Download::CycloneDx => ferret_worker::convert::sbom_as_cyclonedx(data, digest, &tool)
            .map_err(ApiError::internal),
        Download::Sarif => {
            let doc: ferret_report::grype::Document = serde_json::from_slice(data)
                .map_err(|e| ApiError::internal(format!("the stored report: {e}")))?;
            let mut out = serde_json::to_vec_pretty(&ferret_report::sarif::from_grype(&doc, &tool))
                .map_err(ApiError::internal)?;
            out.push(b'\n');
            Ok(out)
        }
        Download::Spdx | Download::Grype => Ok(data.to_vec()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only scans of this repository.
    #[serde(default)]
    repository: Option<String>,
    /// At most this many scans (1 to 1000; 100 by default).
    #[serde(default)]
    limit: Option<i64>,
}

/// Lists the caller's scans (an admin's: everyone's), newest first.
#[utoipa::path(get, path = "/api/ferret/v1/scans", operation_id = "listFerretScans", tag = "Ferret",
    security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>"), ListQuery),
    responses((status = 200, body = ScanList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ScanList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "expected 1 to 1000"));
    }
    let scans = hub.recent_scans(&p, q.repository, limit).await?;
    Ok(Json(ScanList {
        scans: scans.iter().map(ScanView::from).collect(),
    }))
}
