//! SemVer 2.0 (npm, crates.io; loose forms as node-semver accepts them), Go module
//! versions, NuGet and Pub.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

/// A pre-release or build identifier: numeric identifiers sort numerically and before
/// alphanumeric ones.
#[derive(Debug, Clone)]
enum Ident {
    Num(String),
    Alpha(String),
}

impl Ident {
    fn new(s: &str, case_insensitive: bool) -> Self {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Self::Num(s.to_owned())
        } else if case_insensitive {
            Self::Alpha(s.to_ascii_lowercase())
        } else {
            Self::Alpha(s.to_owned())
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Num(a), Self::Num(b)) => cmp_digits(a, b),
            (Self::Num(_), Self::Alpha(_)) => Ordering::Less,
            (Self::Alpha(_), Self::Num(_)) => Ordering::Greater,
            (Self::Alpha(a), Self::Alpha(b)) => a.cmp(b),
        }
    }
}

fn cmp_idents(a: &[Ident], b: &[Ident]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.cmp(y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Pre-release identifiers: a version without them sorts after one with them.
fn cmp_pre(a: &[Ident], b: &[Ident]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => cmp_idents(a, b),
    }
}

struct Parts {
    numbers: Vec<String>,
    pre: Vec<Ident>,
    build: Vec<Ident>,
}

/// [`split`], or the scheme's error naming the expected form.
fn split_or(
    s: &str,
    min: usize,
    max: usize,
    case_insensitive: bool,
    scheme: Scheme,
    input: &str,
    form: &str,
) -> Result<Parts, VersionError> {
    split(s, min, max, case_insensitive)
        .ok_or_else(|| VersionError::new(scheme, input, format!("expected {form}")))
}

impl From<Parts> for SemVer {
    fn from(p: Parts) -> Self {
        Self {
            numbers: p.numbers,
            pre: p.pre,
            build: p.build,
        }
    }
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Splits `N(.N)*[-pre][+build]` with `min..=max` numeric parts.
fn split(s: &str, min: usize, max: usize, case_insensitive: bool) -> Option<Parts> {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numbers: Vec<String> = core.split('.').map(str::to_owned).collect();
    if numbers.len() < min
        || numbers.len() > max
        || numbers
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let idents = |x: Option<&str>| -> Option<Vec<Ident>> {
        match x {
            None => Some(Vec::new()),
            Some(x) => x
                .split('.')
                .map(|i| valid_ident(i).then(|| Ident::new(i, case_insensitive)))
                .collect(),
        }
    };
    Some(Parts {
        numbers,
        pre: idents(pre)?,
        build: idents(build)?,
    })
}

fn cmp_numbers(a: &[String], b: &[String]) -> Ordering {
    let n = a.len().max(b.len());
    for k in 0..n {
        let x = a.get(k).map_or("0", String::as_str);
        let y = b.get(k).map_or("0", String::as_str);
        let o = cmp_digits(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// A SemVer 2.0 version. Build metadata is kept but does not take part in the order.
#[derive(Debug, Clone)]
pub struct SemVer {
    numbers: Vec<String>,
    pre: Vec<Ident>,
    build: Vec<Ident>,
}

impl Ident {
    fn as_str(&self) -> &str {
        match self {
            Self::Num(s) | Self::Alpha(s) => s,
        }
    }
}

impl SemVer {
    /// The numeric components as written (major, minor, patch, …).
    pub fn numbers(&self) -> &[String] {
        &self.numbers
    }

    pub fn prerelease(&self) -> Vec<&str> {
        self.pre.iter().map(Ident::as_str).collect()
    }

    pub fn build(&self) -> Vec<&str> {
        self.build.iter().map(Ident::as_str).collect()
    }
}

impl SemVer {
    /// Parses SemVer, accepting node-semver's loose forms: a leading `v` or `=`, spaces.
    pub fn parse(input: &str, scheme: Scheme) -> Result<Self, VersionError> {
        let s: String = input
            .trim()
            .trim_start_matches(['=', 'v', 'V', ' '])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // Fewer or more than three numbers occur in the wild; missing ones are zero.
        Ok(split_or(
            &s,
            1,
            usize::MAX,
            false,
            scheme,
            input,
            "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]",
        )?
        .into())
    }

    /// NuGet versions: up to four numbers, case-insensitive pre-release labels, metadata
    /// ignored.
    pub fn parse_nuget(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        Ok(split_or(
            s,
            1,
            4,
            true,
            Scheme::NuGet,
            input,
            "N[.N[.N[.N]]][-PRERELEASE][+METADATA]",
        )?
        .into())
    }

    /// Go module versions: `vMAJOR.MINOR.PATCH[-pre][+build]`, the `v` optional as OSV
    /// writes them; `+incompatible` and pseudo-versions order as SemVer.
    pub fn parse_go(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        Ok(split_or(
            s,
            3,
            3,
            false,
            Scheme::Go,
            input,
            "vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]",
        )?
        .into())
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_numbers(&self.numbers, &other.numbers).then_with(|| cmp_pre(&self.pre, &other.pre))
    }
}

/// Dart Pub versions: SemVer where build metadata does take part in the order (after the
/// pre-release; a version with build metadata sorts after the same one without).
#[derive(Debug, Clone)]
pub struct PubVersion(SemVer);

impl PubVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        Ok(Self(
            split_or(
                s,
                1,
                usize::MAX,
                false,
                Scheme::Pub,
                input,
                "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]",
            )?
            .into(),
        ))
    }
}

impl Ord for PubVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        a.cmp(b)
            .then_with(|| match (a.build.is_empty(), b.build.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => cmp_idents(&a.build, &b.build),
            })
    }
}

crate::ord_eq!(SemVer, PubVersion);
