//! SBOMs as scan input (`sbom:FILE`): an SPDX 2.2/2.3 or CycloneDX 1.4–1.7 JSON document,
//! from Ferret, Syft, Trivy or any tool that names its packages with package URLs, read into
//! the same packages and distro an image scan would find, so that they match the same way.
//!
//! A package's identity comes from its purl (type, namespace, name, version, `arch`,
//! `epoch`, `upstream` and `distro` qualifiers); each format's own fields fill in the source
//! package, the file it was found in and its licenses. Elements that cannot be read as a
//! package are skipped with a note, never guessed.

mod cyclonedx;
mod purl;
mod spdx;

use ferret_model::{Distro, Note, Package};
use serde::Deserialize;

/// What an SBOM describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sbom {
    /// `spdx-2.3`, `cyclonedx-1.6`, …
    pub format: String,
    /// The document's name or its root component's.
    pub name: Option<String>,
    /// When the document was made, as it says.
    pub created: Option<String>,
    pub distro: Option<Distro>,
    /// Sorted and deduplicated.
    pub packages: Vec<Package>,
    /// Elements that were skipped, and why.
    pub notes: Vec<Note>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbomError {
    #[error("the SBOM is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Unsupported(String),
}

/// The note source for skipped elements.
pub const NOTE_SOURCE: &str = "sbom";

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<String>,
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(rename = "specVersion")]
    spec_version: Option<String>,
}

/// Reads an SPDX or CycloneDX JSON document.
pub fn read(bytes: &[u8]) -> Result<Sbom, SbomError> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let rest = start.map_or(&b""[..], |i| &bytes[i..]);
    match rest.first() {
        Some(b'{') => {}
        Some(b'<') => {
            return Err(SbomError::Unsupported(
                "this is XML; Ferret reads SPDX and CycloneDX as JSON".to_owned(),
            ));
        }
        None => return Err(SbomError::Unsupported("the file is empty".to_owned())),
        _ if rest.starts_with(b"SPDXVersion:") => {
            return Err(SbomError::Unsupported(
                "this is SPDX tag-value; Ferret reads SPDX as JSON".to_owned(),
            ));
        }
        _ => {
            return Err(SbomError::Unsupported(
                "not a JSON object; expected SPDX JSON or CycloneDX JSON".to_owned(),
            ));
        }
    }
    let probe: Probe = serde_json::from_slice(bytes)?;
    if let Some(v) = probe.spdx_version {
        let version = match v.as_str() {
            "SPDX-2.2" => "2.2",
            "SPDX-2.3" => "2.3",
            other => {
                return Err(SbomError::Unsupported(format!(
                    "spdxVersion {other:?} is not supported (SPDX-2.2 and SPDX-2.3 are)"
                )));
            }
        };
        return spdx::read(bytes, version);
    }
    match (probe.bom_format.as_deref(), probe.spec_version.as_deref()) {
        (Some("CycloneDX"), Some(v @ ("1.4" | "1.5" | "1.6" | "1.7"))) => cyclonedx::read(bytes, v),
        (Some("CycloneDX"), v) => Err(SbomError::Unsupported(format!(
            "CycloneDX specVersion {} is not supported (1.4 to 1.7 are)",
            v.map_or_else(|| "(missing)".to_owned(), |v| format!("{v:?}"))
        ))),
        _ => Err(SbomError::Unsupported(
            "neither SPDX JSON (no spdxVersion) nor CycloneDX JSON (no bomFormat)".to_owned(),
        )),
    }
}

/// Sorts, deduplicates, and takes the distro from the packages' purls when the document
/// names none.
fn finish(mut sbom: Sbom) -> Sbom {
    sbom.packages.sort_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| a.purl.cmp(&b.purl))
    });
    sbom.packages.dedup();
    if sbom.distro.is_none() {
        sbom.distro = purl::distro_from_qualifiers(&sbom.packages);
    }
    sbom.notes.sort();
    sbom.notes.dedup();
    sbom
}

/// A distro from an SBOM's OS element.
fn distro(id: &str, version: &str, pretty: &str) -> Option<Distro> {
    Distro::from_id_version(id, version, NOTE_SOURCE).map(|d| Distro {
        pretty_name: pretty.to_owned(),
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_it_cannot_read() {
        for (input, needle) in [
            (&b""[..], "empty"),
            (b"<bom/>", "XML"),
            (b"SPDXVersion: SPDX-2.3\n", "tag-value"),
            (b"[1]", "not a JSON object"),
            (b"{\"a\": 1}", "neither SPDX"),
            (b"{\"spdxVersion\": \"SPDX-3.0\"}", "SPDX-3.0"),
            (
                b"{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.2\"}",
                "1.2",
            ),
            (b"{\"bomFormat\": \"CycloneDX\"", "not valid JSON"),
        ] {
            let e = read(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
