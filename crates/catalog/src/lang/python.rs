//! `lang/python`: installed distributions anywhere in the file system, from their core
//! metadata: `*.dist-info/METADATA` (wheels, pip), `*.egg-info/PKG-INFO` (setuptools
//! directories) and `*.egg-info` files (distutils). System `dist-packages`,
//! `site-packages` and virtualenvs alike; the directory they sit in is recorded.

use ferret_layers::FileEntry;
use ferret_model::{Ecosystem, Package, PackageKind, PackageMetadata, PythonMetadata};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Python;

const NAME: &str = "lang/python";

impl Cataloger for Python {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn patterns(&self) -> &'static [&'static str] {
        &[
            "**/*.dist-info/METADATA",
            "**/*.egg-info/PKG-INFO",
            "**/*.egg-info",
        ]
    }

    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            match package(data, file) {
                Ok(p) => out.packages.push(p),
                Err(message) => out.notes.push(note(NAME, file, message)),
            }
        }
    }
}

fn package(data: &[u8], file: &FileEntry<'_>) -> Result<Package, String> {
    let m = python_pkginfo::Metadata::parse(data).map_err(|e| format!("not core metadata: {e}"))?;
    let name = m.name.trim().to_owned();
    let version = m.version.trim().to_owned();
    if name.is_empty() || version.is_empty() {
        return Err("core metadata without a Name or a Version".to_owned());
    }
    Ok(Package {
        purl: purl::build(
            PackageKind::Python.purl_type(),
            "",
            &Ecosystem::PyPI.normalize_name(&name),
            &version,
            &[],
        ),
        licenses: licenses(&m),
        kind: PackageKind::Python,
        architecture: None,
        source: None,
        location: location(file),
        found_by: NAME.to_owned(),
        metadata: PackageMetadata::Python(PythonMetadata {
            metadata_version: m.metadata_version.clone(),
            author: m.author.clone().filter(|a| !a.trim().is_empty()),
            home_page: m.home_page.clone().filter(|h| !h.trim().is_empty()),
            site_packages: site_packages(file.path),
        }),
        name,
        version,
    })
}

/// `License-Expression` (metadata 2.4); else a short `License` field (many projects paste
/// the whole license text there, which names nothing); else the license classifiers.
fn licenses(m: &python_pkginfo::Metadata) -> Vec<String> {
    if let Some(e) = m
        .license_expression
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        return vec![e.to_owned()];
    }
    if let Some(l) = m.license.as_deref().map(str::trim).filter(|l| {
        !l.is_empty() && l.len() <= 100 && !l.contains('\n') && !l.eq_ignore_ascii_case("UNKNOWN")
    }) {
        return vec![l.to_owned()];
    }
    let mut from_classifiers: Vec<String> = m
        .classifiers
        .iter()
        .filter(|c| c.starts_with("License ::"))
        .filter_map(|c| c.rsplit(" :: ").next())
        .filter(|l| *l != "OSI Approved")
        .map(str::to_owned)
        .collect();
    from_classifiers.dedup();
    from_classifiers
}

/// The directory holding the `.dist-info` or `.egg-info` entry.
fn site_packages(path: &str) -> String {
    let info = path.rsplit_once('/').map_or(path, |(dir, file)| {
        if file.ends_with(".egg-info") {
            path
        } else {
            dir
        }
    });
    info.rsplit_once('/')
        .map_or(String::new(), |(dir, _)| dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_packages_dirs() {
        assert_eq!(
            site_packages("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"),
            "usr/lib/python3/dist-packages"
        );
        assert_eq!(
            site_packages("opt/venv/lib/python3.11/site-packages/foo.egg-info/PKG-INFO"),
            "opt/venv/lib/python3.11/site-packages"
        );
        assert_eq!(
            site_packages("usr/lib/python2.7/dist-packages/pycups-2.0.1.egg-info"),
            "usr/lib/python2.7/dist-packages"
        );
    }
}
