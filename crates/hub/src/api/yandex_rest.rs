//! The Yandex-compatible ScannerService, ImageService and OperationService over REST, at
//! the reference's paths, with proto3 JSON bodies (camelCase names, int64 as strings,
//! timestamps in RFC 3339, `Any` as `{"@type", …fields}`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferret_store::{Finding, Image, Scan, ScanStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Hub;
use crate::api::error::{ApiError, ErrorBody};
use crate::auth::Principal;
use crate::service::{ListImages, ListScans, OperationView, Paging};

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/container-registry/v1/scans", post(scan).get(list_scans))
        .route("/container-registry/v1/scans/{scan}", get(scan_path))
        .route("/container-registry/v1/images", get(list_images))
        .route("/container-registry/v1/images/{image}", get(image_path))
        .route("/operations/{operation_id}", get(get_operation))
}

impl FromRequestParts<Arc<Hub>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        hub.authenticate_from(ip, header).await
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Counts per severity (int64, so strings in proto3 JSON).
#[derive(Debug, Serialize, ToSchema)]
pub struct VulnerabilityStats {
    pub critical: String,
    pub high: String,
    pub medium: String,
    pub low: String,
    pub negligible: String,
    pub undefined: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    pub id: String,
    pub image_id: String,
    /// When the scan finished (absent while it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
    /// RUNNING, READY or ERROR.
    pub status: String,
    pub vulnerabilities: VulnerabilityStats,
}

