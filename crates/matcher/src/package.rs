//! From a package to its findings: which (ecosystem, release, name) the feeds key it by,
//! then one finding per vulnerability, its records merged through their aliases.

use std::collections::BTreeSet;
use std::str::FromStr;

use ferret_advisory::{Advisory, Affected, FeedKind};
use ferret_model::{Distro, Ecosystem, Package, PackageKind, PackageMetadata};
use ferret_version::{Scheme, VersionError};
use serde::{Deserialize, Serialize};

use crate::{Fix, Rating, Reason, Verdict, evaluate};

/// What the advisory database is asked about a package, and how its version compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The ecosystem the feeds key it in (Debian, Alpine, Rocky Linux, PyPI, …).
    pub ecosystem: Ecosystem,
    /// The distro release the feeds use (`12`, `3.18`, `9`); empty for language ecosystems.
    pub release: String,
    /// The name the feeds key on: the source package for Debian and Ubuntu, the origin for
    /// Alpine, Wolfi and Chainguard, the binary name for RPM distros' OSV records.
    pub name: String,
    /// The version compared: the source version for Debian and Ubuntu.
    pub version: String,
    pub scheme: Scheme,
    /// Distro packages take the distro's own severity rating.
    pub distro: bool,
    /// An RPM built for a module stream (it has a modularity label, or `.module` in its
    /// release): only records for module builds apply to it, and only those to it.
    pub modular: bool,
    /// An Oracle Linux Ksplice userspace build (`.ksplice1.` in its release): only records
    /// fixed in Ksplice builds apply to it, and only those to it.
    pub ksplice: bool,
    /// The package's architecture, for records that hold for some architectures only.
    pub arch: Option<String>,
    /// The product streams the image is of, as CPE patterns (Red Hat, SUSE): a record
    /// entry for product streams applies when one of its CPEs matches one of these.
    pub platforms: Vec<String>,
}

/// The parts of a CPE 2.2 URI after `cpe:/` (part, vendor, product, version, update,
/// edition, …).
fn cpe_parts(cpe: &str) -> Vec<&str> {
    cpe.strip_prefix("cpe:/")
        .map(|rest| rest.split(':').collect())
        .unwrap_or_default()
}

/// Whether a product CPE matches a pattern, part by part: a part the pattern leaves empty
/// (or does not give) matches any, `*` matches any, a pattern part ending in `*` matches by
/// prefix; the others must be equal, except that a product without an edition covers all
/// of them (`cpe:/o:redhat:enterprise_linux:9` matches an image of
/// `cpe:/o:redhat:enterprise_linux:9::baseos`).
pub fn cpe_matches(pattern: &str, cpe: &str) -> bool {
    /// Part index of the edition in `cpe:/part:vendor:product:version:update:edition`.
    const EDITION: usize = 5;
    let (pattern, cpe) = (cpe_parts(pattern), cpe_parts(cpe));
    !pattern.is_empty()
        && !cpe.is_empty()
        && pattern.iter().enumerate().all(|(i, p)| {
            let c = cpe.get(i).copied().unwrap_or("");
            match p.strip_suffix('*') {
                _ if p.is_empty() || (i >= EDITION && c.is_empty()) => true,
                Some(prefix) => c.starts_with(prefix),
                None => *p == c,
            }
        })
}

/// Whether a record entry for product streams leaves out an image of these streams.
fn other_platform(entry: &Affected, platforms: &[String]) -> bool {
    !entry.platforms.is_empty()
        && !platforms.is_empty()
        && !entry
            .platforms
            .iter()
            .any(|cpe| platforms.iter().any(|p| cpe_matches(p, cpe)))
}

/// The product streams of a Red Hat Enterprise Linux (or UBI, CentOS Stream) release: every
/// stream of the major release (BaseOS, AppStream, CRB, …), not the extended-support ones
/// (`rhel_eus`, `rhel_e4s`, …), which only their own subscriptions install.
fn redhat_platforms(major: &str) -> Vec<String> {
    vec![
        format!("cpe:/o:redhat:enterprise_linux:{major}"),
        format!("cpe:/a:redhat:enterprise_linux:{major}"),
    ]
}

