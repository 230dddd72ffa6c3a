//! `lang/node`: packages installed under `node_modules` (nested and scoped), the project at
//! the root of such a tree reported as the application, and the dependencies lockfiles
//! declare for the application at their path: `package-lock.json` / `npm-shrinkwrap.json`
//! (v1–v3), `yarn.lock` (v1 and berry) and `pnpm-lock.yaml` (v5–v9).

use std::collections::BTreeSet;

use ferret_layers::FileEntry;
use ferret_model::{NpmMetadata, NpmRole, Package, PackageKind, PackageMetadata};
use serde_json::Value;

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Node;

const NAME: &str = "lang/node";

const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
];

impl Cataloger for Node {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        2
    }

    fn patterns(&self) -> &'static [&'static str] {
        &[
            "**/package.json",
            "**/package-lock.json",
            "**/npm-shrinkwrap.json",
            "**/yarn.lock",
            "**/pnpm-lock.yaml",
        ]
    }

    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        // Directories that hold an installed tree or a lockfile: their package.json is the
        // application's.
        let mut project_dirs = BTreeSet::new();
        for f in files {
            let (dir, file) = split(f.path);
            if let Some(i) = f.path.find("node_modules/") {
                project_dirs.insert(f.path[..i].trim_end_matches('/'));
            } else if LOCKFILES.contains(&file) {
                project_dirs.insert(dir);
            }
        }
        for file in files {
            let (dir, base) = split(file.path);
            let role = if base == "package.json" {
                if installed_package_dir(dir) {
                    NpmRole::Installed
                } else if !dir.contains("node_modules/") && project_dirs.contains(dir) {
                    NpmRole::Application
                } else {
                    // A package.json inside a package's own files, or of a project with
                    // nothing installed: not a package of the image.
                    continue;
                }
            } else if file.path.contains("node_modules/") {
                // Lockfiles shipped inside packages describe their development, not the image.
                continue;
            } else {
                NpmRole::Declared
            };
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let parsed = match (role, base) {
                (NpmRole::Installed | NpmRole::Application, _) => {
                    package_json(data, role).map(|p| p.into_iter().collect())
                }
                (_, "yarn.lock") => yarn_lock(data),
                (_, "pnpm-lock.yaml") => pnpm_lock(data).map(|(found, skipped)| {
                    if !skipped.is_empty() {
                        out.notes.push(note(
                            NAME,
                            file,
                            format!(
                                "{} entries without a version to match are not listed: {}",
                                skipped.len(),
                                skipped.join(", ")
                            ),
                        ));
                    }
                    found
                }),
                _ => package_lock(data),
            };
            match parsed {
                Ok(found) => {
                    let mut seen = BTreeSet::new();
                    for d in found {
                        if seen.insert((d.name.clone(), d.version.clone())) {
                            out.packages.push(d.into_package(file, role));
                        }
                    }
                }
                Err(message) => out.notes.push(note(NAME, file, message)),
            }
        }
    }
}

/// `(directory, file name)` of a path.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// `…/node_modules/NAME` or `…/node_modules/@SCOPE/NAME`: where npm installs a package.
fn installed_package_dir(dir: &str) -> bool {
    let (parent, name) = split(dir);
    if name.is_empty() || name.starts_with('.') {
        return false;
    }
    if parent == "node_modules" || parent.ends_with("/node_modules") {
        return !name.starts_with('@');
    }
    let (grand, scope) = split(parent);
    scope.starts_with('@') && (grand == "node_modules" || grand.ends_with("/node_modules"))
}

/// A package as a file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    name: String,
    version: String,
    licenses: Vec<String>,
    private: bool,
    dev: bool,
}

