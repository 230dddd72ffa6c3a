//! The language catalogers whose files are one list of packages: `lang/rust`
//! (`Cargo.lock`), `lang/ruby` (installed gem specifications, `Gemfile.lock`), `lang/php`
//! (Composer's `installed.json`, `composer.lock`) and `lang/dotnet` (`*.deps.json`).

use std::collections::BTreeSet;

use ferret_layers::FileEntry;
use ferret_model::{LangMetadata, Package, PackageKind, PackageMetadata};
use serde_json::Value;

use crate::{Cataloger, Context, Output, location, note, purl};

/// One package as a file lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    name: String,
    version: String,
    licenses: Vec<String>,
    meta: LangMetadata,
}

impl Listed {
    fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.trim().to_owned(),
            version: version.trim().to_owned(),
            licenses: Vec::new(),
            meta: LangMetadata::default(),
        }
    }
}

type Parse = fn(&[u8], &str) -> Result<Vec<Listed>, String>;

/// Runs `parse` over each file and turns what it lists into packages, one per name and
/// version per file.
fn run(
    name: &'static str,
    kind: PackageKind,
    files: &[FileEntry<'_>],
    out: &mut Output,
    parse: Parse,
) {
    let purl_type = kind.purl_type();
    for file in files {
        let Some(data) = out.read(file, name) else {
            continue;
        };
        match parse(data, file.path) {
            Ok(listed) => {
                let mut seen = BTreeSet::new();
                for l in listed {
                    if l.name.is_empty() || l.version.is_empty() {
                        out.notes.push(note(
                            name,
                            file,
                            format!(
                                "an entry without a name or version ({:?} {:?}) is skipped",
                                l.name, l.version
                            ),
                        ));
                        continue;
                    }
                    if !seen.insert((l.name.clone(), l.version.clone())) {
                        continue;
                    }
                    let (namespace, base) = match (kind, l.name.split_once('/')) {
                        (PackageKind::PhpComposer, Some((vendor, n))) => (vendor, n),
                        _ => ("", l.name.as_str()),
                    };
                    out.packages.push(Package {
                        purl: purl::build(purl_type, namespace, base, &l.version, &[]),
                        kind,
                        architecture: None,
                        source: None,
                        licenses: l.licenses,
                        location: location(file),
                        found_by: name.to_owned(),
                        metadata: PackageMetadata::Lang(l.meta),
                        name: l.name,
                        version: l.version,
                    });
                }
            }
            Err(message) => out.notes.push(note(name, file, message)),
        }
    }
}

pub(crate) struct Rust;

impl Cataloger for Rust {
    fn name(&self) -> &'static str {
        "lang/rust"
    }
    fn version(&self) -> u32 {
        1
    }
    fn patterns(&self) -> &'static [&'static str] {
        &["**/Cargo.lock"]
    }
    fn probed(&self) -> bool {
        true
    }
    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        run(
            self.name(),
            PackageKind::RustCrate,
            files,
            out,
            |data, path| {
                if path.ends_with("Cargo.lock") {
                    cargo_lock(data, path)
                } else if let Some(json) = data.strip_prefix(super::binary::RUST_TAG) {
                    auditable(json)
                } else {
                    // Another kind of binary.
                    Ok(Vec::new())
                }
            },
        );
    }
}

#[derive(serde::Deserialize)]
struct Auditable {
    packages: Vec<AuditablePackage>,
}

#[derive(serde::Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: String,
}

/// The dependency list `cargo auditable` embedded in a binary: what was compiled into it
/// (build-time-only crates, such as proc macros, are not in the binary and are left out).
fn auditable(json: &[u8]) -> Result<Vec<Listed>, String> {
    let doc: Auditable = serde_json::from_slice(json)
        .map_err(|e| format!("the binary's cargo-auditable data is not valid: {e}"))?;
    Ok(doc
        .packages
        .into_iter()
        .filter(|p| p.kind != "build")
        .map(|p| {
            let mut l = Listed::new(&p.name, &p.version);
            // `local` is the binary's own workspace: not from a registry.
            l.meta.origin = Some(p.source).filter(|s| !s.is_empty() && s != "local");
            l
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<CargoPackage>,
}

#[derive(serde::Deserialize)]
struct CargoPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// `Cargo.lock` v1–v4: every `[[package]]`, the workspace's own crates (no `source`)
/// included. Read as TOML rather than resolved, so a lockfile with a dangling dependency
/// still lists what it holds.
fn cargo_lock(data: &[u8], _path: &str) -> Result<Vec<Listed>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "Cargo.lock is not UTF-8".to_owned())?;
    let lock: CargoLock = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| {
            let mut l = Listed::new(&p.name, &p.version);
            l.meta.declared = true;
            l.meta.origin = p.source;
            l.meta.checksum = p.checksum;
            l
        })
        .collect())
}

