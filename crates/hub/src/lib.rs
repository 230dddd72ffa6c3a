//! The scanning service (`ferret serve`), laid out by role: its configuration
//! (`config.rs`); the server (`server/`: the HTTP listener, throttling, gRPC, metrics,
//! signals); the queue's dispatcher (`queue.rs`); one service layer every front door calls
//! (`service/`: reading scans, images and operations for a caller, submitting scans,
//! storing results); the doors as thin adapters (`api/`: Yandex over REST and gRPC, Aqua,
//! the native API, the pull-through endpoint scanners pull from, the OpenAPI document, the
//! one error table; `ws/`: the scanner subscription); accounts (`auth.rs`); and the
//! embedded scanner (`scanner.rs`).

pub mod api;
pub mod auth;
mod config;
mod console;
mod queue;
mod scanner;
mod server;
pub mod service;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ferret_store::{AccountStore, BlobStore, JobStore, Limits, Released, Store};
use metrics_exporter_prometheus::PrometheusHandle;

pub use api::openapi::document_value as openapi_document;
pub use config::{
    HubConfig, OwnerRule, PushRule, RegistryConfig, ScanPolicy, ScheduleRule, WebhookConfig,
};
pub use server::{HttpLimits, serve};

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
    pub(crate) throttle: server::throttle::Throttle,
    /// Room for scanners' frames.
    pub(crate) budget: ws::budget::Budget,
    /// The HTTP client every enqueue resolves images with.
    pub(crate) registry_http: ferret_image::HttpClient,
    /// Tells who calls; its keys sign session tokens and page tokens.
    pub auth: auth::Authenticator,
    /// Operations as last read, and when (see `yc_get_operation`).
    operations: service::cache::Cache<String, (std::time::Instant, service::OperationView)>,
    /// Layers the embedded scanner read before.
    pub(crate) layer_cache: Option<Arc<ferret_worker::LayerCache>>,
    /// Wakes the webhook sender when deliveries were queued.
    pub(crate) deliveries: tokio::sync::Notify,
    /// The remote scanners connected to this hub: holder, slots, since (Unix ms).
    scanners: std::sync::Mutex<std::collections::BTreeMap<String, (usize, i64)>>,
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

impl Hub {
    /// Opens the store and blob store and releases what an earlier run of a SQLite hub
    /// left leased (no other hub can share its database).
    pub async fn open(config: HubConfig) -> Result<Arc<Self>, HubError> {
        for r in &config.registries {
            if r.webhook_token.is_some() && r.owner.is_none() && r.owners.is_empty() {
                return Err(HubError::Config(format!(
                    "registry {}: webhook_token is set but no owner: pushes need an account to belong to (owner, or owners by prefix)",
                    r.name
                )));
            }
        }
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
        let layer_cache = match &config.layer_cache_dir {
            Some(dir) if config.embedded_scanner && config.layer_cache_bytes > 0 => Some(Arc::new(
                ferret_worker::LayerCache::open(dir, config.layer_cache_bytes)
                    .map_err(|e| HubError::Config(e.to_string()))?,
            )),
            _ => None,
        };
        let hub = Arc::new(Self {
            auth: auth::Authenticator::new(keys),
            operations: service::cache::Cache::new(None, 100_000),
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            dispatcher: queue::Dispatcher::default(),
            throttle: server::throttle::Throttle::new(config.auth_failures, config.auth_window),
            budget: ws::budget::Budget::new(config.result_memory, config.result_memory_wait),
            registry_http,
            config,
            store,
            blobs,
            deliveries: tokio::sync::Notify::new(),
            scanners: std::sync::Mutex::default(),
            layer_cache,
            metrics: server::metrics_handle(),
            shutdown: tokio_util_shutdown::Shutdown::new(),
        });
        // Alive before anything is leased.
        hub.store
            .heartbeat(&hub.instance, millis(hub.liveness()))
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
        service::notify::sync_config(&hub)
            .await
            .map_err(HubError::Config)?;
        Ok(hub)
    }

    /// How long this hub's liveness record lasts. No other hub can share a SQLite database,
    /// so there it lasts for good and is written once: a write every `heartbeat` would cost
    /// every reader connection its page cache, which SQLite drops after any commit.
    fn liveness(&self) -> Duration {
        if self.store.backend() == ferret_store::Backend::Sqlite {
            Duration::from_secs(100 * 365 * 86_400)
        } else {
            self.config.hub_liveness
        }
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
        api::router(self)
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

    /// Every `heartbeat`: record that this hub is alive (on PostgreSQL), take back the leases
    /// of hubs that are not, end this hub's leases that timed out without their connection
    /// noticing (the embedded scanner's), and refresh the queue gauges.
    async fn maintain(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.shutdown.wait() => return,
            }
            if self.store.backend() != ferret_store::Backend::Sqlite
                && let Err(e) = self
                    .store
                    .heartbeat(&self.instance, millis(self.liveness()))
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
            if ticks % 60 == 1 {
                let now = ferret_store::now_ms();
                let idle = i64::try_from(console::IDLE.as_millis()).unwrap_or(i64::MAX);
                if let Err(e) = self.store.prune_console_sessions(now, now - idle).await {
                    tracing::warn!(error = %e, "forgetting ended console sessions");
                }
            }
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

    /// The remote scanners connected to this hub now: holder, slots, since (Unix ms).
    pub(crate) fn connected_scanners(&self) -> Vec<(String, usize, i64)> {
        self.scanners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(h, (slots, since))| (h.clone(), *slots, *since))
            .collect()
    }

    pub(crate) fn scanner_connected(&self, holder: &str, slots: usize, connected: bool) {
        let mut map = self
            .scanners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if connected {
            map.insert(holder.to_owned(), (slots, ferret_store::now_ms()));
        } else {
            map.remove(holder);
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

/// Counts `n` leases of this hub ended, by how.
pub(crate) fn lease_ended(how: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!("ferret_leases_ended_total", "how" => how).increment(n as u64);
    }
}

/// Milliseconds of a duration, for the store.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
