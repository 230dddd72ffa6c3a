//! `ferret db`: import feeds, show what the advisory database holds.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use ferret_advisory::{Database, FeedEvent, FeedKind, Validators, import_feeds_with};

use crate::{DbArgs, DbCommand, EXIT_ERROR, env};

/// `--db-dir`, else `$FERRET_DB_DIR`, else the user's cache directory.
pub(crate) fn db_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(d) = flag.or_else(|| std::env::var_os(env::DB_DIR).map(PathBuf::from)) {
        return Ok(d);
    }
    let cache = std::env::var_os(env::XDG_CACHE_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| PathBuf::from(h).join(".cache")))
        .context("no --db-dir given and neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(cache.join("ferret").join("db"))
}

pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Progress bars for downloads (bytes of total, rate) and imports (records), on a
/// terminal's standard error; nothing under `-q` or when standard error is not a terminal.
struct FeedBars {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl FeedBars {
    fn new() -> Self {
        Self {
            bar: Mutex::new(None),
        }
    }

    fn start(&self, bar: indicatif::ProgressBar) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        // Drawn at once: a small feed may be done before the first tick.
        bar.tick();
        if let Some(old) = self.lock().replace(bar) {
            old.finish_and_clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn event(&self, event: FeedEvent<'_>) {
        let style = |template: &str| {
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
        };
        match event {
            FeedEvent::Download { url, total } => {
                let bar = match total {
                    Some(t) => indicatif::ProgressBar::new(t).with_style(style(
                        "{spinner} {msg} {bytes}/{total_bytes} {bytes_per_sec}",
                    )),
                    None => indicatif::ProgressBar::no_length()
                        .with_style(style("{spinner} {msg} {bytes} {bytes_per_sec}")),
                };
                bar.set_message(format!("fetching {}", short(url)));
                self.start(bar);
            }
            FeedEvent::Downloaded(n) => {
                if let Some(b) = self.lock().as_ref() {
                    b.inc(n);
                }
            }
            FeedEvent::Import { source } => {
                let bar = indicatif::ProgressBar::no_length()
                    .with_style(style("{spinner} importing {msg}: {human_pos} records"));
                bar.set_message(short(source).to_owned());
                self.start(bar);
            }
            FeedEvent::Records(n) => {
                if let Some(b) = self.lock().as_ref() {
                    b.set_position(n);
                }
            }
            FeedEvent::Fetched { .. } | FeedEvent::Imported { .. } => {
                if let Some(b) = self.lock().take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}

impl Drop for FeedBars {
    fn drop(&mut self) {
        if let Some(b) = self.lock().take() {
            b.finish_and_clear();
        }
    }
}

/// The last part of a URL or path: what a progress line has room for.
fn short(s: &str) -> &str {
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}

pub(crate) fn run(args: DbArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let bars = (!quiet && std::io::stderr().is_terminal()).then(FeedBars::new);
    let on_event = |e: FeedEvent<'_>| {
        if let Some(b) = &bars {
            b.event(e);
        }
    };
    let dir = db_dir(args.db_dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    match args.command {
        DbCommand::Import { kind, paths } => {
            let kind = FeedKind::parse(&kind).with_context(|| {
                format!(
                    "unknown feed kind {kind:?}; expected one of {}",
                    FeedKind::ALL.map(FeedKind::name).join(", ")
                )
            })?;
            let mut database = Database::open(&dir)?;
            let results = import_feeds_with(
                &mut database,
                kind,
                &paths,
                None,
                &now(),
                &Validators::default(),
                &on_event,
            )?;
            let mut failed = false;
            for result in results {
                match result {
                    Ok(s) => {
                        for (id, why) in s.first_skipped.iter().take(5) {
                            writeln!(err, "ferret: skipped {id}: {why}")?;
                        }
                        if s.skipped > 5 {
                            writeln!(err, "ferret: … and {} more skipped", s.skipped - 5)?;
                        }
                        writeln!(
                            out,
                            "imported {}: {} records ({} withdrawn dropped, {} malformed skipped)",
                            s.feed, s.records, s.withdrawn, s.skipped
                        )?;
                    }
                    Err(e) => {
                        writeln!(err, "ferret: error: {e}")?;
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            })
        }
        DbCommand::Status { json } => {
            let status = Database::open(&dir)?.status()?;
            if json {
                let feeds: Vec<_> = status
                    .feeds
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "name": f.name, "kind": f.kind, "source": f.source, "fetchedAt": f.fetched_at,
                            "records": f.records, "snapshot": f.snapshot,
                        })
                    })
                    .collect();
                let doc = serde_json::json!({
                    "path": status.path, "schemaVersion": status.schema_version, "snapshot": status.snapshot,
                    "sizeBytes": status.size_bytes, "feeds": feeds,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            } else {
                writeln!(
                    out,
                    "database {} (schema {}, {} bytes)",
                    status.path.display(),
                    status.schema_version,
                    status.size_bytes
                )?;
                writeln!(out, "snapshot {}", status.snapshot)?;
                let mut table = comfy_table::Table::new();
                table.load_preset(comfy_table::presets::NOTHING);
                table.set_header(vec!["FEED", "KIND", "RECORDS", "FETCHED", "SOURCE"]);
                for f in &status.feeds {
                    table.add_row(vec![
                        f.name.clone(),
                        f.kind.clone(),
                        f.records.to_string(),
                        f.fetched_at.clone(),
                        f.source.clone(),
                    ]);
                }
                writeln!(out, "{table}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Update { feeds } => {
            let mut options = ferret_advisory::UpdateOptions::default();
            if !feeds.is_empty() {
                options.sources = feeds
                    .iter()
                    .map(|f| f.parse().map_err(|e| anyhow::anyhow!("--feed {e}")))
                    .collect::<anyhow::Result<_>>()?;
            }
            let report = ferret_advisory::update_with(&dir, &options, &now(), &on_event)?;
            drop(bars);
            for url in &report.not_modified {
                writeln!(out, "not modified: {url}")?;
            }
            for s in &report.imported {
                writeln!(
                    out,
                    "updated {}: {} records ({} withdrawn dropped, {} malformed skipped)",
                    s.feed, s.records, s.withdrawn, s.skipped
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Show { id } => {
            let database = Database::open(&dir)?;
            let found = database.show(&id)?;
            if found.is_empty() {
                bail!("no advisory {id:?} in {}", database.path().display());
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
