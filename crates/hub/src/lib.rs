//! The scanning service (`ferret serve`): the store's durable job queue, the
//! `io.atcr.hold.subscribeScanJobs` subscription over which scanners take jobs and return
//! results, the Yandex-compatible ScannerService over gRPC and REST, the Aqua-style CI flow,
//! the native REST API under `/api/ferret/v1`, accounts, the OpenAPI document, health and
//! Prometheus metrics, an embedded scanner, and the remote scanner (`ferret scanner`).

pub mod api;
mod aqua;
pub mod auth;
mod budget;
mod cache;
pub mod error;
mod grpc;
mod hold;
mod openapi;
mod queue;
mod rest;
pub mod results;
mod scanner;
mod server;
mod subscription;
mod throttle;
pub mod yc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ferret_store::{AccountStore, BlobStore, JobStore, Limits, Released, Store};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use openapi::document_value as openapi_document;
pub use server::HttpLimits;

/// A registry the hub resolves image references against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegistryConfig {
    /// The name users give (`registry` in requests).
    pub name: String,
    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Everything `ferret serve` is configured with, resolved once at start.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; SQLite in the data directory when absent.
    pub database_url: Option<String>,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// Shared secrets scanners authenticate with (several, for rotation).
    pub secrets: Vec<String>,
    pub embedded_scanner: bool,
    /// The advisory database the embedded scanner reads.
    pub advisory_db: Option<PathBuf>,
    /// Results refused as invalid before a scan ends in ERROR.
    pub max_attempts: i64,
    /// Leases lost (scanner gone or silent, lease timeout, hub died) before a scan ends in
    /// ERROR.
    pub max_interruptions: i64,
    /// The longest a scanner may hold a job.
    pub lease_timeout: Duration,
    pub ping_interval: Duration,
    /// How often this hub records that it is alive; other hubs take its leases back once
    /// it has been silent for `hub_liveness`.
    pub heartbeat: Duration,
    pub hub_liveness: Duration,
    /// Limits on HTTP clients.
    pub http_limits: HttpLimits,
    /// Bytes of scanners' frames held in memory at once, across all connections.
    pub result_memory: u64,
    /// How long a frame may wait for room in `result_memory` before its connection is
    /// closed (1013, try again later).
    pub result_memory_wait: Duration,
    /// Failed authentications per client address within `auth_window` before that address
    /// is refused until the window ends.
    pub auth_failures: u32,
    pub auth_window: Duration,
    /// Where SBOMs and reports go: `s3://bucket/prefix`, a directory (`file:///path` or a
    /// path), or the data directory's `blobs` when absent.
    pub blob_store: Option<String>,
    /// `object_store` S3 options for `blob_store` (the lower-cased names of the `AWS_*`
    /// variables).
    pub blob_store_options: Vec<(String, String)>,
    /// SBOMs and reports up to this many bytes are kept in the database with their result
    /// instead of the blob store (0: all go to the blob store).
    pub blob_inline_limit: usize,
    /// The hub's DID, sent as `holdDid`.
    pub hub_did: String,
    /// The hub's URL as scanners reach it (`holdEndpoint`, where they pull images from);
    /// `http://` and the HTTP address when absent.
    pub public_url: Option<String>,
    pub registries: Vec<RegistryConfig>,
    /// The first admin's name and password, created when the hub has no account yet.
    pub admin_name: String,
    pub admin_password: Option<String>,
    /// How long a session token from `/api/v1/login` lasts.
    pub session_ttl: Duration,
}

impl HubConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            database_url: None,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc: SocketAddr::from(([127, 0, 0, 1], 9090)),
            secrets: Vec::new(),
            embedded_scanner: true,
            advisory_db: None,
            max_attempts: 3,
            max_interruptions: 5,
            lease_timeout: Duration::from_secs(30 * 60),
            ping_interval: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            hub_liveness: Duration::from_secs(5),
            http_limits: HttpLimits::default(),
            result_memory: 512 << 20,
            result_memory_wait: Duration::from_secs(30),
            auth_failures: 20,
            auth_window: Duration::from_secs(60),
            blob_store: None,
            blob_store_options: Vec::new(),
            blob_inline_limit: 64 * 1024,
            hub_did: "did:web:localhost".to_owned(),
            public_url: None,
            registries: Vec::new(),
            admin_name: "admin".to_owned(),
            admin_password: None,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }

    /// Where scanners pull a job's image from (`holdEndpoint`): the hub's own read-only
    /// distribution endpoint, at `public_url` or the HTTP address (loopback when it is the
    /// unspecified address).
    pub fn hold_endpoint(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let mut addr = self.http;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    }

    /// The database: `database_url`, else SQLite in the data directory.
    pub fn store_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("ferret.db").display()))
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] ferret_store::StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Blobs(#[from] ferret_store::BlobError),
}

