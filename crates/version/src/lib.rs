//! Version parsing and ordering, one scheme per ecosystem, each matching its reference
//! implementation (checked against the vectors in `shared/testdata/versions`).
//!
//! Every scheme parses a string into a typed value with a total order; [`Scheme::compare`]
//! is the convenience for two strings.

mod apk;
mod dpkg;
mod maven;
mod maven_spec;
mod numeric;
mod packagist;
mod pep440;
mod rpm;
mod rubygems;
mod semver;

use std::cmp::Ordering;
use std::fmt;

use ferret_model::Ecosystem;

pub use apk::{fuzzy_matches as apk_fuzzy_matches, is_valid as apk_is_valid};
pub use dpkg::DpkgVersion;
pub use rpm::{Evr, Nevra, rpmvercmp};
pub use semver::SemVer;

/// Parses a PEP 440 version strictly (no legacy fallback).
pub fn pep440_strict(input: &str) -> Result<pep440_rs::Version, VersionError> {
    pep440::PyVersion::parse_strict(input)
}

/// A version string that its scheme cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {input:?}: {reason}")]
pub struct VersionError {
    pub scheme: &'static str,
    pub input: String,
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(scheme: Scheme, input: &str, reason: impl Into<String>) -> Self {
        Self {
            scheme: scheme.name(),
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The version schemes Ferret knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Dpkg,
    Rpm,
    Apk,
    Pep440,
    Semver,
    Go,
    Maven,
    /// Maven's version order specification as written, the ordering OSV's tools use.
    MavenSpec,
    RubyGems,
    NuGet,
    Packagist,
    Pub,
    Cran,
    Hackage,
}

impl Scheme {
    pub const ALL: &[Scheme] = &[
        Self::Dpkg,
        Self::Rpm,
        Self::Apk,
        Self::Pep440,
        Self::Semver,
        Self::Go,
        Self::Maven,
        Self::MavenSpec,
        Self::RubyGems,
        Self::NuGet,
        Self::Packagist,
        Self::Pub,
        Self::Cran,
        Self::Hackage,
    ];

    /// The scheme's name: the folder name under `testdata/versions`, `go` or `maven-spec`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dpkg => "dpkg",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
            Self::Pep440 => "pep440",
            Self::Semver => "semver",
            Self::Go => "go",
            Self::Maven => "maven",
            Self::MavenSpec => "maven-spec",
            Self::RubyGems => "rubygems",
            Self::NuGet => "nuget",
            Self::Packagist => "packagist",
            Self::Pub => "pub",
            Self::Cran => "cran",
            Self::Hackage => "hackage",
        }
    }

    /// A scheme by its name or by an OSV ecosystem name (`Debian`, `PyPI`, `crates.io`,
    /// `Alpine:v3.18`, …; a `:release` suffix is ignored).
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(s) = Self::ALL.iter().find(|s| s.name() == name) {
            return Some(*s);
        }
        let ecosystem = name.split(':').next().unwrap_or(name);
        Self::of(Ecosystem::from_osv_name(ecosystem)?)
    }

    /// The order an ecosystem's versions follow; `None` where Ferret reads none.
    pub fn of(ecosystem: Ecosystem) -> Option<Self> {
        use Ecosystem as E;
        Some(match ecosystem {
            E::Debian | E::Ubuntu => Self::Dpkg,
            E::Alpine | E::Wolfi | E::Chainguard | E::Alpaquita | E::BellSoftHardenedContainers => {
                Self::Apk
            }
            E::RedHat
            | E::RockyLinux
            | E::AlmaLinux
            | E::OpenSuse
            | E::Suse
            | E::Mageia
            | E::OpenEuler
            | E::AzureLinux
            | E::CblMariner
            | E::PhotonOs
            | E::AmazonLinux
            | E::OracleLinux => Self::Rpm,
            E::PyPI => Self::Pep440,
            E::Npm | E::CratesIo | E::Hex | E::SwiftUrl => Self::Semver,
            E::Go => Self::Go,
            // OSV's Maven ranges are computed and evaluated with the specification's order.
            E::Maven => Self::MavenSpec,
            E::RubyGems => Self::RubyGems,
            E::NuGet => Self::NuGet,
            E::Packagist => Self::Packagist,
            E::Pub => Self::Pub,
            E::Cran => Self::Cran,
            E::Hackage => Self::Hackage,
            E::ConanCenter
            | E::Ghc
            | E::R
            | E::Bitnami
            | E::Git
            | E::Linux
            | E::OssFuzz
            | E::Android => return None,
        })
    }

    /// Parses a version of this scheme.
    pub fn parse(self, input: &str) -> Result<Version, VersionError> {
        Ok(match self {
            Self::Dpkg => Version::Dpkg(DpkgVersion::parse_lenient(input)?),
            Self::Rpm => Version::Rpm(Evr::parse(input)?),
            Self::Apk => Version::Apk(apk::ApkVersion::parse(input)?),
            Self::Pep440 => Version::Pep440(pep440::PyVersion::parse(input)?),
            Self::Semver => Version::Semver(semver::SemVer::parse(input, self)?),
            Self::Go => Version::Semver(semver::SemVer::parse_go(input)?),
            Self::Maven => Version::Maven(maven::MavenVersion::parse(input)?),
            Self::MavenSpec => Version::MavenSpec(maven_spec::MavenSpecVersion::parse(input)?),
            Self::RubyGems => Version::RubyGems(rubygems::GemVersion::parse(input)?),
            Self::NuGet => Version::Semver(semver::SemVer::parse_nuget(input)?),
            Self::Packagist => Version::Packagist(packagist::PhpVersion::parse(input)?),
            Self::Pub => Version::Pub(semver::PubVersion::parse(input)?),
            Self::Cran => Version::Numeric(numeric::Numeric::parse(input, self, &['.', '-'])?),
            Self::Hackage => Version::Numeric(numeric::Numeric::parse(input, self, &['.'])?),
        })
    }

    /// Compares two version strings of this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        let a = self.parse(a)?;
        let b = self.parse(b)?;
        Ok(a.partial_cmp(&b).unwrap_or(Ordering::Equal))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed version of some scheme. Versions of the same scheme are totally ordered;