pub(crate) struct Ruby;

impl Cataloger for Ruby {
    fn name(&self) -> &'static str {
        "lang/ruby"
    }
    fn version(&self) -> u32 {
        2
    }
    fn patterns(&self) -> &'static [&'static str] {
        &[
            "**/specifications/*.gemspec",
            "**/specifications/default/*.gemspec",
            "**/Gemfile.lock",
        ]
    }
    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        run(self.name(), PackageKind::Gem, files, out, |data, path| {
            if path.ends_with("Gemfile.lock") {
                gemfile_lock(data)
            } else {
                gemspec(data)
            }
        });
    }
}

/// A string literal (`"x"` or `'x'`, optionally `.freeze`) at the start of `s`.
fn ruby_string(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &s[1..];
    let end = rest.find(quote)?;
    Some(&rest[..end])
}

/// An installed gem's specification, as RubyGems writes it: `Gem::Specification.new do
/// |s|`, then `s.name = "x"`, `s.version = "1.0"`, `s.licenses = ["MIT"]`. A file without
/// that block is no specification (Ruby would fail to load it). A value may be a literal
/// or a constant the file assigns a literal (`VERSION = '3.0.0'`); anything computed
/// cannot be known without running Ruby, and is not guessed.
fn gemspec(data: &[u8]) -> Result<Vec<Listed>, String> {
    let text = String::from_utf8_lossy(data);
    let block = text
        .split_once("Gem::Specification.new")
        .and_then(|(_, rest)| {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix("do").or_else(|| rest.strip_prefix('{'))?;
            let (var, _) = rest.trim_start().strip_prefix('|')?.split_once('|')?;
            Some(var.trim())
        })
        .filter(|v| !v.is_empty())
        .ok_or("no Gem::Specification.new block: not a gem specification")?;
    let mut constants = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((lhs, rhs)) = line.trim().split_once('=')
            && let lhs = lhs.trim()
            && lhs.starts_with(|c: char| c.is_ascii_uppercase())
            && lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && let Some(v) = ruby_string(rhs)
        {
            constants.entry(lhs).or_insert(v);
        }
    }
    let value = |rhs: &'_ str| -> Option<String> {
        ruby_string(rhs).map(str::to_owned).or_else(|| {
            let ident = rhs.trim().trim_end_matches(".freeze");
            let last = ident.rsplit("::").next()?;
            constants.get(last).map(|v| (*v).to_owned())
        })
    };
    let (mut name, mut version, mut licenses) = (None, None, Vec::new());
    for line in text.lines() {
        let line = line.trim();
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let Some((var, field)) = lhs.trim().split_once('.') else {
            continue;
        };
        if var != block {
            continue;
        }
        match field.trim() {
            "name" if name.is_none() => name = value(rhs),
            "version" if version.is_none() => version = value(rhs),
            "license" => licenses.extend(ruby_string(rhs).map(str::to_owned)),
            "licenses" => {
                let list = rhs.trim().trim_start_matches('[');
                for part in list.split(',') {
                    licenses.extend(ruby_string(part).map(str::to_owned));
                }
            }
            _ => {}
        }
    }
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
            let mut l = Listed::new(&n, &v);
            l.licenses = licenses;
            Ok(vec![l])
        }
        _ => Err("no literal name and version in the gem specification".to_owned()),
    }
}

