//! NVD JSON 2.0 import: throughput and peak memory, which must not grow with the file.
//!
//! The real NVD records of `testdata/advisories/nvd` are copied under new CVE ids into
//! feed files of about 30 MB and 300 MB (a yearly NVD file is a few hundred MB), each
//! imported by a fresh child process that reports its records/s and its peak resident
//! set (VmHWM). Run with `cargo bench -p ferret-advisory --bench nvd`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::peak_rss_mib;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ferret_advisory::{Database, FeedKind, Validators, import_feeds};

const CHILD: &str = "FERRET_BENCH_NVD_CHILD";

fn main() {
    if let Some(file) = std::env::var_os(CHILD) {
        child(Path::new(&file));
        return;
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/advisories/nvd/nvdcve-2.0-sample.json");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sample).expect("the NVD sample")).expect("JSON");
    let items: Vec<serde_json::Value> = doc["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .clone();
    let dir = tempfile::tempdir().expect("temp dir");
    for target_mb in [30u64, 300] {
        let file = dir.path().join(format!("nvdcve-2.0-{target_mb}mb.json"));
        let records = generate(&file, &items, target_mb << 20);
        let size = std::fs::metadata(&file).expect("size").len();
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env(CHILD, &file)
            .output()
            .expect("child");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "nvd import: {:.0} MB, {records} records: {}",
            size as f64 / 1e6,
            String::from_utf8_lossy(&out.stdout).trim()
        );
        std::fs::remove_file(&file).ok();
    }
}

/// Writes a feed file of about `bytes`, streaming; returns the number of records.
fn generate(path: &Path, items: &[serde_json::Value], bytes: u64) -> usize {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    write!(
        out,
        r#"{{"resultsPerPage":0,"startIndex":0,"totalResults":0,"format":"NVD_CVE","version":"2.0","timestamp":"2026-12-01T00:00:00.000","vulnerabilities":["#
    )
    .expect("write");
    let mut written = 0u64;
    let mut n = 0usize;
    while written < bytes {
        let mut item = items[n % items.len()].clone();
        item["cve"]["id"] = format!("CVE-9000-{:07}", n).into();
        let text = serde_json::to_string(&item).expect("JSON");
        if n > 0 {
            out.write_all(b",").expect("write");
        }
        out.write_all(text.as_bytes()).expect("write");
        written += text.len() as u64 + 1;
        n += 1;
    }
    out.write_all(b"]}").expect("write");
    out.flush().expect("flush");
    n
}

fn child(file: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = Database::open(dir.path()).expect("database");
    let started = Instant::now();
    let results = import_feeds(
        &mut db,
        FeedKind::Nvd,
        &[file.to_owned()],
        None,
        "2026-12-01T00:00:00Z",
        &Validators::default(),
    )
    .expect("import");
    let summary = results
        .into_iter()
        .next()
        .expect("one feed")
        .expect("imported");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:.1} s, {:.0} records/s, peak RSS {:.0} MiB",
        secs,
        (summary.records + summary.withdrawn) as f64 / secs,
        peak_rss_mib()
    );
}
