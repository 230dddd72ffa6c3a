//! Alpine apk versions, ordered as apk-tools 3 does: `N(.N)*[a](_suffix[N])*[~hash][-rN]`,
//! the pre-release suffixes `_alpha`, `_beta`, `_pre`, `_rc` before the plain version and
//! the post-release ones `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it. A number with a
//! leading zero after the first compares as a string. Invalid strings still compare, up to
//! the first part that does not parse, as apk-tools does; the forms real advisories contain
//! (`1.9.5p1`, `1..2`, `0.8.21.r2`, `-r`, a missing leading number) are read leniently,
//! ordered as osv-scalibr's Alpine vectors expect. [`is_valid`] stays strict.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    /// Lenient only: a letter after a dot (`0.8.21.r2`), which sorts below the same letter
    /// without the dot.
    DottedLetter,
    Suffix,
    CommitHash,
    Revision,
    End,
    Invalid,
}

const SUFFIXES: &[&str] = &[
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
/// Index of the plain release in [`SUFFIXES`]: lower ones are pre-releases.
const RELEASE: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    /// Digits, the letter, the hash, or the suffix's number.
    value: &'a str,
    suffix: usize,
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
    last: Kind,
    /// Validity checks follow apk-tools' grammar exactly; comparisons read the lenient
    /// forms real advisories contain (`1.9.5p1`, `1..2`, `-r`).
    strict: bool,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s,
            pos: 0,
            last: Kind::InitialDigit,
            strict: false,
        }
    }

    fn digits(&mut self) -> &'a str {
        let start = self.pos;
        let b = self.s.as_bytes();
        while self.pos < b.len() && b[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn token(&mut self, kind: Kind, value: &'a str, suffix: usize) -> Token<'a> {
        self.last = kind;
        Token {
            kind,
            value,
            suffix,
        }
    }

    fn invalid(&mut self) -> Token<'a> {
        self.token(Kind::Invalid, "", 0)
    }

    fn first(&mut self) -> Token<'a> {
        let d = self.digits();
        // Leniently, a missing leading number (`.1`, `c`) counts as zero.
        if d.is_empty() && self.strict {
            self.invalid()
        } else {
            self.token(Kind::InitialDigit, d, 0)
        }
    }

    fn next(&mut self) -> Token<'a> {
        let b = self.s.as_bytes();
        let Some(&c) = b.get(self.pos) else {
            return self.token(Kind::End, "", 0);
        };
        match c {
            b'a'..=b'z' => {
                if self.last > Kind::Digit {
                    return self.invalid();
                }
                self.pos += 1;
                self.token(Kind::Letter, &self.s[self.pos - 1..self.pos], 0)
            }
            // A number right after a letter (`1.9.5p1`) continues the version.
            b'0'..=b'9'
                if matches!(self.last, Kind::Letter | Kind::DottedLetter) && !self.strict =>
            {
                let d = self.digits();
                self.token(Kind::Digit, d, 0)
            }
            b'.' => {
                if self.last > Kind::Digit {
                    return self.invalid();
                }
                if let Some(b'a'..=b'z') = b.get(self.pos + 1)
                    && !self.strict
                {
                    self.pos += 2;
                    return self.token(Kind::DottedLetter, &self.s[self.pos - 1..self.pos], 0);
                }
                self.pos += 1;
                // An empty number (`1..2`) counts as zero when comparing.
                let d = self.digits();
                if d.is_empty() && self.strict {
                    return self.invalid();
                }
                self.token(Kind::Digit, d, 0)
            }
            b'_' => {
                if self.last > Kind::Suffix {
                    return self.invalid();
                }
                self.pos += 1;
                let start = self.pos;
                while self.pos < b.len() && b[self.pos].is_ascii_lowercase() {
                    self.pos += 1;
                }
                let name = &self.s[start..self.pos];
                match SUFFIXES.iter().position(|s| !s.is_empty() && *s == name) {
                    Some(i) => {
                        let n = self.digits();
                        self.token(Kind::Suffix, n, i)
                    }
                    None => self.invalid(),
                }
            }
            b'~' => {
                if self.last >= Kind::CommitHash {
                    return self.invalid();
                }
                self.pos += 1;
                let start = self.pos;
                while self.pos < b.len() && b[self.pos].is_ascii_hexdigit() {
                    self.pos += 1;
                }
                if self.pos == start && self.strict {
                    return self.invalid();
                }
                self.token(Kind::CommitHash, &self.s[start..self.pos], 0)
            }
            b'-' if self.s[self.pos..].starts_with("-r") && self.last < Kind::Revision => {
                // `-r` followed by a word (`1-ruff`) is no revision.
                if b.get(self.pos + 2).is_some_and(u8::is_ascii_alphabetic) {
                    return self.invalid();
                }
                self.pos += 2;
                let d = self.digits();
                if d.is_empty() && self.strict {
                    return self.invalid();
                }
                self.token(Kind::Revision, d, 0)
            }
            _ => self.invalid(),
        }
    }
}

