//! Go findings only where the vulnerable code is linked: Go programs built here with
//! Debian's Go (and its sources of `golang.org/x/text`), some calling vulnerable
//! functions of the standard library and of a module, some only importing their packages;
//! the shared Go vulnerability database records; and `go tool nm` (with binutils' `readelf`
//! for the functions inlined into others, from the DWARF) as the judge of which functions
//! a binary holds.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferret_testsupport::*;
use serde_json::Value;

/// Calls `Reader.ReadMIMEHeader` (GO-2024-2599 and others) and `norm.Form.String`
/// (GO-2026-5970).
const CALLS: &str = r#"package main

import (
	"bufio"
	"fmt"
	"net/textproto"
	"os"
	"strings"

	"golang.org/x/text/unicode/norm"
)

func main() {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader("A: b\r\n\r\n")))
	h, err := r.ReadMIMEHeader()
	fmt.Println(h, err, norm.NFC.String(strings.Join(os.Args, " ")))
}
"#;

/// Imports the same packages, and uses neither vulnerable function.
const IMPORTS: &str = r#"package main

import (
	"fmt"
	"net/textproto"
	"os"

	"golang.org/x/text/unicode/norm"
)

func main() {
	fmt.Println(textproto.CanonicalMIMEHeaderKey(os.Args[0]), norm.MaxSegmentSize)
}
"#;

/// A function name from `go tool nm` as Go vulnerability records name symbols, written
/// from Go's documented symbol syntax (not from Ferret's reading): package path (the
/// linker escapes dots of its last element as `%2e`), receiver without `(*…)`, no type
/// arguments, closures and ABI wrappers counted for their function.
fn record_symbol(name: &str) -> Option<String> {
    let mut plain = String::new();
    let mut depth = 0;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.strip_suffix(".abi0").unwrap_or(&plain).to_owned();
    let last_slash = plain.rfind('/').map_or(0, |i| i + 1);
    let dot = last_slash + plain[last_slash..].find('.')?;
    let path = plain[..dot].replace("%2e", ".");
    let rest = plain[dot + 1..].replace("(*", "").replace(')', "");
    let mut parts: Vec<&str> = rest.split('.').collect();
    while parts.len() > 1 {
        let last = *parts.last().unwrap();
        let digits = |p: &str| {
            last.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        };
        if digits("func") || digits("gowrap") || digits("deferwrap") || digits("") {
            parts.pop();
        } else {
            break;
        }
    }
    Some(format!("{path}.{}", parts.join(".")))
}

/// The symbols `go tool nm` shows for a binary's text, as records name them.
fn nm_symbols(binary: &Path) -> BTreeSet<String> {
    let out = succeeded(
        Command::new("go")
            .args(["tool", "nm"])
            .arg(binary)
            .output()
            .unwrap(),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind) = (f.next()?, f.next()?);
            matches!(kind, "T" | "t")
                .then(|| record_symbol(&f.collect::<Vec<_>>().join(" ")))
                .flatten()
        })
        .collect()
}

/// The functions inlined somewhere in a binary, as records name symbols: the abstract
/// subprograms (`DW_AT_inline`) of its DWARF, as binutils' `readelf` reads them. Their code
/// is in the binary though `go tool nm` does not list them.
fn dwarf_inlined(binary: &Path) -> BTreeSet<String> {
    let out = succeeded(
        Command::new("readelf")
            .args(["--wide", "--decompress", "--debug-dump=info"])
            .arg(binary)
            .output()
            .unwrap(),
    );
    let mut found = BTreeSet::new();
    let (mut name, mut inline) = (None, false);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains("Abbrev Number:") {
            if inline && let Some(n) = name.take().as_deref().and_then(record_symbol) {
                found.insert(n);
            }
            (name, inline) = (None, false);
        } else if let Some((_, v)) = line.split_once("DW_AT_name") {
            // `: (string) os.(*File).Readdir`, or `: (indirect string, offset: 0x2a): …`.
            let value = v.split_once(": ").map_or("", |(_, n)| n.trim());
            let value = match value.strip_prefix("(indirect") {
                Some(rest) => rest.split_once("): ").map_or("", |(_, n)| n),
                None => value.strip_prefix("(string) ").unwrap_or(value),
            };
            name = Some(value.to_owned());
        } else if line.contains("DW_AT_inline") {
            inline = true;
        }
    }
    found
}