/// versions of different schemes do not compare.
#[derive(Debug, Clone)]
pub enum Version {
    Dpkg(DpkgVersion),
    Rpm(Evr),
    Apk(apk::ApkVersion),
    Pep440(pep440::PyVersion),
    Semver(semver::SemVer),
    Maven(maven::MavenVersion),
    MavenSpec(maven_spec::MavenSpecVersion),
    RubyGems(rubygems::GemVersion),
    Packagist(packagist::PhpVersion),
    Pub(semver::PubVersion),
    Numeric(numeric::Numeric),
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        use Version::*;
        Some(match (self, other) {
            (Dpkg(a), Dpkg(b)) => a.cmp(b),
            (Rpm(a), Rpm(b)) => a.cmp(b),
            (Apk(a), Apk(b)) => a.cmp(b),
            (Pep440(a), Pep440(b)) => a.cmp(b),
            (Semver(a), Semver(b)) => a.cmp(b),
            (Maven(a), Maven(b)) => a.cmp(b),
            (MavenSpec(a), MavenSpec(b)) => a.cmp(b),
            (RubyGems(a), RubyGems(b)) => a.cmp(b),
            (Packagist(a), Packagist(b)) => a.cmp(b),
            (Pub(a), Pub(b)) => a.cmp(b),
            (Numeric(a), Numeric(b)) => a.cmp(b),
            _ => return None,
        })
    }
}

/// Compares two runs of ASCII digits by value, whatever their length.
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Equality and partial order from a type's `Ord`, so that versions equal in order (`1.0`
/// and `1.00` in some schemes) are equal values.
#[macro_export]
#[doc(hidden)]
macro_rules! ord_eq {
    ($($t:ty),* $(,)?) => {
        $(
            impl PartialEq for $t {
                fn eq(&self, other: &Self) -> bool {
                    Ord::cmp(self, other) == std::cmp::Ordering::Equal
                }
            }
            impl Eq for $t {}
            impl PartialOrd for $t {
                fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                    Some(Ord::cmp(self, other))
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_and_their_orders() {
        assert_eq!(Scheme::from_name("Alpine:v3.18"), Some(Scheme::Apk));
        assert_eq!(Scheme::from_name("Rocky Linux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::from_name("maven-spec"), Some(Scheme::MavenSpec));
        assert_eq!(Scheme::from_name("Klingon"), None);
        assert_eq!(Scheme::of(Ecosystem::Maven), Some(Scheme::MavenSpec));
        assert_eq!(Scheme::of(Ecosystem::Git), None);
        // A distro's packages follow their package manager's order.
        for e in Ecosystem::ALL.into_iter().filter(|e| e.is_distro()) {
            let expected = match e.purl_type() {
                Some("deb") => Scheme::Dpkg,
                Some("apk") => Scheme::Apk,
                _ => Scheme::Rpm,
            };
            assert_eq!(Scheme::of(e), Some(expected), "{e}");
        }
    }
}
