//! Python versions: PEP 440 through `pep440_rs`, with a documented fallback for legacy
//! strings that are not PEP 440 (old `packaging.LegacyVersion`): they sort before every
//! PEP 440 version and among themselves by `packaging`'s legacy key.

use std::cmp::Ordering;
use std::str::FromStr;

use crate::{Scheme, VersionError};

#[derive(Debug, Clone)]
pub enum PyVersion {
    Pep440(pep440_rs::Version),
    /// A non-PEP 440 string, with its legacy comparison key.
    Legacy(String, Vec<String>),
}

impl PyVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(VersionError::new(Scheme::Pep440, input, "empty version"));
        }
        match pep440_rs::Version::from_str(s) {
            Ok(v) => Ok(Self::Pep440(v)),
            Err(_) => Ok(Self::Legacy(s.to_owned(), legacy_key(s))),
        }
    }

    /// Parses strictly: only PEP 440 versions.
    pub fn parse_strict(input: &str) -> Result<pep440_rs::Version, VersionError> {
        pep440_rs::Version::from_str(input.trim())
            .map_err(|e| VersionError::new(Scheme::Pep440, input, e.to_string()))
    }
}

/// `packaging`'s legacy key: runs of digits (zero-padded), runs of letters (`*`-prefixed,
/// with `pre`/`preview`/`rc` → `c`, `dev` → `@`, `-` → `final-`), then `*final`.
fn legacy_key(s: &str) -> Vec<String> {
    let lower = s.to_lowercase();
    let mut raw = Vec::new();
    let b = lower.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            raw.push(lower[st..i].to_owned());
        } else if c.is_ascii_lowercase() {
            let st = i;
            while i < b.len() && b[i].is_ascii_lowercase() {
                i += 1;
            }
            raw.push(lower[st..i].to_owned());
        } else {
            // '.', '-' and anything else are single-character parts.
            let ch = lower[i..].chars().next().unwrap_or('.');
            raw.push(ch.to_string());
            i += ch.len_utf8();
        }
    }
    let mut parts: Vec<String> = Vec::new();
    let mapped = raw.into_iter().filter_map(|p| {
        let p = match p.as_str() {
            "pre" | "preview" | "rc" => "c".to_owned(),
            "-" => "final-".to_owned(),
            "dev" => "@".to_owned(),
            _ => p,
        };
        if p.is_empty() || p == "." {
            None
        } else if p.as_bytes()[0].is_ascii_digit() {
            Some(format!("{p:0>8}"))
        } else {
            Some(format!("*{p}"))
        }
    });
    for part in mapped.chain(std::iter::once("*final".to_owned())) {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    parts
}

impl Ord for PyVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Pep440(a), Self::Pep440(b)) => a.cmp(b),
            (Self::Legacy(_, a), Self::Legacy(_, b)) => a.cmp(b),
            (Self::Legacy(..), Self::Pep440(_)) => Ordering::Less,
            (Self::Pep440(_), Self::Legacy(..)) => Ordering::Greater,
        }
    }
}

crate::ord_eq!(PyVersion);