impl From<&Scan> for ScanResult {
    fn from(s: &Scan) -> Self {
        Self {
            id: s.id.clone(),
            image_id: s.image_id.clone().unwrap_or_default(),
            scanned_at: s.scanned_at.map(rfc3339),
            status: s.status.as_str().to_owned(),
            vulnerabilities: VulnerabilityStats {
                critical: s.counts.critical.to_string(),
                high: s.counts.high.to_string(),
                medium: s.counts.medium.to_string(),
                low: s.counts.low.to_string(),
                negligible: s.counts.negligible.to_string(),
                undefined: s.counts.unknown.to_string(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageVulnerability {
    /// The vulnerability's id (CVE-…, GHSA-…).
    pub name: String,
    pub link: String,
    pub package: String,
    /// The package manager: dpkg, apk, rpm, pypi, npm, …
    pub source: String,
    pub version: String,
    pub fixed_by: String,
    pub origin: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Vulnerability {
    /// CRITICAL, HIGH, MEDIUM, LOW, NEGLIGIBLE or UNDEFINED.
    pub severity: String,
    pub package: PackageVulnerability,
}

impl From<Finding> for Vulnerability {
    fn from(f: Finding) -> Self {
        // Findings are stored with the API's severity names already (`results.rs`).
        Self {
            severity: f.severity,
            package: PackageVulnerability {
                name: f.vulnerability,
                link: f.link.unwrap_or_default(),
                package: f.package,
                source: f.source,
                version: f.version,
                fixed_by: f.fixed_by.unwrap_or_default(),
                origin: f.origin.unwrap_or_default(),
                kind: f.kind.unwrap_or_default(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageJson {
    pub id: String,
    /// `registry/repository`.
    pub name: String,
    pub digest: String,
    pub compressed_size: String,
    pub tags: Vec<String>,
    pub created_at: String,
}

impl From<Image> for ImageJson {
    fn from(i: Image) -> Self {
        Self {
            name: format!("{}/{}", i.registry, i.repository),
            id: i.id,
            digest: i.digest,
            compressed_size: i.size.to_string(),
            tags: i.tags,
            created_at: rfc3339(i.created_at),
        }
    }
}

/// `google.protobuf.Any` holding a ScanMetadata.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanMetadataAny {
    #[serde(rename = "@type")]
    pub type_url: String,
    pub scan_result_id: String,
}

/// `google.protobuf.Any` holding a ScanResult.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResultAny {
    #[serde(rename = "@type")]
    pub type_url: String,
    #[serde(flatten)]
    pub result: ScanResult,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationError {
    pub code: i32,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationJson {
    pub id: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    pub modified_at: String,
    pub done: bool,
    pub metadata: ScanMetadataAny,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ScanResultAny>,
}

impl From<&OperationView> for OperationJson {
    fn from(v: &OperationView) -> Self {
        let (error, response) = match v.scan.status {
            ScanStatus::Running => (None, None),
            ScanStatus::Ready => (
                None,
                Some(ScanResultAny {
                    type_url: "type.googleapis.com/yandex.cloud.containerregistry.v1.ScanResult"
                        .to_owned(),
                    result: ScanResult::from(&v.scan),
                }),
            ),
            ScanStatus::Error => (
                Some(OperationError {
                    code: tonic::Code::Internal as i32,
                    message: v
                        .scan
                        .error
                        .clone()
                        .unwrap_or_else(|| "scan failed".to_owned()),
                }),
                None,
            ),
        };
        Self {
            id: v.operation.id.clone(),
            description: v.operation.description.clone(),
            created_at: rfc3339(v.operation.created_at),
            created_by: v.operation.owner.clone(),
            modified_at: rfc3339(v.modified_at()),
            done: v.done(),
            metadata: ScanMetadataAny {
                type_url: "type.googleapis.com/yandex.cloud.containerregistry.v1.ScanMetadata"
                    .to_owned(),
                scan_result_id: v.scan.id.clone(),
            },
            error,
            response,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanRequest {
    pub image_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListScanResultsResponse {
    pub scan_results: Vec<ScanResult>,
    pub next_page_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListVulnerabilitiesResponse {
    pub vulnerabilities: Vec<Vulnerability>,
    pub next_page_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListImagesResponse {
    pub images: Vec<ImageJson>,
    pub next_page_token: String,
}

/// Query parameters, read by hand so every bad one is INVALID_ARGUMENT naming it.
struct Params(HashMap<String, String>);

impl Params {
    fn new(q: HashMap<String, String>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut unknown: Vec<&String> = q
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(ApiError::invalid(
                k,
                format!("unknown parameter; expected one of {}", allowed.join(", ")),
            ));
        }
        Ok(Self(q))
    }

    fn string(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }

    fn paging(&self) -> Result<Paging, ApiError> {
        let page_size = match self.0.get("pageSize").map(String::as_str) {
            None | Some("") => 0,
            Some(v) => v
                .parse()
                .map_err(|_| ApiError::invalid("page_size", format!("{v:?} is not a number")))?,
        };
        Ok(Paging {
            page_size,
            page_token: self.string("pageToken"),
            filter: self.string("filter"),
            order_by: self.string("orderBy"),
        })
    }
}

type Q = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn query(q: Q, allowed: &[&str]) -> Result<Params, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    Params::new(q, allowed)
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::invalid("body", e.body_text()))
}

/// Scans an image: an operation whose metadata names the scan result being made and whose
/// response, once done, is that result.
#[utoipa::path(post, path = "/container-registry/v1/scans", operation_id = "scannerScan",
    tag = "ScannerService", request_body = ScanRequest, security(("bearer" = [])),
    responses((status = 200, body = OperationJson), (status = "4XX", body = ErrorBody)))]
async fn scan(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    b: Result<Json<ScanRequest>, JsonRejection>,
) -> Result<Json<OperationJson>, ApiError> {
    let req = body(b)?;
    let v = hub.yc_scan(&p, &req.image_id).await?;
    Ok(Json(OperationJson::from(&v)))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
#[allow(non_snake_case)]
struct ListScansParams {
    /// The image whose results to list (or give repositoryId).
    imageId: Option<String>,
    /// The repository whose results to list.
    repositoryId: Option<String>,
    /// 0 to 1000; 0 means the default, 100.
    pageSize: Option<i64>,
    pageToken: Option<String>,
    /// `status="READY"` (RUNNING, READY, ERROR).
    filter: Option<String>,
    /// `status`.
    orderBy: Option<String>,
}

/// Lists the scan results of an image or a repository, newest first.
#[utoipa::path(get, path = "/container-registry/v1/scans", operation_id = "scannerList",
    tag = "ScannerService", params(ListScansParams), security(("bearer" = [])),
    responses((status = 200, body = ListScanResultsResponse), (status = "4XX", body = ErrorBody)))]
async fn list_scans(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    q: Q,
) -> Result<Json<ListScanResultsResponse>, ApiError> {
    let q = query(
        q,
        &[
            "imageId",
            "repositoryId",
            "pageSize",
            "pageToken",
            "filter",
            "orderBy",
        ],
    )?;
    let list = ListScans {
        image_id: q.string("imageId"),
        repository_id: q.string("repositoryId"),
        paging: q.paging()?,
    };
    let (scans, next) = hub.yc_list_scans(&p, &list).await?;
    Ok(Json(ListScanResultsResponse {
        scan_results: scans.iter().map(ScanResult::from).collect(),
        next_page_token: next,
    }))
}

async fn scan_path(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(segment): Path<String>,
    q: Q,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    match segment.split_once(':') {
        None => get_scan(hub, p, segment, q)
            .await
            .map(IntoResponse::into_response),
        Some((id, "listVulnerabilities")) => list_vulnerabilities(hub, p, id.to_owned(), q)
            .await
            .map(IntoResponse::into_response),
        Some((_, verb)) => Err(ApiError::new(
            crate::api::error::Code::NotFound,
            format!("no method {verb:?} on scans"),
        )),
    }
}

/// Returns one scan result.
#[utoipa::path(get, path = "/container-registry/v1/scans/{scanResultId}",
    operation_id = "scannerGet", tag = "ScannerService", security(("bearer" = [])),
    params(("scanResultId" = String, Path, description = "The scan result's id (scn…)")),
    responses((status = 200, body = ScanResult), (status = "4XX", body = ErrorBody)))]
async fn get_scan(
    hub: Arc<Hub>,
    p: Principal,
    id: String,
    q: Q,
) -> Result<Json<ScanResult>, ApiError> {
    query(q, &[])?;
    let s = hub.yc_get_scan(&p, &id).await?;
    Ok(Json(ScanResult::from(&s)))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
#[allow(non_snake_case)]
struct ListVulnerabilitiesParams {
    /// 0 to 1000; 0 means the default, 100.
    pageSize: Option<i64>,
    pageToken: Option<String>,
    /// `severity="HIGH"`, `name="CVE-…"`, `package="openssl"`, joined by ` AND `.
    filter: Option<String>,
    /// `severity` (most severe first).
    orderBy: Option<String>,
}

/// Lists the vulnerabilities a scan found.
#[utoipa::path(get, path = "/container-registry/v1/scans/{scanResultId}:listVulnerabilities",
    operation_id = "scannerListVulnerabilities", tag = "ScannerService",
    security(("bearer" = [])),
    params(("scanResultId" = String, Path, description = "The scan result's id (scn…)"), ListVulnerabilitiesParams),
    responses((status = 200, body = ListVulnerabilitiesResponse), (status = "4XX", body = ErrorBody)))]
async fn list_vulnerabilities(
    hub: Arc<Hub>,
    p: Principal,
    id: String,
    q: Q,
) -> Result<Json<ListVulnerabilitiesResponse>, ApiError> {
    let q = query(q, &["pageSize", "pageToken", "filter", "orderBy"])?;
    let (findings, next) = hub.yc_list_vulnerabilities(&p, &id, &q.paging()?).await?;
    Ok(Json(ListVulnerabilitiesResponse {
        vulnerabilities: findings.into_iter().map(Vulnerability::from).collect(),
        next_page_token: next,
    }))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
#[allow(non_snake_case)]
struct ListImagesParams {
    /// A configured registry's name.
    registryId: Option<String>,
    repositoryName: Option<String>,
    /// Accepted for compatibility; Ferret has no folders.
    folderId: Option<String>,
    pageSize: Option<i64>,
    pageToken: Option<String>,
    /// `name="repository"`.
    filter: Option<String>,
    /// `name`.
    orderBy: Option<String>,
}

/// Lists the images the caller owns (an admin: all), by name.
#[utoipa::path(get, path = "/container-registry/v1/images", operation_id = "imageList",
    tag = "ImageService", params(ListImagesParams), security(("bearer" = [])),
    responses((status = 200, body = ListImagesResponse), (status = "4XX", body = ErrorBody)))]
async fn list_images(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    q: Q,
) -> Result<Json<ListImagesResponse>, ApiError> {
    let q = query(
        q,
        &[
            "registryId",
            "repositoryName",
            "folderId",
            "pageSize",
            "pageToken",
            "filter",
            "orderBy",
        ],
    )?;
    let list = ListImages {
        registry_id: q.string("registryId"),
        repository_name: q.string("repositoryName"),
        folder_id: q.string("folderId"),
        paging: q.paging()?,
    };
    let (images, next) = hub.yc_list_images(&p, &list).await?;
    Ok(Json(ListImagesResponse {
        images: images.into_iter().map(ImageJson::from).collect(),
        next_page_token: next,
    }))
}

async fn image_path(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(segment): Path<String>,
    q: Q,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    query(q, &[])?;
    match segment.split_once(':') {
        None => get_image(hub, p, segment)
            .await
            .map(IntoResponse::into_response),
        Some((id, "lastScanResult")) => get_last(hub, p, id.to_owned())
            .await
            .map(IntoResponse::into_response),
        Some((_, verb)) => Err(ApiError::new(
            crate::api::error::Code::NotFound,
            format!("no method {verb:?} on images"),
        )),
    }
}

/// Returns one image.
#[utoipa::path(get, path = "/container-registry/v1/images/{imageId}", operation_id = "imageGet",
    tag = "ImageService", security(("bearer" = [])),
    params(("imageId" = String, Path, description = "The image's id (img…)")),
    responses((status = 200, body = ImageJson), (status = "4XX", body = ErrorBody)))]
async fn get_image(hub: Arc<Hub>, p: Principal, id: String) -> Result<Json<ImageJson>, ApiError> {
    Ok(Json(ImageJson::from(hub.yc_get_image(&p, &id).await?)))
}

/// Returns the last finished scan result of an image.
#[utoipa::path(get, path = "/container-registry/v1/images/{imageId}:lastScanResult",
    operation_id = "scannerGetLast", tag = "ScannerService", security(("bearer" = [])),
    params(("imageId" = String, Path, description = "The image's id (img…)")),
    responses((status = 200, body = ScanResult), (status = "4XX", body = ErrorBody)))]
async fn get_last(hub: Arc<Hub>, p: Principal, id: String) -> Result<Json<ScanResult>, ApiError> {
    Ok(Json(ScanResult::from(&hub.yc_get_last(&p, &id).await?)))
}

/// Returns an operation, for polling until it is done.
#[utoipa::path(get, path = "/operations/{operationId}", operation_id = "operationGet",
    tag = "OperationService", security(("bearer" = [])),
    params(("operationId" = String, Path, description = "The operation's id (op…)")),
    responses((status = 200, body = OperationJson), (status = "4XX", body = ErrorBody)))]
async fn get_operation(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
    q: Q,
) -> Result<Json<OperationJson>, ApiError> {
    query(q, &[])?;
    let v = hub.yc_get_operation(&p, &id).await?;
    Ok(Json(OperationJson::from(&v)))
}
