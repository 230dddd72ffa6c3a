//! `ferret serve`, `ferret scanner`, `ferret remote scan`, and the operator's `ferret user
//! add` and `ferret token create`: the service's commands.
//! Configuration is resolved once: flags, then `FERRET_*` environment variables (clap
//! reads both), then the config file, then defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferret_hub::{HubConfig, RegistryConfig};
use ferret_worker::PullOptions;
use serde::Deserialize;

use crate::{EXIT_POLICY, db_cmd, env};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// HTTP address (REST, the scanner subscription, metrics) [default: 127.0.0.1:8080]
    #[arg(long, env = "FERRET_HTTP", value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// gRPC address [default: 127.0.0.1:9090]
    #[arg(long, env = "FERRET_GRPC", value_name = "ADDR")]
    grpc: Option<SocketAddr>,
    /// Run no scanner inside the hub; jobs wait for `ferret scanner`s.
    #[arg(long)]
    no_embedded_scanner: bool,
    /// Invalid results before a scan ends in ERROR [default: 3]
    #[arg(long, env = "FERRET_MAX_ATTEMPTS", value_name = "N")]
    max_attempts: Option<i64>,
    /// Lost leases (scanner gone or silent, lease timeout, hub died) before a scan ends in
    /// ERROR [default: 5]
    #[arg(long, env = "FERRET_MAX_INTERRUPTIONS", value_name = "N")]
    max_interruptions: Option<i64>,
    /// Where SBOMs and reports go: s3://bucket/prefix (credentials and endpoint from the
    /// usual AWS_* variables), or a directory [default: DATA_DIR/blobs]
    #[arg(long, env = "FERRET_BLOB_STORE", value_name = "URL")]
    blob_store: Option<String>,
    /// Seconds a scanner may hold a job [default: 1800]
    #[arg(long, env = "FERRET_LEASE_TIMEOUT", value_name = "SECS")]
    lease_timeout: Option<u64>,
    /// Seconds between pings to scanners; two unanswered end the connection [default: 30]
    #[arg(long, env = "FERRET_PING_INTERVAL", value_name = "SECS")]
    ping_interval: Option<u64>,
    /// The hub's DID, sent to scanners as `holdDid` [default: did:web:<http host>%3A<port>]
    #[arg(long, env = "FERRET_HUB_DID", value_name = "DID")]
    hub_did: Option<String>,
    /// The hub's URL as remote scanners reach it; jobs name it as `holdEndpoint`, where
    /// scanners pull images through the hub [default: http://<http address>]
    #[arg(long, env = "FERRET_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The advisory database the embedded scanner reads [default: $FERRET_DB_DIR, else
    /// ~/.cache/ferret/db]
    #[arg(long, value_name = "DIR")]
    db_dir: Option<PathBuf>,
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    http: Option<SocketAddr>,
    grpc: Option<SocketAddr>,
    embedded_scanner: Option<bool>,
    max_attempts: Option<i64>,
    max_interruptions: Option<i64>,
    lease_timeout: Option<u64>,
    ping_interval: Option<u64>,
    /// Seconds without a heartbeat after which other hubs take this one's leases back.
    hub_liveness: Option<u64>,
    hub_did: Option<String>,
    public_url: Option<String>,
    /// MiB of scanners' frames held in memory at once.
    result_memory_mb: Option<u64>,
    /// Seconds a frame may wait for room in that budget.
    result_memory_wait: Option<u64>,
    /// Failed authentications per address within `auth_window` seconds before the address
    /// is refused until the window ends.
    auth_failures: Option<u32>,
    auth_window: Option<u64>,
    #[serde(default)]
    http_limits: HttpLimitsConfig,
    blob_store: Option<String>,
    /// object_store S3 options (`aws_endpoint`, `aws_region`, `aws_allow_http`, …).
    #[serde(default)]
    blob_store_options: std::collections::BTreeMap<String, String>,
    /// SBOMs and reports up to this many bytes are kept in the database with their result.
    blob_inline_limit: Option<usize>,
    db_dir: Option<PathBuf>,
    /// Seconds between looks at the advisory database for a new snapshot [default: 10]
    advisory_poll: Option<u64>,
    /// Threads judging stored scans again after an advisory change (at a lower CPU priority than the rest) [default: every core]
    rescan_threads: Option<usize>,
    /// Hours between the hub's own advisory database updates [default: never]
    db_update_interval: Option<f64>,
    /// Feeds of those updates, as `KIND=URL` [default: the default feeds]
    #[serde(default)]
    db_update_feeds: Vec<String>,
    /// Where the embedded scanner keeps the layers it read [default: DATA_DIR/layer-cache]
    layer_cache_dir: Option<PathBuf>,
    /// MiB the layer cache may hold; 0 turns it off [default: 4096]
    layer_cache_mb: Option<u64>,
    /// Webhooks notified of scans (`[[webhooks]]`).
    #[serde(default)]
    webhooks: Vec<ferret_hub::WebhookConfig>,
    /// Seconds a webhook may take to answer [default: 10]
    webhook_timeout: Option<u64>,
    /// Attempts before a delivery is dead-lettered [default: 12]
    webhook_max_attempts: Option<u32>,
    /// Milliseconds before the first retry, doubling after each [default: 2000]
    webhook_retry_base_ms: Option<u64>,
    #[serde(default)]
    scanner_secrets: Vec<String>,
    #[serde(default)]
    registries: Vec<RegistryConfig>,
    /// The first admin's name [default: admin]; the password comes from here or
    /// FERRET_ADMIN_PASSWORD, and is used only when the hub has no account yet.
    admin_name: Option<String>,
    admin_password: Option<String>,
    /// Seconds a session token from /api/v1/login lasts [default: 43200]
    session_ttl: Option<u64>,
}

