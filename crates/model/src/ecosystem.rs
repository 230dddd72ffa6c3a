//! The ecosystems advisories speak of, one closed type: each with its OSV name, its purl
//! type, how it compares package names and how reports spell it. Its version order is
//! `ferret_version::Scheme::of`, an exhaustive match on this type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::PackageKind;

/// An ecosystem as OSV names it (the part of `Debian:12` before the release). Persisted as
/// that name: in advisory records, database keys and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    // Distributions.
    Debian,
    Ubuntu,
    Alpine,
    Wolfi,
    Chainguard,
    Alpaquita,
    BellSoftHardenedContainers,
    RockyLinux,
    AlmaLinux,
    RedHat,
    OpenSuse,
    Suse,
    Mageia,
    OpenEuler,
    AzureLinux,
    CblMariner,
    PhotonOs,
    AmazonLinux,
    OracleLinux,
    // Languages.
    PyPI,
    Npm,
    CratesIo,
    Go,
    Maven,
    RubyGems,
    NuGet,
    Packagist,
    Pub,
    Cran,
    Hackage,
    Hex,
    SwiftUrl,
    ConanCenter,
    Ghc,
    R,
    // Others OSV carries; their records are kept, their ranges have no order Ferret reads.
    Bitnami,
    Git,
    Linux,
    OssFuzz,
    Android,
}

/// Why a string is not an ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ecosystem {0:?}")]
pub struct UnknownEcosystem(pub String);

impl Ecosystem {
    pub const ALL: [Ecosystem; 40] = [
        Self::Debian,
        Self::Ubuntu,
        Self::Alpine,
        Self::Wolfi,
        Self::Chainguard,
        Self::Alpaquita,
        Self::BellSoftHardenedContainers,
        Self::RockyLinux,
        Self::AlmaLinux,
        Self::RedHat,
        Self::OpenSuse,
        Self::Suse,
        Self::Mageia,
        Self::OpenEuler,
        Self::AzureLinux,
        Self::CblMariner,
        Self::PhotonOs,
        Self::AmazonLinux,
        Self::OracleLinux,
        Self::PyPI,
        Self::Npm,
        Self::CratesIo,
        Self::Go,
        Self::Maven,
        Self::RubyGems,
        Self::NuGet,
        Self::Packagist,
        Self::Pub,
        Self::Cran,
        Self::Hackage,
        Self::Hex,
        Self::SwiftUrl,
        Self::ConanCenter,
        Self::Ghc,
        Self::R,
        Self::Bitnami,
        Self::Git,
        Self::Linux,
        Self::OssFuzz,
        Self::Android,
    ];