/// `Gemfile.lock`: the specs of every source section, as Bundler's `LockfileParser` reads
/// them: `GEM` (a gem server), `GIT` and `PATH` (their gemspecs, the origin kept), and
/// `PLUGIN SOURCE`.
fn gemfile_lock(data: &[u8]) -> Result<Vec<Listed>, String> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    // The current source section's kind and, for GIT and PATH, where the gems come from.
    let mut source: Option<(&str, String, String)> = None;
    let mut sections = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with(' ') {
            source = match line.trim() {
                kind @ ("GEM" | "GIT" | "PATH" | "PLUGIN SOURCE") => {
                    sections += 1;
                    Some((kind, String::new(), String::new()))
                }
                _ => None,
            };
            continue;
        }
        let Some((kind, remote, revision)) = source.as_mut() else {
            continue;
        };
        if let Some(v) = line.strip_prefix("  remote: ") {
            *remote = v.trim().to_owned();
            continue;
        }
        if let Some(v) = line.strip_prefix("  revision: ") {
            *revision = v.trim().to_owned();
            continue;
        }
        if !line.starts_with("    ") || line.starts_with("     ") {
            continue;
        }
        let entry = line.trim();
        if let Some((name, rest)) = entry.split_once(" (") {
            // `nokogiri (1.15.4-x86_64-linux)`: the platform is not part of the version.
            let version = rest.trim_end_matches(')');
            let version = version.split_once('-').map_or(version, |(v, _)| v);
            let mut l = Listed::new(name, version);
            l.meta.declared = true;
            l.meta.origin = match *kind {
                "GIT" if revision.is_empty() => Some(format!("git {remote}")),
                "GIT" => Some(format!("git {remote}@{revision}")),
                "PATH" => Some(format!("path {remote}")),
                _ => None,
            };
            out.push(l);
        }
    }
    if sections == 0 && !text.trim().is_empty() {
        return Err("no GEM, GIT, PATH or PLUGIN SOURCE section: not a Gemfile.lock".to_owned());
    }
    Ok(out)
}

pub(crate) struct Php;

impl Cataloger for Php {
    fn name(&self) -> &'static str {
        "lang/php"
    }
    fn version(&self) -> u32 {
        2
    }
    fn patterns(&self) -> &'static [&'static str] {
        &["**/vendor/composer/installed.json", "**/composer.lock"]
    }
    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        run(self.name(), PackageKind::PhpComposer, files, out, composer);
    }
}

fn json(data: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(data).map_err(|e| format!("not valid JSON: {e}"))
}

/// `composer.lock` (`packages`, `packages-dev`) and `installed.json` (v1: a list; v2:
/// `{"packages": […], "dev-package-names": […]}`).
fn composer(data: &[u8], path: &str) -> Result<Vec<Listed>, String> {
    let doc = json(data)?;
    let declared = path.ends_with("composer.lock");
    let dev_names: BTreeSet<&str> = doc
        .get("dev-package-names")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let groups: Vec<(&Value, bool)> = match &doc {
        Value::Array(_) => vec![(&doc, false)],
        Value::Object(o) => ["packages", "packages-dev"]
            .iter()
            .filter_map(|k| o.get(*k).map(|v| (v, *k == "packages-dev")))
            .collect(),
        _ => return Err("not a JSON object or list".to_owned()),
    };
    let mut out = Vec::new();
    for (list, dev) in groups {
        for p in list.as_array().into_iter().flatten() {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let version = p.get("version").and_then(Value::as_str).unwrap_or("");
            // As the lockfile writes it (`v1.27.0`); the matcher reads `v` as Composer does.
            let mut l = Listed::new(name, version);
            l.meta.declared = declared;
            l.meta.dev = dev || dev_names.contains(name);
            l.licenses = p
                .get("license")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            out.push(l);
        }
    }
    Ok(out)
}

pub(crate) struct Dotnet;

impl Cataloger for Dotnet {
    fn name(&self) -> &'static str {
        "lang/dotnet"
    }
    fn version(&self) -> u32 {
        2
    }
    fn patterns(&self) -> &'static [&'static str] {
        &["**/*.deps.json"]
    }
    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        run(self.name(), PackageKind::Dotnet, files, out, deps_json);
    }
}

