//! Severity: every rating known for a finding's ids, and the one the rule chooses.
//!
//! The rule, in order: the distro's own rating of its package where it rated it (Debian
//! urgency other than "not yet assigned", `unimportant` being NEGLIGIBLE; Ubuntu
//! priority); else NVD's own analysis, then the CNA's, then CISA's ADP, then GitHub's
//! advisory, then any other OSV record's. Within one source the newest CVSS version counts
//! (4.0, 3.1, 3.0, 2.0), then the highest base score; a source with no CVSS vector counts
//! by its qualitative rating. Nothing rated: UNKNOWN.

use std::str::FromStr;

use ferret_advisory::{Advisory, KnownFact};
pub use ferret_model::Severity;
use ferret_model::{CveFact, Epss, Kev, RatingSource, RawRating, SourceRating};
use serde::{Deserialize, Serialize};

use crate::Finding;

/// A finding's severity, the rating that decided it, and every rating known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub severity: Severity,
    /// The rating that decided the severity; `None` when nothing rated the finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<SourceRating>,
    /// Every rating of the finding's ids, in the rule's order.
    pub ratings: Vec<SourceRating>,
}

impl Rating {
    pub fn unknown() -> Self {
        Self {
            severity: Severity::Unknown,
            chosen: None,
            ratings: Vec::new(),
        }
    }

    /// The CVSS ratings, in the rule's order.
    pub fn cvss(&self) -> impl Iterator<Item = &SourceRating> {
        self.ratings.iter().filter(|r| r.vector.is_some())
    }
}

/// Parses a CVSS vector: (version, base score). v2 vectors carry no prefix (some feeds add
/// `CVSS:2.0/` or parentheses anyway).
pub fn parse_cvss(vector: &str) -> Option<(&'static str, f64)> {
    let v = vector.trim();
    let parsed = if v.starts_with("CVSS:3") || v.starts_with("CVSS:4") {
        cvss::Cvss::from_str(v).ok()?
    } else {
        let bare = v.strip_prefix("CVSS:2.0/").unwrap_or(v);
        let bare = bare.trim_start_matches('(').trim_end_matches(')');
        cvss::Cvss::from_str(bare).ok()?
    };
    let version = match parsed {
        cvss::Cvss::CvssV20(_) => "2.0",
        cvss::Cvss::CvssV30(_) => "3.0",
        cvss::Cvss::CvssV31(_) => "3.1",
        cvss::Cvss::CvssV40(_) => "4.0",
        _ => return None,
    };
    Some((version, parsed.score()))
}

/// A stated rating with its severity decided: the band of its base score (stated, or
/// computed from the vector), else its qualitative rating. `None` when it says nothing
/// usable (a vector that does not parse and no qualitative, "not yet assigned").
pub fn decide(id: &str, raw: &RawRating) -> Option<SourceRating> {
    let parsed = raw.vector.as_deref().and_then(parse_cvss);
    let score = raw.score.or(parsed.map(|p| p.1));
    let version = raw
        .cvss_version
        .clone()
        .or(parsed.map(|p| p.0.to_owned()))
        .filter(|_| score.is_some());
    let severity = match score {
        Some(s) => Severity::from_cvss(s),
        None => Severity::from_qualitative(raw.qualitative.as_deref()?)?,
    };
    Some(SourceRating {
        source: raw.source,
        by: raw.by.clone(),
        id: id.to_owned(),
        severity,
        cvss_version: version,
        vector: raw.vector.clone().filter(|_| score.is_some()),
        score,
        qualitative: raw.qualitative.clone(),
    })
}

/// The distro's rating of its package (`debian`, `medium`), when it rated it.
pub fn vendor_rating(distro: &str, id: &str, rating: &str) -> Option<SourceRating> {
    Some(SourceRating {
        source: RatingSource::Vendor,
        by: distro.to_owned(),
        id: id.to_owned(),
        severity: Severity::from_qualitative(rating)?,
        cvss_version: None,
        vector: None,
        score: None,
        qualitative: Some(rating.to_owned()),
    })
}

/// The ratings a matched record states itself (GHSA or other OSV).
pub fn record_ratings(a: &Advisory) -> Vec<SourceRating> {
    ferret_advisory::record_ratings(a)
        .iter()
        .filter_map(|r| decide(&a.id, r))
        .collect()
}

/// The rule's order: source, then CVSS before qualitative, newest CVSS version, highest
/// score, most severe; then who and which id, for a stable order.
fn rule_order(a: &SourceRating, b: &SourceRating) -> std::cmp::Ordering {
    let generation = |r: &SourceRating| {
        r.cvss_version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|g| g.parse::<u8>().ok())
    };
    a.source
        .cmp(&b.source)
        .then_with(|| generation(b).cmp(&generation(a)))
        .then_with(|| b.cvss_version.cmp(&a.cvss_version))
        .then_with(|| b.score.unwrap_or(-1.0).total_cmp(&a.score.unwrap_or(-1.0)))
        .then_with(|| b.severity.cmp(&a.severity))
        .then_with(|| a.by.cmp(&b.by))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.vector.cmp(&b.vector))
        .then_with(|| a.qualitative.cmp(&b.qualitative))
}

/// Orders the ratings by the rule, drops repeats (one rating stated under two ids is kept
/// once), and chooses.
pub fn choose(mut ratings: Vec<SourceRating>) -> Rating {
    ratings.sort_by(rule_order);
    let mut seen = std::collections::HashSet::new();
    ratings.retain(|r| {
        seen.insert((
            r.source,
            r.by.clone(),
            r.cvss_version.clone(),
            r.vector.clone(),
            r.qualitative.clone(),
        ))
    });
    let chosen = ratings.first().cloned();
    Rating {
        severity: chosen.as_ref().map_or(Severity::Unknown, |c| c.severity),
        chosen,
        ratings,
    }
}