/// The product streams of a SUSE image from its os-release: SUSE Linux Enterprise's
/// products and modules of the service pack (`cpe:/o:suse:sle*:15:sp5`), openSUSE Leap's
/// release, Tumbleweed, SLE Micro's and SUSE Linux Micro's release.
fn suse_platforms(id: &str, version_id: &str) -> Option<Vec<String>> {
    Some(match id {
        "sles" | "sled" | "sles_sap" => {
            let (major, sp) = version_id.split_once('.').unwrap_or((version_id, "0"));
            let update = if sp == "0" {
                String::new()
            } else {
                format!("sp{sp}")
            };
            vec![format!("cpe:/o:suse:sle*:{major}:{update}")]
        }
        "opensuse-leap" => vec![format!("cpe:/o:opensuse:leap:{version_id}")],
        "opensuse-tumbleweed" => vec!["cpe:/o:opensuse:tumbleweed".to_owned()],
        // SLE Micro up to 5.5; SUSE Linux Micro from 6.0.
        "sle-micro" | "sl-micro" => vec![format!("cpe:/o:suse:{id}:{version_id}")],
        _ => return None,
    })
}

/// `…-15.ksplice1.el8_3`: Oracle's Ksplice-patched userspace builds are fixed apart.
fn is_ksplice_build(version: &str) -> bool {
    version.contains(".ksplice")
}

fn record_is_ksplice(entry: &Affected) -> bool {
    entry_versions(entry).any(is_ksplice_build)
}

fn entry_versions(entry: &Affected) -> impl Iterator<Item = &str> {
    entry
        .ranges
        .iter()
        .flat_map(|r| &r.events)
        .map(|e| match e {
            ferret_advisory::Event::Introduced(v)
            | ferret_advisory::Event::Fixed(v)
            | ferret_advisory::Event::LastAffected(v)
            | ferret_advisory::Event::Limit(v) => v.as_str(),
        })
        .chain(entry.versions.iter().map(String::as_str))
}

/// Whether a record entry restricted to some architectures leaves this package out
/// (`noarch` packages are in every architecture's branch).
fn other_arch(entry: &Affected, arch: Option<&str>) -> bool {
    match arch {
        Some(a) if !entry.arches.is_empty() && a != "noarch" => {
            !entry.arches.iter().any(|x| x == a)
        }
        _ => false,
    }
}

/// `.module+el9.4.0+…` (RHEL 9 and clones) or `.module_el8.…` (RHEL 8) in an RPM release.
fn is_module_build(version: &str) -> bool {
    version.contains(".module+") || version.contains(".module_")
}

/// Whether an RPM record's versions are module builds: the streams of a module are built
/// and fixed apart from the distro's own package of the same name.
fn record_is_modular(entry: &Affected) -> bool {
    entry_versions(entry).any(is_module_build)
}

/// Why a package cannot be matched; it is reported, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}")]
pub struct Unmatched {
    pub reason: String,
}

fn unmatched(reason: impl Into<String>) -> Unmatched {
    Unmatched {
        reason: reason.into(),
    }
}

/// Strips a binNMU suffix (`+b1`): dpkg gives a binary-only rebuild the source version plus
/// `+bN`, and the feeds know only the source version.
pub fn source_version(version: &str) -> &str {
    match version.rsplit_once("+b") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => version,
    }
}

/// The first `parts` dot-separated parts of a release (`3.18.4` → `3.18`).
fn release_prefix(version_id: &str, parts: usize) -> String {
    version_id
        .split('.')
        .take(parts)
        .collect::<Vec<_>>()
        .join(".")
}

/// The version order of an ecosystem the matcher keys packages in.
fn scheme_of(ecosystem: Ecosystem) -> Result<Scheme, Unmatched> {
    Scheme::of(ecosystem)
        .ok_or_else(|| unmatched(format!("Ferret has no version order for {ecosystem}")))
}

