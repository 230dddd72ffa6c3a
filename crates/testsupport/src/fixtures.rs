//! The Debian example image's root and its advisory feed.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::{Value, json};

use crate::*;

/// A Debian 12 root with five packages; `libfoo1` is a binNMU of `foo`.
pub fn debian_fixture_root(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    std::fs::write(dir.join("etc/os-release"), DEBIAN_OS_RELEASE).unwrap();
    let status = dpkg_entry("openssl", "3.0.11-1~deb12u2", None)
        + &dpkg_entry("libfoo1", "1.0-1+b1", Some("foo (1.0-1)"))
        + &dpkg_entry("bar", "2.0-1", None)
        + &dpkg_entry("baz", "1.5-1", None)
        + &dpkg_entry("qux", "0.9-3", None);
    std::fs::write(dir.join("var/lib/dpkg/status"), status).unwrap();
}

pub fn release(status: &str, fixed: Option<&str>, urgency: &str) -> Value {
    let mut r = json!({"status": status, "repositories": {"bookworm": "x"}, "urgency": urgency});
    if let Some(f) = fixed {
        r["fixed_version"] = json!(f);
    }
    r
}

/// Tracker records: package → CVE → bookworm's state.
pub fn debian_fixture_tracker(path: &Path) {
    let doc = json!({
        "openssl": {
            // Fixed above the installed version: affected, fixed.
            "CVE-2024-0001": {"releases": {"bookworm": release("resolved", Some("3.0.13-1~deb12u1"), "high")}},
            // Fixed at the installed version: not affected.
            "CVE-2024-0002": {"releases": {"bookworm": release("resolved", Some("3.0.11-1~deb12u2"), "medium")}},
            // Fixed below: not affected.
            "CVE-2023-0003": {"releases": {"bookworm": release("resolved", Some("3.0.9-1"), "low")}},
            // `0`: never affected.
            "CVE-2024-0004": {"releases": {"bookworm": release("resolved", Some("0"), "high")}},
        },
        "foo": {
            // The binNMU's source 1.0-1 is below the fix.
            "CVE-2024-0005": {"releases": {"bookworm": release("resolved", Some("1.0-2"), "unimportant")}},
        },
        "bar": {
            // Open: not fixed.
            "CVE-2024-0006": {"releases": {"bookworm": release("open", None, "medium")}},
        },
        "baz": {
            // No DSA, ignored: will not fix.
            "CVE-2024-0007": {"releases": {"bookworm": {
                "status": "open", "repositories": {"bookworm": "x"}, "urgency": "low",
                "nodsa": "Minor issue", "nodsa_reason": "ignored"
            }}},
        },
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}
