//! Validators we did not write: the SPDX tools, the CycloneDX schema, Microsoft's SARIF
//! Multitool; and how a test finds a tool or says loudly that it skips.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub fn python() -> String {
    std::env::var("FERRET_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether an outside tool answers; in CI a missing tool fails instead of skipping.
pub fn tool_available(cmd: &mut Command, what: &str) -> bool {
    let ok = cmd.output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is required in CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: {what} is not available; this validation did not run ***\n");
    }
    ok
}

/// Validates an SPDX document with the SPDX project's own `pyspdxtools`.
pub fn validate_spdx(path: &Path) {
    if !tool_available(
        Command::new("pyspdxtools").arg("--help"),
        "pyspdxtools (PyPI spdx-tools)",
    ) {
        return;
    }
    let v = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        v.status.success(),
        "pyspdxtools rejected {}:\n{text}",
        path.display()
    );
    assert!(!text.to_lowercase().contains("invalid"), "{text}");
}

/// Validates a CycloneDX document against the 1.6 JSON schema (`cyclonedx-python-lib`).
pub fn validate_cyclonedx(path: &Path) {
    if !tool_available(
        Command::new(python()).args(["-c", "import cyclonedx.validation.json"]),
        "cyclonedx-python-lib[json-validation]",
    ) {
        return;
    }
    let script = "import sys\nfrom cyclonedx.schema import SchemaVersion\nfrom cyclonedx.validation.json import JsonStrictValidator\nerr = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\nif err:\n    print(repr(err))\n    sys.exit(1)\n";
    let v = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "CycloneDX 1.6 schema validation of {} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// Validates a SARIF log against the SARIF 2.1.0 schema with Microsoft's SARIF Multitool;
/// panics with its findings when there are any.
pub fn validate_sarif(path: &Path) {
    if !tool_available(
        Command::new("sarif-multitool").arg("--version"),
        "sarif-multitool (npm @microsoft/sarif-multitool)",
    ) {
        return;
    }
    let out_path = path.with_extension("validation.sarif");
    let out = Command::new("sarif-multitool")
        .arg("validate")
        .arg("-o")
        .arg(&out_path)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sarif-multitool failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let problems: Vec<String> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["level"] == "error" || r["level"] == "warning")
        .map(|r| format!("{} {}", r["ruleId"], r["message"]))
        .collect();
    assert!(
        problems.is_empty(),
        "SARIF schema problems in {}:\n{}\n{}",
        path.display(),
        problems.join("\n"),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs a setup command; `false` (skipped loudly outside CI) when it cannot run here.
pub fn setup(cmd: &mut Command, what: &str) -> bool {
    let out = cmd.output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if !ok {
        let detail = out.map_or_else(
            |e| e.to_string(),
            |o| String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} failed in CI: {detail}"
        );
        eprintln!("\n*** SKIPPED: {what} failed ({detail}); this test did not run ***\n");
    }
    ok
}