/// The running hub's shared state.
#[derive(Debug)]
pub struct Hub {
    pub config: HubConfig,
    pub store: Store,
    pub blobs: BlobStore,
    /// Names this process's leases (`<instance>:<connection>`).
    pub instance: String,
    /// Hands queued jobs to the scanners with free slots.
    pub(crate) dispatcher: queue::Dispatcher,
    /// Refuses addresses that fail to authenticate too often.
    pub(crate) throttle: throttle::Throttle,
    /// Room for scanners' frames.
    pub(crate) budget: budget::Budget,
    /// The HTTP client every enqueue resolves images with.
    pub(crate) registry_http: ferret_image::HttpClient,
    /// Tells who calls; its keys sign session tokens and page tokens.
    pub auth: auth::Authenticator,
    /// Operations as last read, and when (see `yc_get_operation`).
    operations: cache::Cache<String, (std::time::Instant, yc::OperationView)>,
    metrics: PrometheusHandle,
    shutdown: tokio_util_shutdown::Shutdown,
}

mod tokio_util_shutdown {
    use tokio::sync::watch;

    /// A broadcast "stop" that tasks can await.
    #[derive(Debug)]
    pub struct Shutdown {
        tx: watch::Sender<bool>,
    }

    impl Shutdown {
        pub fn new() -> Self {
            Self {
                tx: watch::channel(false).0,
            }
        }
        pub fn trigger(&self) {
            let _ = self.tx.send(true);
        }
        pub async fn wait(&self) {
            let mut rx = self.tx.subscribe();
            let _ = rx.wait_for(|v| *v).await;
        }
        pub fn is_set(&self) -> bool {
            *self.tx.borrow()
        }
    }
}