/// The Go records of the shared database, by every id they are known by.
fn go_records() -> BTreeMap<String, Vec<Value>> {
    let text = std::fs::read_to_string(testdata().join("advisories/osv/go.jsonl")).unwrap();
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let mut ids = vec![r["id"].as_str().unwrap().to_owned()];
        for a in r["aliases"].as_array().into_iter().flatten() {
            ids.push(a.as_str().unwrap().to_owned());
        }
        for id in ids {
            by_id.entry(id).or_default().push(r.clone());
        }
    }
    by_id
}

/// The oracle: for a finding of `package` (matched by `records`), the vulnerable symbols
/// when every one of them is missing from `present`, the records of the Go vulnerability
/// database naming at least one and each of their packages naming its symbols.
fn expected_unreachable(
    package: &str,
    records: &[String],
    by_id: &BTreeMap<String, Vec<Value>>,
    present: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let mut symbols = BTreeSet::new();
    for id in records {
        for r in by_id
            .get(id)
            .into_iter()
            .flatten()
            .filter(|r| r["id"] == *id)
        {
            for a in r["affected"].as_array().unwrap() {
                if a["package"]["ecosystem"] != "Go" || a["package"]["name"] != package {
                    continue;
                }
                for import in a["ecosystem_specific"]["imports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let path = import["path"].as_str().unwrap();
                    let listed = import["symbols"].as_array().cloned().unwrap_or_default();
                    if listed.is_empty() {
                        return None;
                    }
                    symbols.extend(
                        listed
                            .iter()
                            .map(|s| format!("{path}.{}", s.as_str().unwrap())),
                    );
                }
            }
        }
    }
    (!symbols.is_empty() && symbols.is_disjoint(present)).then(|| symbols.into_iter().collect())
}

/// A Go finding: (binary path, package, finding id).
type Key = (String, String, String);

