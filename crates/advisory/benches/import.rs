//! Import throughput and lookup latency of the advisory database.
//!
//! The shared OSV records (PyPI, Go, crates.io) are scaled up to about 300,000 by giving
//! copies new ids and package names, written as JSON lines, read and imported; then 1,000
//! (ecosystem, name) keys are looked up, half of them for packages no advisory names, as
//! for an image's package list. Run with `cargo bench -p ferret-advisory`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::peak_rss_mib;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ferret_advisory::{Database, FeedKind, Validators, import_feeds};

const TARGET_RECORDS: usize = 300_000;

fn main() {
    // A child run: the lookups alone, in a fresh process as a scan would do them.
    if let Some(dir) = std::env::var_os(LOOKUP_CHILD) {
        lookup_child(Path::new(&dir));
        return;
    }
    let testdata = std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        std::path::PathBuf::from,
    );
    let mut records: Vec<serde_json::Value> = Vec::new();
    for f in ["pypi-pysec.jsonl", "go.jsonl", "crates-io.jsonl"] {
        let text = std::fs::read_to_string(testdata.join("advisories/osv").join(f))
            .expect("shared OSV records");
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("valid JSON")),
        );
    }
    records.retain(|r| r.get("withdrawn").is_none());
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("scaled.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
    let copies = TARGET_RECORDS.div_ceil(records.len());
    let mut written = 0;
    let mut packages = std::collections::BTreeSet::new();
    for copy in 0..copies {
        for r in &records {
            let mut r = r.clone();
            r["id"] = format!("{}-{copy}", r["id"].as_str().unwrap_or("X")).into();
            if let Some(affected) = r["affected"].as_array_mut() {
                for a in affected {
                    if let Some(name) = a["package"]["name"].as_str() {
                        let name = format!("{name}-{copy}");
                        packages.insert((
                            a["package"]["ecosystem"].as_str().unwrap_or("").to_owned(),
                            name.clone(),
                        ));
                        a["package"]["name"] = name.into();
                    }
                }
            }
            writeln!(out, "{r}").expect("write");
            written += 1;
        }
    }
    // Written out before the clock starts, so writeback does not compete with the import.
    out.into_inner().expect("flush").sync_all().expect("sync");

    // What `ferret db import osv scaled.jsonl` does: stream, parse, store, commit.
    let started = Instant::now();
    let mut db = Database::open(dir.path()).expect("open");
    let summary = import_feeds(
        &mut db,
        FeedKind::Osv,
        std::slice::from_ref(&input),
        None,
        "bench",
        &Validators::default(),
    )
    .expect("read")
    .pop()
    .expect("one feed")
    .expect("import");
    let total = started.elapsed();
    let size = db.status().expect("status").size_bytes;
    drop(db);

    // Keys as an image would ask: spread evenly over the distinct packages, and as many
    // for packages no advisory names.
    let packages: Vec<_> = packages.into_iter().collect();
    let step = (packages.len() / 500).max(1);
    let mut keys = Vec::new();
    for (eco, name) in packages.iter().step_by(step).take(500) {
        keys.push((eco.clone(), name.clone()));
        keys.push((eco.clone(), format!("{name}-not-vulnerable")));
    }
    let key_file = dir.path().join("keys.tsv");
    let text: String = keys.iter().map(|(e, n)| format!("{e}\t{n}\n")).collect();
    std::fs::write(&key_file, text).expect("write keys");
    // Each run in a fresh process (this benchmark again), as a scan opens the database:
    // nothing left over from the import. The child times its first batch (a one-shot
    // `ferret scan`) and a later one on a new connection (a long-running `ferret serve`).
    let runs: Vec<(f64, f64, usize)> = (0..RUNS)
        .map(|_| {
            let out = std::process::Command::new(std::env::current_exe().expect("exe"))
                .env(LOOKUP_CHILD, dir.path())
                .output()
                .expect("run lookups");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).expect("utf-8");
            let fields: Vec<&str> = text.split_whitespace().collect();
            (
                fields[0].parse().expect("ms"),
                fields[1].parse().expect("ms"),
                fields[2].parse().expect("hits"),
            )
        })
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let hits = runs[0].2;
    let cold_ms = median(runs.iter().map(|r| r.0).collect());
    let warm_ms = median(runs.iter().map(|r| r.1).collect());

    println!(
        "records imported: {} (of {written} written)",
        summary.records
    );
    println!(
        "import:           {:.2} s = {:.0} records/s",
        total.as_secs_f64(),
        summary.records as f64 / total.as_secs_f64()
    );
    println!(
        "1,000 lookups:    {cold_ms:.2} ms in a new process, {warm_ms:.2} ms once it has run; medians of {RUNS} ({hits} advisories returned)"
    );
    println!(
        "database size:    {:.1} MiB",
        size as f64 / (1 << 20) as f64
    );
    println!("peak RSS:         {:.0} MiB", peak_rss_mib());
}

const RUNS: usize = 5;
const LOOKUP_CHILD: &str = "FERRET_BENCH_LOOKUP_DIR";

/// Looks up the keys in `dir/keys.tsv` three times, each on a new connection to the
/// database in `dir`, and prints the first and last times in milliseconds and the
/// advisories returned.
fn lookup_child(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("keys.tsv")).expect("keys");
    let keys: Vec<(ferret_advisory::Ecosystem, &str, &str)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(e, n)| (e.parse().expect("ecosystem"), "", n))
        .collect();
    let mut times = Vec::new();
    let mut hits = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let db = Database::open(dir).expect("open");
        let answers = db.query_many(&keys).expect("query");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        hits = answers.iter().map(Vec::len).sum::<usize>();
    }
    println!("{:.3} {:.3} {hits}", times[0], times[2]);
}
