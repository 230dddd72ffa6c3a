//! Debian versions: `[epoch:]upstream[-revision]`, ordered as `dpkg --compare-versions`.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

/// A Debian package version.
#[derive(Debug, Clone)]
pub struct DpkgVersion {
    pub epoch: u32,
    pub upstream: String,
    pub revision: String,
}

impl DpkgVersion {
    /// Parses as dpkg validates a version: a version that does not start with a digit is
    /// refused (dpkg warns about it).
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let v = Self::parse_lenient(input)?;
        if !v
            .upstream
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            return Err(VersionError::new(
                Scheme::Dpkg,
                input,
                "version number does not start with digit",
            ));
        }
        Ok(v)
    }

    /// Parses what dpkg can still compare: like [`DpkgVersion::parse`], but accepting an
    /// upstream version that does not start with a digit.
    pub fn parse_lenient(input: &str) -> Result<Self, VersionError> {
        let err = |r: &str| VersionError::new(Scheme::Dpkg, input, r);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("version string is empty"));
        }
        if s.contains(char::is_whitespace) {
            return Err(err("version string has embedded spaces"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() {
                    return Err(err("epoch in version is empty"));
                }
                if !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch in version is not number"));
                }
                let epoch = e
                    .parse::<u32>()
                    .ok()
                    .filter(|e| *e <= i32::MAX as u32)
                    .ok_or_else(|| err("epoch in version is too big"))?;
                if rest.is_empty() {
                    return Err(err("nothing after colon in version number"));
                }
                (epoch, rest)
            }
            None => (0, s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => {
                if r.is_empty() {
                    return Err(err("revision number is empty"));
                }
                (u, r)
            }
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(err("version number is empty"));
        }
        if let Some(c) = upstream
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(*c)))
        {
            return Err(err(&format!("invalid character {c:?} in version number")));
        }
        if let Some(c) = revision
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".+~".contains(*c)))
        {
            return Err(err(&format!("invalid character {c:?} in revision number")));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

/// dpkg's character order in non-digit runs: `~` before the end, the end before letters,
/// letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
pub(crate) fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        // Both runs are ASCII digits.
        let x = std::str::from_utf8(&a[si..i]).unwrap_or("");
        let y = std::str::from_utf8(&b[sj..j]).unwrap_or("");
        let o = cmp_digits(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

crate::ord_eq!(DpkgVersion);
