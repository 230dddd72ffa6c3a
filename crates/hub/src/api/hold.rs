//! The hold's endpoint for blob downloads (`holdEndpoint` of a `scan_job`): a read-only
//! OCI distribution endpoint on the hub, so that remote scanners need no registry
//! credentials. `GET /v2/<repository>/manifests/<digest>` and `…/blobs/<digest>` are
//! served for repositories with a leased job, pulled through from the job's registry with
//! the hub's credentials: streamed (never whole in memory), checked against the digest as
//! they stream (a mismatch aborts the response), authenticated with a scanner secret
//! (HTTP Basic, any user name, or Bearer).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferret_image::{RegistryOptions, Repository};
use ferret_model::Digest;
use ferret_store::{Job, JobStore};
use serde_json::json;

use crate::Hub;

/// Bytes per chunk relayed, and chunks buffered between the registry and the scanner.
const CHUNK: usize = 256 << 10;
const CHUNKS_AHEAD: usize = 4;

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/v2/", get(version))
        .route("/v2/{*path}", get(content))
}

/// An answer in the distribution spec's error shape.
fn oci_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"code": code, "message": message}]});
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ferret hold\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The secret a request carries: a Basic password (any user name) or a Bearer token.
fn secret(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// Refuses a request without a valid scanner secret (`None` when it may go on).
fn authenticate(hub: &Hub, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    if hub.throttle.blocked("hold", peer.ip()).is_some() {
        return Some(oci_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many failed authentications from this address",
        ));
    }
    let given = secret(headers);
    if hub.secret_ok(given.as_deref()) {
        return None;
    }
    if given.is_some() {
        hub.throttle.failed("hold", peer.ip());
    }
    Some(oci_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "a scanner secret is required (HTTP Basic password or Bearer token)",
    ))
}

async fn version(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = authenticate(&hub, peer, &headers) {
        return refused;
    }
    let mut r = Json(json!({})).into_response();
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

/// What a request asks for.
enum Wanted {
    Manifest(Digest),
    Blob(Digest),
}

/// `<repository>/manifests/<digest>` or `<repository>/blobs/<digest>`; else the
/// distribution error code and message of the 404.
fn parse(path: &str) -> Result<(String, Wanted), (&'static str, String)> {
    let unknown = |code: &'static str, message: String| (code, message);
    let (repository, kind, reference) = if let Some((r, d)) = path.rsplit_once("/manifests/") {
        (r, "manifests", d)
    } else if let Some((r, d)) = path.rsplit_once("/blobs/") {
        (r, "blobs", d)
    } else {
        return Err(unknown(
            "UNSUPPORTED",
            format!("/v2/{path}: only manifests and blobs are served, by digest"),
        ));
    };
    let digest: Digest = reference.parse().map_err(|_| {
        let code = if kind == "manifests" {
            "MANIFEST_UNKNOWN"
        } else {
            "BLOB_UNKNOWN"
        };
        unknown(
            code,
            format!("{reference:?}: this endpoint serves leased jobs' content by digest only"),
        )
    })?;
    let wanted = if kind == "manifests" {
        Wanted::Manifest(digest)
    } else {
        Wanted::Blob(digest)
    };
    Ok((repository.to_owned(), wanted))
}

/// The registries (by configured name) the leased jobs of `repository` come from.
fn upstreams<'a>(hub: &'a Hub, jobs: &[Job]) -> Vec<&'a crate::RegistryConfig> {
    let mut names: Vec<&str> = jobs.iter().map(|j| j.registry.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| hub.config.registries.iter().find(|r| r.name == n))
        .collect()
}

async fn content(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = authenticate(&hub, peer, &headers) {
        return refused;
    }
    let (repository, wanted) = match parse(&path) {
        Ok(p) => p,
        Err((code, message)) => return oci_error(StatusCode::NOT_FOUND, code, &message),
    };
    let jobs = match hub.store.leased_in(&repository).await {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "reading leased jobs");
            return oci_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "store unavailable",
            );
        }
    };
    if jobs.is_empty() {
        return oci_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("no job of repository {repository:?} is leased now"),
        );
    }
    let registries: Vec<(String, String, RegistryOptions)> = upstreams(&hub, &jobs)
        .into_iter()
        .filter_map(|r| match r.reach(&hub.registry_http) {
            Ok((host, options)) => Some((r.name.clone(), host, options)),
            Err(e) => {
                tracing::error!(error = %e, "the hold cannot reach a registry");
                None
            }
        })
        .collect();
    let missing = match wanted {
        Wanted::Manifest(_) => "MANIFEST_UNKNOWN",
        Wanted::Blob(_) => "BLOB_UNKNOWN",
    };
    let relayed = tokio::task::spawn_blocking(move || relay(&repository, &wanted, &registries))
        .await
        .unwrap_or_else(|e| Err(Relay::Failed(format!("relay task: {e}"))));
    match relayed {
        Ok(response) => response,
        Err(Relay::NotFound(message)) => oci_error(StatusCode::NOT_FOUND, missing, &message),
        Err(Relay::Failed(message)) => {
            tracing::warn!(message, "pull-through failed");
            oci_error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", &message)
        }
    }
}

enum Relay {
    NotFound(String),
    Failed(String),
}

/// Fetches what is wanted from the first registry that has it: a manifest whole (it is
/// small and verified before it is sent), a blob as a stream.
fn relay(
    repository: &str,
    wanted: &Wanted,
    registries: &[(String, String, RegistryOptions)],
) -> Result<Response, Relay> {
    let mut last = Relay::NotFound(format!("nothing of {repository} is held by this hub"));
    for (name, host, options) in registries {
        let repo = match Repository::new(host, repository, options) {
            Ok(r) => r,
            Err(e) => {
                last = Relay::Failed(format!("registry {name}: {e}"));
                continue;
            }
        };
        let answer = match wanted {
            Wanted::Manifest(digest) => repo.manifest(digest).map(|(bytes, media_type)| {
                let mut r = Response::new(Body::from(bytes));
                if let Some(v) = media_type.and_then(|m| HeaderValue::from_str(&m).ok()) {
                    r.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                (r, digest)
            }),
            Wanted::Blob(digest) => repo.blob(digest).map(|(reader, size)| {
                let mut r = Response::new(stream(reader));
                if let Some(n) = size {
                    r.headers_mut().insert(header::CONTENT_LENGTH, n.into());
                }
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                (r, digest)
            }),
        };
        match answer {
            Ok((mut r, digest)) => {
                if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
                    r.headers_mut().insert("docker-content-digest", v);
                }
                return Ok(r);
            }
            Err(
                e @ (ferret_image::ImageError::NotFound { .. }
                | ferret_image::ImageError::MissingBlob { .. }),
            ) => {
                last = Relay::NotFound(format!("registry {name}: {e}"));
            }
            Err(e) => last = Relay::Failed(format!("registry {name}: {e}")),
        }
    }
    Err(last)
}

/// A blob's body: read on a blocking thread in chunks, a few ahead of the scanner. A read
/// error (the registry's, or a digest mismatch at the end) ends the body with an error,
/// so the scanner sees a broken transfer rather than a complete wrong blob.
fn stream(mut reader: impl Read + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0; CHUNK];
            let chunk = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pull-through stream failed");
                    Err(e)
                }
            };
            let failed = chunk.is_err();
            // The scanner went away: stop reading.
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}