/// Adds what the CVE feeds say about a finding's ids: their ratings (then the severity is
/// chosen again), KEV membership, and the highest EPSS score of its ids.
pub fn apply_facts<'a>(finding: &mut Finding, facts: impl IntoIterator<Item = &'a KnownFact>) {
    let mut ratings = std::mem::take(&mut finding.rating.ratings);
    for fact in facts {
        match &fact.fact {
            CveFact::Ratings(raw) => {
                ratings.extend(raw.iter().filter_map(|r| decide(&fact.id, r)));
            }
            CveFact::Kev(k) => {
                let earlier = |old: &Kev| old.date_added <= k.date_added;
                if !finding.kev.as_ref().is_some_and(earlier) {
                    finding.kev = Some(k.clone());
                }
            }
            CveFact::Epss(e) => {
                let higher = |old: &Epss| old.score >= e.score;
                if !finding.epss.as_ref().is_some_and(higher) {
                    finding.epss = Some(e.clone());
                }
            }
        }
    }
    finding.rating = choose(ratings);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(source: RatingSource, vector: Option<&str>, qualitative: Option<&str>) -> RawRating {
        RawRating {
            source,
            by: source.as_str().to_owned(),
            cvss_version: None,
            vector: vector.map(str::to_owned),
            score: None,
            qualitative: qualitative.map(str::to_owned),
        }
    }

    fn rated(items: &[RawRating], vendor: Option<&str>) -> Rating {
        let mut all: Vec<SourceRating> = items.iter().filter_map(|r| decide("CVE-1", r)).collect();
        all.extend(vendor.and_then(|v| vendor_rating("debian", "CVE-1", v)));
        choose(all)
    }

    #[test]
    fn bands() {
        assert_eq!(Severity::from_cvss(9.0), Severity::Critical);
        assert_eq!(Severity::from_cvss(8.9), Severity::High);
        assert_eq!(Severity::from_cvss(7.0), Severity::High);
        assert_eq!(Severity::from_cvss(4.0), Severity::Medium);
        assert_eq!(Severity::from_cvss(3.9), Severity::Low);
        assert_eq!(Severity::from_cvss(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss(0.0), Severity::Negligible);
    }

    const CRIT_31: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    const LOW_31: &str = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N";

    #[test]
    fn the_vendor_rating_wins_unless_it_says_nothing() {
        let nvd = raw(RatingSource::Nvd, Some(CRIT_31), None);
        let r = rated(std::slice::from_ref(&nvd), Some("unimportant"));
        assert_eq!(r.severity, Severity::Negligible);
        assert_eq!(r.chosen.as_ref().unwrap().source, RatingSource::Vendor);
        assert_eq!(r.ratings[1].score, Some(9.8));
        let r = rated(&[nvd], Some("not yet assigned"));
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.chosen.unwrap().label(), "nvd 3.1");
    }

    #[test]
    fn sources_in_order_then_the_newest_version() {
        let v2 = "AV:N/AC:L/Au:N/C:C/I:C/A:C";
        let items = [
            raw(RatingSource::Ghsa, Some(CRIT_31), Some("CRITICAL")),
            raw(RatingSource::Cna, Some(CRIT_31), None),
            raw(RatingSource::Nvd, Some(v2), None),
            raw(RatingSource::Nvd, Some(LOW_31), None),
        ];
        let r = rated(&items, None);
        // NVD first, and its v3.1 over its v2 (10.0) whatever the numbers.
        assert_eq!(r.severity, Severity::Low);
        assert_eq!(r.ratings.len(), 4);
        assert_eq!(r.ratings[1].cvss_version.as_deref(), Some("2.0"));
        assert_eq!(r.ratings[1].score, Some(10.0));
        // Without NVD, the CNA.
        let r = rated(&items[..2], None);
        assert_eq!(r.chosen.unwrap().source, RatingSource::Cna);
    }

    #[test]
    fn cvss_v4_qualitative_and_nothing() {
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let r = rated(&[raw(RatingSource::Cna, Some(v4), None)], None);
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.ratings[0].cvss_version.as_deref(), Some("4.0"));
        assert_eq!(r.ratings[0].score, Some(9.3));
        let r = rated(
            &[raw(RatingSource::Ghsa, Some("garbage"), Some("MODERATE"))],
            None,
        );
        assert_eq!(r.severity, Severity::Medium);
        assert_eq!(r.ratings[0].vector, None);
        assert_eq!(rated(&[], None), Rating::unknown());
        assert_eq!(
            rated(&[raw(RatingSource::Osv, Some("garbage"), None)], None).severity,
            Severity::Unknown
        );
    }

    #[test]
    fn one_rating_under_two_ids_is_kept_once() {
        let r = raw(RatingSource::Ghsa, Some(CRIT_31), None);
        let all = vec![decide("CVE-1", &r).unwrap(), decide("GHSA-x", &r).unwrap()];
        assert_eq!(choose(all).ratings.len(), 1);
    }

    #[test]
    fn names_round_trip() {
        for s in Severity::DESCENDING {
            assert_eq!(s.as_str().to_lowercase().parse::<Severity>(), Ok(s));
        }
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(Severity::from_qualitative("low**"), Some(Severity::Low));
    }
}
