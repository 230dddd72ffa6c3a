//! Whether an installed version is affected by one affected-package entry, and why.
//!
//! OSV semantics: a version is affected when it is listed in `versions`, or when some
//! SEMVER/ECOSYSTEM range contains it. A range's events are taken in version order
//! (`introduced: 0` first); `introduced` opens the range (inclusive), `fixed` and `limit`
//! close it (exclusive), `last_affected` closes it after that version (inclusive). A
//! vendor's fix state (Debian tracker, secdb) then says how the finding stands.

use std::cmp::Ordering;

use ferret_advisory::{Affected, Event, FixState, RangeKind};
use ferret_version::{Scheme, Version, VersionError};
use serde::{Deserialize, Serialize};

/// Why a version matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Reason {
    /// Inside a range: the events that bound it around the installed version.
    Range {
        range_type: String,
        introduced: String,
        /// The event closing the range above the installed version, as `fixed X`,
        /// `last_affected X` or `limit X`; `None` when nothing closes it.
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// Listed in the entry's `versions`.
    Listed,
}

/// How a finding stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "versions")]
pub enum Fix {
    /// Fixed in these versions (the lowest above the installed one first).
    Fixed(Vec<String>),
    NotFixed,
    WillNotFix,
}

/// The outcome for one affected entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Affected { reason: Reason, fix: Fix },
    NotAffected,
}

