//! Inputs built by the ecosystems' own tools: Python venvs, npm apps, Go and Rust
//! binaries, jars, and a real debootstrapped Debian.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::*;

/// The real Debian image (`scripts/debian-image.sh`: debootstrap minbase bookworm plus a
/// second layer), built once per target directory; `None`, said loudly, when this machine
/// cannot build it (outside CI).
pub fn debian_image() -> Option<PathBuf> {
    let out = crate::target_tmp().join("debian-bookworm");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/debian-image.sh");
    if Command::new("sh")
        .args([
            "-c",
            "command -v debootstrap && command -v umoci && command -v skopeo",
        ])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "debootstrap, umoci and skopeo are required in CI (.ci/run installs them)"
        );
        eprintln!(
            "\n*** SKIPPED: debootstrap, umoci or skopeo is not installed; the real Debian image test did not run ***\n"
        );
        return None;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the real Debian image test needs root in CI"
        );
        eprintln!(
            "\n*** SKIPPED: debootstrap needs root; the real Debian image test did not run ***\n"
        );
        return None;
    }
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap();
    if status.code() == Some(77) {
        eprintln!(
            "\n*** SKIPPED: Debian's archive cannot be reached; the real Debian image test did not run ***\n"
        );
        return None;
    }
    assert!(status.success(), "{} failed", script.display());
    Some(out)
}

/// Pinned old wheels from PyPI, pure Python, with known advisories.
pub const OLD_WHEELS: &[&str] = &[
    "requests==2.19.1",
    "urllib3==1.23",
    "idna==2.7",
    "chardet==3.0.4",
    "certifi==2018.4.16",
    "six==1.11.0",
    "Django==2.0.1",
    "pytz==2018.3",
];

/// A virtualenv at `venv` with `pins` installed from PyPI (wheels only, no dependencies
/// resolved); `false` when it cannot be built here.
pub fn python_venv(venv: &Path, pins: &[&str]) -> bool {
    if !setup(
        Command::new("/usr/bin/python3")
            .arg("-m")
            .arg("venv")
            .arg(venv),
        "python3 -m venv",
    ) {
        return false;
    }
    setup(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .args(pins),
        "pip install from PyPI",
    )
}

/// `npm ci` of the pinned lockfile in `crates/ferret/tests/data/npm-app` into `app`;
/// `false` when the npm registry cannot be reached here.
pub fn npm_app(app: &Path) -> bool {
    std::fs::create_dir_all(app).unwrap();
    // The lockfile lives with the CLI tests that read it.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferret/tests/data/npm-app");
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(data.join(f), app.join(f)).unwrap();
    }
    setup(
        Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=error",
            ])
            .current_dir(app),
        "npm ci from the npm registry",
    )
}

/// Builds, with Debian's golang-go, a Go program at `binary` against the module of
/// Debian's `golang-github-google-uuid-dev` sources, vendored (there is no module proxy
/// here); returns the module's version, `None` when it cannot be built here.
pub fn go_uuid_binary(work: &Path, binary: &Path) -> Option<String> {
    go_uuid_binary_with(work, binary, &[])
}

/// [`go_uuid_binary`] with more environment for `go build` (`GOEXPERIMENT=…`).
pub fn go_uuid_binary_with(work: &Path, binary: &Path, env: &[(&str, &str)]) -> Option<String> {
    let uuid = debian_go_module("github.com/google/uuid", "golang-github-google-uuid-dev")?;
    let main_go = "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\nfunc main() { fmt.Println(uuid.NewString()) }\n";
    go_program_with(work, binary, main_go, std::slice::from_ref(&uuid), &[], env).then_some(uuid.2)
}

/// A Go module's sources as Debian packages them (`golang-golang-x-text-dev`): its
/// module path, the Debian package, and the version it is (`v0.7.0`), or `None`, said
/// loudly, when the package is not installed here.
pub fn debian_go_module(module: &str, package: &str) -> Option<(String, PathBuf, String)> {
    let src = Path::new("/usr/share/gocode/src").join(module);
    if !setup(Command::new("test").arg("-d").arg(&src), package) {
        return None;
    }
    let deb_version = succeeded(
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", package])
            .output()
            .unwrap(),
    );
    let upstream = String::from_utf8(deb_version.stdout).unwrap();
    let version = format!("v{}", upstream.split(['-', '+', '~']).next().unwrap());
    Some((module.to_owned(), src, version))
}

