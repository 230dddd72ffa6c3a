//! `POST /hooks/registry/{registry}`: where a CNCF distribution registry sends its
//! notifications (`notifications.endpoints[]` in its config, with the registry's
//! `webhook_token` as `Authorization: Bearer …` in the endpoint's `headers`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use subtle::ConstantTimeEq as _;

use crate::Hub;
use crate::api::error::{ApiError, Code, ErrorBody};
use crate::service::push::{Envelope, Taken, take};

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new().route("/hooks/registry/{registry}", post(registry_events))
}

/// What a delivery's events became.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HookResponse {
    pub queued: u64,
    pub tagged: u64,
    pub deleted: u64,
    pub repeated: u64,
    pub policy: u64,
    pub ignored: u64,
}

impl From<Taken> for HookResponse {
    fn from(t: Taken) -> Self {
        Self {
            queued: t.queued,
            tagged: t.tagged,
            deleted: t.deleted,
            repeated: t.repeated,
            policy: t.policy,
            ignored: t.ignored,
        }
    }
}

/// Takes a registry's notification envelope: pushed images are scanned as the registry's
/// scan policy says, deleted ones leave the lists. Authenticated by the registry's
/// `webhook_token` as a bearer token.
#[utoipa::path(post, path = "/hooks/registry/{registry}", operation_id = "registryEvents",
    tag = "Monitoring",
    params(("registry" = String, Path, description = "A configured registry's name")),
    request_body(content = String, description = "A notification envelope (`events[]`)",
        content_type = "application/vnd.docker.distribution.events.v1+json"),
    responses((status = 200, body = HookResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub(crate) async fn registry_events(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<HookResponse>, ApiError> {
    let Some(registry) = hub.config.registries.iter().find(|r| r.name == name) else {
        return Err(ApiError::not_found("registry", &name));
    };
    let Some(token) = registry.webhook_token.as_deref() else {
        return Err(ApiError::not_found("registry notifications for", &name));
    };
    if let Some(wait) = hub.throttle.blocked("hooks", peer.ip()) {
        return Err(ApiError::new(
            Code::ResourceExhausted,
            format!(
                "too many failed authentications from this address; try again in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(t) if bool::from(t.as_bytes().ct_eq(token.as_bytes())) => {}
        other => {
            if other.is_some() {
                hub.throttle.failed("hooks", peer.ip());
            }
            return Err(ApiError::unauthenticated(format!(
                "registry {name}: its webhook_token is required as a bearer token"
            )));
        }
    }
    let envelope: Envelope = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("not a notification envelope: {e}")))?;
    Ok(Json(take(&hub, registry, envelope).await?.into()))
}
