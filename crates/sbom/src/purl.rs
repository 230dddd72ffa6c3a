//! From a described element to a package, by its package URL.

use std::collections::BTreeMap;
use std::str::FromStr;

use ferret_model::{
    Distro, Location, Note, Package, PackageKind, PackageMetadata, SbomMetadata, SourcePackage,
};
use packageurl::PackageUrl;

use crate::NOTE_SOURCE;

/// What a format says about one element, before the purl decides what it is.
#[derive(Debug, Default)]
pub(crate) struct Element<'a> {
    /// `SPDXID` or `bom-ref`.
    pub id: &'a str,
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub purl: Option<&'a str>,
    pub licenses: Vec<String>,
    /// The file it was found in, as the document says.
    pub path: Option<String>,
    /// The source package, when the format states it outside the purl.
    pub source: Option<SourcePackage>,
}

/// `Ok(None)` for elements that describe no package (the image itself).
pub(crate) fn package(e: &Element<'_>, format: &str) -> Result<Option<Package>, Note> {
    let note = |msg: String| Note::new(NOTE_SOURCE, format!("{} ({}): {msg}", e.id, e.name));
    let Some(raw) = e.purl.filter(|p| !p.trim().is_empty()) else {
        return Err(note(
            "no package URL, so its package manager is unknown; skipped".to_owned(),
        ));
    };
    let purl = PackageUrl::from_str(raw.trim()).map_err(|err| {
        note(format!(
            "package URL {raw:?} does not parse ({err}); skipped"
        ))
    })?;
    let ty = purl.ty();
    if matches!(ty, "oci" | "docker") {
        return Ok(None);
    }
    let Some(kind) = PackageKind::from_purl_type(ty) else {
        return Err(note(format!(
            "package URL type {ty:?} is not one Ferret matches; skipped"
        )));
    };
    let qualifier = |k: &str| purl.qualifiers().get(k).map(|v| v.to_string());
    let mut version = purl
        .version()
        .map(str::to_owned)
        .or_else(|| e.version.map(str::to_owned))
        .unwrap_or_default();
    let epoch = qualifier("epoch").filter(|e| !e.is_empty() && e != "0");
    if kind == PackageKind::Rpm
        && let Some(epoch) = &epoch
        && !version.contains(':')
    {
        version = format!("{epoch}:{version}");
    }
    if version.is_empty() {
        return Err(note("no version; skipped".to_owned()));
    }
    let name = if e.name.is_empty() {
        purl.name().to_owned()
    } else {
        e.name.to_owned()
    };
    let source = e
        .source
        .clone()
        .or_else(|| {
            upstream(
                kind,
                qualifier("upstream").as_deref(),
                &version,
                epoch.as_deref(),
            )
        })
        .or_else(|| {
            // dpkg and apk packages without a separate source are their own source.
            matches!(kind, PackageKind::Deb | PackageKind::Apk).then(|| SourcePackage {
                name: name.clone(),
                version: version.clone(),
            })
        });
    Ok(Some(Package {
        name,
        version,
        kind,
        architecture: qualifier("arch").filter(|a| !a.is_empty()),
        purl: raw.trim().to_owned(),
        source,
        licenses: e.licenses.clone(),
        location: Location {
            path: e
                .path
                .as_deref()
                .map(|p| p.trim().trim_start_matches('/').to_owned())
                .unwrap_or_default(),
            layer: None,
        },
        found_by: NOTE_SOURCE.to_owned(),
        metadata: PackageMetadata::Sbom(SbomMetadata {
            format: format.to_owned(),
            element: e.id.to_owned(),
        }),
    }))
}