/// Builds the Go program `main_go` with Debian's Go, offline, with `modules`
/// ([`debian_go_module`]) vendored at their versions, so its build information lists
/// them as `go get` would have; `flags` go to `go build` (`-ldflags=-s -w`). `false`, said
/// loudly, when Go is not installed here.
pub fn go_program(
    work: &Path,
    binary: &Path,
    main_go: &str,
    modules: &[(String, PathBuf, String)],
    flags: &[&str],
) -> bool {
    go_program_with(work, binary, main_go, modules, flags, &[])
}

/// [`go_program`] with more environment for `go build` (`GOEXPERIMENT=…`).
fn go_program_with(
    work: &Path,
    binary: &Path,
    main_go: &str,
    modules: &[(String, PathBuf, String)],
    flags: &[&str],
    env: &[(&str, &str)],
) -> bool {
    if !setup(Command::new("go").arg("version"), "Debian's golang-go") {
        return false;
    }
    let src = work.join(format!(
        "src-{}",
        binary.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&src);
    let mut go_mod = "module example.com/ferretapp\n\ngo 1.19\n\nrequire (\n".to_owned();
    let mut listing = String::new();
    for (module, from, version) in modules {
        go_mod.push_str(&format!("\t{module} {version}\n"));
        listing.push_str(&format!("# {module} {version}\n## explicit\n"));
        // Every package of the module, as `go mod vendor` would list the ones used.
        let mut packages = BTreeSet::new();
        copy_go_sources(
            from,
            &src.join("vendor").join(module),
            Path::new(""),
            &mut packages,
        );
        for p in packages {
            if p.as_os_str().is_empty() {
                listing.push_str(&format!("{module}\n"));
            } else {
                listing.push_str(&format!("{module}/{}\n", p.display()));
            }
        }
    }
    go_mod.push_str(")\n");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), go_mod).unwrap();
    if !modules.is_empty() {
        std::fs::write(src.join("vendor/modules.txt"), listing).unwrap();
    }
    std::fs::write(src.join("main.go"), main_go).unwrap();
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    // Offline: modules from `vendor/`, the cache and home under `work`.
    succeeded(
        Command::new("go")
            .arg("build")
            .args(flags)
            .arg("-o")
            .arg(binary)
            .arg(".")
            .current_dir(&src)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=vendor")
            .env("GOCACHE", work.join("cache"))
            .env("GOPATH", work.join("gopath"))
            .env("HOME", work)
            .envs(env.iter().copied())
            .output()
            .unwrap(),
    );
    true
}

/// Copies a module's Go sources (no tests, no `testdata`), noting each package directory.
fn copy_go_sources(from: &Path, to: &Path, rel: &Path, packages: &mut BTreeSet<PathBuf>) {
    for entry in std::fs::read_dir(from.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = rel.join(&name);
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if name != "testdata" && !name.starts_with('.') && !name.starts_with('_') {
                copy_go_sources(from, to, &path, packages);
            }
        } else if name.ends_with(".go") && !name.ends_with("_test.go") || name == "go.mod" {
            std::fs::create_dir_all(to.join(rel)).unwrap();
            std::fs::copy(entry.path(), to.join(&path)).unwrap();
            if name.ends_with(".go") {
                packages.insert(rel.to_owned());
            }
        }
    }
}

/// Builds `ferret-fixture` with `cargo auditable` (from crates.io, as `.ci/run` installs
/// it) against crates from crates.io, some with advisories: returns its source directory
/// (with the `Cargo.lock`) and the binary, `None` when it cannot be built here.
pub fn auditable_binary(work: &Path) -> Option<(PathBuf, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if !setup(
        Command::new(&cargo).args(["auditable", "--version"]),
        "cargo auditable",
    ) {
        return None;
    }
    let src = work.join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("Cargo.toml"),
        "[package]\nname = \"ferret-fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"=1.0.9\"\nsmallvec = \"=0.6.10\"\nbumpalo = \"=3.10.0\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        src.join("src/main.rs"),
        "fn main() {\n    let mut b = itoa::Buffer::new();\n    let v: smallvec::SmallVec<[u8; 4]> = smallvec::SmallVec::new();\n    let bump = bumpalo::Bump::new();\n    println!(\"{} {} {}\", b.format(42u8), v.len(), bump.alloc(1u8));\n}\n",
    )
    .unwrap();
    if !setup(
        Command::new(&cargo)
            .args(["auditable", "build", "--release", "--quiet"])
            .current_dir(&src)
            .env("CARGO_TARGET_DIR", work.join("target")),
        "cargo auditable build (crates.io)",
    ) {
        return None;
    }
    Some((src, work.join("target/release/ferret-fixture")))
}

