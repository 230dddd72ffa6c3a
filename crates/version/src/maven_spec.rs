//! Maven versions ordered by the text of Maven's *Version Order Specification*
//! (maven.apache.org/pom.html), the ordering OSV's tools apply to the `Maven` ecosystem.
//! On real advisory versions it agrees with Maven 3.8's `ComparableVersion`; it differs
//! from Maven 3.9+ where 3.9 changed the rules (a `.qualifier` after a number, `-ga-1`).
//!
//! A version is a list of tokens, each with the separator before it. Tokens split on `.`,
//! `-` and digit/non-digit transitions (a transition counts as `-`); empty tokens are `0`;
//! `cr` is `rc`; `ga`, `final` and `release` are the empty qualifier; `a`, `b`, `m` right
//! before a number are `alpha`, `beta`, `milestone`. Trailing nulls (`0`, empty) are
//! trimmed from the end and again before each remaining `-`, from end to start.
//!
//! Tokens compare left to right; the shorter version is padded with nulls taking the
//! other side's separator (`.0`, or `.` with an empty value against `.sp`; `-` empty).
//! With equal separators: numbers by value, a real number above any qualifier, then
//! alpha < beta < milestone < rc < snapshot < "" < sp < other qualifiers (alphabetical).
//! With different separators: `.qualifier` < `-qualifier` < `-number` < `.number`.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// The first token.
    Start,
    Dot,
    Dash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    sep: Sep,
    /// Numbers without leading zeros; qualifiers lowercased and with aliases applied.
    text: String,
}

impl Token {
    fn is_null(&self) -> bool {
        self.text.is_empty() || self.text == "0"
    }
}

/// A token or the null padding that stands in for a missing one.
struct Slot<'a> {
    sep: Sep,
    text: &'a str,
    padding: bool,
}

impl Slot<'_> {
    fn is_number(&self) -> bool {
        !self.text.is_empty() && self.text.bytes().all(|b| b.is_ascii_digit())
    }

    fn rank_across_separators(&self) -> u8 {
        match (self.sep, self.is_number()) {
            (Sep::Dash, false) => 1,
            (Sep::Dash, true) => 2,
            (_, true) => 3,
            (_, false) => 0,
        }
    }
}

const KEYWORDS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn keyword_rank(q: &str) -> usize {
    KEYWORDS
        .iter()
        .position(|k| *k == q)
        .unwrap_or(KEYWORDS.len())
}

fn cmp_slots(l: &Slot<'_>, r: &Slot<'_>) -> Ordering {
    if l.sep != r.sep {
        return l.rank_across_separators().cmp(&r.rank_across_separators());
    }
    match (l.is_number(), r.is_number()) {
        (true, true) => return cmp_digits(l.text, r.text),
        // A number is above a qualifier, unless it is only padding.
        (true, _) if !l.padding => return Ordering::Greater,
        (_, true) if !r.padding => return Ordering::Less,
        _ => {}
    }
    let (kl, kr) = (keyword_rank(l.text), keyword_rank(r.text));
    if kl == KEYWORDS.len() && kr == KEYWORDS.len() {
        l.text.cmp(r.text)
    } else {
        kl.cmp(&kr)
    }
}

fn padding_for(other: &Token) -> Slot<'static> {
    match other.sep {
        Sep::Dash => Slot {
            sep: Sep::Dash,
            text: "",
            padding: true,
        },
        // Only `sp` sorts after the empty qualifier, so `.sp` is padded with that.
        Sep::Dot | Sep::Start => Slot {
            sep: other.sep,
            text: if other.text == "sp" { "" } else { "0" },
            padding: true,
        },
    }
}

#[derive(Debug, Clone)]
pub struct MavenSpecVersion {
    tokens: Vec<Token>,
}

impl MavenSpecVersion {
    /// Every string reads as some version, as in Maven.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(VersionError::new(Scheme::MavenSpec, input, "empty version"));
        }
        let mut tokens = Vec::new();
        let mut sep = Sep::Start;
        for chunk in s.split_inclusive(['.', '-']) {
            let (part, next) = match chunk.as_bytes()[chunk.len() - 1] {
                b'.' => (&chunk[..chunk.len() - 1], Sep::Dot),
                b'-' => (&chunk[..chunk.len() - 1], Sep::Dash),
                _ => (chunk, Sep::Start),
            };
            push_part(&mut tokens, sep, part);
            sep = next;
        }
        // A trailing separator ends with an empty token.
        if sep != Sep::Start {
            push_part(&mut tokens, sep, "");
        }
        trim_nulls(&mut tokens);
        Ok(Self { tokens })
    }
}

/// Splits one `.`/`-`-separated part at its digit/non-digit transitions.
fn push_part(tokens: &mut Vec<Token>, sep: Sep, part: &str) {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_digit = None;
    for (i, c) in part.char_indices() {
        let digit = c.is_ascii_digit();
        if prev_digit.is_some_and(|p| p != digit) {
            pieces.push(&part[start..i]);
            start = i;
        }
        prev_digit = Some(digit);
    }
    pieces.push(&part[start..]);
    let last = pieces.len() - 1;
    for (j, piece) in pieces.into_iter().enumerate() {
        let lower = piece.to_lowercase();
        let text = match lower.as_str() {
            "" => "0".to_owned(),
            "cr" => "rc".to_owned(),
            "ga" | "final" | "release" => String::new(),
            "a" if j < last => "alpha".to_owned(),
            "b" if j < last => "beta".to_owned(),
            "m" if j < last => "milestone".to_owned(),
            p if p.bytes().all(|b| b.is_ascii_digit()) => {
                let t = p.trim_start_matches('0');
                if t.is_empty() { "0" } else { t }.to_owned()
            }
            _ => lower,
        };
        tokens.push(Token {
            sep: if j == 0 { sep } else { Sep::Dash },
            text,
        });
    }
}

/// Trims trailing nulls, then again before each remaining `-` token, from end to start;
/// the first token always stays.
fn trim_nulls(tokens: &mut Vec<Token>) {
    let mut i = tokens.len() - 1;
    while i > 0 {
        if tokens[i].is_null() {
            tokens.remove(i);
            i -= 1;
            continue;
        }
        while i > 0 && tokens[i].sep != Sep::Dash {
            i -= 1;
        }
        // Step over the `-` token that ends the next group to trim.
        i = i.saturating_sub(1);
    }
}

impl Ord for MavenSpecVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.tokens, &other.tokens);
        for i in 0..a.len().max(b.len()) {
            let l = a.get(i).map_or_else(
                || padding_for(&b[i]),
                |t| Slot {
                    sep: t.sep,
                    text: &t.text,
                    padding: false,
                },
            );
            let r = b.get(i).map_or_else(
                || padding_for(&a[i]),
                |t| Slot {
                    sep: t.sep,
                    text: &t.text,
                    padding: false,
                },
            );
            if l.sep == r.sep && l.text == r.text {
                continue;
            }
            return cmp_slots(&l, &r);
        }
        Ordering::Equal
    }
}

crate::ord_eq!(MavenSpecVersion);
