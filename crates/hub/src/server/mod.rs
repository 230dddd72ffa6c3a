//! The server: the HTTP listener (`listener.rs`), per-address throttling of failed
//! authentication (`throttle.rs`), the gRPC port, Prometheus metrics, and [`serve`], which
//! runs it all until a signal or [`Hub::stop`](crate::Hub::stop).

mod listener;
pub(crate) mod throttle;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use listener::HttpLimits;
pub(crate) use listener::{body_timeout, listen};

use ferret_store::JobStore;

use crate::{Hub, HubError, api, queue, scanner};

pub(crate) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "ferret_scan_duration_seconds".to_owned(),
                    ),
                    &[0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (tests embedding several hubs): keep our
                // own handle unregistered.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

pub(crate) async fn metrics_page(
    axum::extract::State(hub): axum::extract::State<Arc<Hub>>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        hub.metrics.render(),
    )
}

/// The gRPC port: the standard health service (`grpc.health.v1.Health`) and the
/// Yandex-compatible ScannerService, ImageService and OperationService.
async fn grpc_server(hub: &Arc<Hub>) -> Result<tokio::task::JoinHandle<()>, HubError> {
    let listener = listen(hub.config.grpc).map_err(|source| HubError::Io {
        what: format!("listening on {} (gRPC)", hub.config.grpc),
        source,
    })?;
    tracing::info!(grpc = %hub.config.grpc, "gRPC listening");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let hub = hub.clone();
    Ok(tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let result = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(api::yandex_grpc::scanner_service(hub.clone()))
            .add_service(api::yandex_grpc::image_service(hub.clone()))
            .add_service(api::yandex_grpc::operation_service(hub.clone()))
            .serve_with_incoming_shutdown(incoming, hub.stopped())
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gRPC server");
        }
    }))
}

/// Serves until SIGTERM or SIGINT (or [`Hub::stop`]), then gives this process's leases
/// back.
pub async fn serve(hub: Arc<Hub>) -> Result<(), HubError> {
    let listener = listen(hub.config.http).map_err(|source| HubError::Io {
        what: format!("listening on {}", hub.config.http),
        source,
    })?;
    tracing::info!(http = %hub.config.http, instance = %hub.instance, blobs = %hub.blobs.location(), "ferret hub listening");
    // Gauges that exist before anything happens, so scrapes see zeros.
    metrics::gauge!("ferret_connected_scanners").set(0.0);
    for name in [
        "ferret_jobs_dispatched_total",
        "ferret_jobs_completed_total",
        "ferret_jobs_failed_total",
        "ferret_jobs_requeued_total",
        "ferret_lease_expiries_total",
        "ferret_leases_reclaimed_total",
        "ferret_results_repeated_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for how in ["completed", "failed", "invalid", "lost", "returned"] {
        metrics::counter!("ferret_leases_ended_total", "how" => how).increment(0);
    }
    tokio::spawn(hub.clone().maintain());
    tokio::spawn(queue::dispatch(hub.clone()));
    tokio::spawn(queue::poll(hub.clone()));
    tokio::spawn(queue::cross_hub(hub.clone()));
    tokio::spawn(crate::service::schedule::run(hub.clone()));
    tokio::spawn(crate::service::rescan::run(hub.clone()));
    tokio::spawn(crate::service::notify::produce(hub.clone()));
    tokio::spawn(crate::service::notify::deliver(hub.clone()));
    if hub.config.embedded_scanner {
        tokio::spawn(scanner::embedded(hub.clone()));
    }
    let signals = {
        let hub = hub.clone();
        async move {
            tokio::select! {
                () = ferret_worker::shutdown_signal() => {}
                () = hub.stopped() => {}
            }
            tracing::info!("shutting down");
            hub.stop();
        }
    };
    let grpc = grpc_server(&hub).await?;
    listener::serve(
        listener,
        hub.router(),
        hub.config.http_limits.clone(),
        signals,
        Duration::from_secs(5),
    )
    .await;
    // Open gRPC connections are given a moment to finish their calls, not forever.
    let abort = grpc.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), grpc)
        .await
        .is_err()
    {
        abort.abort();
    }
    // Connections give their own leases back as they close; whatever is left goes back,
    // and other hubs learn at once that this one is gone.
    let back = hub.store.retire(&hub.instance, "hub shut down").await?;
    hub.ended(&back, "returned");
    hub.store.close().await;
    Ok(())
}