/// Where the feeds look for a language package: its ecosystem and its full name as the
/// purl gives it (`group:artifact`, `@scope/name`, a Go module path, `vendor/name`); the
/// database normalises names per ecosystem (PEP 503 for PyPI).
fn language_target(package: &Package, ecosystem: Ecosystem) -> Result<Target, Unmatched> {
    let scheme = scheme_of(ecosystem)?;
    if package.kind == PackageKind::RustCrate
        && let PackageMetadata::Lang(m) = &package.metadata
        && m.origin.is_none()
    {
        return Err(unmatched(format!(
            "{} is a crate of the workspace itself (no source), not from crates.io",
            package.name
        )));
    }
    if let PackageMetadata::Npm(m) = &package.metadata
        && m.role == ferret_model::NpmRole::Application
        && m.private
    {
        return Err(unmatched(format!(
            "{} is the application itself (private), not a package from the npm registry",
            package.name
        )));
    }
    let purl = packageurl::PackageUrl::from_str(&package.purl).ok();
    let namespace = purl
        .as_ref()
        .and_then(|u| u.namespace())
        .filter(|n| !n.is_empty());
    let base = purl.as_ref().map_or(package.name.as_str(), |u| u.name());
    let name = match (package.kind, namespace) {
        (PackageKind::JavaArchive, Some(group)) => format!("{group}:{base}"),
        (PackageKind::JavaArchive, None) if !base.contains(':') => {
            return Err(unmatched(format!(
                "the Maven artifact {base} has no known groupId, and advisories name group:artifact"
            )));
        }
        (PackageKind::Npm | PackageKind::GoModule | PackageKind::PhpComposer, Some(ns)) => {
            format!("{ns}/{base}")
        }
        _ => base.to_owned(),
    };
    // Some purl writers lowercase names; Go module paths are case-sensitive, so the
    // package's own spelling wins when it is the same name.
    let name = if package.name.eq_ignore_ascii_case(&name) {
        package.name.clone()
    } else {
        name
    };
    let mut version = package.version.trim();
    if package.kind == PackageKind::PhpComposer {
        // Composer writes tags as named (`v1.27.0`) and compares without the `v`, as the
        // advisories list them.
        version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    }
    if package.kind == PackageKind::GoModule {
        // The toolchain reports itself as `go1.22.1`; OSV's `stdlib` ranges say `1.22.1`.
        version = version.strip_prefix("go").unwrap_or(version);
        if version == "(devel)" {
            return Err(unmatched(format!(
                "{name} is a development build ((devel)), which has no version to compare"
            )));
        }
    }
    if version.is_empty() {
        return Err(unmatched(format!("{name} has no version to compare")));
    }
    Ok(Target {
        ecosystem,
        release: String::new(),
        name,
        version: version.to_owned(),
        scheme,
        distro: false,
        modular: false,
        ksplice: false,
        arch: None,
        platforms: Vec::new(),
    })
}

