//! RubyGems versions, ordered as `Gem::Version#<=>`.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Num(String),
    Str(String),
}

#[derive(Debug, Clone)]
pub struct GemVersion {
    canonical: Vec<Seg>,
}

fn valid(s: &str) -> bool {
    // [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?
    let (main, pre) = match s.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (s, None),
    };
    let mut parts = main.split('.');
    // RubyGems wants the first segment all digits; `1gamma`-style strings still occur in
    // advisories and compare by their segments, so only a leading digit is required.
    let first_ok = parts.next().is_some_and(|p| {
        p.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && p.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|p| {
        p.split('.')
            .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

impl GemVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        let s = if s.is_empty() { "0" } else { s };
        if !valid(s) {
            return Err(VersionError::new(
                Scheme::RubyGems,
                input,
                "malformed version number string",
            ));
        }
        let s = s.replace('-', ".pre.");
        let mut segments = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let st = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                segments.push(Seg::Num(s[st..i].trim_start_matches('0').to_owned()));
            } else if b[i].is_ascii_alphabetic() {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                segments.push(Seg::Str(s[st..i].to_owned()));
            } else {
                i += 1;
            }
        }
        // Trailing zeros are dropped from the numeric part and from the string part.
        let split = segments
            .iter()
            .position(|s| matches!(s, Seg::Str(_)))
            .unwrap_or(segments.len());
        let (mut numeric, mut rest) = (segments[..split].to_vec(), segments[split..].to_vec());
        let zero = Seg::Num(String::new());
        while numeric.last() == Some(&zero) {
            numeric.pop();
        }
        while rest.last() == Some(&zero) {
            rest.pop();
        }
        numeric.extend(rest);
        Ok(Self { canonical: numeric })
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Seg::Num(String::new());
        for k in 0..self.canonical.len().max(other.canonical.len()) {
            let l = self.canonical.get(k).unwrap_or(&zero);
            let r = other.canonical.get(k).unwrap_or(&zero);
            let o = match (l, r) {
                (Seg::Num(a), Seg::Num(b)) => cmp_digits(a, b),
                (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
                (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
                (Seg::Str(a), Seg::Str(b)) => a.cmp(b),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

crate::ord_eq!(GemVersion);
