//! Webhook subscriptions under `/api/ferret/v1/webhooks`: a caller adds, lists and removes
//! its own (an admin sees everyone's, and the operator's `config:` ones), and reads its
//! deliveries, dead-lettered ones among them. A webhook's secret is shown once, when it is
//! made.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use ferret_store::{DeliveryState, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Hub;
use crate::api::error::{ApiError, Code, ErrorBody};
use crate::auth::Principal;
use crate::service::notify::Filter;

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/api/ferret/v1/webhooks", get(list).post(create))
        .route("/api/ferret/v1/webhooks/deliveries", get(deliveries))
        .route("/api/ferret/v1/webhooks/{id}", delete(remove))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The HMAC-SHA256 key of `Ferret-Signature`; made up when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// `scan.completed`, `scan.failed`, `findings.new`, `findings.fixed`; empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub repository_prefix: Option<String>,
    /// Only events with a finding at or above this severity.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Only events with a finding in CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default)]
    pub kev_only: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    /// The owner DID whose scans it hears; absent: every owner's (the operator's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub url: String,
    /// Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
    pub created_at: i64,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.clone(),
            owner: w.owner.clone(),
            url: w.url.clone(),
            secret: None,
            filter: serde_json::from_str(&w.filter).unwrap_or_default(),
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// Adds a webhook for the caller's scans.
#[utoipa::path(post, path = "/api/ferret/v1/webhooks", operation_id = "createWebhook",
    tag = "Monitoring", request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, body = WebhookView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    body: Result<Json<CreateWebhook>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::invalid("body", e.body_text()))?;
    crate::service::notify::check_url(&req.url)
        .map_err(|e| ApiError::new(Code::InvalidArgument, e))?;
    let filter = Filter {
        events: req.events,
        owner: None,
        repository_prefix: req.repository_prefix,
        min_severity: req.min_severity,
        kev_only: req.kev_only,
    };
    filter
        .check()
        .map_err(|e| ApiError::new(Code::InvalidArgument, e))?;
    let secret = match req.secret {
        Some(s) if s.len() < 16 => {
            return Err(ApiError::invalid(
                "secret",
                "expected 16 characters or more",
            ));
        }
        Some(s) => s,
        None => crate::auth::random_hex(),
    };
    let w = Webhook {
        id: format!("whk{}", uuid::Uuid::new_v4().simple()),
        owner: Some(p.owner.clone()),
        url: req.url,
        secret: secret.clone(),
        filter: serde_json::to_string(&filter).map_err(ApiError::internal)?,
        created_at: ferret_store::now_ms(),
    };
    hub.store.put_webhook(&w).await?;
    let mut view = WebhookView::from(&w);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's webhooks (an admin's: all).
#[utoipa::path(get, path = "/api/ferret/v1/webhooks", operation_id = "listWebhooks",
    tag = "Monitoring", security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(hub): State<Arc<Hub>>,
    p: Principal,
) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = hub.store.webhooks(p.scope()).await?;
    Ok(Json(WebhookList {
        webhooks: webhooks.iter().map(WebhookView::from).collect(),
    }))
}

/// Removes a webhook, and its deliveries not yet made.
#[utoipa::path(delete, path = "/api/ferret/v1/webhooks/{id}", operation_id = "deleteWebhook",
    tag = "Monitoring", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn remove(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if id.starts_with("config:") {
        return Err(ApiError::new(
            Code::FailedPrecondition,
            format!("webhook {id:?} is configured by the operator (config file)"),
        ));
    }
    if hub.store.delete_webhook(&id, p.scope()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook", &id))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead`.
    pub state: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// The CloudEvent sent.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// Deliveries to the caller's webhooks (an admin's: all), newest first.
#[utoipa::path(get, path = "/api/ferret/v1/webhooks/deliveries", operation_id = "listDeliveries",
    tag = "Monitoring", security(("bearer" = [])), params(DeliveriesQuery),
    responses((status = 200, body = DeliveryList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn deliveries(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            DeliveryState::parse(s)
                .ok_or_else(|| ApiError::invalid("state", "expected pending, delivered or dead"))?,
        ),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "expected 1 to 1000"));
    }
    let found = hub.store.deliveries(state, p.scope(), limit).await?;
    Ok(Json(DeliveryList {
        deliveries: found
            .iter()
            .map(|d| DeliveryView {
                id: d.id.clone(),
                event_id: d.event_id.clone(),
                webhook_id: d.webhook_id.clone(),
                state: d.state.as_str().to_owned(),
                attempts: d.attempts,
                next_attempt: d.next_attempt,
                last_error: d.last_error.clone(),
                created_at: d.created_at,
                delivered_at: d.delivered_at,
                event: serde_json::from_str(&d.payload).unwrap_or_default(),
            })
            .collect(),
    }))
}