/// The `upstream` qualifier as Syft writes it: `NAME` or `NAME@VERSION` for deb and apk,
/// the source RPM's file name for rpm.
fn upstream(
    kind: PackageKind,
    value: Option<&str>,
    version: &str,
    epoch: Option<&str>,
) -> Option<SourcePackage> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    match kind {
        PackageKind::Rpm => {
            let base = value
                .strip_suffix(".src.rpm")
                .or_else(|| value.strip_suffix(".nosrc.rpm"))?;
            let (rest, release) = base.rsplit_once('-')?;
            let (src_name, src_version) = rest.rsplit_once('-')?;
            Some(SourcePackage {
                name: src_name.to_owned(),
                version: match epoch {
                    Some(e) => format!("{e}:{src_version}-{release}"),
                    None => format!("{src_version}-{release}"),
                },
            })
        }
        PackageKind::Deb | PackageKind::Apk => {
            let (src_name, src_version) = match value.split_once('@') {
                Some((n, v)) => (n, v),
                None => (value, version),
            };
            Some(SourcePackage {
                name: src_name.to_owned(),
                version: src_version.to_owned(),
            })
        }
        _ => None,
    }
}

/// The distro most distro packages' purls name in their `distro` qualifier
/// (`debian-12`, `alpine-3.10.9`, `centos-7.6.1810`, `debian-trixie`).
pub(crate) fn distro_from_qualifiers(packages: &[Package]) -> Option<Distro> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in packages.iter().filter(|p| p.kind.is_distro()) {
        if let Ok(u) = PackageUrl::from_str(&p.purl)
            && let Some(d) = u.qualifiers().get("distro")
        {
            *counts.entry(d.to_string()).or_default() += 1;
        }
    }
    let (best, _) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    // The version starts at the first `-` followed by a digit; ids may hold `-`
    // (`opensuse-leap-15.5`).
    let split = best
        .char_indices()
        .find(|(i, c)| *c == '-' && best[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i);
    let (id, version) = match split {
        Some(i) => (&best[..i], &best[i + 1..]),
        None => best.rsplit_once('-').unwrap_or((best.as_str(), "")),
    };
    crate::distro(id, version, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element<'a>(purl: &'a str) -> Element<'a> {
        Element {
            id: "x",
            purl: Some(purl),
            ..Element::default()
        }
    }

    #[test]
    fn packages_from_purls() {
        let p = package(
            &element("pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1&upstream=openssl-1.0.2k-16.el7.src.rpm&distro=centos-7.6.1810"),
            "spdx-2.2",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "1:1.0.2k-16.el7");
        assert_eq!(p.kind, PackageKind::Rpm);
        assert_eq!(p.architecture.as_deref(), Some("x86_64"));
        let s = p.source.unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_str()),
            ("openssl", "1:1.0.2k-16.el7")
        );

        let p = package(
            &element("pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12"),
            "spdx-2.3",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.version, "3.0.11-1~deb12u2+b1");
        let s = p.source.unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_str()),
            ("openssl", "3.0.11-1~deb12u2")
        );

        assert!(
            package(&element("pkg:oci/debian@sha256%3Aabc"), "x")
                .unwrap()
                .is_none()
        );
        for bad in ["pkg:bitnami/x@1", "not a purl", "pkg:pypi/requests"] {
            assert!(package(&element(bad), "x").is_err(), "{bad}");
        }
        let mut no_purl = element("");
        no_purl.purl = None;
        assert!(
            package(&no_purl, "x")
                .unwrap_err()
                .message
                .contains("no package URL")
        );
    }

    #[test]
    fn distro_qualifiers() {
        let mk = |q: &str| Package {
            purl: format!("pkg:deb/debian/a@1?distro={q}"),
            ..package(&element("pkg:deb/debian/a@1"), "x")
                .unwrap()
                .unwrap()
        };
        let d =
            distro_from_qualifiers(&[mk("debian-12"), mk("debian-12"), mk("debian-11")]).unwrap();
        assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12"));
        let d = distro_from_qualifiers(&[mk("opensuse-leap-15.5")]).unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_str()),
            ("opensuse-leap", "15.5")
        );
        let d = distro_from_qualifiers(&[mk("debian-trixie")]).unwrap();
        assert_eq!((d.id.as_str(), d.codename.as_str()), ("debian", "trixie"));
        assert!(distro_from_qualifiers(&[]).is_none());
    }
}
