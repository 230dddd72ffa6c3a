//! The Aqua-style on-demand flow for CI: log in for a session token, register an image from
//! a configured registry (its scan is queued at on-demand priority), then poll the image
//! until its scan is `completed` or `failed` and read the severity counts.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferret_store::ScanStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Hub;
use crate::api::error::{ApiError, Code, ErrorBody};
use crate::api::yandex_rest::rfc3339;
use crate::auth::Principal;
use crate::service::Progress;
use crate::service::submit::{register, resolve};

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v2/images", post(register_image))
        // One wildcard: a repository name holds `/` (`team/app`), sent raw or as `%2F`.
        .route("/api/v2/images/{registry}/{*image}", get(get_image))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account name.
    pub id: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT to send as `Authorization: Bearer <token>`; it expires.
    pub token: String,
}

/// Logs in with an account name and password.
#[utoipa::path(post, path = "/api/v1/login", operation_id = "login", tag = "Aqua",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
        (status = 400, body = ErrorBody)))]
async fn login(
    State(hub): State<Arc<Hub>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    b: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Json(req) = b.map_err(|e| ApiError::invalid("body", e.body_text()))?;
    if req.id.is_empty() {
        return Err(ApiError::invalid("id", "required"));
    }
    let account = hub
        .login_from(Some(peer.ip()), &req.id, &req.password)
        .await?;
    let ttl = i64::try_from(hub.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let token = hub
        .auth
        .keys
        .issue_jwt(&account, ttl)
        .map_err(ApiError::internal)?;
    Ok(Json(LoginResponse { token }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// A configured registry's name.
    pub registry: String,
    /// `name:tag` (the tag defaults to `latest`) or `name@sha256:…`.
    pub image: String,
}

/// Per-severity counts of the image's latest scan.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Vulnerabilities {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub unknown: u64,
    pub total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageDetail {
    pub registry: String,
    pub name: String,
    pub tag: String,
    pub digest: String,
    /// pending, in-progress, completed or failed.
    pub scan_status: String,
    pub vulnerabilities: Vulnerabilities,
    /// When the scan finished (RFC 3339), once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_date: Option<String>,
    /// Why the scan failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_error: Option<String>,
    pub image_id: String,
    pub scan_result_id: String,
    pub critical_vulnerabilities: u64,
    pub high_vulnerabilities: u64,
    pub medium_vulnerabilities: u64,
    pub low_vulnerabilities: u64,
    pub negligible_vulnerabilities: u64,
    pub total_vulnerabilities: u64,
}

/// Splits `name:tag` / `name@digest` (a port in the name is not a tag).
fn split_image(image: &str) -> Result<(String, Option<String>, Option<String>), ApiError> {
    if image.is_empty() || image.len() > 512 {
        return Err(ApiError::invalid("image", "expected name:tag"));
    }
    if let Some((name, digest)) = image.split_once('@') {
        return Ok((name.to_owned(), None, Some(digest.to_owned())));
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => {
            let name = &image[..image.len() - tag.len() - 1];
            Ok((name.to_owned(), Some(tag.to_owned()), None))
        }
        None => Ok((image.to_owned(), Some("latest".to_owned()), None)),
    }
}

/// Registers an image from a configured registry and queues its scan.
#[utoipa::path(post, path = "/api/v2/images", operation_id = "registerImage", tag = "Aqua",
    request_body = RegisterRequest, security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>")),
    responses((status = 200, body = ImageDetail), (status = "4XX", body = ErrorBody)))]
async fn register_image(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    b: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<Json<ImageDetail>, ApiError> {
    let Json(req) = b.map_err(|e| ApiError::invalid("body", e.body_text()))?;
    let (name, tag, digest) = split_image(&req.image)?;
    let resolved = resolve(
        &hub,
        &req.registry,
        &name,
        tag.as_deref(),
        digest.as_deref(),
    )
    .await?;
    register(
        &hub,
        &p.owner,
        &resolved,
        &name,
        tag.as_deref(),
        crate::service::submit::Why::REQUEST,
    )
    .await?;
    detail(
        &hub,
        &p,
        &req.registry,
        &name,
        tag.as_deref().unwrap_or_default(),
        Some(&resolved.digest),
    )
    .await
    .map(Json)
}

/// Reads an image's scan status and severity counts.
#[utoipa::path(get, path = "/api/v2/images/{registry}/{image_name}/{image_tag}",
    operation_id = "getImage", tag = "Aqua", security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer <token>"),
        ("registry" = String, Path, description = "A configured registry's name"),
        ("image_name" = String, Path, description = "The repository"),
        ("image_tag" = String, Path, description = "The tag")),
    responses((status = 200, body = ImageDetail), (status = "4XX", body = ErrorBody)))]
async fn get_image(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path((registry, image)): Path<(String, String)>,
) -> Result<Json<ImageDetail>, ApiError> {
    // A tag holds no `/`: the last segment is the tag, the rest the repository.
    let Some((name, tag)) = image
        .rsplit_once('/')
        .filter(|(n, t)| !n.is_empty() && !t.is_empty())
    else {
        return Err(ApiError::new(
            Code::NotFound,
            format!("{image:?}: expected {{image_name}}/{{image_tag}} after the registry"),
        ));
    };
    detail(&hub, &p, &registry, name, tag, None).await.map(Json)
}

/// The caller's image `registry/name:tag` (the digest registered last for the tag) and its
/// newest scan.
async fn detail(
    hub: &Hub,
    p: &Principal,
    registry: &str,
    name: &str,
    tag: &str,
    digest: Option<&str>,
) -> Result<ImageDetail, ApiError> {
    let (image, scan, progress) = hub.image_scan(p, registry, name, tag, digest).await?;
    let status = match (scan.status, progress) {
        (ScanStatus::Ready, _) => "completed",
        (ScanStatus::Error, _) => "failed",
        (ScanStatus::Running, Progress::Scanning) => "in-progress",
        (ScanStatus::Running, Progress::Queued) => "pending",
    };
    let c = scan.counts;
    Ok(ImageDetail {
        registry: image.registry,
        name: image.repository,
        tag: tag.to_owned(),
        digest: image.digest,
        scan_status: status.to_owned(),
        vulnerabilities: Vulnerabilities {
            critical: c.critical,
            high: c.high,
            medium: c.medium,
            low: c.low,
            negligible: c.negligible,
            unknown: c.unknown,
            total: c.total(),
        },
        scan_date: scan.scanned_at.map(rfc3339),
        scan_error: scan.error,
        image_id: image.id,
        scan_result_id: scan.id,
        critical_vulnerabilities: c.critical,
        high_vulnerabilities: c.high,
        medium_vulnerabilities: c.medium,
        low_vulnerabilities: c.low,
        negligible_vulnerabilities: c.negligible,
        total_vulnerabilities: c.total(),
    })
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_references_split() {
        let t = |s: &str| split_image(s).unwrap_or_default();
        assert_eq!(
            t("app:1.0"),
            ("app".to_owned(), Some("1.0".to_owned()), None)
        );
        assert_eq!(
            t("team/app"),
            ("team/app".to_owned(), Some("latest".to_owned()), None)
        );
        assert_eq!(
            t("app@sha256:ab"),
            ("app".to_owned(), None, Some("sha256:ab".to_owned()))
        );
        assert!(split_image("").is_err());
    }
}