/// Of a `ferret scan -f json` report: the Go findings kept, and those suppressed by
/// reachability with the symbols looked for.
fn outcome(doc: &Value) -> (BTreeSet<Key>, BTreeMap<Key, Vec<String>>) {
    let packages = doc["packages"].as_array().unwrap();
    let key = |p: &Value, id: &Value| {
        let p = &packages[p.as_u64().unwrap() as usize];
        (
            p["location"]["path"].as_str().unwrap().to_owned(),
            p["name"].as_str().unwrap().to_owned(),
            id.as_str().unwrap().to_owned(),
        )
    };
    let findings = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| packages[f["package"].as_u64().unwrap() as usize]["kind"] == "go-module")
        .map(|f| key(&f["package"], &f["id"]))
        .collect();
    let suppressed = doc["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["by"] == "reachability")
        .map(|s| {
            assert_eq!(s["reason"], "not affected: vulnerable code not present");
            (
                key(&s["package"], &s["id"]),
                s["symbols"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    (findings, suppressed)
}

struct Built {
    root: PathBuf,
    /// Each scanned binary's path in the root, and its unstripped twin for `go tool nm`.
    binaries: Vec<(String, PathBuf)>,
}

/// The fixture binaries, built without inlining so that `go tool nm` lists every function
/// whose code is there (with inlining, Ferret also counts what was inlined: see
/// `inlined_functions_count_as_present`), and scanned stripped.
fn build(work: &Path) -> Option<Built> {
    let text = debian_go_module("golang.org/x/text", "golang-golang-x-text-dev")?;
    let root = work.join("root");
    let mut binaries = Vec::new();
    for (name, program) in [("calls", CALLS), ("imports", IMPORTS)] {
        let plain = work.join("nm").join(name);
        let modules = std::slice::from_ref(&text);
        if !go_program(work, &plain, program, modules, &["-gcflags=all=-l"]) {
            return None;
        }
        let at = format!("usr/local/bin/{name}");
        go_program(
            work,
            &root.join(&at),
            program,
            modules,
            &["-gcflags=all=-l", "-ldflags=-s -w"],
        );
        binaries.push((at, plain));
    }
    Some(Built { root, binaries })
}

#[test]
fn go_findings_are_suppressed_exactly_where_go_tool_nm_shows_no_vulnerable_symbol() {
    let work = tempfile::tempdir().unwrap();
    let Some(built) = build(work.path()) else {
        return;
    };
    // One more copy of `imports`, padded past the size Ferret holds whole: its pc-line
    // table is found while the file streams by.
    let small = std::fs::read(built.root.join("usr/local/bin/imports")).unwrap();
    let mut big = small.clone();
    big.resize(small.len() + (64 << 20), 0);
    let big_path = built.root.join("usr/local/bin/imports-big");
    std::fs::write(&big_path, &big).unwrap();
    std::fs::set_permissions(&big_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // And a copy whose pc-line table is damaged (its magic overwritten): a note, and its
    // findings stand.
    let magic = [0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8];
    let at = small.windows(8).position(|w| w == magic).unwrap();
    let mut damaged = small.clone();
    damaged[at..at + 4].copy_from_slice(&[0, 0, 0, 0]);
    let damaged_path = built.root.join("usr/local/bin/imports-damaged");
    std::fs::write(&damaged_path, &damaged).unwrap();
    std::fs::set_permissions(&damaged_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut binaries = built.binaries.clone();
    binaries.push((
        "usr/local/bin/imports-big".to_owned(),
        binaries[1].1.clone(),
    ));
    // A real release binary of Go 1.14 (esbuild 0.6.0 from the npm registry, not stripped,
    // so its own `go tool nm` judges it): the table layout before Go 1.16.
    if setup(
        Command::new("npm")
            .args(["pack", "--silent", "esbuild-linux-64@0.6.0"])
            .current_dir(work.path()),
        "npm pack from the npm registry",
    ) {
        let out = succeeded(
            Command::new("tar")
                .arg("-xzOf")
                .arg(work.path().join("esbuild-linux-64-0.6.0.tgz"))
                .arg("package/bin/esbuild")
                .output()
                .unwrap(),
        );
        let at = built.root.join("opt/esbuild/esbuild");
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, out.stdout).unwrap();
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
        binaries.push(("opt/esbuild/esbuild".to_owned(), at));
    }

    let db = work.path().join("db");
    import(&db, "osv", &[testdata().join("advisories/osv/go.jsonl")]);
    let layout = work.path().join("layout");
    image_of_root(&built.root, &layout);
    let image = format!("oci:{}:root", layout.display());

    let all = scan_json_with(&db, &image, &["--show-unreachable"]);
    let (every, none) = outcome(&all);
    assert!(none.is_empty(), "{none:?}");
    let by_id = go_records();
    let present: BTreeMap<&PathBuf, BTreeSet<String>> = binaries
        .iter()
        .map(|(_, twin)| {
            let mut names = nm_symbols(twin);
            names.extend(dwarf_inlined(twin));
            (twin, names)
        })
        .collect();
    let mut want = BTreeMap::new();
    for f in all["findings"].as_array().unwrap() {
        let p = &all["packages"][f["package"].as_u64().unwrap() as usize];
        if p["kind"] != "go-module" {
            continue;
        }
        let path = p["location"]["path"].as_str().unwrap();
        let Some((_, twin)) = binaries.iter().find(|(at, _)| at == path) else {
            // The damaged binary: nothing is suppressed, so the oracle has nothing to say.
            continue;
        };
        let records: Vec<String> = f["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["record"].as_str().unwrap().to_owned())
            .collect();
        let name = p["name"].as_str().unwrap();
        if let Some(symbols) = expected_unreachable(name, &records, &by_id, &present[twin]) {
            want.insert(
                (
                    path.to_owned(),
                    name.to_owned(),
                    f["id"].as_str().unwrap().to_owned(),
                ),
                symbols,
            );
        }
    }

    let doc = scan_json_with(&db, &image, &[]);
    let (kept, suppressed) = outcome(&doc);
    let damaged = "usr/local/bin/imports-damaged";
    assert!(kept.iter().any(|(p, ..)| p == damaged));
    assert!(suppressed.keys().all(|(p, ..)| p != damaged));
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["path"] == damaged
                && n["message"]
                    .as_str()
                    .unwrap()
                    .contains("its findings are not checked for the vulnerable code")),
        "{}",
        doc["notes"]
    );
    let differ = |a: &BTreeMap<_, Vec<String>>, b: &BTreeMap<_, Vec<String>>| {
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .cloned()
            .collect::<Vec<Key>>()
    };
    assert_eq!(
        (differ(&suppressed, &want), differ(&want, &suppressed)),
        (Vec::new(), Vec::new()),
        "suppressed but not by the oracle, and the other way"
    );
    let unsuppressed: BTreeSet<_> = every
        .iter()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    assert_eq!(kept, unsuppressed);

    // The cases the fixtures are for: the called functions keep their findings, the
    // imported-only packages' are suppressed, in the stdlib and in the module, and the big
    // binary is judged as its small twin.
    for (binary, package, id, gone) in [
        ("calls", "stdlib", "CVE-2023-45290", false),
        ("imports", "stdlib", "CVE-2023-45290", true),
        ("imports-big", "stdlib", "CVE-2023-45290", true),
        ("calls", "golang.org/x/text", "CVE-2026-56852", false),
        ("imports", "golang.org/x/text", "CVE-2026-56852", true),
    ] {
        let k = (
            format!("usr/local/bin/{binary}"),
            package.to_owned(),
            id.to_owned(),
        );
        assert!(every.contains(&k), "{k:?} is no finding at all");
        assert_eq!(suppressed.contains_key(&k), gone, "{k:?}");
    }
    let of = |binary: &str| -> BTreeSet<(String, String)> {
        suppressed
            .keys()
            .filter(|(p, ..)| p.ends_with(binary))
            .map(|(_, n, i)| (n.clone(), i.clone()))
            .collect()
    };
    assert_eq!(of("/imports"), of("/imports-big"));
    assert!(of("/imports").len() > of("/calls").len());
    if binaries.len() > 3 {
        assert!(!of("/esbuild").is_empty());
    }

    // Grype's JSON lists them as ignored matches, not affected for want of the code.
    let grype = scan_as(&db, &image, "grype-json", &[]);
    let ignored = grype["ignoredMatches"].as_array().unwrap();
    assert_eq!(ignored.len(), doc["suppressed"].as_array().unwrap().len());
    for m in ignored {
        let rule = &m["appliedIgnoreRules"][0];
        assert_eq!(rule["vex-status"], "not_affected", "{m}");
        assert_eq!(rule["vex-justification"], "vulnerable_code_not_present");
        assert_eq!(rule["vulnerability"], m["vulnerability"]["id"]);
    }
    assert_eq!(
        grype["matches"].as_array().unwrap().len(),
        doc["findings"].as_array().unwrap().len()
    );

    // An SBOM of the same root: with the root to read the binaries from, the same verdicts;
    // without, none.
    let sbom = work.path().join("sbom.json");
    let (code, _, err) = run(&[
        "sbom",
        "-q",
        "-o",
        &format!("cyclonedx-json={}", sbom.display()),
        &format!("dir:{}", built.root.display()),
    ]);
    assert_eq!(code, 0, "{err}");
    let source = format!("sbom:{}", sbom.display());
    let (_, from_root) = outcome(&scan_json_with(
        &db,
        &source,
        &["--sbom-root", built.root.to_str().unwrap()],
    ));
    assert_eq!(from_root, suppressed);
    let (kept_without, without) = outcome(&scan_json_with(&db, &source, &[]));
    assert!(without.is_empty());
    assert_eq!(kept_without, every);
    // A root holding other binaries than the SBOM lists (one of another build, the others
    // missing) suppresses nothing, and says why.
    let other = work.path().join("other");
    assert!(go_program(
        work.path(),
        &other.join("usr/local/bin/imports"),
        "package main\n\nfunc main() {}\n",
        &[],
        &[],
    ));
    let (code, out, err) = run(&[
        "scan",
        "--db-dir",
        db.to_str().unwrap(),
        "-f",
        "json",
        "--sbom-root",
        other.to_str().unwrap(),
        &source,
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, mismatched) = outcome(&serde_json::from_str(&out).unwrap());
    assert!(mismatched.is_empty(), "{mismatched:?}");
    assert!(err.contains("does not hold golang.org/x/text "), "{err}");
    assert!(err.contains("usr/local/bin/calls"), "{err}");
}

/// From Go 1.16 on, the pc-line table's name table also names the functions inlined into
/// others, whose code is in the binary though `go tool nm` does not list them: they count
/// as present, so inlining never hides vulnerable code.
#[test]
fn inlined_functions_count_as_present() {
    let work = tempfile::tempdir().unwrap();
    let binary = work.path().join("inl");
    let program = "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc vulnerable(s string) int { return len(s) + 1 }\n\nfunc main() { fmt.Println(vulnerable(os.Args[0])) }\n";
    if !go_program(work.path(), &binary, program, &[], &[]) {
        return;
    }
    assert!(!nm_symbols(&binary).contains("main.vulnerable"));
    let wanted = ferret_catalog::GoSymbolSet::new([
        ("main".to_owned(), "vulnerable".to_owned()),
        ("main".to_owned(), "absent".to_owned()),
    ]);
    let found =
        ferret_catalog::go_symbols_present(&std::fs::read(&binary).unwrap(), &wanted).unwrap();
    assert_eq!(found, BTreeSet::from(["main.vulnerable".to_owned()]));
}