/// `[http_limits]` in the config file, in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpLimitsConfig {
    header_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    body_timeout: Option<u64>,
    max_connections: Option<usize>,
}

fn read_file_config(path: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
    Ok(match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| path.display().to_string())?
        }
        None => FileConfig::default(),
    })
}

fn hub_config(args: ServeArgs) -> anyhow::Result<HubConfig> {
    let (mut c, file) = args.store.resolve()?;
    if let Some(a) = args.http.or(file.http) {
        c.http = a;
    }
    if let Some(a) = args.grpc.or(file.grpc) {
        c.grpc = a;
    }
    c.embedded_scanner = !args.no_embedded_scanner && file.embedded_scanner.unwrap_or(true);
    if let Some(n) = args.max_attempts.or(file.max_attempts) {
        if n < 1 {
            bail!("--max-attempts: expected 1 or more, got {n}");
        }
        c.max_attempts = n;
    }
    if let Some(n) = args.max_interruptions.or(file.max_interruptions) {
        if n < 1 {
            bail!("--max-interruptions: expected 1 or more, got {n}");
        }
        c.max_interruptions = n;
    }
    if let Some(s) = file.hub_liveness {
        c.hub_liveness = Duration::from_secs(s.max(1));
    }
    // Five heartbeats per liveness period: one lost write does not make a hub look dead.
    c.heartbeat = (c.hub_liveness / 5).max(Duration::from_millis(200));
    if let Some(mb) = file.result_memory_mb {
        c.result_memory = mb.max(1) << 20;
    }
    if let Some(n) = file.blob_inline_limit {
        c.blob_inline_limit = n;
    }
    if let Some(s) = file.result_memory_wait {
        c.result_memory_wait = Duration::from_secs(s);
    }
    if let Some(n) = file.auth_failures {
        c.auth_failures = n.max(1);
    }
    if let Some(s) = file.auth_window {
        c.auth_window = Duration::from_secs(s.max(1));
    }
    let h = &file.http_limits;
    if let Some(s) = h.header_timeout {
        c.http_limits.header_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(s) = h.idle_timeout {
        c.http_limits.idle_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(s) = h.body_timeout {
        c.http_limits.body_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(n) = h.max_connections {
        c.http_limits.max_connections = n.max(1);
    }
    c.blob_store = args.blob_store.or(file.blob_store);
    if c.blob_store.is_some() {
        // The usual AWS_* variables, then the config file's options over them.
        let mut options: std::collections::BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(env::AWS_PREFIX))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        options.extend(file.blob_store_options);
        // object_store knows AWS_ENDPOINT; the AWS SDKs' name is AWS_ENDPOINT_URL.
        if let Some(v) = options.remove("aws_endpoint_url") {
            options.entry("aws_endpoint".to_owned()).or_insert(v);
        }
        // Only the keys object_store knows; other AWS_* variables are not ours.
        c.blob_store_options = options
            .into_iter()
            .filter(|(k, _)| ferret_store::BlobStore::s3_option_known(k))
            .collect();
    }
    if let Some(s) = args.lease_timeout.or(file.lease_timeout) {
        c.lease_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(s) = args.ping_interval.or(file.ping_interval) {
        c.ping_interval = Duration::from_secs(s.max(1));
    }
    c.hub_did = args
        .hub_did
        .or(file.hub_did)
        .unwrap_or_else(|| default_hub_did(c.http));
    c.public_url = args.public_url.or(file.public_url);
    if let Some(u) = &c.public_url {
        let parsed = reqwest::Url::parse(u).with_context(|| format!("public_url {u:?}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            bail!("public_url {u:?}: expected http://host[:port] or https://host[:port]");
        }
    }
    c.secrets = file.scanner_secrets;
    if let Ok(from_env) = std::env::var(env::SCANNER_SECRETS) {
        c.secrets.extend(
            from_env
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    c.registries = file.registries;
    if let Some(name) = file.admin_name {
        c.admin_name = name;
    }
    c.admin_password = std::env::var(env::ADMIN_PASSWORD)
        .ok()
        .filter(|p| !p.is_empty())
        .or(file.admin_password);
    if let Some(s) = file.session_ttl {
        c.session_ttl = Duration::from_secs(s.max(1));
    }
    let db_dir = db_cmd::db_dir(args.db_dir.or(file.db_dir))?;
    c.advisory_db = Some(db_dir.join(ferret_advisory::DB_FILE));
    if let Some(s) = file.advisory_poll {
        c.advisory_poll = Duration::from_secs(s.max(1));
    }
    if let Some(n) = file.rescan_threads {
        if !(1..=64).contains(&n) {
            bail!("rescan_threads: expected 1 to 64, got {n}");
        }
        c.rescan_threads = n;
    }
    if let Some(h) = file.db_update_interval {
        if !(h.is_finite() && h > 0.0) {
            bail!("db_update_interval: expected a positive number of hours, got {h}");
        }
        c.db_update_interval = Some(Duration::from_secs_f64((h * 3600.0).max(1.0)));
    }
    c.db_update_feeds = file.db_update_feeds;
    if let Some(dir) = file.layer_cache_dir {
        c.layer_cache_dir = Some(dir);
    }
    if let Some(mb) = file.layer_cache_mb {
        c.layer_cache_bytes = mb.saturating_mul(1 << 20);
    }
    c.webhooks = file.webhooks;
    if let Some(s) = file.webhook_timeout {
        c.webhook_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(n) = file.webhook_max_attempts {
        c.webhook_max_attempts = n.max(1);
    }
    if let Some(ms) = file.webhook_retry_base_ms {
        c.webhook_retry_base = Duration::from_millis(ms.max(1));
    }
    Ok(c)
}

/// `did:web:` of the address the hub listens on, its port percent-encoded as did:web
/// writes one (`did:web:127.0.0.1%3A8080`).
fn default_hub_did(http: std::net::SocketAddr) -> String {
    let host = match http.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        // Brackets and colons are not DID characters: all percent-encoded.
        std::net::IpAddr::V6(ip) => format!("%5B{}%5D", ip.to_string().replace(':', "%3A")),
    };
    format!("did:web:{host}%3A{}", http.port())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // As many connections as the system lets this process have (the hub keeps its own cap
    // below that limit).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "raising the open-file limit");
    }
    let config = hub_config(args)?;
    if config.public_url.is_none()
        && config.http.ip().is_unspecified()
        && !config.secrets.is_empty()
    {
        tracing::warn!(
            hold_endpoint = %config.hold_endpoint(),
            "public_url is not set: remote scanners are told to pull images from this loopback address; set public_url to where they reach the hub"
        );
    }
    if config.secrets.is_empty() {
        tracing::warn!(
            "no scanner secrets configured (scanner_secrets, {}): remote scanners cannot connect",
            env::SCANNER_SECRETS
        );
    }
    runtime()?.block_on(async {
        let hub = ferret_hub::Hub::open(config).await?;
        ferret_hub::serve(hub).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Args, Debug)]
pub(crate) struct ScannerArgs {
    /// The hub's base URL, e.g. http://127.0.0.1:8080
    #[arg(long, env = "FERRET_HUB", value_name = "URL")]
    hub: String,
    /// The shared secret the hub knows this scanner by.
    #[arg(
        long,
        env = "FERRET_SCANNER_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    secret: String,
    /// Jobs scanned at once.
    #[arg(long, default_value_t = 1, value_name = "K")]
    concurrency: usize,
    /// Where the advisory database lives [default: $FERRET_DB_DIR, else ~/.cache/ferret/db]
    #[arg(long, value_name = "DIR")]
    db_dir: Option<PathBuf>,
    /// Allow plain HTTP to this registry host[:port] (loopback hosts always may).
    #[arg(long, value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Registry user for every pull; the password comes from FERRET_REGISTRY_PASSWORD.
    /// Without it, credentials per registry host come from docker's config.json.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    #[command(flatten)]
    cache: crate::CacheArgs,
}

pub(crate) fn scanner(args: ScannerArgs) -> anyhow::Result<ExitCode> {
    if !(1..=64).contains(&args.concurrency) {
        bail!("--concurrency: expected 1 to 64");
    }
    let db = db_cmd::db_dir(args.db_dir)?.join(ferret_advisory::DB_FILE);
    if !db.exists() {
        bail!(
            "no advisory database at {}: run `ferret db update` (or `ferret db import`) first",
            db.display()
        );
    }
    let docker_config = std::env::var_os(env::DOCKER_CONFIG)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"));
    let credentials = match args.username {
        None => None,
        Some(username) => Some(ferret_image::Credentials {
            username,
            password: std::env::var(env::REGISTRY_PASSWORD).with_context(|| {
                format!("--username needs a password in {}", env::REGISTRY_PASSWORD)
            })?,
        }),
    };
    let config = ferret_worker::remote::ScannerConfig {
        hub: args.hub,
        secret: args.secret,
        concurrency: args.concurrency,
        advisory_db: db,
        pull: PullOptions {
            docker_config,
            insecure_registries: args.insecure_registry,
            credentials,
            layer_cache: args.cache.open()?,
        },
    };
    runtime()?.block_on(async {
        ferret_worker::remote::run_scanner(config, ferret_worker::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Subcommand, Debug)]
pub(crate) enum RemoteCommand {
    /// Ask a hub to scan an image of one of its registries: REGISTRY/REPOSITORY[:TAG|@DIGEST].
    Scan(RemoteScanArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RemoteScanArgs {
    /// REGISTRY/REPOSITORY[:TAG|@DIGEST], REGISTRY being a name in the hub's config.
    image: String,
    /// The hub's base URL.
    #[arg(long, env = "FERRET_SERVER", value_name = "URL")]
    server: String,
    /// 0 on-demand (default), 1 push, 2 rescan.
    #[arg(long, default_value_t = 0)]
    priority: i64,
    /// Wait until the scan is done and print its counts.
    #[arg(long)]
    wait: bool,
    /// With --wait: exit 1 when a finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", requires = "wait")]
    fail_on: Option<String>,
    /// With --wait: give up after this many seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    timeout: u64,
    /// An API token (`ferret token create`).
    #[arg(
        long,
        env = "FERRET_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: String,
}

pub(crate) fn remote(cmd: RemoteCommand) -> anyhow::Result<ExitCode> {
    let RemoteCommand::Scan(args) = cmd;
    let fail_on = crate::parse_fail_on(args.fail_on.as_deref())?;
    let (registry, rest) = args.image.split_once('/').with_context(|| {
        format!(
            "{:?}: expected REGISTRY/REPOSITORY[:TAG|@DIGEST]",
            args.image
        )
    })?;
    let (repository, tag, digest) = if let Some((r, d)) = rest.split_once('@') {
        (r, None, Some(d))
    } else if let Some((r, t)) = rest.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        (r, Some(t), None)
    } else {
        (rest, None, None)
    };
    let base = args.server.trim_end_matches('/');
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let request = ferret_hub::api::native::SubmitRequest {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
        priority: Some(args.priority),
        owner: None,
    };
    let resp = client
        .post(format!("{base}/api/ferret/v1/scans"))
        .bearer_auth(&args.token)
        .json(&request)
        .send()
        .with_context(|| format!("reaching {base}"))?;
    let status = resp.status();
    if !status.is_success() {
        let reason = resp
            .json::<ferret_hub::api::error::ErrorBody>()
            .map_or_else(|_| "no reason given".to_owned(), |b| b.message);
        bail!("the hub refused the scan ({status}): {reason}");
    }
    let submitted: ferret_hub::api::native::SubmittedView =
        resp.json().context("reading the hub's answer")?;
    let id = submitted.scan.id.clone();
    eprintln!("ferret: scan {id} of {} queued", submitted.scan.digest);
    if !args.wait {
        println!("{}", serde_json::to_string_pretty(&submitted)?);
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
    let scan = loop {
        let s: ferret_hub::api::native::ScanView = client
            .get(format!("{base}/api/ferret/v1/scans/{id}"))
            .bearer_auth(&args.token)
            .send()?
            .error_for_status()?
            .json()?;
        if s.status != "RUNNING" {
            break s;
        }
        if std::time::Instant::now() > deadline {
            bail!("scan {id} still running after {} s", args.timeout);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!("{}", serde_json::to_string_pretty(&scan)?);
    if scan.status == "ERROR" {
        bail!(
            "scan {id} failed: {}",
            scan.error.as_deref().unwrap_or("no reason given")
        );
    }
    // The hub's counts, gated the way `ferret scan` gates its own summary.
    let summary = ferret_model::Counts::from(scan.counts);
    let tripped = fail_on.is_some_and(|level| summary.at_or_above(level) > 0);
    Ok(if tripped {
        ExitCode::from(EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where the hub keeps its data, shared by `ferret serve` and the operator's commands.
#[derive(Args, Debug)]
pub(crate) struct StoreArgs {
    /// A TOML config file (`registries`, `scanner_secrets`, and any option of `ferret serve`).
    #[arg(long, env = "FERRET_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where SQLite and the blob store live [default: ./ferret-data]
    #[arg(long, env = "FERRET_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of SQLite in the data directory.
    #[arg(long, env = "FERRET_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    /// The config file, and a hub config with its data directory and database resolved
    /// (flags and environment first, then the file).
    fn resolve(self) -> anyhow::Result<(HubConfig, FileConfig)> {
        let mut file = read_file_config(self.config.as_ref())?;
        let data_dir = self
            .data_dir
            .or(file.data_dir.take())
            .unwrap_or_else(|| PathBuf::from("ferret-data"));
        let mut c = HubConfig::new(data_dir);
        c.database_url = self.database_url.or(file.database_url.take());
        Ok((c, file))
    }

    async fn open(self) -> anyhow::Result<ferret_store::Store> {
        let (c, _) = self.resolve()?;
        std::fs::create_dir_all(&c.data_dir)
            .with_context(|| format!("creating {}", c.data_dir.display()))?;
        let url = c.store_url();
        ferret_store::Store::open(&url)
            .await
            .with_context(|| format!("opening the database {url}"))
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Create an account; its password is read from standard input, or made up and printed.
    Add(UserAddArgs),
    /// List the accounts: name, role, id, owner DID, created.
    List(ListArgs),
    /// Set a user's password (read from standard input, or made up and printed); their
    /// console sessions end and their earlier session tokens stop working.
    Passwd(UserPasswdArgs),
    /// Delete a user with their tokens and console sessions; their images stay.
    Delete(UserDeleteArgs),
}

#[derive(Args, Debug)]
pub(crate) struct UserAddArgs {
    name: String,
    /// An admin sees and scans every image.
    #[arg(long)]
    admin: bool,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
pub(crate) struct UserPasswdArgs {
    name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
pub(crate) struct UserDeleteArgs {
    name: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// A new password: the first line of standard input (checked), or a made-up one.
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((ferret_hub::auth::random_hex()[..24].to_owned(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("the password read from standard input is empty");
    }
    ferret_hub::service::accounts::check_password(&line).map_err(anyhow::Error::msg)?;
    Ok((line, false))
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    })
}

pub(crate) fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    use ferret_store::AccountStore;
    match cmd {
        UserCommand::Add(args) => {
            ferret_hub::service::accounts::check_name(&args.name).map_err(anyhow::Error::msg)?;
            let (password, made_up) = new_password(args.password_stdin)?;
            let hash = ferret_hub::auth::hash_password(&password)?;
            runtime()?.block_on(async {
                let store = args.store.open().await?;
                let account = store
                    .create_account(&args.name, &hash, args.admin)
                    .await
                    .with_context(|| format!("creating user {}", args.name))?;
                eprintln!(
                    "ferret: {} {} created",
                    if account.admin { "admin" } else { "user" },
                    account.name
                );
                if made_up {
                    println!("{password}");
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::List(args) => runtime()?.block_on(async {
            let store = args.store.open().await?;
            let accounts = store.accounts().await?;
            if args.json {
                for a in &accounts {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": a.id, "name": a.name, "admin": a.admin,
                            "owner": ferret_hub::auth::owner_did(&a.id), "createdAt": a.created_at,
                        })
                    );
                }
            } else {
                println!("{:<24} {:<6} {:<40} CREATED", "NAME", "ROLE", "ID");
                for a in &accounts {
                    println!(
                        "{:<24} {:<6} {:<40} {}",
                        a.name,
                        if a.admin { "admin" } else { "user" },
                        a.id,
                        date(a.created_at)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        UserCommand::Passwd(args) => {
            let (password, made_up) = new_password(args.password_stdin)?;
            let hash = ferret_hub::auth::hash_password(&password)?;
            runtime()?.block_on(async {
                let store = args.store.open().await?;
                let account = store
                    .account_by_name(&args.name)
                    .await?
                    .with_context(|| format!("no user {:?}", args.name))?;
                store.set_password(&account.id, &hash).await?;
                eprintln!("ferret: the password of {} was set", account.name);
                if made_up {
                    println!("{password}");
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::Delete(args) => runtime()?.block_on(async {
            let store = args.store.open().await?;
            let account = store
                .account_by_name(&args.name)
                .await?
                .with_context(|| format!("no user {:?}", args.name))?;
            if account.admin && store.accounts().await?.iter().filter(|a| a.admin).count() == 1 {
                bail!(
                    "{} is the last admin; make another admin first",
                    account.name
                );
            }
            let tokens = store
                .delete_account(&account.id)
                .await?
                .with_context(|| format!("no user {:?}", args.name))?;
            eprintln!(
                "ferret: user {} deleted with {} token(s); their images stay, owned by {}",
                account.name,
                tokens.len(),
                ferret_hub::auth::owner_did(&account.id)
            );
            Ok(ExitCode::SUCCESS)
        }),
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Create an API token for a user and print it (it is shown only once).
    Create(TokenCreateArgs),
    /// List API tokens (a user's, or everyone's): id, user, name, created, last used.
    List(TokenListArgs),
    /// Revoke an API token by its id (from `token list`).
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug)]
pub(crate) struct TokenCreateArgs {
    /// The user the token acts as.
    user: String,
    /// A label to tell tokens apart.
    #[arg(long, default_value = "cli")]
    name: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
pub(crate) struct TokenListArgs {
    /// Only this user's tokens.
    user: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
pub(crate) struct TokenRevokeArgs {
    /// The token's id (`tok…`).
    id: String,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    use ferret_store::AccountStore;
    match cmd {
        TokenCommand::Create(args) => runtime()?.block_on(async {
            let store = args.store.open().await?;
            let account = store
                .account_by_name(&args.user)
                .await?
                .with_context(|| format!("no user {:?}", args.user))?;
            let (token, hash) = ferret_hub::auth::new_api_token();
            let t = store.add_token(&account.id, &hash, &args.name).await?;
            eprintln!("ferret: token {} created for {}", t.id, account.name);
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }),
        TokenCommand::List(args) => runtime()?.block_on(async {
            let store = args.store.open().await?;
            let accounts = store.accounts().await?;
            let account = match &args.user {
                Some(u) => Some(
                    accounts
                        .iter()
                        .find(|a| &a.name == u)
                        .with_context(|| format!("no user {u:?}"))?,
                ),
                None => None,
            };
            let tokens = store.tokens(account.map(|a| a.id.as_str())).await?;
            let name_of = |id: &str| {
                accounts
                    .iter()
                    .find(|a| a.id == id)
                    .map_or("?", |a| a.name.as_str())
                    .to_owned()
            };
            if args.json {
                for t in &tokens {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": t.id, "user": name_of(&t.account_id), "name": t.name,
                            "createdAt": t.created_at, "lastUsedAt": t.last_used_at,
                        })
                    );
                }
            } else {
                println!(
                    "{:<40} {:<24} {:<24} {:<24} LAST USED",
                    "ID", "USER", "NAME", "CREATED"
                );
                for t in &tokens {
                    println!(
                        "{:<40} {:<24} {:<24} {:<24} {}",
                        t.id,
                        name_of(&t.account_id),
                        t.name,
                        date(t.created_at),
                        t.last_used_at.map_or_else(|| "never".to_owned(), date)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        TokenCommand::Revoke(args) => runtime()?.block_on(async {
            let store = args.store.open().await?;
            store
                .revoke_token(&args.id, None)
                .await?
                .with_context(|| format!("no token {:?}", args.id))?;
            eprintln!(
                "ferret: token {} revoked (running hubs stop accepting it within 10 s)",
                args.id
            );
            Ok(ExitCode::SUCCESS)
        }),
    }
}