    /// The name OSV gives it (`Debian`, `Rocky Linux`, `crates.io`), which Ferret also
    /// uses for feeds that are not OSV (`Red Hat`, `Amazon Linux`, `Oracle Linux`).
    pub fn osv_name(self) -> &'static str {
        match self {
            Self::Debian => "Debian",
            Self::Ubuntu => "Ubuntu",
            Self::Alpine => "Alpine",
            Self::Wolfi => "Wolfi",
            Self::Chainguard => "Chainguard",
            Self::Alpaquita => "Alpaquita",
            Self::BellSoftHardenedContainers => "BellSoft Hardened Containers",
            Self::RockyLinux => "Rocky Linux",
            Self::AlmaLinux => "AlmaLinux",
            Self::RedHat => "Red Hat",
            Self::OpenSuse => "openSUSE",
            Self::Suse => "SUSE",
            Self::Mageia => "Mageia",
            Self::OpenEuler => "openEuler",
            Self::AzureLinux => "Azure Linux",
            Self::CblMariner => "CBL-Mariner",
            Self::PhotonOs => "Photon OS",
            Self::AmazonLinux => "Amazon Linux",
            Self::OracleLinux => "Oracle Linux",
            Self::PyPI => "PyPI",
            Self::Npm => "npm",
            Self::CratesIo => "crates.io",
            Self::Go => "Go",
            Self::Maven => "Maven",
            Self::RubyGems => "RubyGems",
            Self::NuGet => "NuGet",
            Self::Packagist => "Packagist",
            Self::Pub => "Pub",
            Self::Cran => "CRAN",
            Self::Hackage => "Hackage",
            Self::Hex => "Hex",
            Self::SwiftUrl => "SwiftURL",
            Self::ConanCenter => "ConanCenter",
            Self::Ghc => "GHC",
            Self::R => "R",
            Self::Bitnami => "Bitnami",
            Self::Git => "GIT",
            Self::Linux => "Linux",
            Self::OssFuzz => "OSS-Fuzz",
            Self::Android => "Android",
        }
    }

    /// The ecosystem of an OSV name without its release (`Debian`, not `Debian:12`).
    pub fn from_osv_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.osv_name() == name)
    }

    /// Splits an OSV ecosystem string into the ecosystem and its release, written the way
    /// the distro's os-release gives it: `Alpine:v3.18` is (Alpine, `3.18`),
    /// `Ubuntu:22.04:LTS` is (Ubuntu, `22.04`), `Ubuntu:Pro:18.04:LTS` is (Ubuntu,
    /// `Pro:18.04`). `None` for an ecosystem Ferret does not know.
    pub fn parse_with_release(s: &str) -> Option<(Self, String)> {
        let (name, release) = s.split_once(':').unwrap_or((s, ""));
        let ecosystem = Self::from_osv_name(name)?;
        let release = match ecosystem {
            Self::Alpine => release.trim_start_matches('v'),
            Self::Ubuntu => release.strip_suffix(":LTS").unwrap_or(release),
            _ => release,
        };
        Some((ecosystem, release.to_owned()))
    }

    /// The ecosystem in a feed's name: lower case, spaces as `-` (`rocky-linux`).
    pub fn slug(self) -> String {
        self.osv_name().to_lowercase().replace(' ', "-")
    }

    /// A distribution's packages rather than a language's: those of an OS package manager.
    pub fn is_distro(self) -> bool {
        matches!(self.purl_type(), Some("deb" | "apk" | "rpm"))
    }

    /// The package URL type of its packages (`pkg:TYPE/…`), where the purl specification
    /// has one.
    pub fn purl_type(self) -> Option<&'static str> {
        Some(match self {
            Self::Debian | Self::Ubuntu => "deb",
            Self::Alpine
            | Self::Wolfi
            | Self::Chainguard
            | Self::Alpaquita
            | Self::BellSoftHardenedContainers => "apk",
            Self::RockyLinux
            | Self::AlmaLinux
            | Self::RedHat
            | Self::OpenSuse
            | Self::Suse
            | Self::Mageia
            | Self::OpenEuler
            | Self::AzureLinux
            | Self::CblMariner
            | Self::PhotonOs
            | Self::AmazonLinux
            | Self::OracleLinux => "rpm",
            Self::PyPI => "pypi",
            Self::Npm => "npm",
            Self::CratesIo => "cargo",
            Self::Go => "golang",
            Self::Maven => "maven",
            Self::RubyGems => "gem",
            Self::NuGet => "nuget",
            Self::Packagist => "composer",
            Self::Pub => "pub",
            Self::Cran => "cran",
            Self::Hackage => "hackage",
            Self::Hex => "hex",
            Self::SwiftUrl => "swift",
            Self::ConanCenter => "conan",
            Self::Bitnami => "bitnami",
            Self::Ghc | Self::R | Self::Git | Self::Linux | Self::OssFuzz | Self::Android => {
                return None;
            }
        })
    }

    /// The language ecosystem of a package kind's packages; `None` for distro packages,
    /// whose ecosystem is their distro's.
    pub fn of_language_kind(kind: PackageKind) -> Option<Self> {
        Some(match kind {
            PackageKind::Python => Self::PyPI,
            PackageKind::Npm => Self::Npm,
            PackageKind::RustCrate => Self::CratesIo,
            PackageKind::GoModule => Self::Go,
            PackageKind::JavaArchive => Self::Maven,
            PackageKind::Gem => Self::RubyGems,
            PackageKind::PhpComposer => Self::Packagist,
            PackageKind::Dotnet => Self::NuGet,
            PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => return None,
        })
    }

    /// A package name as the ecosystem compares names: PEP 503 for PyPI (lower case, runs
    /// of `-`, `_` and `.` as one `-`); lower case where the registry ignores case (npm,
    /// crates.io, NuGet, Packagist, RubyGems, Pub, Hex); as written elsewhere (Go module
    /// paths, Maven `group:artifact`, distro package names).
    pub fn normalize_name(self, name: &str) -> String {
        match self {
            Self::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for c in name.trim().chars() {
                    if matches!(c, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.extend(c.to_lowercase());
                    }
                }
                out
            }
            Self::Npm
            | Self::CratesIo
            | Self::NuGet
            | Self::Packagist
            | Self::RubyGems
            | Self::Pub
            | Self::Hex => name.to_lowercase(),
            _ => name.to_owned(),
        }
    }

    /// The language as Grype's reports spell it (`artifact.language`); `None` for distros.
    pub fn language(self) -> Option<&'static str> {
        Some(match self {
            Self::PyPI => "python",
            Self::Npm => "javascript",
            Self::CratesIo => "rust",
            Self::Go => "go",
            Self::Maven => "java",
            Self::RubyGems => "ruby",
            Self::NuGet => "dotnet",
            Self::Packagist => "php",
            Self::Pub => "dart",
            Self::Cran | Self::R => "R",
            Self::Hackage | Self::Ghc => "haskell",
            Self::Hex => "erlang",
            Self::SwiftUrl => "swift",
            Self::ConanCenter => "c++",
            _ => return None,
        })
    }

    /// The package manager as the Yandex API's `source` names it (`dpkg`, `pypi`, `go`).
    pub fn package_manager(self) -> &'static str {
        match self {
            Self::Debian | Self::Ubuntu => "dpkg",
            Self::Go => "go",
            Self::RubyGems => "rubygems",
            other => other.purl_type().unwrap_or("unknown"),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

impl FromStr for Ecosystem {
    type Err = UnknownEcosystem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_osv_name(s).ok_or_else(|| UnknownEcosystem(s.to_owned()))
    }
}