fn metrics_handle() -> PrometheusHandle {
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

impl Hub {
    /// Opens the store and blob store and releases what an earlier run of a SQLite hub
    /// left leased (no other hub can share its database).
    pub async fn open(config: HubConfig) -> Result<Arc<Self>, HubError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| HubError::Io {
            what: format!("creating {}", config.data_dir.display()),
            source,
        })?;
        let store = Store::open(&config.store_url()).await?;
        let blobs = match &config.blob_store {
            Some(url) => BlobStore::open(url, &config.blob_store_options)?,
            None => BlobStore::new(config.data_dir.join("blobs")),
        };
        let keys = auth::Keys::load(&store).await?;
        if let Some(admin) =
            auth::bootstrap_admin(&store, &config.admin_name, config.admin_password.as_deref())
                .await?
        {
            tracing::info!(name = %admin.name, "first admin account created");
        } else if store.account_count().await? == 0 {
            tracing::warn!(
                "no accounts yet: set FERRET_ADMIN_PASSWORD (or admin_password) for the first admin, or run `ferret user add NAME --admin`"
            );
        }
        let registry_http = tokio::task::spawn_blocking(ferret_image::HttpClient::new)
            .await
            .map_err(|e| HubError::Config(e.to_string()))?
            .map_err(|e| HubError::Config(e.to_string()))?;
        let hub = Arc::new(Self {
            auth: auth::Authenticator::new(keys),
            operations: cache::Cache::new(None, 100_000),
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            dispatcher: queue::Dispatcher::default(),
            throttle: throttle::Throttle::new(config.auth_failures, config.auth_window),
            budget: budget::Budget::new(config.result_memory, config.result_memory_wait),
            registry_http,
            config,
            store,
            blobs,
            metrics: metrics_handle(),
            shutdown: tokio_util_shutdown::Shutdown::new(),
        });
        // Alive before anything is leased.
        hub.store
            .heartbeat(&hub.instance, millis(hub.config.hub_liveness))
            .await?;
        if hub.store.backend() == ferret_store::Backend::Sqlite {
            // No other hub can share a SQLite database: what is leased is a past run's.
            hub.store.forget_other_hubs(&hub.instance).await?;
            let back = hub.store.reclaim(hub.limits()).await?;
            if !back.is_empty() {
                metrics::counter!("ferret_leases_reclaimed_total").increment(back.len() as u64);
                tracing::info!(jobs = back.len(), "leases of the previous run released");
            }
            hub.released(&back);
        }
        Ok(hub)
    }

    /// A job's bounds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_attempts: self.config.max_attempts,
            max_interruptions: self.config.max_interruptions,
        }
    }

    /// The queue gained jobs here (an enqueue): dispatch them, and tell other hubs.
    pub fn queued(&self) {
        self.dispatcher.changed();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/metrics", get(metrics_page))
            .route(
                "/xrpc/io.atcr.hold.subscribeScanJobs",
                get(subscription::subscribe),
            )
            .merge(hold::routes())
            .merge(server::body_timeout(
                api::routes()
                    .merge(rest::routes())
                    .merge(aqua::routes())
                    .route("/openapi.json", get(openapi::document)),
                self.config.http_limits.body_timeout,
            ))
            // Paths and methods no door serves answer from the one error table too.
            .fallback(error::unknown_path)
            .method_not_allowed_fallback(error::method_not_allowed)
            .with_state(self.clone())
    }

    /// Records what became of jobs whose leases ended (or were taken back) without a
    /// result, and dispatches those queued again.
    pub(crate) fn released(&self, released: &[Released]) {
        for r in released {
            match r {
                Released::Requeued(j) => {
                    tracing::info!(digest = %j.digest, seq = j.seq, reason = j.last_error.as_deref().unwrap_or(""), "job queued again");
                }
                Released::Failed(j) => {
                    metrics::counter!("ferret_jobs_failed_total").increment(1);
                    tracing::warn!(digest = %j.digest, reason = j.last_error.as_deref().unwrap_or(""), "job failed");
                }
            }
        }
        let requeued = released
            .iter()
            .filter(|r| matches!(r, Released::Requeued(_)))
            .count();
        if requeued > 0 {
            metrics::counter!("ferret_jobs_requeued_total").increment(requeued as u64);
            self.dispatcher.changed();
        }
    }

    /// As [`Hub::released`], for leases this hub took: each lease this hub takes ends once,
    /// counted here by how (`completed`, `failed`, `invalid`, `lost`, `returned`), so that
    /// `ferret_jobs_dispatched_total` equals the sum of `ferret_leases_ended_total` plus the
    /// leases held now.
    pub(crate) fn ended(&self, released: &[Released], how: &'static str) {
        lease_ended(how, released.len());
        self.released(released);
    }

    /// Every `heartbeat`: record that this hub is alive, take back the leases of hubs that
    /// are not, end this hub's leases that timed out without their connection noticing (the
    /// embedded scanner's), and refresh the queue gauges.
    async fn maintain(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.shutdown.wait() => return,
            }
            if let Err(e) = self
                .store
                .heartbeat(&self.instance, millis(self.config.hub_liveness))
                .await
            {
                tracing::warn!(error = %e, "recording this hub's liveness");
            }
            match self.store.reclaim(self.limits()).await {
                Ok(r) => {
                    if !r.is_empty() {
                        metrics::counter!("ferret_leases_reclaimed_total")
                            .increment(r.len() as u64);
                        tracing::info!(
                            jobs = r.len(),
                            "leases of a hub that stopped answering taken back"
                        );
                    }
                    self.released(&r);
                }
                Err(e) => tracing::warn!(error = %e, "taking back leases of dead hubs"),
            }
            // Connections end their own leases on time; a second's grace lets them.
            let now = ferret_store::now_ms() - 1000;
            match self.store.expire(&self.instance, now, self.limits()).await {
                Ok(r) => {
                    if !r.is_empty() {
                        metrics::counter!("ferret_lease_expiries_total").increment(r.len() as u64);
                    }
                    self.ended(&r, "lost");
                }
                Err(e) => tracing::warn!(error = %e, "expiring leases"),
            }
            metrics::gauge!("ferret_result_memory_bytes").set(self.budget.in_use() as f64);
            ticks += 1;
            if ticks % 5 == 1
                && let Ok(depth) = self.store.queue_depth().await
            {
                for p in 0..=2 {
                    let n = depth.iter().find(|(q, _)| *q == p).map_or(0, |(_, n)| *n);
                    metrics::gauge!("ferret_queue_depth", "priority" => p.to_string())
                        .set(n as f64);
                }
                for (p, n) in depth.iter().filter(|(p, _)| !(0..=2).contains(p)) {
                    metrics::gauge!("ferret_queue_depth", "priority" => p.to_string())
                        .set(*n as f64);
                }
            }
        }
    }

    pub fn stop(&self) {
        self.shutdown.trigger();
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.is_set()
    }

    pub async fn stopped(&self) {
        self.shutdown.wait().await;
    }
}

async fn metrics_page(
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
    let listener = server::listen(hub.config.grpc).map_err(|source| HubError::Io {
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
            .add_service(grpc::scanner_service(hub.clone()))
            .add_service(grpc::image_service(hub.clone()))
            .add_service(grpc::operation_service(hub.clone()))
            .serve_with_incoming_shutdown(incoming, hub.stopped())
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gRPC server");
        }
    }))
}

/// Counts `n` leases of this hub ended, by how.
pub(crate) fn lease_ended(how: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!("ferret_leases_ended_total", "how" => how).increment(n as u64);
    }
}

/// Milliseconds of a duration, for the store.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Serves until SIGTERM or SIGINT (or [`Hub::stop`]), then gives this process's leases
/// back.
pub async fn serve(hub: Arc<Hub>) -> Result<(), HubError> {
    let listener = server::listen(hub.config.http).map_err(|source| HubError::Io {
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
    server::serve(
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
