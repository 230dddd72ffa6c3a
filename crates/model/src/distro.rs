use serde::{Deserialize, Serialize};

/// The operating system an image runs, as its os-release (or a fallback file) says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID`, e.g. `debian`, `alpine`, `rocky`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`, `3.18.4`; empty when the file gives none (e.g. Debian sid).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    /// `VERSION_CODENAME` (or `UBUNTU_CODENAME`), e.g. `bookworm`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub codename: String,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
    /// `NAME`, e.g. `Debian GNU/Linux`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `ID_LIKE`, split on whitespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    /// `CPE_NAME`, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpe_name: String,
    /// The file the facts came from, e.g. `etc/os-release`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The content sets (repositories) a Red Hat image was built from, as its content
    /// manifests (`root/buildinfo/content_manifests/*.json`) list them, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_sets: Vec<String>,
}

impl Distro {
    /// A distro named by ID and version from outside os-release (an SBOM, `--distro`): a
    /// version without digits is a codename (`debian`, `trixie`). `None` for an empty ID.
    pub fn from_id_version(id: &str, version: &str, source: &str) -> Option<Self> {
        let id = id.trim().to_lowercase();
        if id.is_empty() {
            return None;
        }
        let version = version.trim().to_owned();
        let (version_id, codename) = if version.bytes().any(|b| b.is_ascii_digit()) {
            (version, String::new())
        } else {
            (String::new(), version)
        };
        Some(Self {
            id,
            version_id,
            codename,
            source: source.to_owned(),
            ..Self::default()
        })
    }

    /// The purl `distro` qualifier value, e.g. `debian-12`, `alpine-3.18.4`.
    pub fn purl_qualifier(&self) -> String {
        if self.version_id.is_empty() {
            if self.codename.is_empty() {
                self.id.clone()
            } else {
                format!("{}-{}", self.id, self.codename)
            }
        } else {
            format!("{}-{}", self.id, self.version_id)
        }
    }
}
