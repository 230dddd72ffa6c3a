//! Maven versions, ordered as Maven's `ComparableVersion` (3.9 and later): items split on
//! `.`, `-` and digit/letter transitions; a qualifier followed by a number forms a
//! combination (`rc1`, `x-1`); qualifiers order alpha < beta < milestone < rc < snapshot <
//! release (`""`, `ga`, `final`, `release`) < sp < anything else, alphabetically; null
//! items (0, release, empty lists) are dropped where they cannot matter.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone)]
enum Item {
    /// Digits without leading zeros ("" is zero).
    Int(String),
    Str(String),
    /// A qualifier and a number: `rc1`.
    Combination(String, String),
    List(Vec<Item>),
}

const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE: &[&str] = &["ga", "final", "release"];

fn comparable_qualifier(q: &str) -> String {
    if RELEASE.contains(&q) {
        return "5".to_owned();
    }
    match QUALIFIERS.iter().position(|x| *x == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn string_value(value: &str, followed_by_digit: bool) -> String {
    let value = if followed_by_digit && value.len() == 1 {
        match value {
            "a" => "alpha",
            "b" => "beta",
            "m" => "milestone",
            v => v,
        }
    } else {
        value
    };
    if value == "cr" {
        "rc".to_owned()
    } else {
        value.to_owned()
    }
}

fn digits(buf: &str) -> String {
    buf.trim_start_matches('0').to_owned()
}

fn parse_item(combination: bool, is_digit: bool, buf: &str) -> Item {
    if combination {
        let v = buf.replace('-', "");
        let split = v.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
        Item::Combination(string_value(&v[..split], true), digits(&v[split..]))
    } else if is_digit {
        Item::Int(digits(buf))
    } else {
        Item::Str(string_value(buf, false))
    }
}

fn cmp_str_null(s: &str) -> Ordering {
    comparable_qualifier(s).cmp(&comparable_qualifier(""))
}

fn cmp_str(a: &str, b: &str) -> Ordering {
    comparable_qualifier(a).cmp(&comparable_qualifier(b))
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Self::Int(d) => d.is_empty(),
            Self::Str(s) => s.is_empty(),
            Self::Combination(..) => false,
            Self::List(l) => l.is_empty(),
        }
    }

    /// Compared with a missing item (the shorter version's padding).
    fn cmp_null(&self) -> Ordering {
        match self {
            Self::Int(d) => {
                if d.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Self::Str(s) | Self::Combination(s, _) => cmp_str_null(s),
            Self::List(l) => l
                .iter()
                .map(Item::cmp_null)
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal),
        }
    }

    fn cmp(&self, other: &Item) -> Ordering {
        use Item::*;
        match (self, other) {
            (Int(a), Int(b)) => cmp_digits(a, b),
            (Int(_), _) => Ordering::Greater,
            (Str(_) | Combination(..), Int(_)) => Ordering::Less,
            (Str(a), Str(b)) => cmp_str(a, b),
            (Str(a), Combination(b, _)) => match cmp_str(a, b) {
                Ordering::Equal => Ordering::Less,
                o => o,
            },
            (Combination(a, _), Str(b)) => match cmp_str(a, b) {
                Ordering::Equal => Ordering::Greater,
                o => o,
            },
            (Combination(a, x), Combination(b, y)) => cmp_str(a, b).then_with(|| cmp_digits(x, y)),
            (Str(_) | Combination(..), List(_)) => Ordering::Less,
            (List(_), Int(_)) => Ordering::Less,
            (List(_), Str(_) | Combination(..)) => Ordering::Greater,
            (List(a), List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for k in 0..a.len().max(b.len()) {
        let o = match (a.get(k), b.get(k)) {
            (None, None) => Ordering::Equal,
            (None, Some(r)) => r.cmp_null().reverse(),
            (Some(l), None) => l.cmp_null(),
            (Some(l), Some(r)) => l.cmp(r),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Drops null items that are last, or followed by a qualifier (or a list starting with one).
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if !list[i].is_null() {
            continue;
        }
        let drop = match list.get(i + 1) {
            None | Some(Item::Str(_)) => true,
            Some(Item::List(next)) => {
                matches!(next.first(), Some(Item::Str(_) | Item::Combination(..)))
            }
            _ => false,
        };
        if drop {
            list.remove(i);
        }
    }
}

#[derive(Debug, Clone)]
pub struct MavenVersion {
    items: Vec<Item>,
}

/// The list being filled is always the last one on the stack; each new sub-list is the
/// last item of its parent, so the stack is folded back at the end.
struct Builder {
    stack: Vec<Vec<Item>>,
}

impl Builder {
    fn top(&mut self) -> &mut Vec<Item> {
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    fn push(&mut self, item: Item) {
        self.top().push(item);
    }

    fn open(&mut self) {
        self.stack.push(Vec::new());
    }

    fn finish(mut self) -> Vec<Item> {
        while self.stack.len() > 1 {
            let mut child = self.stack.pop().unwrap_or_default();
            normalize(&mut child);
            self.push(Item::List(child));
        }
        let mut root = self.stack.pop().unwrap_or_default();
        normalize(&mut root);
        root
    }
}

impl MavenVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let version = input.trim().to_lowercase();
        if version.is_empty() {
            return Err(VersionError::new(Scheme::Maven, input, "empty version"));
        }
        let chars: Vec<char> = version.chars().collect();
        let sub = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        let mut b = Builder {
            stack: vec![Vec::new()],
        };
        let mut is_digit = false;
        let mut combination = false;
        let mut start = 0;
        for (i, &c) in chars.iter().enumerate() {
            if c == '.' {
                let item = if i == start {
                    Item::Int(String::new())
                } else {
                    parse_item(combination, is_digit, &sub(start, i))
                };
                b.push(item);
                combination = false;
                start = i + 1;
            } else if c == '-' {
                if i == start {
                    b.push(Item::Int(String::new()));
                } else {
                    // `x-1` reads as the combination `x1`.
                    if !is_digit && i + 1 < chars.len() && chars[i + 1].is_ascii_digit() {
                        combination = true;
                        continue;
                    }
                    b.push(parse_item(combination, is_digit, &sub(start, i)));
                }
                start = i + 1;
                if !b.top().is_empty() {
                    b.open();
                }
                combination = false;
            } else if c.is_ascii_digit() {
                if !is_digit && i > start {
                    combination = true;
                    if !b.top().is_empty() {
                        b.open();
                    }
                }
                is_digit = true;
            } else {
                if is_digit && i > start {
                    b.push(parse_item(combination, true, &sub(start, i)));
                    start = i;
                    b.open();
                    combination = false;
                }
                is_digit = false;
            }
        }
        if chars.len() > start {
            // `1.0.0.x1` < `1.0.0-x2`: a trailing qualifier after a dot starts a sub-list.
            if !is_digit && !b.top().is_empty() {
                b.open();
            }
            b.push(parse_item(combination, is_digit, &sub(start, chars.len())));
        }
        Ok(Self { items: b.finish() })
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

crate::ord_eq!(MavenVersion);
