//! Language packages installed by their own tools, in root file systems the test builds:
//! `ferret sbom` lists exactly what the tools list. Nothing compiled is committed; the
//! packages come from PyPI and the npm registry at test time.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

fn packages_of(root: &Path, kind: &str) -> Vec<Value> {
    let doc = inventory(&format!("dir:{}", root.display()), &[]);
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .cloned()
        .collect()
}

fn pair(p: &Value) -> (String, String) {
    (
        p["name"].as_str().unwrap().to_owned(),
        p["version"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_virtualenv_lists_what_pip_lists() {
    let root = tempfile::tempdir().unwrap();
    let venv = root.path().join("opt/venv");
    if !python_venv(&venv, OLD_WHEELS) {
        return;
    }
    let pip = venv.join("bin/pip");
    let listed = succeeded(
        Command::new(&pip)
            .args(["list", "--format=json", "--disable-pip-version-check"])
            .output()
            .unwrap(),
    );
    let want: BTreeSet<(String, String)> = serde_json::from_slice::<Value>(&listed.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(pair)
        .collect();
    assert!(
        want.contains(&("Django".to_owned(), "2.0.1".to_owned())),
        "{want:?}"
    );
    let found = packages_of(root.path(), "python");
    let got: BTreeSet<(String, String)> = found.iter().map(pair).collect();
    assert_eq!(got, want);
    let django = found.iter().find(|p| p["name"] == "Django").unwrap();
    assert_eq!(django["purl"], "pkg:pypi/django@2.0.1");
    assert!(
        django["metadata"]["site_packages"]
            .as_str()
            .unwrap()
            .starts_with("opt/venv/lib/python3"),
        "{django}"
    );
}

/// Flattens `npm ls --all --json`'s tree into (name, version) pairs.
fn npm_tree(deps: &Value, out: &mut BTreeSet<(String, String)>) {
    for (name, dep) in deps.as_object().into_iter().flatten() {
        if let Some(v) = dep["version"].as_str() {
            out.insert((name.clone(), v.to_owned()));
        }
        npm_tree(&dep["dependencies"], out);
    }
}

#[test]
fn npm_ci_lists_what_npm_ls_lists() {
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("srv/app");
    std::fs::create_dir_all(&app).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npm-app");
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(data.join(f), app.join(f)).unwrap();
    }
    if !setup(
        Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=error",
            ])
            .current_dir(&app),
        "npm ci from the npm registry",
    ) {
        return;
    }
    let ls = succeeded(
        Command::new("npm")
            .args(["ls", "--all", "--json"])
            .current_dir(&app)
            .output()
            .unwrap(),
    );
    let tree: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let mut want = BTreeSet::new();
    npm_tree(&tree["dependencies"], &mut want);
    assert!(
        want.contains(&("ms".to_owned(), "2.0.0".to_owned())),
        "{want:?}"
    );
    assert!(
        want.contains(&("ms".to_owned(), "0.7.1".to_owned())),
        "{want:?}"
    );

    let found = packages_of(root.path(), "npm");
    let by_role = |role: &str| -> BTreeSet<(String, String)> {
        found
            .iter()
            .filter(|p| p["metadata"]["role"] == role)
            .map(pair)
            .collect()
    };
    assert_eq!(by_role("installed"), want, "installed under node_modules");
    assert_eq!(by_role("declared"), want, "declared by package-lock.json");
    let app_pkg: Vec<_> = found
        .iter()
        .filter(|p| p["metadata"]["role"] == "application")
        .collect();
    assert_eq!(app_pkg.len(), 1);
    assert_eq!(app_pkg[0]["name"], "ferret-fixture-app");
    assert_eq!(app_pkg[0]["metadata"]["private"], true);
    let scoped = found.iter().find(|p| p["name"] == "@types/node").unwrap();
    assert_eq!(scoped["purl"], "pkg:npm/%40types/node@10.0.0");
}

/// `go version -m`'s listing: the toolchain as `stdlib`, then `mod`, `dep` and `=>` lines.
fn go_version_m(binary: &Path) -> BTreeSet<(String, String)> {
    let out = succeeded(
        Command::new("go")
            .arg("version")
            .arg("-m")
            .arg(binary)
            .output()
            .unwrap(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let mut want = BTreeSet::new();
    want.insert((
        "stdlib".to_owned(),
        first.rsplit(' ').next().unwrap().to_owned(),
    ));
    let mut last: Option<(String, String)> = None;
    for line in lines {
        let f: Vec<&str> = line.trim_start().split('\t').collect();
        match f[0] {
            "mod" | "dep" => {
                if let Some(l) = last.take() {
                    want.insert(l);
                }
                last = Some((f[1].to_owned(), f[2].to_owned()));
            }
            // A replacement with a version stands in for what it replaces.
            "=>" if f.len() > 2 && !f[2].is_empty() => {
                last = Some((f[1].to_owned(), f[2].to_owned()))
            }
            _ => {}
        }
    }
    want.extend(last);
    want
}

/// A Go program built by Debian's golang-go against a module from Debian's
/// `golang-github-google-uuid-dev` sources, vendored (there is no module proxy here).
#[test]
fn a_go_binary_lists_what_go_version_m_lists() {
    let work = tempfile::tempdir().unwrap();
    let uuid_src = Path::new("/usr/share/gocode/src/github.com/google/uuid");
    if !setup(Command::new("go").arg("version"), "Debian's golang-go")
        || !setup(
            Command::new("test").arg("-d").arg(uuid_src),
            "golang-github-google-uuid-dev",
        )
    {
        return;
    }
    let deb_version = succeeded(
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "golang-github-google-uuid-dev"])
            .output()
            .unwrap(),
    );
    let upstream = String::from_utf8(deb_version.stdout).unwrap();
    let module_version = format!("v{}", upstream.split(['-', '+', '~']).next().unwrap());
    let src = work.path().join("src");
    let vendored = src.join("vendor/github.com/google/uuid");
    std::fs::create_dir_all(&vendored).unwrap();
    for entry in std::fs::read_dir(uuid_src).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".go") && !name.ends_with("_test.go") || name == "go.mod" {
            std::fs::copy(&p, vendored.join(name)).unwrap();
        }
    }
    std::fs::write(
        src.join("go.mod"),
        format!("module example.com/ferretapp\n\ngo 1.19\n\nrequire github.com/google/uuid {module_version}\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("vendor/modules.txt"),
        format!("# github.com/google/uuid {module_version}\n## explicit\ngithub.com/google/uuid\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\nfunc main() { fmt.Println(uuid.NewString()) }\n",
    )
    .unwrap();
    let root = work.path().join("root");
    let binary = root.join("usr/local/bin/app");
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    if !setup(
        Command::new("go")
            .args(["build", "-mod=vendor", "-o"])
            .arg(&binary)
            .arg(".")
            .current_dir(&src)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=vendor")
            .env("GOCACHE", work.path().join("cache"))
            .env("GOPATH", work.path().join("gopath"))
            .env("HOME", work.path()),
        "go build",
    ) {
        return;
    }
    let want = go_version_m(&binary);
    assert!(
        want.contains(&("github.com/google/uuid".to_owned(), module_version.clone())),
        "{want:?}"
    );
    let found = packages_of(&root, "go-module");
    let got: BTreeSet<(String, String)> = found.iter().map(pair).collect();
    assert_eq!(got, want);
    let uuid = found
        .iter()
        .find(|p| p["name"] == "github.com/google/uuid")
        .unwrap();
    assert_eq!(
        uuid["purl"],
        format!("pkg:golang/github.com/google/uuid@{module_version}")
    );
    assert_eq!(uuid["location"]["path"], "usr/local/bin/app");
}

/// A Rust program built with `cargo auditable` (from crates.io, as `.ci/run` installs it)
/// against a crate from crates.io: the binary's embedded dependency list and its
/// `Cargo.lock` are both reported, each at its own location, and both hold what the
/// lockfile lists.
#[test]
fn a_cargo_auditable_binary_and_its_lockfile() {
    let work = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if !setup(
        Command::new(&cargo).args(["auditable", "--version"]),
        "cargo auditable",
    ) {
        return;
    }
    let src = work.path().join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("Cargo.toml"),
        "[package]\nname = \"ferret-fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"=1.0.9\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        src.join("src/main.rs"),
        "fn main() {\n    let mut b = itoa::Buffer::new();\n    println!(\"{}\", b.format(42u8));\n}\n",
    )
    .unwrap();
    if !setup(
        Command::new(&cargo)
            .args(["auditable", "build", "--release", "--quiet"])
            .current_dir(&src)
            .env("CARGO_TARGET_DIR", work.path().join("target")),
        "cargo auditable build (crates.io)",
    ) {
        return;
    }
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(root.join("src/app")).unwrap();
    std::fs::copy(
        work.path().join("target/release/ferret-fixture"),
        root.join("usr/local/bin/app"),
    )
    .unwrap();
    std::fs::copy(src.join("Cargo.lock"), root.join("src/app/Cargo.lock")).unwrap();

    let lock = std::fs::read_to_string(src.join("Cargo.lock")).unwrap();
    let want: BTreeSet<(String, String)> = lock
        .split("[[package]]")
        .skip(1)
        .map(|block| {
            let field = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            };
            (field("name"), field("version"))
        })
        .collect();
    assert!(
        want.contains(&("itoa".to_owned(), "1.0.9".to_owned())),
        "{want:?}"
    );
    let found = packages_of(&root, "rust-crate");
    let at = |path: &str| -> BTreeSet<(String, String)> {
        found
            .iter()
            .filter(|p| p["location"]["path"] == path)
            .map(pair)
            .collect()
    };
    assert_eq!(at("usr/local/bin/app"), want, "from the binary");
    assert_eq!(at("src/app/Cargo.lock"), want, "from the lockfile");
    let own = found
        .iter()
        .find(|p| p["name"] == "ferret-fixture" && p["location"]["path"] == "usr/local/bin/app")
        .unwrap();
    assert!(own["metadata"].get("origin").is_none(), "{own}");
}