/// Where the feeds look for a package: distro packages in their distro's namespace and
/// release, language packages in their ecosystem.
pub fn target(package: &Package, distro: Option<&Distro>) -> Result<Target, Unmatched> {
    if let Some(ecosystem) = Ecosystem::of_language_kind(package.kind) {
        return language_target(package, ecosystem);
    }
    let distro = distro.ok_or_else(|| {
        unmatched("the image's distro is unknown (no os-release), so its release is too")
    })?;
    let id = distro.id.as_str();
    let (source_name, installed_source) = match &package.source {
        Some(s) => (s.name.as_str(), s.version.as_str()),
        None => (package.name.as_str(), package.version.as_str()),
    };
    let missing_release = || {
        unmatched(format!(
            "{id} gives no release (VERSION_ID) to match advisories against"
        ))
    };
    let mut platforms = Vec::new();
    let owned_name: String;
    let (ecosystem, release, name, version) = match (package.kind, id) {
        (PackageKind::Deb, "debian") => {
            let release = if distro.version_id.is_empty() {
                ferret_advisory::debian_release_number(&distro.codename)
                    .map(str::to_owned)
                    .ok_or_else(missing_release)?
            } else {
                release_prefix(&distro.version_id, 1)
            };
            (
                Ecosystem::Debian,
                release,
                source_name,
                source_version(installed_source),
            )
        }
        (PackageKind::Deb, "ubuntu") => {
            if distro.version_id.is_empty() {
                return Err(missing_release());
            }
            (
                Ecosystem::Ubuntu,
                distro.version_id.clone(),
                source_name,
                source_version(installed_source),
            )
        }
        (PackageKind::Apk, "alpine") => {
            if distro.version_id.is_empty() {
                return Err(missing_release());
            }
            (
                Ecosystem::Alpine,
                release_prefix(&distro.version_id, 2),
                source_name,
                package.version.as_str(),
            )
        }
        (PackageKind::Apk, "wolfi") => (
            Ecosystem::Wolfi,
            String::new(),
            source_name,
            package.version.as_str(),
        ),
        (PackageKind::Apk, "chainguard") => (
            Ecosystem::Chainguard,
            String::new(),
            source_name,
            package.version.as_str(),
        ),
        (PackageKind::Rpm, "rocky" | "almalinux") => {
            if distro.version_id.is_empty() {
                return Err(missing_release());
            }
            let ecosystem = if id == "rocky" {
                Ecosystem::RockyLinux
            } else {
                Ecosystem::AlmaLinux
            };
            // Their OSV records name binary packages.
            (
                ecosystem,
                release_prefix(&distro.version_id, 1),
                package.name.as_str(),
                package.version.as_str(),
            )
        }
        (PackageKind::Rpm, "amzn") => {
            // Amazon Linux 1 gives its AMI release (`2018.03`) as VERSION_ID.
            let release = match distro.version_id.as_str() {
                "" => return Err(missing_release()),
                v if v.contains('.') => "1".to_owned(),
                v => v.to_owned(),
            };
            // ALAS advisories name binary packages.
            (
                Ecosystem::AmazonLinux,
                release,
                package.name.as_str(),
                package.version.as_str(),
            )
        }
        (PackageKind::Rpm, "ol" | "photon" | "azurelinux" | "mariner") => {
            if distro.version_id.is_empty() {
                return Err(missing_release());
            }
            let (ecosystem, name) = match id {
                // ELSA and PHSA definitions name binary packages.
                "ol" => (Ecosystem::OracleLinux, package.name.as_str()),
                "photon" => (Ecosystem::PhotonOs, package.name.as_str()),
                // Microsoft's OVAL names source packages (spec names).
                "azurelinux" => (Ecosystem::AzureLinux, source_name),
                _ => (Ecosystem::CblMariner, source_name),
            };
            (
                ecosystem,
                release_prefix(&distro.version_id, 1),
                name,
                package.version.as_str(),
            )
        }
        (PackageKind::Rpm, "rhel" | "centos") => {
            if distro.version_id.is_empty() {
                return Err(missing_release());
            }
            platforms = redhat_platforms(&release_prefix(&distro.version_id, 1));
            // Red Hat's VEX names source packages; a module's as `module:stream/name`.
            let stream = match &package.metadata {
                PackageMetadata::Rpm(m) => m.modularity_label.as_deref().and_then(|l| {
                    let mut parts = l.split(':');
                    Some(format!("{}:{}", parts.next()?, parts.next()?))
                }),
                _ => None,
            };
            owned_name = match stream {
                Some(s) => format!("{s}/{source_name}"),
                None => source_name.to_owned(),
            };
            (
                Ecosystem::RedHat,
                String::new(),
                owned_name.as_str(),
                package.version.as_str(),
            )
        }
        (
            PackageKind::Rpm,
            "sles"
            | "sled"
            | "sles_sap"
            | "opensuse-leap"
            | "opensuse-tumbleweed"
            | "sle-micro"
            | "sl-micro",
        ) => {
            if distro.version_id.is_empty() && id != "opensuse-tumbleweed" {
                return Err(missing_release());
            }
            platforms = suse_platforms(id, &distro.version_id).ok_or_else(missing_release)?;
            // SUSE's VEX names binary packages.
            (
                Ecosystem::Suse,
                String::new(),
                package.name.as_str(),
                package.version.as_str(),
            )
        }
        (kind, _) => {
            return Err(unmatched(format!(
                "no advisory feed covers {} packages of {}",
                kind.as_str(),
                if distro.pretty_name.is_empty() {
                    id
                } else {
                    &distro.pretty_name
                }
            )));
        }
    };
    let scheme = scheme_of(ecosystem)?;
    Ok(Target {
        ecosystem,
        release,
        name: name.to_owned(),
        version: version.to_owned(),
        modular: scheme == Scheme::Rpm
            && (is_module_build(version)
                || matches!(&package.metadata, PackageMetadata::Rpm(m) if m.modularity_label.as_deref().is_some_and(|l| !l.is_empty()))),
        ksplice: scheme == Scheme::Rpm && is_ksplice_build(version),
        arch: package.architecture.clone(),
        platforms,
        scheme,
        distro: true,
    })
}