/// `*.deps.json`: the `libraries` of type `package` (`Name/Version` keys); projects are the
/// application's own assemblies.
fn deps_json(data: &[u8], _path: &str) -> Result<Vec<Listed>, String> {
    let doc = json(data)?;
    let Some(libraries) = doc.get("libraries").and_then(Value::as_object) else {
        return if doc.is_object() {
            Ok(Vec::new())
        } else {
            Err("not a JSON object".to_owned())
        };
    };
    // What each library brings to the running app, per target: the host loads only the
    // assets listed there, so a package without any (reference assemblies, analyzers,
    // build tools) is not part of the app.
    let targets: Vec<&serde_json::Map<String, Value>> = doc
        .get("targets")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(Value::as_object)
        .collect();
    let ships_assets = |key: &str| {
        let entries: Vec<&Value> = targets.iter().filter_map(|t| t.get(key)).collect();
        entries.is_empty()
            || entries.iter().any(|e| {
                ["runtime", "runtimeTargets", "native", "resources"]
                    .iter()
                    .any(|a| {
                        e.get(a)
                            .and_then(Value::as_object)
                            .is_some_and(|m| !m.is_empty())
                    })
            })
    };
    let mut out = Vec::new();
    for (key, lib) in libraries {
        // A self-contained app carries the runtime itself as `runtimepack.<pack>` entries
        // (`Microsoft.NETCore.App.Runtime.linux-x64`), which advisories name without the
        // prefix; `project` entries are the app and its own projects.
        let name_prefix = match lib.get("type").and_then(Value::as_str) {
            Some("package") => "",
            Some("runtimepack") => "runtimepack.",
            _ => continue,
        };
        if !ships_assets(key) {
            continue;
        }
        let (name, version) = key.split_once('/').unwrap_or((key, ""));
        let name = name.strip_prefix(name_prefix).unwrap_or(name);
        let mut l = Listed::new(name, version);
        l.meta.checksum = lib
            .get("sha512")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gem_files() {
        let spec = b"Gem::Specification.new do |s|\n  s.name = \"rss\".freeze\n  s.version = \"0.2.9\"\n  s.licenses = [\"BSD-2-Clause\".freeze, 'Ruby']\nend\n";
        let got = gemspec(spec).unwrap();
        assert_eq!(
            (got[0].name.as_str(), got[0].version.as_str()),
            ("rss", "0.2.9")
        );
        assert_eq!(got[0].licenses, ["BSD-2-Clause", "Ruby"]);
        assert!(gemspec(b"spec.name = 'x'\nspec.version = VERSION\n").is_err());
        let lock = b"GEM\n  remote: https://rubygems.org/\n  specs:\n    actionpack (7.0.4)\n      rack (~> 2.0)\n    nokogiri (1.15.4-x86_64-linux)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  rails\n";
        let got: Vec<(String, String)> = gemfile_lock(lock)
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.version))
            .collect();
        assert_eq!(
            got,
            [("actionpack", "7.0.4"), ("nokogiri", "1.15.4")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn composer_installed_v1_and_v2() {
        let v1 = br#"[{"name": "a/b", "version": "v1.0.0", "license": ["MIT"]}]"#;
        let got = composer(v1, "vendor/composer/installed.json").unwrap();
        assert_eq!(
            (got[0].version.as_str(), got[0].licenses[0].as_str()),
            ("v1.0.0", "MIT")
        );
        let v2 = br#"{"packages": [{"name": "a/b", "version": "1.0.0"}, {"name": "c/d", "version": "2.0.0"}], "dev-package-names": ["c/d"]}"#;
        let got = composer(v2, "vendor/composer/installed.json").unwrap();
        assert!(!got[0].meta.dev && got[1].meta.dev && !got[1].meta.declared);
    }

    #[test]
    fn deps_json_runtime_packs_and_assets() {
        let doc = br#"{
          "targets": {
            ".NETCoreApp,Version=v8.0": {},
            ".NETCoreApp,Version=v8.0/linux-x64": {
              "app/1.0.0": {"dependencies": {"A": "1.0.0"}, "runtime": {"app.dll": {}}},
              "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.1": {"runtime": {"System.Private.CoreLib.dll": {}}, "native": {"libclrjit.so": {}}},
              "A/1.0.0": {"runtime": {"lib/net8.0/A.dll": {}}},
              "Analyzers/2.0.0": {"compile": {"ref/net8.0/Analyzers.dll": {}}},
              "Native/3.0.0": {"runtimeTargets": {"runtimes/linux-x64/native/x.so": {"rid": "linux-x64", "assetType": "native"}}}
            }
          },
          "libraries": {
            "app/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
            "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.1": {"type": "runtimepack", "serviceable": false, "sha512": ""},
            "A/1.0.0": {"type": "package", "sha512": "sha512-a"},
            "Analyzers/2.0.0": {"type": "package", "sha512": "sha512-b"},
            "Native/3.0.0": {"type": "package", "sha512": "sha512-c"},
            "Unlisted/4.0.0": {"type": "package", "sha512": "sha512-d"}
          }
        }"#;
        let mut got: Vec<(String, String)> = deps_json(doc, "app.deps.json")
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.version))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("A", "1.0.0"),
                ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.1"),
                ("Native", "3.0.0"),
                ("Unlisted", "4.0.0"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
