//! The README's walkthrough, run as written: its fenced commands after the
//! `<!-- walkthrough -->` marker go to bash in order, in a fresh directory, against a real
//! registry holding the Debian fixture as `app:1.0`. Only the first line's addresses change
//! (to free ports and that registry), and `cargo install` is answered by the binary this
//! test was built with, so the section cannot rot.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferret_testsupport::service::{have, pushed_fixture};
use ferret_testsupport::*;

fn section() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after = readme
        .split_once("<!-- walkthrough -->")
        .expect("the README marks its walkthrough")
        .1;
    let body = after
        .trim_start()
        .strip_prefix("```sh\n")
        .expect("a sh block follows the marker");
    let body = &body[..body.find("\n```").expect("the block ends")];
    body.lines().map(str::to_owned).collect()
}

#[test]
fn the_readme_walkthrough_runs() {
    let here = have("docker-registry") && have("curl");
    if !here {
        assert!(
            std::env::var_os("CI").is_none(),
            "docker-registry and curl are needed"
        );
        eprintln!("\n*** SKIPPED: docker-registry and curl are needed ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry = pushed_fixture(d, "1.0");
    let mut lines = section();
    assert!(lines[0].starts_with("export REGISTRY="), "{}", lines[0]);
    lines[0] = format!(
        "export REGISTRY={} HUB=127.0.0.1:{} GRPC=127.0.0.1:{}",
        registry.addr,
        free_port(),
        free_port()
    );
    // The binary under test stands in for the one `cargo install` would build.
    let install = lines
        .iter()
        .position(|l| l.starts_with("cargo install "))
        .expect("the walkthrough installs ferret");
    lines[install] = "true  # installed: the binary under test".to_owned();
    // Offline: the fixture's feed stands in for the ones `ferret db update` fetches.
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let update = lines
        .iter()
        .position(|l| l.starts_with("ferret db update"))
        .expect("the walkthrough fetches the advisories");
    lines[update] = format!("ferret db import debian-tracker {}", feed.display());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ferret"));
    let script = format!(
        "set -euo pipefail\nexport PATH={}:$PATH FERRET_DB_DIR={}\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n{}\n",
        bin.parent().unwrap().display(),
        d.join("db").display(),
        lines.join("\n")
    );
    // Bounded: a step that never ends fails the test rather than hanging it.
    let out = Command::new("timeout")
        .arg("300")
        .arg("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(d.join("walkthrough/hub.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}\n{stderr}\nhub log:\n{log}"
    );
    // What each door said.
    assert!(stdout.contains("ferret hub listening"), "{stdout}");
    assert!(stdout.contains("\"scan_status\":\"completed\""), "{stdout}");
    assert!(stdout.contains("alice"), "{stdout}");
    assert!(
        stdout.contains("303 http://"),
        "the console answers at /: {stdout}"
    );
    let cdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("walkthrough/app.cdx.json")).unwrap())
            .unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    validate_sarif(&d.join("walkthrough/app.sarif"));
}