/// One advisory record that matched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchDetail {
    pub record: String,
    pub feed: FeedKind,
    /// `Debian:12`, `PyPI`, …
    pub namespace: String,
    pub package: String,
    pub reason: Reason,
    pub fix: Fix,
}

/// One vulnerability of one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The CVE when any record names one, else the lowest record id.
    pub id: String,
    /// Every other id the merged records are known by, sorted.
    pub related: Vec<String>,
    pub rating: Rating,
    pub fix: Fix,
    /// The records that matched, by record id.
    pub matches: Vec<MatchDetail>,
    /// In CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<ferret_model::Kev>,
    /// FIRST's EPSS score (the highest of the finding's ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<ferret_model::Epss>,
}

impl Finding {
    /// Its id and every related id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.related.iter().map(String::as_str))
    }
}

/// The findings for a package from the advisories the database returned for its target;
/// one per vulnerability, records merged when they share an id or alias. Sorted by
/// severity (most severe first), then id.
pub fn findings(target: &Target, advisories: &[Advisory]) -> Result<Vec<Finding>, VersionError> {
    findings_with_skips(target, advisories).map(|(found, _)| found)
}

/// A record that could not be evaluated (a version in it does not parse in the scheme);
/// the package's other records still are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    pub record: String,
    pub reason: String,
}