/// Evaluates `installed` against `entry`, with `scheme` ordering ECOSYSTEM ranges (SEMVER
/// ranges use SemVer). A version string that does not parse in a range's scheme is an
/// error: the caller reports the package as not matched, with the reason.
pub fn evaluate(
    scheme: Scheme,
    installed: &str,
    entry: &Affected,
) -> Result<Verdict, VersionError> {
    if entry.fix_state == Some(FixState::NotAffected) {
        return Ok(Verdict::NotAffected);
    }
    let mut reason = None;
    let mut fixes: Vec<(Version, String)> = Vec::new();
    for range in &entry.ranges {
        let (range_scheme, range_type) = match range.kind {
            RangeKind::Semver => (Scheme::Semver, "SEMVER"),
            RangeKind::Ecosystem => (scheme, "ECOSYSTEM"),
        };
        let v = range_scheme.parse(installed)?;
        if let Some((introduced, until)) = in_range(range_scheme, &v, &range.events)? {
            reason.get_or_insert(Reason::Range {
                range_type: range_type.to_owned(),
                introduced,
                until: until.clone(),
            });
            for e in &range.events {
                if let Event::Fixed(f) = e {
                    let fv = range_scheme.parse(f)?;
                    if cmp(&fv, &v) == Ordering::Greater {
                        fixes.push((fv, f.clone()));
                    }
                }
            }
        }
    }
    if reason.is_none() && entry.versions.iter().any(|x| x == installed) {
        reason = Some(Reason::Listed);
    }
    let Some(reason) = reason else {
        return Ok(Verdict::NotAffected);
    };
    let fix = match &entry.fix_state {
        Some(FixState::WillNotFix) => Fix::WillNotFix,
        Some(FixState::NotFixed) => Fix::NotFixed,
        Some(FixState::Fixed(f)) => Fix::Fixed(vec![f.clone()]),
        Some(FixState::NotAffected) | None => {
            fixes.sort_by(|a, b| cmp(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
            fixes.dedup_by(|a, b| a.1 == b.1);
            if fixes.is_empty() {
                Fix::NotFixed
            } else {
                Fix::Fixed(fixes.into_iter().map(|(_, s)| s).collect())
            }
        }
    };
    Ok(Verdict::Affected { reason, fix })
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

/// The bounds around `v` when the range contains it: (introduced, closing event).
fn in_range(
    scheme: Scheme,
    v: &Version,
    events: &[Event],
) -> Result<Option<(String, Option<String>)>, VersionError> {
    // `introduced: 0` is below every version; other events by version, an introduction
    // before a closing event of the same version.
    let mut sorted: Vec<(Option<Version>, &Event)> = Vec::with_capacity(events.len());
    for e in events {
        let (text, zero_ok) = match e {
            Event::Introduced(x) => (x, true),
            Event::Fixed(x) | Event::LastAffected(x) | Event::Limit(x) => (x, false),
        };
        let parsed = if zero_ok && text == "0" {
            None
        } else if matches!(e, Event::Limit(_)) && text == "*" {
            continue;
        } else {
            Some(scheme.parse(text)?)
        };
        sorted.push((parsed, e));
    }
    sorted.sort_by(|(a, ea), (b, eb)| {
        let by_version = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => cmp(a, b),
        };
        let rank = |e: &Event| u8::from(!matches!(e, Event::Introduced(_)));
        by_version.then(rank(ea).cmp(&rank(eb)))
    });
    // Events at or below `v` set the state; the first one above it ends the walk.
    let mut open: Option<String> = None;
    let mut above = sorted.len();
    for (i, (ev, e)) in sorted.iter().enumerate() {
        let ord = ev.as_ref().map_or(Ordering::Less, |x| cmp(x, v));
        match e {
            Event::Introduced(x) if ord != Ordering::Greater => open = Some(x.clone()),
            Event::Fixed(_) | Event::Limit(_) if ord != Ordering::Greater => open = None,
            Event::LastAffected(_) if ord == Ordering::Less => open = None,
            _ => {
                above = i;
                break;
            }
        }
    }
    Ok(open.map(|o| (o, closing(&sorted[above..]))))
}

/// The first closing event among those above the installed version.
fn closing(rest: &[(Option<Version>, &Event)]) -> Option<String> {
    rest.iter().find_map(|(_, e)| match e {
        Event::Fixed(x) => Some(format!("fixed {x}")),
        Event::LastAffected(x) => Some(format!("last_affected {x}")),
        Event::Limit(x) => Some(format!("limit {x}")),
        Event::Introduced(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_advisory::{Ecosystem, Namespace, Range};

    fn entry(events: Vec<Event>, versions: &[&str], state: Option<FixState>) -> Affected {
        Affected {
            namespace: Namespace::new(Ecosystem::PyPI, ""),
            name: "pkg".into(),
            purl: None,
            ranges: if events.is_empty() {
                Vec::new()
            } else {
                vec![Range {
                    kind: RangeKind::Ecosystem,
                    events,
                }]
            },
            versions: versions.iter().map(|s| s.to_string()).collect(),
            fix_state: state,
            severity: None,
            arches: Vec::new(),
            platforms: Vec::new(),
            imports: Vec::new(),
        }
    }

    fn intro(s: &str) -> Event {
        Event::Introduced(s.into())
    }
    fn fixed(s: &str) -> Event {
        Event::Fixed(s.into())
    }

    fn verdict(e: &Affected, v: &str) -> Verdict {
        evaluate(Scheme::Pep440, v, e).unwrap()
    }

    #[test]
    fn introduced_inclusive_fixed_exclusive() {
        let e = entry(vec![intro("1.0"), fixed("1.5")], &[], None);
        assert_eq!(verdict(&e, "0.9"), Verdict::NotAffected);
        assert_eq!(
            verdict(&e, "1.0"),
            Verdict::Affected {
                reason: Reason::Range {
                    range_type: "ECOSYSTEM".into(),
                    introduced: "1.0".into(),
                    until: Some("fixed 1.5".into())
                },
                fix: Fix::Fixed(vec!["1.5".into()])
            }
        );
        assert!(matches!(verdict(&e, "1.4.9"), Verdict::Affected { .. }));
        assert_eq!(verdict(&e, "1.5"), Verdict::NotAffected);
        assert_eq!(verdict(&e, "2.0"), Verdict::NotAffected);
    }

    #[test]
    fn several_introductions_and_fixes() {
        // Out of order on purpose: events are sorted by version.
        let e = entry(
            vec![fixed("2.3"), intro("0"), fixed("1.2"), intro("2.0")],
            &[],
            None,
        );
        assert!(
            matches!(verdict(&e, "1.1"), Verdict::Affected { fix: Fix::Fixed(ref f), .. } if f == &["1.2".to_string(), "2.3".to_string()])
        );
        assert_eq!(verdict(&e, "1.5"), Verdict::NotAffected);
        assert!(
            matches!(verdict(&e, "2.1"), Verdict::Affected { fix: Fix::Fixed(ref f), .. } if f == &["2.3".to_string()])
        );
        assert_eq!(verdict(&e, "2.3"), Verdict::NotAffected);
    }

    #[test]
    fn last_affected_is_inclusive() {
        let e = entry(
            vec![intro("0"), Event::LastAffected("1.4".into())],
            &[],
            None,
        );
        assert!(matches!(
            verdict(&e, "1.4"),
            Verdict::Affected {
                fix: Fix::NotFixed,
                ..
            }
        ));
        assert_eq!(verdict(&e, "1.4.1"), Verdict::NotAffected);
    }

    #[test]
    fn open_range_and_versions_list() {
        let e = entry(vec![intro("3.0")], &[], None);
        assert!(matches!(
            verdict(&e, "9.9"),
            Verdict::Affected {
                fix: Fix::NotFixed,
                ..
            }
        ));
        let e = entry(Vec::new(), &["1.0", "1.1"], None);
        assert_eq!(
            verdict(&e, "1.1"),
            Verdict::Affected {
                reason: Reason::Listed,
                fix: Fix::NotFixed
            }
        );
        assert_eq!(verdict(&e, "1.2"), Verdict::NotAffected);
    }

    #[test]
    fn vendor_fix_states() {
        let open = || vec![intro("0")];
        assert_eq!(
            verdict(&entry(open(), &[], Some(FixState::NotAffected)), "1.0"),
            Verdict::NotAffected
        );
        assert!(matches!(
            verdict(&entry(open(), &[], Some(FixState::WillNotFix)), "1.0"),
            Verdict::Affected {
                fix: Fix::WillNotFix,
                ..
            }
        ));
        let e = entry(
            vec![intro("0"), fixed("2.0")],
            &[],
            Some(FixState::Fixed("2.0".into())),
        );
        assert!(matches!(
            verdict(&e, "1.0"),
            Verdict::Affected {
                fix: Fix::Fixed(_),
                ..
            }
        ));
        assert_eq!(verdict(&e, "2.0"), Verdict::NotAffected);
    }

    #[test]
    fn dpkg_ranges_use_dpkg_order() {
        let mut e = entry(vec![intro("0"), fixed("1.2.3-1+deb12u1")], &[], None);
        e.namespace = Namespace::new(Ecosystem::Debian, "12");
        let v = |s| evaluate(Scheme::Dpkg, s, &e).unwrap();
        assert!(matches!(v("1.2.3-1"), Verdict::Affected { .. }));
        assert!(matches!(v("1.2.3-1+b1"), Verdict::Affected { .. }));
        assert_eq!(v("1.2.3-1+deb12u1"), Verdict::NotAffected);
        assert_eq!(v("1:0.1-1"), Verdict::NotAffected);
    }

    #[test]
    fn unparsable_versions_are_errors() {
        let mut e = entry(vec![intro("0"), fixed("1.0")], &[], None);
        e.namespace = Namespace::new(Ecosystem::Debian, "12");
        assert!(evaluate(Scheme::Dpkg, "not a version!", &e).is_err());
    }
}
