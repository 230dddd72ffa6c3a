use serde::{Deserialize, Serialize};

use crate::Digest;

/// Which package manager a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    Deb,
    Apk,
    Rpm,
    /// A Python distribution (PyPI).
    Python,
    Npm,
    /// A crate from crates.io.
    RustCrate,
    /// A Go module, or the Go standard library as `stdlib`.
    GoModule,
    /// A Maven artifact (`group:artifact`) in a Java archive.
    JavaArchive,
    /// A RubyGem.
    Gem,
    /// A Composer (Packagist) package.
    PhpComposer,
    /// A NuGet package.
    Dotnet,
}

impl PackageKind {
    /// The names Syft and Grype use for the same kinds.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            Self::Python => "python",
            Self::Npm => "npm",
            Self::RustCrate => "rust-crate",
            Self::GoModule => "go-module",
            Self::JavaArchive => "java-archive",
            Self::Gem => "gem",
            Self::PhpComposer => "php-composer",
            Self::Dotnet => "dotnet",
        }
    }

    /// The kind of a Syft/Grype type name ([`PackageKind::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The package manager as the Yandex API's `source` names it: `dpkg`, `apk`, `rpm`
    /// for distro packages, the ecosystem's for the others.
    pub fn package_manager(self) -> &'static str {
        match self {
            Self::Deb => "dpkg",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            _ => crate::Ecosystem::of_language_kind(self)
                .map_or("unknown", crate::Ecosystem::package_manager),
        }
    }

    /// Packages of the OS package managers, which distro feeds cover.
    pub fn is_distro(self) -> bool {
        matches!(self, Self::Deb | Self::Apk | Self::Rpm)
    }

    /// Every kind.
    pub const ALL: [PackageKind; 11] = [
        Self::Deb,
        Self::Apk,
        Self::Rpm,
        Self::Python,
        Self::Npm,
        Self::RustCrate,
        Self::GoModule,
        Self::JavaArchive,
        Self::Gem,
        Self::PhpComposer,
        Self::Dotnet,
    ];

    /// The package URL type of its packages (`pkg:TYPE/…`): the ecosystem's for language
    /// packages.
    pub fn purl_type(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            _ => crate::Ecosystem::of_language_kind(self)
                .and_then(crate::Ecosystem::purl_type)
                .unwrap_or(self.as_str()),
        }
    }

    /// The kind of a package URL type (`pkg:TYPE/…`).
    pub fn from_purl_type(t: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.purl_type() == t)
    }
}

/// A layer of the image, by its position (0 = base) and its uncompressed digest (diff ID)
/// when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayerRef {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// Where a package was found: the database file and the layer that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Path inside the image, without a leading `/`.
    pub path: String,
    /// `None` for sources without layers (`dir:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRef>,
}

/// The source package a binary package was built from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    pub name: String,
    pub version: String,
}

/// A package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// The full version as the package manager prints it (`1:2.3-4`, `3.4.3-r1`,
    /// `1:0.0.1-rls` for rpm with epoch).
    pub version: String,
    pub kind: PackageKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The package URL.
    pub purl: String,
    /// For distro packages: the source package (dpkg `Source:`, apk origin, rpm SRPM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// License names or expressions as the metadata states them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    pub location: Location,
    /// The cataloger that found it, e.g. `os/dpkg`.
    pub found_by: String,
    pub metadata: PackageMetadata,
}

impl Package {
    /// The sort key that makes every package list deterministic.
    pub fn sort_key(&self) -> (&str, &str, &str, &str, &str) {
        (
            self.kind.as_str(),
            &self.name,
            &self.version,
            self.architecture.as_deref().unwrap_or(""),
            &self.location.path,
        )
    }
}

/// Package-manager specific facts, one closed variant per manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PackageMetadata {
    Dpkg(DpkgMetadata),
    Apk(ApkMetadata),
    Rpm(RpmMetadata),
    /// Read from an SBOM rather than from the package manager's own files.
    Sbom(SbomMetadata),
    Python(PythonMetadata),
    Npm(NpmMetadata),
    /// Rust crates, RubyGems, Composer and NuGet packages: where they come from.
    Lang(LangMetadata),
    Java(JavaMetadata),
}

/// Where in a Java archive an artifact was described, and how it was named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JavaMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub artifact_id: String,
    /// `pom.properties`, `MANIFEST.MF` or `file name`: what named it.
    pub named_by: String,
    /// The archive inside the image's file that holds it, as `!`-separated member paths
    /// (`WEB-INF/lib/a.jar!BOOT-INF/lib/b.jar`); empty for the file itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nested_path: String,
    /// SHA-1 of the archive that holds it, as Maven Central indexes jars.
    pub sha1: String,
}

/// Facts shared by the simpler language catalogers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangMetadata {
    /// Installed (a gem's specification, Composer's `installed.json`, a `.deps.json`) or
    /// declared by a lockfile (`Cargo.lock`, `Gemfile.lock`, `composer.lock`).
    pub declared: bool,
    /// A development-only dependency, where the file says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    /// Where the package comes from, as the file says (`registry+https://…`, a git URL);
    /// absent for the project's own packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The file's checksum of the package, when it records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// How an npm package was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NpmRole {
    /// Installed under a `node_modules` directory.
    #[default]
    Installed,
    /// The project at the root of a `node_modules` tree or lockfile: the application.
    Application,
    /// Named by a lockfile as a dependency of the application at that path.
    Declared,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpmMetadata {
    pub role: NpmRole,
    /// `"private": true`: never published to a registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// A development dependency (lockfiles say so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
}

/// An installed Python distribution's core metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonMetadata {
    /// `Metadata-Version`, e.g. `2.1`.
    pub metadata_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_page: Option<String>,
    /// The directory the distribution is installed in (`…/site-packages`), which tells
    /// virtualenvs apart.
    pub site_packages: String,
}

/// Where in an SBOM a package was described.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomMetadata {
    /// `spdx-2.3`, `cyclonedx-1.6`, …
    pub format: String,
    /// The element's `SPDXID` or `bom-ref`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub element: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpkgMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// `Installed-Size`, in KiB as dpkg records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_size_kib: Option<u64>,
    /// The `Status:` field; absent in distroless `status.d` entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApkMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// Build time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_time: Option<i64>,
    /// The aports commit the package was built from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpmMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_rpm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modularity_label: Option<String>,
}