impl Found {
    fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            licenses: Vec::new(),
            private: false,
            dev: false,
        }
    }

    fn into_package(self, file: &FileEntry<'_>, role: NpmRole) -> Package {
        let (namespace, base) = match self.name.split_once('/') {
            Some((scope, n)) if scope.starts_with('@') => (scope, n),
            _ => ("", self.name.as_str()),
        };
        Package {
            purl: purl::build(
                PackageKind::Npm.purl_type(),
                namespace,
                base,
                &self.version,
                &[],
            ),
            kind: PackageKind::Npm,
            architecture: None,
            source: None,
            licenses: self.licenses,
            location: location(file),
            found_by: NAME.to_owned(),
            metadata: PackageMetadata::Npm(NpmMetadata {
                role,
                private: self.private,
                dev: self.dev,
            }),
            name: self.name,
            version: self.version,
        }
    }
}

fn json(data: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(data).map_err(|e| format!("not valid JSON: {e}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).map_or("", str::trim)
}

/// An installed package's or the application's `package.json`.
fn package_json(data: &[u8], role: NpmRole) -> Result<Option<Found>, String> {
    let doc = json(data)?;
    if !doc.is_object() {
        return Err("not a JSON object".to_owned());
    }
    let (name, version) = (text(&doc, "name"), text(&doc, "version"));
    if name.is_empty() || version.is_empty() {
        if role == NpmRole::Application {
            // Many applications carry neither; they are still not a package to match.
            return Ok(None);
        }
        return Err(format!(
            "package.json without a {}",
            if name.is_empty() { "name" } else { "version" }
        ));
    }
    let mut found = Found::new(name, version);
    found.private = doc.get("private").and_then(Value::as_bool) == Some(true);
    found.licenses = licenses(&doc);
    Ok(Some(found))
}

/// `license` as a string or `{type}`, or the old `licenses` list.
fn licenses(doc: &Value) -> Vec<String> {
    let one = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Object(o) => o
                .get("type")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_owned()),
            _ => None,
        }
    };
    let mut out: Vec<String> = match (doc.get("license"), doc.get("licenses")) {
        (Some(l), _) => one(l).into_iter().collect(),
        (None, Some(Value::Array(list))) => list.iter().filter_map(one).collect(),
        _ => Vec::new(),
    };
    out.retain(|l| !l.is_empty() && l != "UNLICENSED");
    out
}

/// The package name in a `node_modules/…` key of a v2/v3 lockfile.
fn name_from_key(key: &str) -> &str {
    key.rsplit_once("node_modules/").map_or(key, |(_, n)| n)
}

/// `package-lock.json` / `npm-shrinkwrap.json`: v2 and v3 `packages`, v1 `dependencies`.
fn package_lock(data: &[u8]) -> Result<Vec<Found>, String> {
    let doc = json(data)?;
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, entry) in packages {
            // "" is the application itself; links point at workspace folders.
            if key.is_empty() || !key.contains("node_modules/") {
                continue;
            }
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = match text(entry, "name") {
                "" => name_from_key(key),
                n => n,
            };
            let version = text(entry, "version");
            if version.is_empty() {
                continue;
            }
            let mut f = Found::new(name, version);
            f.dev = entry.get("dev").and_then(Value::as_bool) == Some(true);
            f.licenses = licenses(entry);
            out.push(f);
        }
        return Ok(out);
    }
    fn walk(deps: &serde_json::Map<String, Value>, out: &mut Vec<Found>, depth: usize) {
        if depth > 64 {
            return;
        }
        for (name, entry) in deps {
            let version = text(entry, "version");
            // An npm alias installs another package: `npm:real@1.0.0`.
            let (name, version) = match version.strip_prefix("npm:").and_then(|r| {
                r.char_indices()
                    .skip(1)
                    .find(|(_, c)| *c == '@')
                    .map(|(i, _)| (&r[..i], &r[i + 1..]))
            }) {
                Some((real, v)) => (real, v),
                None => (name.as_str(), version),
            };
            // Non-registry sources (`file:`, git URLs) have no version to match.
            if !version.is_empty() && !version.contains(':') && !version.contains('/') {
                let mut f = Found::new(name, version);
                f.dev = entry.get("dev").and_then(Value::as_bool) == Some(true);
                out.push(f);
            }
            if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
                walk(nested, out, depth + 1);
            }
        }
    }
    match doc.get("dependencies").and_then(Value::as_object) {
        Some(deps) => walk(deps, &mut out, 0),
        None if doc.is_object() => {}
        None => return Err("not a JSON object".to_owned()),
    }
    Ok(out)
}

