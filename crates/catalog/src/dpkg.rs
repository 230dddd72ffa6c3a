//! `os/dpkg`: `var/lib/dpkg/status` and the distroless `var/lib/dpkg/status.d/*` layout.
//!
//! The control-file parser is our own so that one malformed paragraph is recorded and
//! skipped while the rest of the database is still read (dpkg itself aborts the file).

use ferret_layers::FileEntry;
use ferret_model::{DpkgMetadata, Package, PackageKind, PackageMetadata, SourcePackage};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Dpkg;

const NAME: &str = "os/dpkg";

/// Companion files distroless images keep next to each `status.d` entry.
const COMPANION_SUFFIXES: &[&str] = &[
    ".md5sums",
    ".preinst",
    ".postinst",
    ".prerm",
    ".postrm",
    ".conffiles",
    ".list",
    ".shlibs",
    ".symbols",
    ".triggers",
    ".templates",
    ".config",
];

/// dpkg states in which a package's files are on disk. `not-installed` and
/// `config-files` (removed, configuration kept) are the states without them.
const ON_DISK_STATES: &[&str] = &[
    "installed",
    "unpacked",
    "half-configured",
    "half-installed",
    "triggers-awaited",
    "triggers-pending",
];

impl Cataloger for Dpkg {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn patterns(&self) -> &'static [&'static str] {
        &[
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/*",
            "usr/share/doc/*/copyright",
        ]
    }

    fn catalog(&self, files: &[FileEntry<'_>], ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            if file.path.starts_with("usr/share/doc/") {
                // Read on demand, per package, below.
                continue;
            }
            let distroless = file.path.starts_with("var/lib/dpkg/status.d/");
            if distroless && COMPANION_SUFFIXES.iter().any(|s| file.path.ends_with(s)) {
                continue;
            }
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let text = String::from_utf8_lossy(data);
            let (paragraphs, problems) = paragraphs(&text);
            for (line, message) in problems {
                out.notes.push(note(
                    NAME,
                    file,
                    format!("line {line}: {message}; paragraph skipped"),
                ));
            }
            for p in paragraphs {
                match package(&p, distroless, file, ctx) {
                    Ok(Some(pkg)) => out.packages.push(pkg),
                    Ok(None) => {}
                    Err(message) => {
                        out.notes
                            .push(note(NAME, file, format!("line {}: {message}", p.line)))
                    }
                }
            }
        }
    }
}

/// One control paragraph: its first line number and its fields in order.
#[derive(Debug)]
pub(crate) struct Paragraph {
    pub line: usize,
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits deb822 text into paragraphs. A paragraph with a malformed line is dropped and
/// reported as (line, message); the others are kept.
pub(crate) fn paragraphs(text: &str) -> (Vec<Paragraph>, Vec<(usize, String)>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut broken = false;
    let finish = |p: Option<Paragraph>, broken: bool, out: &mut Vec<Paragraph>| {
        if let Some(p) = p
            && !broken
            && !p.fields.is_empty()
        {
            out.push(p);
        }
    };
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            finish(current.take(), broken, &mut out);
            broken = false;
            continue;
        }
        let p = current.get_or_insert_with(|| Paragraph {
            line: line_no,
            fields: Vec::new(),
        });
        if broken {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match p.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => {
                    problems.push((line_no, "continuation line before any field".to_owned()));
                    broken = true;
                }
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                p.fields.push((name.to_owned(), value.trim().to_owned()));
            }
            _ => {
                let shown: String = line.chars().take(40).collect();
                problems.push((line_no, format!("expected 'Field: value', found {shown:?}")));
                broken = true;
            }
        }
    }
    finish(current.take(), broken, &mut out);
    (out, problems)
}

fn package(
    p: &Paragraph,
    distroless: bool,
    file: &FileEntry<'_>,
    ctx: &Context<'_>,
) -> Result<Option<Package>, String> {
    let name = p
        .get("Package")
        .ok_or("paragraph without a Package field")?;
    if name.is_empty() {
        return Err("empty Package field".to_owned());
    }
    let status = p.get("Status");
    // dpkg treats a status entry without Status as not installed; distroless status.d
    // entries have no Status and are installed by construction.
    let on_disk = match status {
        Some(s) => s
            .split_whitespace()
            .nth(2)
            .is_some_and(|state| ON_DISK_STATES.contains(&state)),
        None => distroless,
    };
    if !on_disk {
        return Ok(None);
    }
    let version = p
        .get("Version")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("package {name:?} has no Version"))?;
    let architecture = p
        .get("Architecture")
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let (source_name, source_version) = match p.get("Source").filter(|s| !s.is_empty()) {
        Some(source) => match source.split_once('(') {
            Some((n, v)) => (n.trim(), v.trim_end_matches(')').trim()),
            None => (source.trim(), version),
        },
        None => (name, version),
    };
    let (namespace, distro_qualifier) = purl::namespace(PackageKind::Deb, ctx.distro);
    let mut qualifiers = Vec::new();
    if let Some(arch) = &architecture {
        qualifiers.push(("arch", arch.clone()));
    }
    if let Some(q) = distro_qualifier {
        qualifiers.push(("distro", q));
    }
    if let Some(u) = purl::upstream(name, version, source_name, source_version) {
        qualifiers.push(("upstream", u));
    }
    Ok(Some(Package {
        licenses: copyright_licenses(ctx, name),
        name: name.to_owned(),
        version: version.to_owned(),
        kind: PackageKind::Deb,
        purl: purl::build(
            PackageKind::Deb.purl_type(),
            &namespace,
            name,
            version,
            &qualifiers,
        ),
        architecture,
        source: Some(SourcePackage {
            name: source_name.to_owned(),
            version: source_version.to_owned(),
        }),
        location: location(file),
        found_by: NAME.to_owned(),
        metadata: PackageMetadata::Dpkg(DpkgMetadata {
            maintainer: p.get("Maintainer").map(str::to_owned),
            installed_size_kib: p.get("Installed-Size").and_then(|s| s.trim().parse().ok()),
            status: status.map(str::to_owned),
        }),
    }))
}

/// License names from a machine-readable (DEP-5) `usr/share/doc/<package>/copyright`:
/// the first line of every `License:` field, deduplicated and sorted. Free-form copyright
/// files name no license in a form worth guessing at.
fn copyright_licenses(ctx: &Context<'_>, package: &str) -> Vec<String> {
    let Some(file) = ctx.tree.get(&format!("usr/share/doc/{package}/copyright")) else {
        return Vec::new();
    };
    let ferret_layers::Content::Kept(data) = file.content else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("License:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_paragraph_is_skipped_rest_kept() {
        let (ps, problems) = paragraphs(
            "Package: a\nVersion: 1\n\nbroken line\nPackage: b\n\nPackage: c\nDescription: x\n more\n",
        );
        assert_eq!(ps.len(), 2);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 4);
        assert_eq!(ps[1].get("description"), Some("x\nmore"));
    }
}