impl Serialize for Ecosystem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.osv_name())
    }
}

impl<'de> Deserialize<'de> for Ecosystem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        let mut names: Vec<_> = Ecosystem::ALL.iter().map(|e| e.osv_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Ecosystem::ALL.len());
        for e in Ecosystem::ALL {
            assert_eq!(e.osv_name().parse::<Ecosystem>(), Ok(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.osv_name()));
            assert_eq!(serde_json::from_str::<Ecosystem>(&json).unwrap(), e);
        }
        assert_eq!(
            "Debian:12".parse::<Ecosystem>(),
            Err(UnknownEcosystem("Debian:12".into()))
        );
        assert!(serde_json::from_str::<Ecosystem>("\"Wendy\"").is_err());
    }

    #[test]
    fn releases() {
        let p = |s| Ecosystem::parse_with_release(s);
        assert_eq!(p("Debian:12"), Some((Ecosystem::Debian, "12".into())));
        assert_eq!(p("Alpine:v3.18"), Some((Ecosystem::Alpine, "3.18".into())));
        assert_eq!(
            p("Ubuntu:22.04:LTS"),
            Some((Ecosystem::Ubuntu, "22.04".into()))
        );
        assert_eq!(
            p("Ubuntu:Pro:18.04:LTS"),
            Some((Ecosystem::Ubuntu, "Pro:18.04".into()))
        );
        assert_eq!(
            p("Rocky Linux:9"),
            Some((Ecosystem::RockyLinux, "9".into()))
        );
        assert_eq!(p("PyPI"), Some((Ecosystem::PyPI, String::new())));
        assert_eq!(p("Wendy:1"), None);
    }

    #[test]
    fn names_compare_per_ecosystem() {
        assert_eq!(
            Ecosystem::PyPI.normalize_name("Foo__Bar.baz"),
            "foo-bar-baz"
        );
        assert_eq!(
            Ecosystem::PyPI.normalize_name("backports.ssl_match_hostname"),
            "backports-ssl-match-hostname"
        );
        assert_eq!(Ecosystem::PyPI.normalize_name("a--_.b"), "a-b");
        assert_eq!(Ecosystem::Npm.normalize_name("@Scope/Pkg"), "@scope/pkg");
        assert_eq!(
            Ecosystem::Go.normalize_name("github.com/Foo/bar"),
            "github.com/Foo/bar"
        );
        assert_eq!(Ecosystem::Debian.normalize_name("libFoo"), "libFoo");
    }

    #[test]
    fn every_language_kind_has_its_ecosystem_and_purl_type() {
        for kind in [
            PackageKind::Python,
            PackageKind::Npm,
            PackageKind::RustCrate,
            PackageKind::GoModule,
            PackageKind::JavaArchive,
            PackageKind::Gem,
            PackageKind::PhpComposer,
            PackageKind::Dotnet,
        ] {
            let e = Ecosystem::of_language_kind(kind).unwrap();
            assert!(!e.is_distro());
            let t = e.purl_type().unwrap();
            assert_eq!(PackageKind::from_purl_type(t), Some(kind));
            assert!(e.language().is_some());
        }
        for kind in [PackageKind::Deb, PackageKind::Apk, PackageKind::Rpm] {
            assert_eq!(Ecosystem::of_language_kind(kind), None);
        }
        assert_eq!(Ecosystem::Ubuntu.purl_type(), Some("deb"));
        assert_eq!(Ecosystem::OracleLinux.purl_type(), Some("rpm"));
        assert_eq!(Ecosystem::Go.package_manager(), "go");
        assert_eq!(Ecosystem::Alpine.package_manager(), "apk");
    }
}
