//! Packagist (Composer) versions, ordered like PHP's `version_compare` after Composer's
//! canonicalisation: `v` prefix dropped, `-`, `_`, `+` as `.`, a `.` between digits and
//! letters; special forms dev < alpha/a < beta/b < RC/rc < number < patch/p.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone)]
pub struct PhpVersion {
    parts: Vec<String>,
}

fn canonicalize(v: &str) -> String {
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let mut out = String::with_capacity(v.len() + 4);
    let mut prev: Option<char> = None;
    for c in v.chars() {
        let c = if matches!(c, '-' | '_' | '+') { '.' } else { c };
        if let Some(p) = prev
            && c != '.'
            && p != '.'
            && (p.is_ascii_digit() != c.is_ascii_digit())
        {
            out.push('.');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

fn weight(s: &str) -> i32 {
    if s.starts_with("RC") || s.starts_with("rc") {
        return 3;
    }
    ["dev", "a", "b", "rc", "#", "p"]
        .iter()
        .position(|p| s.starts_with(p))
        .map_or(0, |i| i as i32)
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn cmp_parts(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (is_number(x), is_number(y)) {
            (true, true) => cmp_digits(x, y),
            (false, false) => weight(x).cmp(&weight(y)),
            (true, false) => weight("#").cmp(&weight(y)),
            (false, true) => weight(x).cmp(&weight("#")),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let hash = vec!["#".to_owned()];
    match a.len().cmp(&b.len()) {
        Ordering::Greater => {
            if is_number(&a[b.len()]) {
                Ordering::Greater
            } else {
                cmp_parts(&a[b.len()..], &hash)
            }
        }
        Ordering::Less => {
            if is_number(&b[a.len()]) {
                Ordering::Less
            } else {
                cmp_parts(&hash, &b[a.len()..])
            }
        }
        Ordering::Equal => Ordering::Equal,
    }
}

impl PhpVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(VersionError::new(Scheme::Packagist, input, "empty version"));
        }
        Ok(Self {
            parts: canonicalize(s).split('.').map(str::to_owned).collect(),
        })
    }
}

impl Ord for PhpVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_parts(&self.parts, &other.parts)
    }
}

crate::ord_eq!(PhpVersion);
