//! The front doors, each a thin adapter over the service layer: the Yandex-shaped services
//! over REST (`yandex_rest.rs`) and gRPC (`yandex_grpc.rs`), the Aqua CI flow (`aqua.rs`),
//! the native API (`native.rs`), the pull-through distribution endpoint scanners pull from
//! (`hold.rs`), the OpenAPI document (`openapi.rs`) and the one error table (`error.rs`).

pub(crate) mod accounts;
pub(crate) mod aqua;
pub mod error;
pub(crate) mod hold;
pub(crate) mod hooks;
pub mod native;
pub mod openapi;
pub(crate) mod webhooks;
pub(crate) mod yandex_grpc;
pub(crate) mod yandex_rest;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::{Hub, server, ws};

/// Every HTTP route: health, metrics, the subscription, the pull-through endpoint, the REST
/// doors and the OpenAPI document; anything else answers from the error table.
pub(crate) fn router(hub: &Arc<Hub>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(server::metrics_page))
        .route(
            "/xrpc/io.atcr.hold.subscribeScanJobs",
            get(ws::subscription::subscribe),
        )
        .merge(hold::routes())
        .merge(server::body_timeout(
            native::routes()
                .merge(yandex_rest::routes())
                .merge(aqua::routes())
                .merge(hooks::routes())
                .merge(webhooks::routes())
                .merge(accounts::routes())
                .merge(crate::console::routes())
                .route("/openapi.json", get(openapi::document)),
            hub.config.http_limits.body_timeout,
        ))
        // Paths and methods no door serves answer from the one error table too.
        .fallback(error::unknown_path)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(hub.clone())
}