/// `NAME@RANGE` → `NAME` (the scope's `@` is not the separator).
fn spec_name(spec: &str) -> &str {
    let spec = spec.trim().trim_matches('"');
    match spec.char_indices().skip(1).find(|(_, c)| *c == '@') {
        Some((i, _)) => &spec[..i],
        None => spec,
    }
}

/// The package a spec installs: its name, or for an npm alias (`alias@npm:real@1`) the
/// real package's, which advisories name.
fn installed_name(spec: &str) -> &str {
    let name = spec_name(spec);
    let spec = spec.trim().trim_matches('"');
    match spec
        .get(name.len() + 1..)
        .and_then(|r| r.strip_prefix("npm:"))
    {
        Some(real) if real.starts_with(|c: char| c != '^' && c != '~' && !c.is_ascii_digit()) => {
            spec_name(real)
        }
        _ => name,
    }
}

/// A yarn v1 key or value: quoted (`"@babel/core@^7"`, with `\"` escapes) or bare.
fn yarn_token(s: &str) -> (String, &str) {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.extend(chars.next().map(|(_, c)| c)),
                '"' => return (out, &rest[i + 1..]),
                c => out.push(c),
            }
        }
        (out, "")
    } else {
        let end = s
            .find(|c: char| c.is_whitespace() || c == ',' || c == ':')
            .unwrap_or(s.len());
        (s[..end].to_owned(), &s[end..])
    }
}

/// `yarn.lock`: v1's own format, or berry's YAML (it has `__metadata`). v1 is read the way
/// yarn's own parser (`@yarnpkg/lockfile`) reads it: keys and values bare or quoted (npm
/// tooling writes `"version" "1.0.0"`), an entry's several specs separated by commas.
fn yarn_lock(data: &[u8]) -> Result<Vec<Found>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "yarn.lock is not UTF-8".to_owned())?;
    if text.lines().any(|l| l.starts_with("__metadata:")) {
        return yarn_berry(data);
    }
    let mut out = Vec::new();
    let mut entries = 0;
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 0 {
            let Some(specs) = line.trim_end().strip_suffix(':') else {
                return Err(format!("line {}: expected an entry ending in ':'", n + 1));
            };
            let (first, _) = yarn_token(specs);
            entries += 1;
            current = Some(installed_name(&first).to_owned());
            continue;
        }
        // The entry's own fields are indented once; deeper lines are its dependencies.
        if indent != 2 {
            continue;
        }
        let (key, rest) = yarn_token(line);
        if let (Some(name), "version") = (&current, key.as_str()) {
            let (version, _) = yarn_token(rest.trim_start_matches(':'));
            if !version.is_empty() {
                out.push(Found::new(name, &version));
            }
        }
    }
    if out.is_empty() && entries > 0 {
        return Err(format!(
            "none of its {entries} entries has a version yarn v1 would read"
        ));
    }
    Ok(out)
}

