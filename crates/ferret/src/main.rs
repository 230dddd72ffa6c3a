//! The `ferret` binary: argument parsing, configuration resolved once into the engine's
//! plain option structs, progress display, output files, exit codes.

mod db_cmd;
mod env;
mod serve_cmd;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use ferret_engine::{Event, MatchOptions, ScanOptions};
use ferret_image::{Credentials, ImageSource, PlatformSpec, RegistryOptions, ResolveOptions};
use ferret_matcher::Severity;
use ferret_report::{DatabaseInfo, SbomFormat, ScanFormat, ScanReport, Tool};

// Parsing feeds and match records allocates many small strings: mimalloc makes the
// advisory import and lookups markedly faster than the system allocator (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (15 in its `mi_option_e`, mimalloc 2 and 3 alike; the
/// -sys crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system 10 ms after it is freed (mimalloc 2's default;
/// mimalloc 3 waits a second). A hub holds a large result frame only while the memory
/// budget lets it in; with a second's delay, the pages of frames already dealt with stayed
/// while the next ones came in, and the hub's memory grew past the budget.
fn purge_freed_memory_soon() {
    // SAFETY: sets one integer in mimalloc's table of options; called first thing in `main`,
    // before any other thread exists to read it.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
    }
}

/// Exit codes: 0 success, 1 a `--fail-on` gate tripped, 2 error.
pub(crate) const EXIT_ERROR: u8 = 2;
pub(crate) const EXIT_POLICY: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "ferret",
    version,
    about = "Find the packages and known vulnerabilities in container images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (repeat for more detail); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No progress display.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Find the known vulnerabilities of an image's packages; gate CI with --fail-on.
    Scan(ScanArgs),
    /// List the packages of an image as a table, JSON, SPDX 2.3 or CycloneDX 1.6.
    Sbom(SbomArgs),
    /// Version ordering questions, answered the way each ecosystem orders versions.
    #[command(subcommand)]
    Version(VersionCommand),
    /// The advisory database: import feeds, update them, look inside.
    Db(DbArgs),
    /// Run the scanning service: job queue, scanner subscription, REST API, metrics.
    Serve(serve_cmd::ServeArgs),
    /// Take scan jobs from a hub over its subscription and send back results.
    Scanner(serve_cmd::ScannerArgs),
    /// Talk to a running hub.
    #[command(subcommand)]
    Remote(serve_cmd::RemoteCommand),
    /// Manage the hub's accounts (on its database).
    #[command(subcommand)]
    User(serve_cmd::UserCommand),
    /// Manage API tokens (on the hub's database).
    #[command(subcommand)]
    Token(serve_cmd::TokenCommand),
}

#[derive(Args, Debug)]
struct DbArgs {
    /// Where the advisory database lives [default: $FERRET_DB_DIR, else ~/.cache/ferret/db]
    #[arg(long, global = true, value_name = "DIR")]
    db_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Import feed files: KIND is osv, debian-tracker or secdb. Re-importing a feed
    /// replaces its records.
    Import {
        kind: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Feeds, record counts, snapshot ids and the schema version.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One advisory by its id or any alias, as JSON.
    Show { id: String },
    /// Fetch the feeds (conditional requests) and swap the new database in atomically.
    Update {
        /// Fetch this feed instead of the defaults (repeatable): osv=URL,
        /// debian-tracker=URL or secdb=URL.
        #[arg(long = "feed", value_name = "KIND=URL")]
        feeds: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum VersionCommand {
    /// Print -1, 0 or 1 as A is lower than, equal to or higher than B. With --batch, read
    /// `A<TAB>B` lines from standard input and print one answer per line.
    Compare {
        /// dpkg, rpm, apk, pep440, semver, go, maven, maven-spec, rubygems, nuget, packagist,
        /// pub, cran, hackage, or an OSV ecosystem name (Debian, PyPI, npm, crates.io, Go, …).
        scheme: String,
        a: Option<String>,
        b: Option<String>,
        #[arg(long, conflicts_with_all = ["a", "b"])]
        batch: bool,
    },
}

#[derive(Args, Debug)]
struct SourceArgs {
    /// oci:DIR[:TAG|@DIGEST], docker-archive:FILE, dir:PATH, sbom:FILE (SPDX or CycloneDX
    /// JSON), or [HOST[:PORT]/]REPO[:TAG|@DIGEST]
    image: String,
    /// The distro to match against when the source names none or the wrong one, e.g.
    /// debian:12, ubuntu:22.04, alpine:3.19.
    #[arg(long, value_name = "ID:VERSION")]
    distro: Option<String>,
    /// Platform to choose from multi-platform images.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Registry user name; the password comes from --password-stdin or FERRET_REGISTRY_PASSWORD.
    #[arg(long)]
    username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Allow plain HTTP to this registry host[:port] (loopback hosts always may).
    #[arg(long, value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Largest file a cataloger may read, in bytes.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    max_file_size: u64,
    #[command(flatten)]
    cache: CacheArgs,
}

/// The layer cache's flags, for `scan`, `sbom` and `scanner`.
#[derive(Args, Debug)]
struct CacheArgs {
    /// Keep what reading each layer found in DIR, by the layer's diff ID: images sharing
    /// layers with one read before read only their own.
    #[arg(long, env = "FERRET_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The most the layer cache keeps, in MiB (least recently used out first).
    #[arg(
        long,
        default_value_t = 4096,
        value_name = "MIB",
        requires = "cache_dir"
    )]
    cache_size: u64,
}

impl CacheArgs {
    /// The cache the flags name, opened; `None` without `--cache-dir`.
    fn open(&self) -> anyhow::Result<Option<std::sync::Arc<ferret_engine::LayerCache>>> {
        let Some(dir) = &self.cache_dir else {
            return Ok(None);
        };
        let cache = ferret_engine::LayerCache::open(dir, self.cache_size.saturating_mul(1 << 20))?;
        Ok(Some(std::sync::Arc::new(cache)))
    }
}

#[derive(Args, Debug)]
struct SbomArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Format for standard output: table, json, spdx-json, cyclonedx-json.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    format: Option<String>,
    /// Also write FORMAT to FILE (repeatable); FORMAT alone writes to standard output.
    #[arg(short = 'o', long = "output", value_name = "FORMAT[=FILE]")]
    outputs: Vec<String>,
}

