//! RPM versions: `rpmvercmp` (with `~` and `^`), EVR and NEVRA.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

/// rpm's `rpmvercmp`: segments of digits or letters, separators ignored, `~` sorting
/// before anything (even the end) and `^` after the end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else { break };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let si = i;
        while i < a.len() && class(&a[i]) {
            i += 1;
        }
        let sj = j;
        while j < b.len() && class(&b[j]) {
            j += 1;
        }
        if sj == j {
            // A number beats letters; letters lose to a number.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let x = std::str::from_utf8(&a[si..i]).unwrap_or("");
        let y = std::str::from_utf8(&b[sj..j]).unwrap_or("");
        let o = if numeric { cmp_digits(x, y) } else { x.cmp(y) };
        if o != Ordering::Equal {
            return o;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// `[epoch:]version[-release]`; a missing epoch is 0.
#[derive(Debug, Clone)]
pub struct Evr {
    /// Digits normally; anything else is compared as rpm compares versions.
    pub epoch: String,
    pub version: String,
    pub release: Option<String>,
}

impl Evr {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let err = |r: &str| VersionError::new(Scheme::Rpm, input, r);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty version"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if !e.is_empty() => (e.to_owned(), rest),
            Some((_, rest)) => ("0".to_owned(), rest),
            None => ("0".to_owned(), s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_owned())),
            None => (rest, None),
        };
        Ok(Self {
            epoch,
            version: version.to_owned(),
            release,
        })
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        rpmvercmp(&self.epoch, &other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (None, None) => Ordering::Equal,
                // A present release, even an empty one, sorts after a missing one.
                (None, Some(r)) => rpmvercmp("", r).then(Ordering::Less),
                (Some(r), None) => rpmvercmp(r, "").then(Ordering::Greater),
                (Some(a), Some(b)) => rpmvercmp(a, b),
            })
    }
}

/// Architectures that may end a NEVRA string.
const ARCHES: &[&str] = &[
    "noarch",
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "aarch64",
    "ppc64le",
    "ppc64",
    "ppc",
    "s390x",
    "s390",
    "armv7hl",
    "armv7l",
    "armv6hl",
    "armhfp",
    "src",
    "nosrc",
    "riscv64",
    "loongarch64",
    "ia64",
    "athlon",
    "amd64",
];

/// `name-[epoch:]version-release[.arch]`, as `rpm -q` prints and advisories write.
#[derive(Debug, Clone)]
pub struct Nevra {
    pub name: Option<String>,
    pub evr: Evr,
    pub arch: Option<String>,
}

impl Nevra {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let err = |r: &str| VersionError::new(Scheme::Rpm, input, r);
        let s = input.trim();
        let (rest, arch) = match s.rsplit_once('.') {
            Some((rest, a)) if ARCHES.contains(&a) => (rest, Some(a.to_owned())),
            _ => (s, None),
        };
        let (before_release, release) = rest.rsplit_once('-').ok_or_else(|| err("no release"))?;
        // With a name, the version is after the last '-' of what remains.
        let (name, ev) = match before_release.rsplit_once('-') {
            Some((n, ev)) => (Some(n.to_owned()), ev),
            None => (None, before_release),
        };
        let evr = Evr::parse(&format!("{ev}-{release}"))?;
        Ok(Self { name, evr, arch })
    }
}

impl Ord for Nevra {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.evr.cmp(&other.evr))
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

crate::ord_eq!(Evr, Nevra);