/// A yarn berry lockfile, line by line as yarn's own syml writer lays it out (entries at
/// column 0, their fields two spaces in): a YAML parser would refuse the whole file for one
/// duplicate key, which yarn itself tolerates. Versions stay strings (`1.10`, not 1.1).
fn yarn_berry(data: &[u8]) -> Result<Vec<Found>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "yarn.lock is not UTF-8".to_owned())?;
    let mut out = Vec::new();
    // The current entry: its first key, and its resolution and version once read.
    let mut entry: Option<(String, Option<String>, Option<String>)> = None;
    let mut flush = |e: Option<(String, Option<String>, Option<String>)>| {
        let Some((key, resolution, version)) = e else {
            return;
        };
        if key == "__metadata" {
            return;
        }
        let resolution = resolution.unwrap_or(key);
        // The project, its workspaces and linked directories are not dependencies.
        if ["@workspace:", "@link:", "@portal:"]
            .iter()
            .any(|p| resolution.contains(p))
        {
            return;
        }
        if let Some(version) = version.filter(|v| !v.is_empty()) {
            out.push(Found::new(spec_name(&resolution), &version));
        }
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 0 {
            flush(entry.take());
            let Some(head) = line.trim_end().strip_suffix(':') else {
                return Err(format!("line {}: expected an entry ending in ':'", n + 1));
            };
            let (first, _) = yarn_token(head);
            entry = Some((first, None, None));
            continue;
        }
        let Some((_, resolution, version)) = entry.as_mut().filter(|_| indent == 2) else {
            continue;
        };
        let (key, rest) = yarn_token(line);
        let Some(rest) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let (value, _) = yarn_token(rest);
        match key.as_str() {
            "resolution" => *resolution = Some(value),
            "version" => *version = Some(value),
            _ => {}
        }
    }
    flush(entry.take());
    Ok(out)
}

/// The lockfile document of a `pnpm-lock.yaml`. pnpm 11 may write two YAML documents: the
/// first (after a leading `---`) locks its own configuration dependencies and package
/// manager, the last is the project's lockfile.
fn pnpm_document(data: &[u8]) -> Result<serde_norway::Value, String> {
    use serde::Deserialize;
    let mut last = None;
    for doc in serde_norway::Deserializer::from_slice(data) {
        let value =
            serde_norway::Value::deserialize(doc).map_err(|e| format!("not valid YAML: {e}"))?;
        if !value.is_null() {
            last = Some(value);
        }
    }
    last.ok_or_else(|| "an empty YAML file: not a pnpm lockfile".to_owned())
}

