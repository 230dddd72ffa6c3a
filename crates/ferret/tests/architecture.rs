//! The dependency rules of ARCHITECTURE.md, read from `cargo metadata`: each workspace
//! crate may depend (normally or to build) only on the workspace crates its row names, so
//! data flows one way and the engine's stages stay free of the service.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Each crate and the workspace crates it may depend on. Keep in step with
/// ARCHITECTURE.md's table.
const RULES: &[(&str, &[&str])] = &[
    ("ferret-model", &[]),
    ("ferret-version", &["ferret-model"]),
    ("ferret-image", &["ferret-model"]),
    ("ferret-layers", &["ferret-model"]),
    ("ferret-catalog", &["ferret-model", "ferret-layers"]),
    ("ferret-sbom", &["ferret-model"]),
    ("ferret-advisory", &["ferret-model", "ferret-version"]),
    (
        "ferret-matcher",
        &["ferret-model", "ferret-version", "ferret-advisory"],
    ),
    (
        "ferret-engine",
        &[
            "ferret-model",
            "ferret-image",
            "ferret-layers",
            "ferret-catalog",
            "ferret-sbom",
            "ferret-advisory",
            "ferret-matcher",
        ],
    ),
    ("ferret-report", &["ferret-model", "ferret-matcher"]),
    ("ferret-store", &["ferret-model"]),
    // Test support is a dev-dependency of the others, never a normal one.
    ("ferret-testsupport", &["ferret-store", "ferret-worker"]),
    (
        "ferret-worker",
        &[
            "ferret-model",
            "ferret-image",
            "ferret-advisory",
            "ferret-engine",
            "ferret-report",
        ],
    ),
    (
        "ferret-hub",
        &[
            "ferret-model",
            "ferret-image",
            "ferret-report",
            "ferret-store",
            "ferret-worker",
        ],
    ),
    (
        "ferret",
        &[
            "ferret-model",
            "ferret-version",
            "ferret-image",
            "ferret-layers",
            "ferret-advisory",
            "ferret-matcher",
            "ferret-engine",
            "ferret-report",
            "ferret-store",
            "ferret-worker",
            "ferret-hub",
        ],
    ),
];

#[test]
fn crates_depend_only_on_what_architecture_md_allows() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut seen = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        seen.push(name.to_owned());
        let Some(allowed) = rules.get(name) else {
            wrong.push(format!(
                "{name} has no row in the rules (ARCHITECTURE.md and this test)"
            ));
            continue;
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            // Dev-dependencies (tests, benches) may use anything.
            if dep["kind"].as_str() == Some("dev") || !dep_name.starts_with("ferret") {
                continue;
            }
            if !allowed.contains(&dep_name) {
                wrong.push(format!("{name} depends on {dep_name}"));
            }
        }
    }
    for (name, _) in RULES {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} is in the rules but not in the workspace"
        );
    }
    assert!(
        wrong.is_empty(),
        "dependencies ARCHITECTURE.md does not allow:\n{}",
        wrong.join("\n")
    );
}
