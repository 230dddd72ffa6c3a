//! The native REST API under `/api/ferret/v1`, for `ferret remote scan`: submit a scan of
//! an image reference (resolved to a digest against a configured registry), read a scan,
//! list scans.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferret_image::{Credentials, ImageSource, RegistryOptions, ResolveOptions};
use ferret_store::{ImageStore, JobRequest, JobStore, Scan, ScanFilter, ScanStore};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Hub;

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/api/ferret/v1/scans", get(list).post(submit))
        .route("/api/ferret/v1/scans/{id}", get(one))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[derive(Debug, Deserialize)]
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
    /// The image owner's DID; the hub's own when absent.
    #[serde(default)]
    pub owner: Option<String>,
}

pub fn scan_json(s: &Scan) -> Value {
    json!({
        "id": s.id,
        "jobId": s.job_id,
        "imageId": s.image_id,
        "owner": s.owner,
        "registry": s.registry,
        "repository": s.repository,
        "digest": s.digest,
        "status": s.status.as_str(),
        "error": s.error,
        "scannerVersion": s.scanner_version,
        "sbomBlob": s.sbom_blob,
        "reportBlob": s.report_blob,
        "counts": s.counts,
        "createdAt": s.created_at,
        "scannedAt": s.scanned_at,
    })
}

async fn submit(
    State(hub): State<Arc<Hub>>,
    body: Result<Json<SubmitRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let priority = req.priority.unwrap_or(0);
    if !(0..=2).contains(&priority) {
        return error(StatusCode::BAD_REQUEST, "priority: expected 0, 1 or 2");
    }
    let owner = req
        .owner
        .clone()
        .unwrap_or_else(|| hub.config.hub_did.clone());
    if !owner.starts_with("did:") || owner.len() > 2048 {
        return error(StatusCode::BAD_REQUEST, "owner: expected a DID (did:…)");
    }
    if req.repository.is_empty() || req.repository.len() > 256 {
        return error(
            StatusCode::BAD_REQUEST,
            "repository: expected 1 to 256 characters",
        );
    }
    let Some(registry) = hub
        .config
        .registries
        .iter()
        .find(|r| r.name == req.registry)
        .cloned()
    else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("registry: {:?} is not configured", req.registry),
        );
    };
    let url = match url::Url::parse(&registry.url) {
        Ok(u) => u,
        Err(e) => return internal(format!("registry {} url: {e}", registry.name)),
    };
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return internal(format!("registry {} url names no host", registry.name)),
    };
    let selector = match (&req.digest, &req.tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => ":latest".to_owned(),
    };
    let reference = format!("{host}/{}{selector}", req.repository);
    let source = match ImageSource::parse(&reference) {
        Ok(ImageSource::Registry(r)) => ImageSource::Registry(r),
        Ok(_) | Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("repository, tag or digest: {reference:?} is not an image reference"),
            );
        }
    };
    let options = ResolveOptions {
        platform: None,
        registry: RegistryOptions {
            credentials: registry.username.clone().map(|username| Credentials {
                username,
                password: registry.password.clone().unwrap_or_default(),
            }),
            insecure_registries: if url.scheme() == "http" {
                vec![host.clone()]
            } else {
                Vec::new()
            },
            ..RegistryOptions::default()
        },
    };
    let resolved =
        tokio::task::spawn_blocking(move || ferret_image::Image::resolve(&source, &options)).await;
    let image = match resolved {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return error(StatusCode::NOT_FOUND, format!("{reference}: {e}")),
        Err(e) => return internal(e),
    };
    let digest = image.manifest_digest.to_string();
    if let Err(e) = hub
        .store
        .upsert_image(
            &owner,
            &registry.name,
            &req.repository,
            &digest,
            req.tag.as_deref(),
            0,
        )
        .await
    {
        return internal(e);
    }
    let submitted = match hub
        .store
        .submit(&JobRequest {
            digest: digest.clone(),
            registry: registry.name.clone(),
            repository: req.repository.clone(),
            tag: req.tag.clone(),
            owner,
            hold_did: hub.config.hub_did.clone(),
            hold_endpoint: registry.url.trim_end_matches('/').to_owned(),
            priority,
        })
        .await
    {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    hub.wake.notify_waiters();
    let scan = match hub.store.scan(&submitted.job.scan_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return internal("a submitted job has no scan"),
        Err(e) => return internal(e),
    };
    let mut body = scan_json(&scan);
    body["created"] = json!(submitted.created);
    body["seq"] = json!(submitted.job.seq);
    body["priority"] = json!(submitted.job.priority);
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

async fn one(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    match hub.store.scan(&id).await {
        Ok(Some(s)) => Json(scan_json(&s)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("scan {id:?} not found")),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn list(
    State(hub): State<Arc<Hub>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "limit: expected 1 to 1000");
    }
    let filter = ScanFilter {
        repository: q.repository,
        ..ScanFilter::default()
    };
    match hub.store.scans(&filter, None, limit).await {
        Ok(scans) => {
            Json(json!({"scans": scans.iter().map(scan_json).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => internal(e),
    }
}
