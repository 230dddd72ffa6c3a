//! `ferret db`: import feeds, show what the advisory database holds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ferret_advisory::{Database, FeedKind, Validators, import_feeds};

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

pub(crate) fn run(args: DbArgs) -> anyhow::Result<ExitCode> {
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
            let results = import_feeds(
                &mut database,
                kind,
                &paths,
                None,
                &now(),
                &Validators::default(),
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
                    .map(|f| {
                        let (kind, url) = f
                            .split_once('=')
                            .with_context(|| format!("--feed {f:?}: expected KIND=URL"))?;
                        let kind = FeedKind::parse(kind)
                            .with_context(|| format!("--feed {f:?}: unknown feed kind {kind:?}"))?;
                        Ok(ferret_advisory::FeedSource {
                            kind,
                            url: url.to_owned(),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            let report = ferret_advisory::update(&dir, &options, &now())?;
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