fn cmp_tokens(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Digit if a.value.starts_with('0') || b.value.starts_with('0') => a.value.cmp(b.value),
        Kind::InitialDigit | Kind::Digit | Kind::Revision => cmp_digits(a.value, b.value),
        Kind::Letter | Kind::DottedLetter => a.value.cmp(b.value),
        // A commit hash compares as text, byte by byte, the shorter first on a tie
        // (apk-tools' apk_blob_sort), and before the revision.
        Kind::CommitHash => a.value.cmp(b.value),
        Kind::Suffix => a
            .suffix
            .cmp(&b.suffix)
            .then_with(|| cmp_digits(a.value, b.value)),
        _ => Ordering::Equal,
    }
}

fn compare(a: &str, b: &str) -> Ordering {
    let (mut la, mut lb) = (Lexer::new(a), Lexer::new(b));
    let (mut ta, mut tb) = (la.first(), lb.first());
    while ta.kind == tb.kind {
        if matches!(ta.kind, Kind::End | Kind::Invalid) {
            return Ordering::Equal;
        }
        let o = cmp_tokens(&ta, &tb);
        if o != Ordering::Equal {
            return o;
        }
        ta = la.next();
        tb = lb.next();
    }
    // Equal up to here: the longer version is greater unless it goes on with a pre-release.
    if ta.kind == Kind::Suffix && ta.suffix < RELEASE {
        return Ordering::Less;
    }
    if tb.kind == Kind::Suffix && tb.suffix < RELEASE {
        return Ordering::Greater;
    }
    tb.kind.cmp(&ta.kind)
}

/// Whether a string is a valid apk version.
pub fn is_valid(s: &str) -> bool {
    let mut l = Lexer::new(s);
    l.strict = true;
    let mut t = l.first();
    loop {
        match t.kind {
            Kind::End => return true,
            Kind::Invalid => return false,
            _ => t = l.next(),
        }
    }
}

/// apk's fuzzy match (`~`): `a` matches `b` when `b`'s parts are a prefix of `a`'s.
pub fn fuzzy_matches(a: &str, b: &str) -> bool {
    let (mut la, mut lb) = (Lexer::new(a), Lexer::new(b));
    let (mut ta, mut tb) = (la.first(), lb.first());
    loop {
        if tb.kind == Kind::End {
            return true;
        }
        if ta.kind != tb.kind
            || matches!(ta.kind, Kind::End | Kind::Invalid)
            || cmp_tokens(&ta, &tb) != Ordering::Equal
        {
            return false;
        }
        ta = la.next();
        tb = lb.next();
    }
}

#[derive(Debug, Clone)]
pub struct ApkVersion(String);

impl ApkVersion {
    /// Keeps any string that starts like a version (a digit, a dot or a lowercase letter):
    /// apk-tools compares invalid versions too, and advisories contain some.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        if !s
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'.')
        {
            return Err(VersionError::new(
                Scheme::Apk,
                input,
                "an apk version starts with a digit",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

crate::ord_eq!(ApkVersion);

#[cfg(test)]
mod tests {
    use super::*;

    /// apk-tools' own vectors for the commit-hash part (test/unit/version.data).
    #[test]
    fn commit_hashes_order_before_revisions() {
        let c = |a, b| compare(a, b);
        assert_eq!(c("1.0~1234", "1.0~2345"), Ordering::Less);
        assert_eq!(c("1.0~2345", "1.0~1234"), Ordering::Greater);
        assert_eq!(c("1.0~1234-r1", "1.0~2345-r0"), Ordering::Less);
        assert_eq!(c("1.0~1234-r1", "1.0~1234-r0"), Ordering::Greater);
        assert_eq!(c("1.0~abc", "1.0~abc"), Ordering::Equal);
        assert_eq!(c("1.0~ab", "1.0~abc"), Ordering::Less);
        assert!(is_valid("0.1_pre2~1234abcd"));
        for bad in ["0.1_pre2~", "0.1_pre2~1234xbcd", "0.1_pre2~1234abcd_pre1"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