#[derive(Args, Debug)]
struct ScanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where the advisory database lives [default: $FERRET_DB_DIR, else ~/.cache/ferret/db]
    #[arg(long, value_name = "DIR")]
    db_dir: Option<PathBuf>,
    /// Format for standard output: table, json, grype-json, sarif, cyclonedx-json
    /// (with vulnerabilities), spdx-json (the SBOM).
    #[arg(long, short = 'f', value_name = "FORMAT")]
    format: Option<String>,
    /// Also write FORMAT to FILE (repeatable); FORMAT alone writes to standard output.
    #[arg(short = 'o', long = "output", value_name = "FORMAT[=FILE]")]
    outputs: Vec<String>,
    /// Exit 1 when a reported finding is at or above this severity (critical, high,
    /// medium, low, negligible or unknown), or with `kev` when one is in CISA's Known
    /// Exploited Vulnerabilities catalog. Repeatable, or comma-separated: `high,kev`.
    #[arg(long, value_name = "SEVERITY|kev", value_delimiter = ',')]
    fail_on: Vec<String>,
    /// Exit 1 when a reported finding's EPSS score (0 to 1, the probability of exploitation
    /// in the next 30 days) is at or above this.
    #[arg(long, value_name = "SCORE")]
    fail_on_epss: Option<f64>,
    /// Order of the table and JSON findings: severity (grouped by package, the default)
    /// or risk (known exploited first, then EPSS × severity).
    #[arg(long, value_name = "ORDER", default_value = "severity")]
    sort_by: String,
    /// Hide findings that have no fix (not fixed, will not fix).
    #[arg(long)]
    ignore_unfixed: bool,
    /// Triage rules (YAML: `ignore:` entries with `vulnerability`, optional `package` glob,
    /// `reason`, optional `expires` date); matching findings are listed as suppressed.
    #[arg(long, value_name = "FILE")]
    ignore: Option<PathBuf>,
    /// An OpenVEX 0.2 document: its `not_affected` and `fixed` statements suppress the
    /// findings they name, which are listed as suppressed with the justification.
    #[arg(long, value_name = "FILE")]
    vex: Option<PathBuf>,
    /// Keep as findings the Go vulnerabilities whose vulnerable functions the binary does
    /// not hold (by default they are listed as suppressed: not affected, vulnerable code
    /// not present).
    #[arg(long)]
    show_unreachable: bool,
    /// For an `sbom:` source: the root of the file system the SBOM describes. The Go
    /// binaries it lists are read from here to see which vulnerable functions they hold;
    /// without it, no Go finding of the SBOM is suppressed.
    #[arg(long, value_name = "DIR")]
    sbom_root: Option<PathBuf>,
}

