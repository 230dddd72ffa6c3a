//! SPDX 2.2 and 2.3 JSON.

use std::collections::{BTreeMap, BTreeSet};

use ferret_model::SourcePackage;
use serde::Deserialize;

use crate::purl::{Element, package};
use crate::{Sbom, SbomError, finish};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    creation_info: Option<CreationInfo>,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
    #[serde(default)]
    has_extracted_licensing_infos: Vec<Extracted>,
    #[serde(default)]
    document_describes: Vec<String>,
    #[serde(default)]
    relationships: Vec<Relationship>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    #[serde(default)]
    spdx_element_id: String,
    #[serde(default)]
    relationship_type: String,
    #[serde(default)]
    related_spdx_element: String,
}

#[derive(Deserialize)]
struct CreationInfo {
    #[serde(default)]
    created: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extracted {
    license_id: String,
    #[serde(default)]
    extracted_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID", default)]
    spdx_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRef>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    source_info: Option<String>,
    #[serde(default)]
    package_file_name: Option<String>,
    #[serde(default)]
    primary_package_purpose: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    #[serde(default)]
    reference_type: String,
    #[serde(default)]
    reference_locator: String,
}

pub(crate) fn read(bytes: &[u8], version: &str) -> Result<Sbom, SbomError> {
    let doc: Document = serde_json::from_slice(bytes)?;
    let format = format!("spdx-{version}");
    let extracted: BTreeMap<&str, &str> = doc
        .has_extracted_licensing_infos
        .iter()
        .filter(|e| !e.extracted_text.is_empty())
        .map(|e| (e.license_id.as_str(), e.extracted_text.as_str()))
        .collect();
    let mut sbom = Sbom {
        format: format.clone(),
        name: doc.name.clone(),
        created: doc.creation_info.and_then(|c| c.created),
        distro: None,
        packages: Vec::new(),
        notes: Vec::new(),
    };
    let by_id: BTreeMap<&str, &SpdxPackage> = doc
        .packages
        .iter()
        .map(|p| (p.spdx_id.as_str(), p))
        .collect();
    let generated_from: BTreeMap<&str, &str> = doc
        .relationships
        .iter()
        .filter(|r| r.relationship_type == "GENERATED_FROM")
        .map(|r| (r.spdx_element_id.as_str(), r.related_spdx_element.as_str()))
        .collect();
    let mut roots: BTreeSet<&str> = doc.document_describes.iter().map(String::as_str).collect();
    for r in &doc.relationships {
        match r.relationship_type.as_str() {
            "DESCRIBES" if r.spdx_element_id == "SPDXRef-DOCUMENT" => {
                roots.insert(&r.related_spdx_element);
            }
            "DESCRIBED_BY" if r.related_spdx_element == "SPDXRef-DOCUMENT" => {
                roots.insert(&r.spdx_element_id);
            }
            _ => {}
        }
    }
    let mut os_ids = BTreeSet::new();
    for p in &doc.packages {
        let is_os = p.primary_package_purpose.as_deref() == Some("OPERATING-SYSTEM")
            || p.spdx_id.starts_with("SPDXRef-OperatingSystem");
        if is_os {
            os_ids.insert(p.spdx_id.as_str());
            if sbom.distro.is_none() {
                // claircore states os-release's fields as `OTHER` references.
                sbom.distro = crate::distro(
                    p.reference("did").unwrap_or(&p.name),
                    p.reference("version_id")
                        .or(p.version_info.as_deref())
                        .unwrap_or(""),
                    p.reference("pretty_name")
                        .or(p.description.as_deref())
                        .unwrap_or(""),
                );
            }
        }
    }
    let sources: BTreeSet<&str> = generated_from.values().copied().collect();
    for p in &doc.packages {
        if os_ids.contains(p.spdx_id.as_str()) {
            continue;
        }
        // Source packages named only as what binaries are generated from (claircore).
        if p.reference("purl").is_none() && sources.contains(p.spdx_id.as_str()) {
            continue;
        }
        let inferred = p
            .reference("purl")
            .is_none()
            .then(|| infer_purl(p, sbom.distro.as_ref()))
            .flatten();
        let purl = p.reference("purl").or(inferred.as_deref());
        let element = Element {
            id: &p.spdx_id,
            name: &p.name,
            version: p.version_info.as_deref(),
            purl,
            licenses: license(p, &extracted),
            path: p
                .source_info
                .as_deref()
                .and_then(path_of)
                .or_else(|| p.package_file_name.as_deref().map(database_file)),
            source: p
                .comment
                .as_deref()
                .and_then(|c| c.strip_prefix("source package: "))
                .or_else(|| {
                    p.source_info
                        .as_deref()
                        .and_then(|s| s.strip_prefix("built package from: "))
                })
                .and_then(source_of)
                .or_else(|| {
                    // claircore: the binary is GENERATED_FROM its source package.
                    generated_from
                        .get(p.spdx_id.as_str())
                        .and_then(|id| by_id.get(id))
                        .and_then(|s| {
                            Some(SourcePackage {
                                name: s.name.clone(),
                                version: s.version_info.clone()?,
                            })
                        })
                }),
        };
        // The described root (the image or directory) is not a package of itself, nor
        // are containers and repositories (claircore's `OTHER` elements).
        if purl.is_none()
            && (roots.contains(p.spdx_id.as_str())
                || matches!(
                    p.primary_package_purpose.as_deref(),
                    Some("OTHER" | "CONTAINER")
                ))
        {
            continue;
        }
        match package(&element, &format) {
            Ok(Some(pkg)) => sbom.packages.push(pkg),
            Ok(None) => {}
            Err(note) => sbom.notes.push(note),
        }
    }
    Ok(finish(sbom))
}

impl SpdxPackage {
    fn reference(&self, kind: &str) -> Option<&str> {
        self.external_refs
            .iter()
            .find(|r| r.reference_type == kind)
            .map(|r| r.reference_locator.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// A purl for a package without one whose `packageFileName` is a package manager's
/// database (claircore names them so): the database says which manager installed it.
fn infer_purl(p: &SpdxPackage, distro: Option<&ferret_model::Distro>) -> Option<String> {
    let file = database_file(p.package_file_name.as_deref()?);
    let file = file.as_str();
    let ty = if file.starts_with("var/lib/dpkg/") {
        "deb"
    } else if file.starts_with("lib/apk/db/") {
        "apk"
    } else if file.starts_with("var/lib/rpm") || file.starts_with("usr/lib/sysimage/rpm") {
        "rpm"
    } else {
        return None;
    };
    let version = p.version_info.as_deref().filter(|v| !v.is_empty())?;
    let namespace = distro.map_or(ty, |d| d.id.as_str());
    let mut purl = packageurl::PackageUrl::new(ty, p.name.as_str()).ok()?;
    purl.with_namespace(namespace)
        .ok()?
        .with_version(version)
        .ok()?;
    if let Some(d) = distro {
        purl.add_qualifier("distro", d.purl_qualifier()).ok()?;
    }
    Some(purl.to_string())
}

/// `bdb:var/lib/rpm` → `var/lib/rpm`: claircore prefixes the rpm database's format.
fn database_file(name: &str) -> String {
    let name = match name.split_once(':') {
        Some(("bdb" | "sqlite" | "ndb", rest)) => rest,
        _ => name,
    };
    name.trim_start_matches('/').to_owned()
}

/// The declared license, else the concluded one; a `LicenseRef-` Ferret or Syft defined in
/// the document is read back as its text.
fn license(p: &SpdxPackage, extracted: &BTreeMap<&str, &str>) -> Vec<String> {
    let usable = |l: &Option<String>| {
        l.as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "NOASSERTION" && *l != "NONE")
            .map(str::to_owned)
    };
    let Some(l) = usable(&p.license_declared).or_else(|| usable(&p.license_concluded)) else {
        return Vec::new();
    };
    vec![extracted.get(l.as_str()).map_or(l, |t| (*t).to_owned())]
}

/// `acquired package info from APK DB: /lib/apk/db/installed` (Syft),
/// `… database: /var/lib/dpkg/status (layer sha256:…)` (Ferret): the first path.
fn path_of(source_info: &str) -> Option<String> {
    let (_, rest) = source_info.split_once(": /")?;
    let rest = rest.split(" (layer").next().unwrap_or(rest);
    let first = rest.split(", ").next().unwrap_or(rest).trim();
    (!first.is_empty()).then(|| format!("/{first}"))
}

/// `NAME VERSION`.
fn source_of(text: &str) -> Option<SourcePackage> {
    let (name, version) = text.trim().split_once(' ')?;
    let version = version.trim();
    (!name.is_empty() && !version.is_empty() && !version.contains(' ')).then(|| SourcePackage {
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_info_paths() {
        assert_eq!(
            path_of("acquired package info from APK DB: /lib/apk/db/installed").as_deref(),
            Some("/lib/apk/db/installed")
        );
        assert_eq!(
            path_of("acquired package info from os/dpkg database: /var/lib/dpkg/status (layer sha256:ab)")
                .as_deref(),
            Some("/var/lib/dpkg/status")
        );
        assert_eq!(path_of("built package from: bash 4.2"), None);
    }
}