/// [`findings`], also naming the records that were skipped. An error only when the
/// installed version itself does not parse: then no record can be evaluated.
pub fn findings_with_skips(
    target: &Target,
    advisories: &[Advisory],
) -> Result<(Vec<Finding>, Vec<SkippedRecord>), VersionError> {
    target.scheme.parse(&target.version)?;
    let mut matched: Vec<(&Advisory, &Affected, Reason, Fix)> = Vec::new();
    let mut skipped = Vec::new();
    for a in advisories {
        for entry in &a.affected {
            // A VEX entry that names no version (known affected) says nothing of builds:
            // its name carries the module stream already.
            let versionless_vex =
                !entry.platforms.is_empty() && entry_versions(entry).all(|v| v == "0");
            if target.scheme == Scheme::Rpm
                && !versionless_vex
                && (record_is_modular(entry) != target.modular
                    || record_is_ksplice(entry) != target.ksplice)
            {
                continue;
            }
            if other_arch(entry, target.arch.as_deref()) || other_platform(entry, &target.platforms)
            {
                continue;
            }
            match evaluate(target.scheme, &target.version, entry) {
                Ok(Verdict::Affected { reason, fix }) => matched.push((a, entry, reason, fix)),
                Ok(Verdict::NotAffected) => {}
                Err(e) => skipped.push(SkippedRecord {
                    record: a.id.clone(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    skipped.sort_by(|a, b| {
        a.record
            .cmp(&b.record)
            .then_with(|| a.reason.cmp(&b.reason))
    });
    skipped.dedup();
    // Groups of records connected through shared ids.
    let ids = |a: &Advisory| -> BTreeSet<String> {
        std::iter::once(&a.id).chain(&a.aliases).cloned().collect()
    };
    let mut groups: Vec<(BTreeSet<String>, Vec<usize>)> = Vec::new();
    for (i, (a, ..)) in matched.iter().enumerate() {
        let mut own = ids(a);
        let mut members = vec![i];
        let mut k = 0;
        while k < groups.len() {
            if groups[k].0.is_disjoint(&own) {
                k += 1;
            } else {
                let (g_ids, g_members) = groups.swap_remove(k);
                own.extend(g_ids);
                members.extend(g_members);
            }
        }
        groups.push((own, members));
    }
    let mut out: Vec<Finding> = groups
        .into_iter()
        .map(|(all_ids, mut members)| {
            members.sort_by(|x, y| matched[*x].0.id.cmp(&matched[*y].0.id));
            let records: Vec<&(&Advisory, &Affected, Reason, Fix)> =
                members.iter().map(|i| &matched[*i]).collect();
            let id = all_ids
                .iter()
                .find(|i| i.starts_with("CVE-"))
                .cloned()
                .unwrap_or_else(|| records[0].0.id.clone());
            let related = all_ids.iter().filter(|i| **i != id).cloned().collect();
            let mut ratings = Vec::new();
            for (a, entry, ..) in &records {
                match entry.severity.as_deref() {
                    // The distro's rating of this package.
                    Some(r) if target.distro => ratings.extend(crate::severity::vendor_rating(
                        &target.ecosystem.osv_name().to_lowercase(),
                        &a.id,
                        r,
                    )),
                    // A language record's rating of this package (GHSA's, PyPA's).
                    Some(r) => ratings.extend(crate::severity::decide(
                        &a.id,
                        &ferret_model::RawRating {
                            source: if a.id.starts_with("GHSA-") {
                                ferret_model::RatingSource::Ghsa
                            } else {
                                ferret_model::RatingSource::Osv
                            },
                            by: a.id.clone(),
                            cvss_version: None,
                            vector: None,
                            score: None,
                            qualitative: Some(r.to_owned()),
                        },
                    )),
                    None => {}
                }
                ratings.extend(crate::severity::record_ratings(a));
            }
            let rating = crate::severity::choose(ratings);
            let fix = merge_fixes(target.scheme, records.iter().map(|r| &r.3));
            let matches = records
                .iter()
                .map(|(a, entry, reason, fix)| MatchDetail {
                    record: a.id.clone(),
                    feed: a.feed,
                    namespace: entry.namespace.to_string(),
                    package: entry.name.clone(),
                    reason: reason.clone(),
                    fix: fix.clone(),
                })
                .collect();
            Finding {
                id,
                related,
                rating,
                fix,
                matches,
                kev: None,
                epss: None,
            }
        })
        .collect();
    sort_findings(&mut out);
    Ok((out, skipped))
}

/// Most severe first, then by id.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.rating
            .severity
            .cmp(&a.rating.severity)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// A fix anywhere wins (the package can be upgraded); then the vendor's "will not fix";
/// else not fixed.
fn merge_fixes<'a>(scheme: Scheme, fixes: impl Iterator<Item = &'a Fix>) -> Fix {
    let mut versions: Vec<String> = Vec::new();
    let mut will_not_fix = false;
    for f in fixes {
        match f {
            Fix::Fixed(v) => versions.extend(v.iter().cloned()),
            Fix::WillNotFix => will_not_fix = true,
            Fix::NotFixed => {}
        }
    }
    if !versions.is_empty() {
        versions.sort_by(|a, b| {
            scheme
                .compare(a, b)
                .unwrap_or_else(|_| a.cmp(b))
                .then_with(|| a.cmp(b))
        });
        versions.dedup();
        Fix::Fixed(versions)
    } else if will_not_fix {
        Fix::WillNotFix
    } else {
        Fix::NotFixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_advisory::{Event, FixState, Namespace, Range, RangeKind, Score, ScoreKind};
    use ferret_model::{DpkgMetadata, Location, PackageMetadata, SourcePackage};

    #[test]
    fn product_cpes_against_image_patterns() {
        let rhel9 = "cpe:/o:redhat:enterprise_linux:9";
        assert!(cpe_matches(
            rhel9,
            "cpe:/o:redhat:enterprise_linux:9::baseos"
        ));
        assert!(cpe_matches(rhel9, rhel9));
        assert!(!cpe_matches(rhel9, "cpe:/o:redhat:rhel_eus:9.2::baseos"));
        assert!(!cpe_matches(
            rhel9,
            "cpe:/a:redhat:enterprise_linux:9::appstream"
        ));
        let eus = "cpe:/o:redhat:rhel_eus:9.2::baseos";
        assert!(cpe_matches(eus, eus));
        assert!(!cpe_matches(
            eus,
            "cpe:/o:redhat:rhel_eus:9.2::highavailability"
        ));
        let base = "cpe:/o:redhat:enterprise_linux:9::baseos";
        assert!(cpe_matches(base, rhel9), "a release covers its editions");
        let sles = "cpe:/o:suse:sle*:15:sp5";
        assert!(cpe_matches(
            sles,
            "cpe:/o:suse:sle-module-basesystem:15:sp5"
        ));
        assert!(cpe_matches(sles, "cpe:/o:suse:sles:15:sp5"));
        assert!(!cpe_matches(sles, "cpe:/o:suse:sles:15"));
        assert!(!cpe_matches(sles, "cpe:/o:suse:sles:15:sp4"));
        assert!(!cpe_matches(sles, "cpe:/o:opensuse:leap:15.5"));
        assert!(!cpe_matches(sles, "not a cpe"));
    }

    fn debian() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: "12".into(),
            codename: "bookworm".into(),
            ..Distro::default()
        }
    }

    fn deb(name: &str, version: &str, source: Option<(&str, &str)>) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            kind: PackageKind::Deb,
            architecture: None,
            purl: String::new(),
            source: source.map(|(n, v)| SourcePackage {
                name: n.into(),
                version: v.into(),
            }),
            licenses: Vec::new(),
            location: Location {
                path: "var/lib/dpkg/status".into(),
                layer: None,
            },
            found_by: "os/dpkg".into(),
            metadata: PackageMetadata::Dpkg(DpkgMetadata::default()),
        }
    }

    fn record(id: &str, aliases: &[&str], fixed: &str, state: Option<FixState>) -> Advisory {
        let mut a = Advisory::new(id, FeedKind::Osv);
        a.aliases = aliases.iter().map(|s| s.to_string()).collect();
        a.affected.push(Affected {
            namespace: Namespace::new(Ecosystem::Debian, "12"),
            name: "openssl".into(),
            purl: None,
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                events: vec![Event::Introduced("0".into()), Event::Fixed(fixed.into())],
            }],
            versions: Vec::new(),
            fix_state: state,
            severity: None,
            arches: Vec::new(),
            platforms: Vec::new(),
            imports: Vec::new(),
        });
        a
    }

    #[test]
    fn debian_packages_match_by_source_without_binnmu() {
        let t = target(
            &deb(
                "libssl3",
                "3.0.11-1~deb12u2+b1",
                Some(("openssl", "3.0.11-1~deb12u2+b1")),
            ),
            Some(&debian()),
        )
        .unwrap();
        assert_eq!(
            (
                t.ecosystem,
                t.release.as_str(),
                t.name.as_str(),
                t.version.as_str()
            ),
            (Ecosystem::Debian, "12", "openssl", "3.0.11-1~deb12u2")
        );
        let mut sid = debian();
        sid.version_id.clear();
        sid.codename = "trixie".into();
        assert_eq!(
            target(&deb("a", "1", None), Some(&sid)).unwrap().release,
            "13"
        );
        sid.codename = "nowhere".into();
        assert!(
            target(&deb("a", "1", None), Some(&sid))
                .unwrap_err()
                .reason
                .contains("no release")
        );
        assert!(target(&deb("a", "1", None), None).is_err());
    }

    #[test]
    fn records_merge_through_aliases() {
        let t = target(
            &deb("libssl3", "3.0.11-1", Some(("openssl", "3.0.11-1"))),
            Some(&debian()),
        )
        .unwrap();
        let mut tracker = record(
            "CVE-2024-1",
            &[],
            "3.0.13-1",
            Some(FixState::Fixed("3.0.13-1".into())),
        );
        tracker.feed = FeedKind::DebianTracker;
        tracker.affected[0].severity = Some("low".into());
        let mut dsa = record("DSA-5000-1", &["CVE-2024-1"], "3.0.12-1", None);
        dsa.severity.push(Score {
            kind: ScoreKind::CvssV3,
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        });
        let other = record("DSA-5001-1", &[], "3.0.11-1", None);
        let found = findings(&t, &[tracker, dsa, other]).unwrap();
        assert_eq!(found.len(), 1, "{found:#?}");
        let f = &found[0];
        assert_eq!(f.id, "CVE-2024-1");
        assert_eq!(f.related, vec!["DSA-5000-1".to_string()]);
        // The distro's rating wins over the record's CVSS 9.8.
        assert_eq!(f.rating.severity, crate::Severity::Low);
        assert_eq!(f.rating.chosen.as_ref().unwrap().label(), "debian");
        assert_eq!(f.rating.cvss().next().unwrap().score, Some(9.8));
        assert_eq!(
            f.fix,
            Fix::Fixed(vec!["3.0.12-1".into(), "3.0.13-1".into()])
        );
        assert_eq!(f.matches.len(), 2);
        assert_eq!(f.matches[0].namespace, "Debian:12");
    }

    #[test]
    fn module_streams_are_kept_apart() {
        let rocky = Distro {
            id: "rocky".into(),
            version_id: "9.4".into(),
            ..Distro::default()
        };
        let ruby = |version: &str| {
            let mut p = deb("ruby", version, None);
            p.kind = PackageKind::Rpm;
            p.source = None;
            p.metadata = PackageMetadata::Rpm(ferret_model::RpmMetadata::default());
            p
        };
        let mut record = record(
            "RLSA-2024:3671",
            &["CVE-2024-27280"],
            "0:3.3.1-2.module+el9.4.0+20787+4c237fd3",
            None,
        );
        record.affected[0].namespace = Namespace::new(Ecosystem::RockyLinux, "9");
        record.affected[0].name = "ruby".into();
        // The distro's own ruby 3.0 is not the ruby:3.3 module stream the record fixes.
        let base = target(&ruby("3.0.4-160.el9_0"), Some(&rocky)).unwrap();
        assert!(!base.modular);
        assert!(
            findings(&base, std::slice::from_ref(&record))
                .unwrap()
                .is_empty()
        );
        let module = target(&ruby("3.3.0-1.module+el9.3.0+111+aaaa"), Some(&rocky)).unwrap();
        assert!(module.modular);
        assert_eq!(
            findings(&module, std::slice::from_ref(&record))
                .unwrap()
                .len(),
            1
        );
        // A module build is not fixed by the base package's record.
        let mut plain = record.clone();
        plain.affected[0].ranges[0].events[1] = Event::Fixed("3.0.7-163.el9".into());
        assert!(
            findings(&module, std::slice::from_ref(&plain))
                .unwrap()
                .is_empty()
        );
        assert_eq!(findings(&base, &[plain]).unwrap().len(), 1);
    }

    #[test]
    fn language_packages_by_their_full_name() {
        let lang = |kind: PackageKind, name: &str, version: &str, purl: &str| {
            let mut p = deb(name, version, None);
            p.kind = kind;
            p.source = None;
            p.purl = purl.into();
            target(&p, None)
        };
        let t = lang(
            PackageKind::JavaArchive,
            "log4j-core",
            "2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        )
        .unwrap();
        assert_eq!(
            (t.ecosystem, t.name.as_str(), t.scheme),
            (
                Ecosystem::Maven,
                "org.apache.logging.log4j:log4j-core",
                Scheme::MavenSpec
            )
        );
        let t = lang(
            PackageKind::Npm,
            "@babel/core",
            "7.0.0",
            "pkg:npm/%40babel/core@7.0.0",
        )
        .unwrap();
        assert_eq!(t.name, "@babel/core");
        // The package's own spelling of a Go module path beats a lowercased purl.
        let t = lang(
            PackageKind::GoModule,
            "github.com/0xERR0R/blocky",
            "v0.28.0",
            "pkg:golang/github.com/0xerr0r/blocky@v0.28.0",
        )
        .unwrap();
        assert_eq!(t.name, "github.com/0xERR0R/blocky");
        let t = lang(
            PackageKind::GoModule,
            "stdlib",
            "go1.22.1",
            "pkg:golang/stdlib@go1.22.1",
        )
        .unwrap();
        assert_eq!(t.version, "1.22.1");
        let t = lang(
            PackageKind::PhpComposer,
            "monolog/monolog",
            "v1.0.2",
            "pkg:composer/monolog/monolog@v1.0.2",
        )
        .unwrap();
        assert_eq!(
            (t.name.as_str(), t.version.as_str()),
            ("monolog/monolog", "1.0.2")
        );
        let t = lang(PackageKind::Python, "Django", "4.2", "pkg:pypi/django@4.2").unwrap();
        assert_eq!((t.ecosystem, t.release.as_str()), (Ecosystem::PyPI, ""));
        for (kind, name, version, purl) in [
            (
                PackageKind::JavaArchive,
                "thing",
                "1.0",
                "pkg:maven/thing@1.0",
            ),
            (
                PackageKind::GoModule,
                "example.com/m",
                "(devel)",
                "pkg:golang/example.com/m@(devel)",
            ),
            (PackageKind::RustCrate, "serde", "", "pkg:cargo/serde"),
        ] {
            assert!(lang(kind, name, version, purl).is_err(), "{name}");
        }
    }

    #[test]
    fn binnmu_suffix() {
        assert_eq!(source_version("1.2-3+b1"), "1.2-3");
        assert_eq!(source_version("1.2-3+b12"), "1.2-3");
        assert_eq!(source_version("1.2-3+deb12u1"), "1.2-3+deb12u1");
        assert_eq!(source_version("1.2+bzr5"), "1.2+bzr5");
    }
}