fn main() -> ExitCode {
    purge_freed_memory_soon();
    let cli = Cli::parse();
    // The service commands say what they do (where they listen, who connects) at the
    // default level; the one-shot commands only warn.
    let service = matches!(cli.command, Command::Serve(_) | Command::Scanner(_));
    init_logging(cli.verbose.saturating_add(u8::from(service)));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "ferret: error: {}", chain(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var(env::LOG).unwrap_or_else(|_| default.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in CI logs and files.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan(args, cli.quiet),
        Command::Sbom(args) => sbom(args, cli.quiet),
        Command::Version(VersionCommand::Compare {
            scheme,
            a,
            b,
            batch,
        }) => version_compare(&scheme, a, b, batch),
        Command::Db(args) => db_cmd::run(args, cli.quiet),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Scanner(args) => serve_cmd::scanner(args),
        Command::Remote(cmd) => serve_cmd::remote(cmd),
        Command::User(cmd) => serve_cmd::user(cmd),
        Command::Token(cmd) => serve_cmd::token(cmd),
    }
}

fn sign(o: std::cmp::Ordering) -> i8 {
    match o {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

fn version_compare(
    scheme: &str,
    a: Option<String>,
    b: Option<String>,
    batch: bool,
) -> anyhow::Result<ExitCode> {
    let scheme = ferret_version::Scheme::from_name(scheme).with_context(|| {
        let names: Vec<_> = ferret_version::Scheme::ALL
            .iter()
            .map(|s| s.name())
            .collect();
        format!(
            "unknown version scheme {scheme:?}; expected one of {} or an OSV ecosystem name",
            names.join(", ")
        )
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !batch {
        let (Some(a), Some(b)) = (a, b) else {
            bail!("give two versions, A and B, or --batch");
        };
        writeln!(out, "{}", sign(scheme.compare(&a, &b)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let stdin = std::io::stdin();
    for (n, line) in std::io::BufRead::lines(stdin.lock()).enumerate() {
        let line = line.context("reading standard input")?;
        let line = line.trim_end_matches('\r');
        match line.split_once('\t') {
            Some((a, b)) => match scheme.compare(a, b) {
                Ok(o) => writeln!(out, "{}", sign(o))?,
                Err(e) => writeln!(out, "error: {e}")?,
            },
            None => writeln!(out, "error: line {}: expected A<TAB>B", n + 1)?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Where one rendering goes.
struct Output<F> {
    format: F,
    file: Option<PathBuf>,
}

fn parse_format<F: Copy>(s: &str, all: &[(&'static str, F)]) -> anyhow::Result<F> {
    all.iter()
        .find(|(n, _)| *n == s)
        .map(|(_, f)| *f)
        .with_context(|| {
            let names: Vec<_> = all.iter().map(|(n, _)| *n).collect();
            format!("unknown format {s:?}; expected one of {}", names.join(", "))
        })
}

/// `-f FORMAT` (standard output, table by default) and `-o FORMAT[=FILE]` outputs.
fn parse_outputs<F: Copy>(
    format: Option<&str>,
    outputs: &[String],
    all: &[(&'static str, F)],
) -> anyhow::Result<Vec<Output<F>>> {
    let mut out = Vec::new();
    for o in outputs {
        let (name, file) = match o.split_once('=') {
            Some((f, path)) if !path.is_empty() => (f, Some(PathBuf::from(path))),
            Some((f, _)) => bail!("-o {f}=: missing file name"),
            None => (o.as_str(), None),
        };
        out.push(Output {
            format: parse_format(name, all)?,
            file,
        });
    }
    if format.is_some() || out.is_empty() {
        let format = parse_format(format.unwrap_or("table"), all)?;
        out.insert(0, Output { format, file: None });
    }
    Ok(out)
}

/// Writes every output: standard output directly, files atomically.
fn write_outputs<F: Copy>(
    outputs: &[Output<F>],
    write: impl Fn(F, &mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for out in outputs {
        match &out.file {
            None => {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                write(out.format, &mut lock)?;
                lock.flush()?;
            }
            Some(path) => write_atomically(path, |w| write(out.format, w))?,
        }
    }
    Ok(())
}

fn sbom(args: SbomArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let outputs = parse_outputs(args.format.as_deref(), &args.outputs, SbomFormat::ALL)?;
    let (source, options) = resolve_source(&args.source)?;
    let inventory = with_progress(quiet, |progress| {
        ferret_engine::inventory(&source, &options, progress)
    })?;
    if !quiet {
        let mut err = std::io::stderr().lock();
        for note in &inventory.notes {
            let _ = writeln!(err, "ferret: note: {note}");
        }
    }
    let tool = Tool::default();
    write_outputs(&outputs, |format, w| {
        ferret_report::write_sbom(&inventory, format, &tool, w).map_err(Into::into)
    })?;
    Ok(ExitCode::SUCCESS)
}

fn scan(args: ScanArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let outputs = parse_outputs(args.format.as_deref(), &args.outputs, ScanFormat::ALL)?;
    let gate = Gate::parse(&args.fail_on, args.fail_on_epss)?;
    let order = match args.sort_by.as_str() {
        "severity" => ferret_report::Order::Severity,
        "risk" => ferret_report::Order::Risk,
        other => bail!("--sort-by {other:?}: expected severity or risk"),
    };
    let ignore = match &args.ignore {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
            let rules = ferret_matcher::IgnoreRules::parse(&text, &today)
                .with_context(|| path.display().to_string())?;
            for r in &rules.expired {
                eprintln!(
                    "ferret: warning: {}: the rule for {} expired on {}; it no longer ignores",
                    path.display(),
                    r.vulnerability,
                    r.expires.as_deref().unwrap_or("")
                );
            }
            Some(rules)
        }
    };
    let vex = match &args.vex {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(ferret_matcher::Vex::parse(&text).with_context(|| path.display().to_string())?)
        }
    };
    let dir = db_cmd::db_dir(args.db_dir)?;
    let db_file = dir.join(ferret_advisory::DB_FILE);
    if !db_file.exists() {
        bail!(
            "no advisory database in {}: run `ferret db update` (or `ferret db import`) first",
            dir.display()
        );
    }
    let db = ferret_advisory::Database::open_file(&db_file)?;
    let status = db.status()?;
    if status.feeds.is_empty() {
        bail!(
            "the advisory database in {} holds no feed: run `ferret db update` (or `ferret db import`) first",
            dir.display()
        );
    }
    let (source, mut options) = resolve_source(&args.source)?;
    let go_symbols = if args.show_unreachable {
        None
    } else {
        Some(std::sync::Arc::new(ferret_engine::GoSymbolSet::new(
            db.go_symbols()?,
        )))
    };
    options.go_symbols.clone_from(&go_symbols);
    options.sbom_root = args.sbom_root.clone();
    let inventory = with_progress(quiet, |progress| {
        ferret_engine::inventory(&source, &options, progress)
    })?;
    let started = std::time::Instant::now();
    let matches = ferret_engine::match_inventory(
        &inventory,
        &db,
        MatchOptions {
            ignore_unfixed: args.ignore_unfixed,
            ignore: ignore.as_ref(),
            vex: vex.as_ref(),
            go_symbols: go_symbols.as_deref(),
            cache: None,
        },
    )?;
    tracing::info!(
        packages = inventory.packages.len(),
        micros = started.elapsed().as_micros() as u64,
        "matched"
    );
    if !quiet {
        let mut err = std::io::stderr().lock();
        for note in &inventory.notes {
            let _ = writeln!(err, "ferret: note: {note}");
        }
    }
    let report = ScanReport {
        inventory: &inventory,
        matches: &matches,
        database: DatabaseInfo {
            snapshot: status.snapshot,
            schema_version: status.schema_version,
        },
        order,
    };
    let tool = Tool::default();
    write_outputs(&outputs, |format, w| {
        ferret_report::write_scan(&report, format, &tool, w).map_err(Into::into)
    })?;
    // The gate sees exactly the findings the report shows.
    let tripped = gate.tripped_by(&report);
    if !quiet && let Some(why) = &tripped {
        eprintln!("ferret: --fail-on: {why}");
    }
    Ok(if tripped.is_some() {
        ExitCode::from(EXIT_POLICY)
    } else {
        ExitCode::SUCCESS
    })
}

/// The CI gate of `ferret scan`: `--fail-on SEVERITY`, `--fail-on kev`, `--fail-on-epss`.
#[derive(Debug, Default, Clone, PartialEq)]
struct Gate {
    severity: Option<Severity>,
    kev: bool,
    epss: Option<f64>,
}

impl Gate {
    fn parse(fail_on: &[String], epss: Option<f64>) -> anyhow::Result<Self> {
        let mut gate = Gate::default();
        for item in fail_on {
            if item.trim().eq_ignore_ascii_case("kev") {
                gate.kev = true;
            } else {
                let s = item
                    .parse::<Severity>()
                    .map_err(|e| anyhow::anyhow!("--fail-on {item:?}: {e}, or kev"))?;
                // The lowest level named is the one that counts.
                gate.severity = Some(gate.severity.map_or(s, |old| old.min(s)));
            }
        }
        if let Some(e) = epss
            && !(0.0..=1.0).contains(&e)
        {
            bail!("--fail-on-epss {e}: an EPSS score is from 0 to 1");
        }
        gate.epss = epss;
        Ok(gate)
    }

    /// Why the gate trips on this report, if it does.
    fn tripped_by(&self, report: &ScanReport<'_>) -> Option<String> {
        if let Some(level) = self.severity {
            let n = report.summary().at_or_above(level);
            if n > 0 {
                return Some(format!("{n} finding(s) at or above {level}"));
            }
        }
        if self.kev {
            let n = report.findings().filter(|(_, f)| f.kev.is_some()).count();
            if n > 0 {
                return Some(format!("{n} finding(s) in CISA's KEV catalog"));
            }
        }
        if let Some(min) = self.epss {
            let n = report
                .findings()
                .filter(|(_, f)| f.epss.as_ref().is_some_and(|e| e.score >= min))
                .count();
            if n > 0 {
                return Some(format!(
                    "{n} finding(s) with an EPSS score of {min} or more"
                ));
            }
        }
        None
    }
}

/// `--fail-on SEVERITY`.
pub(crate) fn parse_fail_on(s: Option<&str>) -> anyhow::Result<Option<Severity>> {
    s.map(str::parse::<Severity>)
        .transpose()
        .map_err(anyhow::Error::msg)
}

/// Writes a file through a temporary sibling renamed into place, so a failed run never
/// leaves a partial report behind.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn resolve_source(args: &SourceArgs) -> anyhow::Result<(ImageSource, ScanOptions)> {
    let source = ImageSource::parse(&args.image)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<PlatformSpec>)
        .transpose()?;
    let credentials = match &args.username {
        None => None,
        Some(user) => {
            let password = if args.password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from standard input")?;
                s.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                std::env::var(env::REGISTRY_PASSWORD).with_context(|| {
                    format!(
                        "--username needs a password: pass --password-stdin or set {}",
                        env::REGISTRY_PASSWORD
                    )
                })?
            };
            Some(Credentials {
                username: user.clone(),
                password,
            })
        }
    };
    let docker_config = std::env::var_os(env::DOCKER_CONFIG)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"));
    let mut options = ScanOptions {
        resolve: ResolveOptions {
            platform,
            registry: RegistryOptions {
                credentials,
                insecure_registries: args.insecure_registry.clone(),
                docker_config,
                ..RegistryOptions::default()
            },
        },
        fallback_time: fallback_time(),
        ..ScanOptions::default()
    };
    options.limits.max_file_size = args.max_file_size;
    options.layer_cache = args.cache.open()?;
    options.distro = args.distro.as_deref().map(parse_distro).transpose()?;
    Ok((source, options))
}

/// `--distro ID:VERSION` (a version without digits is a codename: `debian:trixie`).
fn parse_distro(s: &str) -> anyhow::Result<ferret_model::Distro> {
    s.split_once(':')
        .filter(|(_, v)| !v.trim().is_empty())
        .and_then(|(id, version)| ferret_model::Distro::from_id_version(id, version, "--distro"))
        .with_context(|| format!("--distro {s:?}: expected ID:VERSION, e.g. debian:12"))
}

fn fallback_time() -> String {
    let from_env = std::env::var(env::SOURCE_DATE_EPOCH)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0));
    from_env
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn with_progress<T>(quiet: bool, f: impl FnOnce(&(dyn Fn(Event) + Sync)) -> T) -> T {
    if quiet || !std::io::stderr().is_terminal() {
        return f(&|_| {});
    }
    let bar: OnceLock<indicatif::ProgressBar> = OnceLock::new();
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} layers {msg} {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let layers_done = std::sync::atomic::AtomicUsize::new(0);
    let layers_total = std::sync::atomic::AtomicUsize::new(0);
    let handler = |event: Event| match event {
        Event::Resolved { layers, bytes } => {
            layers_total.store(layers, std::sync::atomic::Ordering::Relaxed);
            let b = indicatif::ProgressBar::new(bytes).with_style(style.clone());
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b.set_message(format!("0/{layers}"));
            let _ = bar.set(b);
        }
        Event::Read(n) => {
            if let Some(b) = bar.get() {
                b.inc(n);
            }
        }
        Event::LayerDone => {
            let done = layers_done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(b) = bar.get() {
                b.set_message(format!(
                    "{done}/{}",
                    layers_total.load(std::sync::atomic::Ordering::Relaxed)
                ));
            }
        }
    };
    let result = f(&handler);
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    result
}