/// `pnpm-lock.yaml`: `packages` keys `/name/1.0.0` (v5), `/name@1.0.0` (v6) or
/// `name@1.0.0` (v9), with peer suffixes `_peer@1` or `(peer@1)`. A package resolved from a
/// tarball, a git repository or a directory (`name@https://…`, `name@file:…`) is listed at
/// the version its entry records; those without one are returned by name, to be noted.
fn pnpm_lock(data: &[u8]) -> Result<(Vec<Found>, Vec<String>), String> {
    let doc = pnpm_document(data)?;
    let version5 = match doc.get("lockfileVersion") {
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .is_some_and(|n| n < 6.0),
        None => return Err("no lockfileVersion: not a pnpm lockfile".to_owned()),
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let Some(packages) = doc.get("packages").and_then(|p| p.as_mapping()) else {
        return Ok((out, skipped));
    };
    let dev_only = pnpm_dev_only(&doc);
    for (key, entry) in packages {
        let Some(key) = key.as_str() else { continue };
        let key = key.trim_start_matches('/');
        let key = key.split('(').next().unwrap_or(key);
        let (name, version) = if version5 {
            match key.rsplit_once('/') {
                Some((n, v)) if !v.contains(':') => (n, v.split('_').next().unwrap_or(v)),
                _ => (key, ""),
            }
        } else {
            match key.char_indices().skip(1).find(|(_, c)| *c == '@') {
                Some((i, _)) => (&key[..i], &key[i + 1..]),
                None => (key, ""),
            }
        };
        let from_registry = !version.is_empty() && !version.contains(':') && !version.contains('/');
        // Entries not from the registry name themselves and their version in the entry.
        let name = entry.get("name").and_then(|n| n.as_str()).unwrap_or(name);
        let version = if from_registry {
            version
        } else {
            entry.get("version").and_then(|v| v.as_str()).unwrap_or("")
        };
        if name.is_empty() || version.is_empty() {
            skipped.push(key.to_owned());
            continue;
        }
        let mut f = Found::new(name, version);
        f.dev = entry.get("dev").and_then(|d| d.as_bool()) == Some(true) || dev_only.contains(key);
        out.push(f);
    }
    Ok((out, skipped))
}

/// The packages (`name@version`) of a v9 lockfile that only development dependencies
/// need: v9 has no `dev:` flags, so they are the ones its `snapshots` do not reach from
/// any importer's `dependencies` or `optionalDependencies`, but do from its
/// `devDependencies` (as pnpm itself decides for `--prod`).
fn pnpm_dev_only(doc: &serde_norway::Value) -> BTreeSet<String> {
    let Some(snapshots) = doc.get("snapshots").and_then(|s| s.as_mapping()) else {
        return BTreeSet::new();
    };
    // `1.0.0(peer@2)` → `1.0.0`; `link:…` and other non-versions are not packages.
    let id = |name: &str, version: &str| {
        format!("{name}@{}", version.split('(').next().unwrap_or(version))
    };
    let edges: std::collections::HashMap<&str, Vec<String>> = snapshots
        .iter()
        .filter_map(|(k, entry)| {
            let deps = ["dependencies", "optionalDependencies"]
                .iter()
                .filter_map(|f| entry.get(*f).and_then(|d| d.as_mapping()))
                .flatten()
                .filter_map(|(n, v)| Some(format!("{}@{}", n.as_str()?, v.as_str()?)))
                .collect();
            Some((k.as_str()?, deps))
        })
        .collect();
    let roots = |fields: &[&str]| -> Vec<String> {
        doc.get("importers")
            .and_then(|i| i.as_mapping())
            .into_iter()
            .flatten()
            .flat_map(|(_, importer)| {
                fields
                    .iter()
                    .filter_map(|f| importer.get(*f).and_then(|d| d.as_mapping()))
                    .flatten()
                    .filter_map(|(n, d)| {
                        let v = d.get("version").and_then(|v| v.as_str())?;
                        Some(format!("{}@{v}", n.as_str()?))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // Snapshot keys carry the peer suffix; packages keys do not.
    let reach = |start: Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = start;
        while let Some(key) = todo.pop() {
            if seen.insert(key.clone()) {
                todo.extend(edges.get(key.as_str()).into_iter().flatten().cloned());
            }
        }
        seen.iter()
            .filter_map(|k| {
                let at = k.char_indices().skip(1).find(|(_, c)| *c == '@')?.0;
                Some(id(&k[..at], &k[at + 1..]))
            })
            .collect::<BTreeSet<String>>()
    };
    let prod = reach(roots(&["dependencies", "optionalDependencies"]));
    reach(roots(&["devDependencies"]))
        .into_iter()
        .filter(|p| !prod.contains(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_dirs() {
        assert!(installed_package_dir("app/node_modules/accepts"));
        assert!(installed_package_dir("node_modules/@babel/core"));
        assert!(installed_package_dir("a/node_modules/b/node_modules/c"));
        assert!(!installed_package_dir("node_modules/@babel"));
        assert!(!installed_package_dir("node_modules/resolve/test/x"));
        assert!(!installed_package_dir("node_modules/.bin"));
        assert!(!installed_package_dir("app"));
    }

    #[test]
    fn lockfiles() {
        let v3 = br#"{"lockfileVersion": 3, "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/a": {"version": "1.0.0"},
            "node_modules/a/node_modules/@s/b": {"version": "2.0.0", "dev": true},
            "node_modules/alias": {"name": "real", "version": "3.0.0"},
            "node_modules/ws": {"link": true},
            "packages/ws": {"version": "0.0.1"}}}"#;
        let got: Vec<(String, String, bool)> = package_lock(v3)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.version, f.dev))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "1.0.0", false),
                ("@s/b", "2.0.0", true),
                ("real", "3.0.0", false)
            ]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
        );
        let v1 = br#"{"lockfileVersion": 1, "dependencies": {
            "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0", "dev": true}}},
            "local": {"version": "file:../local"}}}"#;
        assert_eq!(package_lock(v1).unwrap().len(), 2);

        let yarn1 = b"# yarn lockfile v1\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  resolved \"https://x\"\n\nleft-pad@1.3.0:\n  version \"1.3.0\"\n";
        let got: Vec<(String, String)> = yarn_lock(yarn1)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.version))
            .collect();
        assert_eq!(
            got,
            [("@babel/code-frame", "7.12.13"), ("left-pad", "1.3.0")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let berry = b"__metadata:\n  version: 6\n\n\"@babel/core@npm:^7.0.0\":\n  version: 7.20.0\n  resolution: \"@babel/core@npm:7.20.0\"\n  dependencies:\n    debug: \"npm:^4.1.0\"\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n\n\"left-pad@npm:^1.10\":\n  version: 1.10\n  resolution: \"left-pad@npm:1.10\"\n\n\"left-pad@npm:^1.10\":\n  version: 1.10\n  resolution: \"left-pad@npm:1.10\"\n";
        let got: Vec<(String, String)> = yarn_lock(berry)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.version))
            .collect();
        // The duplicated entry is kept (the catalog lists each name and version once), and
        // `1.10` stays `1.10`.
        assert_eq!(
            got,
            [
                ("@babel/core", "7.20.0"),
                ("left-pad", "1.10"),
                ("left-pad", "1.10")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );

        for (lock, want) in [
            (&b"lockfileVersion: 5.4\npackages:\n  /a/1.0.0:\n    dev: false\n  /@s/b/2.0.0_c@1.0.0:\n    dev: true\n"[..], [("a", "1.0.0"), ("@s/b", "2.0.0")]),
            (b"lockfileVersion: '6.0'\npackages:\n  /a@1.0.0:\n    dev: false\n  /@s/b@2.0.0(c@1.0.0):\n    dev: true\n", [("a", "1.0.0"), ("@s/b", "2.0.0")]),
            (b"lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {integrity: x}\n  '@s/b@2.0.0':\n    resolution: {integrity: y}\n", [("a", "1.0.0"), ("@s/b", "2.0.0")]),
        ] {
            let got: Vec<(String, String)> =
                pnpm_lock(lock).unwrap().0.into_iter().map(|f| (f.name, f.version)).collect();
            assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        }
        assert!(pnpm_lock(b"{").is_err());
    }

    /// pnpm 11's two documents (its configuration dependencies first, the project's
    /// lockfile last), and packages from a tarball, git or a directory.
    #[test]
    fn pnpm_documents_and_sources_outside_the_registry() {
        let lock = b"---\nlockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    configDependencies:\n      '@pnpm/exe':\n        specifier: 12.0.0\n        version: 12.0.0\n\npackages:\n\n  '@pnpm/exe@12.0.0':\n    resolution: {integrity: sha512-x}\n\n---\nlockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      a:\n        specifier: ^1.0.0\n        version: 1.0.0\n\npackages:\n\n  a@1.0.0:\n    resolution: {integrity: sha512-a}\n\n  b@https://codeload.github.com/o/b/tar.gz/0123abc:\n    resolution: {tarball: https://codeload.github.com/o/b/tar.gz/0123abc}\n    version: 2.1.0\n\n  c@file:vendor/c:\n    resolution: {directory: vendor/c, type: directory}\n    name: c\n    version: 0.3.0\n\n  d@git+https://example.com/d.git#abc:\n    resolution: {commit: abc, repo: https://example.com/d.git, type: git}\n";
        let (found, skipped) = pnpm_lock(lock).unwrap();
        let got: Vec<(String, String)> = found.into_iter().map(|f| (f.name, f.version)).collect();
        assert_eq!(
            got,
            [("a", "1.0.0"), ("b", "2.1.0"), ("c", "0.3.0")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(skipped, ["d@git+https://example.com/d.git#abc"]);
        assert!(pnpm_lock(b"---\n").is_err());
        assert!(package_lock(b"[").is_err() || package_lock(b"[").unwrap().is_empty());
    }
}