/// Writes `files` under `dir` and packs them with the JDK's `jar` tool (with `manifest`
/// as the manifest when given) into `out`.
pub fn jar_tool(dir: &Path, files: &[(&str, &[u8])], manifest: Option<&str>, out: &Path) -> bool {
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let mut cmd = Command::new("jar");
    match manifest {
        Some(mf) => {
            let mf_path = dir.with_extension("mf");
            std::fs::write(&mf_path, mf).unwrap();
            cmd.arg("--create")
                .arg("--file")
                .arg(out)
                .arg("--manifest")
                .arg(mf_path);
        }
        None => {
            cmd.arg("--create").arg("--file").arg(out);
        }
    }
    cmd.arg("-C").arg(dir).arg(".");
    setup(&mut cmd, "the JDK's jar tool")
}

pub fn pom(group: &str, artifact: &str, version: &str) -> (String, Vec<u8>) {
    (
        format!("META-INF/maven/{group}/{artifact}/pom.properties"),
        format!("#Generated by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n")
            .into_bytes(),
    )
}

/// `go version -m`'s listing: the toolchain as `stdlib`, then `mod`, `dep` and `=>` lines.
pub fn go_version_m(binary: &Path) -> BTreeSet<(String, String)> {
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
    // `PATH: go1.19.8`, or `PATH: go1.19.8 X:fieldtrack` with GOEXPERIMENTs: the toolchain
    // version is the first word after the path.
    let toolchain = first.rsplit_once(": ").map_or(first, |(_, v)| v);
    want.insert((
        "stdlib".to_owned(),
        toolchain.split_whitespace().next().unwrap().to_owned(),
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

/// What `npm ls --all --json` lists in `app`, as (name, version) pairs.
pub fn npm_ls(app: &Path) -> BTreeSet<(String, String)> {
    fn walk(deps: &Value, out: &mut BTreeSet<(String, String)>) {
        for (name, dep) in deps.as_object().into_iter().flatten() {
            if let Some(v) = dep["version"].as_str() {
                out.insert((name.clone(), v.to_owned()));
            }
            walk(&dep["dependencies"], out);
        }
    }
    let ls = succeeded(
        Command::new("npm")
            .args(["ls", "--all", "--json"])
            .current_dir(app)
            .output()
            .unwrap(),
    );
    let mut out = BTreeSet::new();
    walk(
        &serde_json::from_slice::<Value>(&ls.stdout).unwrap()["dependencies"],
        &mut out,
    );
    out
}

/// What yarn v1's own lockfile parser (`@yarnpkg/lockfile`, from the npm registry, as
/// `.ci/run` installs it) reads from `lock`: (name, version) of every entry, the name being
/// the part of its spec before the version range (an npm alias's real package). `None` when the parser is not here.
pub fn yarn_v1_entries(lock: &Path) -> Option<BTreeSet<(String, String)>> {
    const SCRIPT: &str = r#"
const { parse } = require('@yarnpkg/lockfile');
const doc = parse(require('fs').readFileSync(process.argv[1], 'utf8'));
if (doc.type !== 'success') { console.error('yarn lockfile: ' + doc.type); process.exit(1); }
const out = [];
for (const [spec, entry] of Object.entries(doc.object)) {
  const at = spec.indexOf('@', 1);
  let name = at > 0 ? spec.slice(0, at) : spec;
  // An npm alias (`alias@npm:real@range`) installs the real package.
  const rest = spec.slice(at + 1);
  if (rest.startsWith('npm:') && /^[^~^0-9]/.test(rest.slice(4))) {
    const real = rest.slice(4);
    name = real.slice(0, real.indexOf('@', 1));
  }
  out.push([name, entry.version]);
}
console.log(JSON.stringify(out));
"#;
    let mut cmd = Command::new("node");
    cmd.arg("-e").arg(SCRIPT).arg(lock);
    if !setup(
        Command::new("node").args(["-e", "require('@yarnpkg/lockfile')"]),
        "@yarnpkg/lockfile (npm)",
    ) {
        return None;
    }
    let out = succeeded(cmd.output().unwrap());
    let pairs: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
    Some(pairs.into_iter().collect())
}

/// What Debian's `composer show --locked` lists for the `composer.lock` in `dir` (which
/// needs a `composer.json` beside it), as (name, version) pairs; `None` when composer is
/// not here.
pub fn composer_show_locked(dir: &Path) -> Option<BTreeSet<(String, String)>> {
    if !setup(
        Command::new("composer").arg("--version"),
        "Debian's composer",
    ) {
        return None;
    }
    let out = succeeded(
        Command::new("composer")
            .args([
                "show",
                "--locked",
                "--format=json",
                "--no-interaction",
                "--no-plugins",
            ])
            .current_dir(dir)
            .env("COMPOSER_HOME", dir.join(".composer-home"))
            .output()
            .unwrap(),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        doc["locked"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    )
}

/// What Bundler's own `LockfileParser` (Debian's ruby) reads from `lock`: (name, version)
/// of every spec of every source. `None` when ruby is not here.
pub fn bundler_specs(lock: &Path) -> Option<BTreeSet<(String, String)>> {
    if !setup(
        Command::new("ruby").args(["-rbundler", "-e", ""]),
        "Debian's ruby with Bundler",
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(lock, dir.path().join("Gemfile.lock")).unwrap();
    // PATH sources resolve against the Gemfile's directory.
    std::fs::write(dir.path().join("Gemfile"), "").unwrap();
    let out = succeeded(
        Command::new("ruby")
            .args([
                "-rbundler",
                "-e",
                r##"Bundler::LockfileParser.new(File.read("Gemfile.lock")).specs.each { |s| puts "#{s.name}\t#{s.version}" }"##,
            ])
            .current_dir(dir.path())
            .env("BUNDLE_GEMFILE", dir.path().join("Gemfile"))
            .output()
            .unwrap(),
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// What RubyGems (Debian's ruby) loads from a gem specification file: its name and
/// version, or `Some(None)` when RubyGems refuses it. `None` when ruby is not here.
pub fn rubygems_load(spec: &Path) -> Option<Option<(String, String)>> {
    if !setup(Command::new("ruby").args(["-e", ""]), "Debian's ruby") {
        return None;
    }
    let out = Command::new("ruby")
        .args([
            "-e",
            r##"s = (Gem::Specification.load(ARGV[0]) rescue nil); puts(s ? "#{s.name}\t#{s.version}" : "")"##,
        ])
        .arg(spec)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap_or_default();
    Some(
        last.split_once('\t')
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    )
}

/// A project installed by pnpm `major` (7, 8 or 9, from the npm registry as `.ci/run`
/// installs them under `FERRET_NODE_TOOLS`) into `dir` with `package.json`; what `pnpm list
/// --depth Infinity --json` lists, as (name, version) → whether only development
/// dependencies reach it. `None` when pnpm or the registry is not here.
pub fn pnpm_project(
    major: u8,
    dir: &Path,
    package_json: &str,
) -> Option<std::collections::BTreeMap<(String, String), bool>> {
    let modules = node_tools()?;
    let pnpm = modules.join(format!("pnpm{major}/bin/pnpm.cjs"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), package_json).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.arg(&pnpm)
            .args(args)
            .current_dir(dir)
            .env("npm_config_store_dir", dir.join(".pnpm-store"))
            .env("XDG_CACHE_HOME", dir.join(".cache"));
        cmd
    };
    if !setup(
        &mut run(&["install", "--reporter=silent"]),
        &format!("pnpm {major} install from the npm registry"),
    ) {
        return None;
    }
    let listed = succeeded(
        run(&["list", "--depth", "Infinity", "--json"])
            .output()
            .unwrap(),
    );
    fn walk(deps: &Value, dev: bool, out: &mut std::collections::BTreeMap<(String, String), bool>) {
        for (name, d) in deps.as_object().into_iter().flatten() {
            if let Some(v) = d["version"].as_str() {
                let e = out.entry((name.clone(), v.to_owned())).or_insert(dev);
                *e &= dev;
            }
            walk(&d["dependencies"], dev, out);
        }
    }
    let doc: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for project in doc.as_array().into_iter().flatten() {
        walk(&project["dependencies"], false, &mut out);
        walk(&project["optionalDependencies"], false, &mut out);
        walk(&project["devDependencies"], true, &mut out);
    }
    Some(out)
}

/// A project installed by yarn 4 (berry, `@yarnpkg/cli-dist` under `FERRET_NODE_TOOLS`) into `dir`
/// with `package.json`, from the npm registry; what `yarn info --all --recursive --json`
/// lists (the workspaces left out), as (name, version). `None` when yarn or the registry
/// is not here.
pub fn yarn_berry_project(dir: &Path, package_json: &str) -> Option<BTreeSet<(String, String)>> {
    let modules = node_tools()?;
    let yarn = modules.join("@yarnpkg/cli-dist/bin/yarn.js");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), package_json).unwrap();
    std::fs::write(
        dir.join(".yarnrc.yml"),
        "nodeLinker: node-modules\nnpmRegistryServer: \"https://registry.npmjs.org\"\nenableTelemetry: false\nenableGlobalCache: false\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.arg(&yarn)
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("YARN_ENABLE_TELEMETRY", "0")
            // In CI yarn refuses to write a lockfile unless told to.
            .env("YARN_ENABLE_IMMUTABLE_INSTALLS", "false");
        cmd
    };
    if !setup(
        &mut run(&["install"]),
        "yarn 4 install from the npm registry",
    ) {
        return None;
    }
    let listed = succeeded(
        run(&["info", "--all", "--recursive", "--json"])
            .output()
            .unwrap(),
    );
    Some(
        String::from_utf8(listed.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                let locator = v["value"].as_str()?;
                let at = locator.char_indices().skip(1).find(|(_, c)| *c == '@')?.0;
                if locator[at..].starts_with("@workspace:") {
                    return None;
                }
                let version = v["children"]["Version"].as_str()?;
                Some((locator[..at].to_owned(), version.to_owned()))
            })
            .collect(),
    )
}

/// A project installed by npm 6 (`npm6` under `FERRET_NODE_TOOLS`, as `.ci/run` installs it) into
/// `dir` with `package.json`, which writes a lockfile v1; what `npm ls --json` lists, as
/// (name, version), an alias under the package its `resolved` tarball is of. `None` when
/// npm 6 or the registry is not here.
pub fn npm6_project(dir: &Path, package_json: &str) -> Option<BTreeSet<(String, String)>> {
    fn walk(deps: &Value, out: &mut BTreeSet<(String, String)>) {
        for (name, dep) in deps.as_object().into_iter().flatten() {
            if let Some(v) = dep["version"].as_str() {
                // `https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz`
                let real = dep["resolved"]
                    .as_str()
                    .and_then(|r| r.split_once("/-/"))
                    .and_then(|(head, _)| head.split_once(".org/"))
                    .map_or(name.clone(), |(_, n)| {
                        n.replace("%2f", "/").replace("%2F", "/")
                    });
                out.insert((real, v.to_owned()));
            }
            walk(&dep["dependencies"], out);
        }
    }
    let modules = node_tools()?;
    let npm = modules.join("npm6/bin/npm-cli.js");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), package_json).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.arg(&npm)
            .args(args)
            .current_dir(dir)
            .env("npm_config_cache", dir.join(".npm-cache"));
        cmd
    };
    if !setup(
        &mut run(&["install", "--no-audit", "--loglevel=error"]),
        "npm 6 install from the npm registry",
    ) {
        return None;
    }
    let ls = succeeded(run(&["ls", "--json"]).output().unwrap());
    let mut out = BTreeSet::new();
    walk(
        &serde_json::from_slice::<Value>(&ls.stdout).unwrap()["dependencies"],
        &mut out,
    );
    Some(out)
}

/// Where `.ci/run` installs the package managers the lockfile tests compare with (npm 6,
/// yarn 4, pnpm 7-9): `FERRET_NODE_TOOLS`, off PATH. `None` (skipped loudly outside CI)
/// when it is not set.
fn node_tools() -> Option<PathBuf> {
    let dir = std::env::var_os("FERRET_NODE_TOOLS").map(PathBuf::from);
    setup(
        Command::new("test")
            .arg("-d")
            .arg(dir.clone().unwrap_or_default()),
        "FERRET_NODE_TOOLS (npm 6, yarn 4, pnpm 7-9 as .ci/run installs them)",
    )
    .then_some(dir)
    .flatten()
}
