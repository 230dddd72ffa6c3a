//! Everything `ferret serve` is configured with, resolved once at start (the binary reads
//! flags, the environment and the config file into it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferret_image::{Credentials, HttpClient, RegistryOptions};

use crate::server::HttpLimits;

/// A registry the hub resolves image references against.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The name users give (`registry` in requests).
    pub name: String,
    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The bearer token the registry's notifications carry (its
    /// `notifications.endpoints[].headers`); without it `POST /hooks/registry/{name}` is
    /// refused.
    #[serde(default)]
    pub webhook_token: Option<String>,
    /// The account (by name) whose images pushes to this registry become.
    #[serde(default)]
    pub owner: Option<String>,
    /// Owners by repository prefix; the longest matching prefix wins over `owner`.
    #[serde(default)]
    pub owners: Vec<OwnerRule>,
    /// Which pushes are scanned and which images are rescanned on a schedule.
    #[serde(default)]
    pub scan_policy: ScanPolicy,
}

/// A webhook the operator configures (`[[webhooks]]`): every owner's scans, unless
/// `owner` names one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Its id is `config:<name>`.
    pub name: String,
    pub url: String,
    /// The HMAC-SHA256 key of `Ferret-Signature`.
    pub secret: String,
    /// `scan.completed`, `scan.failed`, `findings.new`, `findings.fixed`; empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// An account name: only its scans.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub repository_prefix: Option<String>,
    /// Only events with a finding at or above this severity.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Only events with a finding in CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default)]
    pub kev_only: bool,
}

/// The owner of the repositories under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRule {
    pub prefix: String,
    /// An account name.
    pub owner: String,
}

/// A registry's scan policy, as Yandex Container Registry's `ScanPolicy` has it: one push
/// rule and any number of schedule rules, each for repositories under some prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// Absent: every push is scanned.
    #[serde(default)]
    pub push_rule: Option<PushRule>,
    #[serde(default)]
    pub schedule_rules: Vec<ScheduleRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRule {
    /// Repositories scanned on push; empty: all.
    #[serde(default)]
    pub repository_prefixes: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRule {
    /// Repositories rescanned; empty: all.
    #[serde(default)]
    pub repository_prefixes: Vec<String>,
    /// Seconds between scans of each matching image (Yandex's `rescanPeriod`).
    pub rescan_period: u64,
    #[serde(default)]
    pub disabled: bool,
}

/// Whether `repository` is under one of `prefixes` (none: every repository is).
pub(crate) fn under(prefixes: &[String], repository: &str) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| repository.starts_with(p.as_str()))
}

impl ScanPolicy {
    /// Whether a push to `repository` is scanned.
    pub fn scans_push(&self, repository: &str) -> bool {
        match &self.push_rule {
            None => true,
            Some(r) => !r.disabled && under(&r.repository_prefixes, repository),
        }
    }

    /// The shortest rescan period of the enabled schedule rules covering `repository`.
    pub fn rescan_period(&self, repository: &str) -> Option<Duration> {
        self.schedule_rules
            .iter()
            .filter(|r| !r.disabled && under(&r.repository_prefixes, repository))
            .map(|r| Duration::from_secs(r.rescan_period.max(1)))
            .min()
    }
}

impl RegistryConfig {
    /// The account name pushes to `repository` belong to: the longest matching `owners`
    /// prefix, else `owner`.
    pub fn owner_of(&self, repository: &str) -> Option<&str> {
        self.owners
            .iter()
            .filter(|r| repository.starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
            .map(|r| r.owner.as_str())
            .or(self.owner.as_deref())
    }

    /// The hub's credentials for this registry, when configured.
    pub(crate) fn credentials(&self) -> Option<Credentials> {
        self.username.clone().map(|username| Credentials {
            username,
            password: self.password.clone().unwrap_or_default(),
        })
    }

    /// `host[:port]` of the registry and how the hub reaches it: with its credentials,
    /// over plain HTTP for an `http://` URL, on the hub's one HTTP client.
    pub(crate) fn reach(&self, http: &HttpClient) -> Result<(String, RegistryOptions), String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("registry {}: url {:?}: {e}", self.name, self.url))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => {
                return Err(format!(
                    "registry {}: url {:?} names no host",
                    self.name, self.url
                ));
            }
        };
        let options = RegistryOptions {
            http: Some(http.clone()),
            credentials: self.credentials(),
            insecure_registries: if url.scheme() == "http" {
                vec![host.clone()]
            } else {
                Vec::new()
            },
            ..RegistryOptions::default()
        };
        Ok((host, options))
    }
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
    /// The advisory database the embedded scanner reads, and stored scans are judged
    /// against again when its snapshot changes.
    pub advisory_db: Option<PathBuf>,
    /// How often the advisory database is looked at for a new snapshot.
    pub advisory_poll: Duration,
    /// Threads matching stored SBOMs again after an advisory change; they run at a lower
    /// CPU priority than the rest of the hub, so scans people wait for come first.
    pub rescan_threads: usize,
    /// How often the hub updates its advisory database itself (`None`: never; `ferret db
    /// update` or `db import` from outside is noticed all the same).
    pub db_update_interval: Option<Duration>,
    /// The feeds of those updates (`KIND=URL`); the default feeds when empty.
    pub db_update_feeds: Vec<String>,
    /// Where the embedded scanner keeps the layers it read (by diff ID), and how many
    /// bytes at most; `None` or 0: no cache.
    pub layer_cache_dir: Option<PathBuf>,
    pub layer_cache_bytes: u64,
    /// Webhooks the operator configures.
    pub webhooks: Vec<WebhookConfig>,
    /// How long a webhook may take to answer.
    pub webhook_timeout: Duration,
    /// Attempts before a delivery is dead-lettered.
    pub webhook_max_attempts: u32,
    /// The first retry's delay; each next one doubles (up to an hour).
    pub webhook_retry_base: Duration,
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
            layer_cache_dir: Some(data_dir.join("layer-cache")),
            data_dir,
            database_url: None,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc: SocketAddr::from(([127, 0, 0, 1], 9090)),
            secrets: Vec::new(),
            embedded_scanner: true,
            advisory_db: None,
            advisory_poll: Duration::from_secs(10),
            // Every core: the threads yield to everything else (see the field).
            rescan_threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            db_update_interval: None,
            db_update_feeds: Vec::new(),
            layer_cache_bytes: 4 << 30,
            webhooks: Vec::new(),
            webhook_timeout: Duration::from_secs(10),
            webhook_max_attempts: 12,
            webhook_retry_base: Duration::from_secs(2),
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
