//! Severity ratings: the distro's own rating for its packages, else the CVSS base score of
//! the newest CVSS version the record carries, else a qualitative severity, else UNKNOWN.

use std::str::FromStr;

use ferret_advisory::{Score, ScoreKind};
pub use ferret_model::Severity;
use serde::{Deserialize, Serialize};

/// A CVSS vector of a record with its base score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    pub vector: String,
    pub base_score: f64,
}

impl CvssScore {
    /// Parses a record's score; `None` for non-CVSS kinds and vectors that do not parse.
    pub fn from_score(score: &Score) -> Option<Self> {
        let vector = score.score.trim();
        let parsed = match score.kind {
            // v2 vectors carry no prefix; some feeds add one anyway.
            ScoreKind::CvssV2 => {
                let bare = vector.strip_prefix("CVSS:2.0/").unwrap_or(vector);
                let bare = bare.trim_start_matches('(').trim_end_matches(')');
                cvss::Cvss::from_str(bare).ok()?
            }
            ScoreKind::CvssV3 | ScoreKind::CvssV4 => cvss::Cvss::from_str(vector).ok()?,
            ScoreKind::Ubuntu => return None,
        };
        let version = match parsed {
            cvss::Cvss::CvssV20(_) => "2.0",
            cvss::Cvss::CvssV30(_) => "3.0",
            cvss::Cvss::CvssV31(_) => "3.1",
            cvss::Cvss::CvssV40(_) => "4.0",
            _ => return None,
        };
        Some(Self {
            version: version.to_owned(),
            vector: vector.to_owned(),
            base_score: parsed.score(),
        })
    }

    /// 4 for v4, 3 for v3.0 and v3.1, 2 for v2: the generation that decides.
    fn generation(&self) -> u8 {
        self.version.as_bytes().first().map_or(0, |b| b - b'0')
    }
}

/// What decided a severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Basis {
    /// The distro's own rating of this package (Debian urgency, Ubuntu priority).
    Vendor {
        rating: String,
    },
    /// The highest base score of the newest CVSS version the record carries.
    Cvss {
        version: String,
        vector: String,
    },
    /// A qualitative severity the record states (GHSA's `database_specific.severity`).
    Qualitative {
        rating: String,
    },
    Unknown,
}

/// A finding's severity, why, and every CVSS score of the record for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub severity: Severity,
    pub basis: Basis,
    /// Newest version first, then highest score.
    pub cvss: Vec<CvssScore>,
}

/// Rates a finding. `vendor` is the distro's rating for the package (only for distro
/// packages); `scores` the record's severity entries; `qualitative` the record's or the
/// package entry's qualitative severity.
pub fn rate(vendor: Option<&str>, scores: &[Score], qualitative: Option<&str>) -> Rating {
    let mut cvss: Vec<CvssScore> = scores.iter().filter_map(CvssScore::from_score).collect();
    cvss.sort_by(|a, b| {
        b.generation()
            .cmp(&a.generation())
            .then(b.base_score.total_cmp(&a.base_score))
            .then_with(|| b.version.cmp(&a.version))
            .then_with(|| a.vector.cmp(&b.vector))
    });
    cvss.dedup();
    let (severity, basis) =
        if let Some((s, r)) = vendor.and_then(|r| Severity::from_qualitative(r).map(|s| (s, r))) {
            (
                s,
                Basis::Vendor {
                    rating: r.to_owned(),
                },
            )
        } else if let Some(best) = cvss.first() {
            (
                Severity::from_cvss(best.base_score),
                Basis::Cvss {
                    version: best.version.clone(),
                    vector: best.vector.clone(),
                },
            )
        } else if let Some((s, r)) =
            qualitative.and_then(|r| Severity::from_qualitative(r).map(|s| (s, r)))
        {
            (
                s,
                Basis::Qualitative {
                    rating: r.to_owned(),
                },
            )
        } else {
            (Severity::Unknown, Basis::Unknown)
        };
    Rating {
        severity,
        basis,
        cvss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(kind: ScoreKind, s: &str) -> Score {
        Score {
            kind,
            score: s.to_owned(),
        }
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

    #[test]
    fn vendor_rating_wins() {
        let scores = [score(
            ScoreKind::CvssV3,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        )];
        let r = rate(Some("unimportant"), &scores, None);
        assert_eq!(r.severity, Severity::Negligible);
        assert_eq!(r.cvss[0].base_score, 9.8);
        // A rating that says nothing falls through to CVSS.
        let r = rate(Some("not yet assigned"), &scores, None);
        assert_eq!(r.severity, Severity::Critical);
        assert!(matches!(r.basis, Basis::Cvss { ref version, .. } if version == "3.1"));
    }

    #[test]
    fn newest_cvss_version_decides() {
        let scores = [
            score(ScoreKind::CvssV2, "AV:N/AC:L/Au:N/C:C/I:C/A:C"),
            score(
                ScoreKind::CvssV3,
                "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
            ),
            score(
                ScoreKind::CvssV3,
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            ),
        ];
        let r = rate(None, &scores, Some("LOW"));
        // v3 beats v2 (10.0) whatever the numbers; the higher v3 score counts.
        assert_eq!(r.severity, Severity::High);
        assert_eq!(r.cvss.len(), 3);
        assert_eq!(r.cvss[0].base_score, 7.5);
        assert_eq!(r.cvss[2].version, "2.0");
        assert_eq!(r.cvss[2].base_score, 10.0);
    }

    #[test]
    fn cvss_v4_and_fallbacks() {
        let v4 = score(
            ScoreKind::CvssV4,
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        );
        let r = rate(None, &[v4], None);
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.cvss[0].version, "4.0");
        assert_eq!(r.cvss[0].base_score, 9.3);

        let r = rate(
            None,
            &[score(ScoreKind::CvssV3, "garbage")],
            Some("MODERATE"),
        );
        assert_eq!(r.severity, Severity::Medium);
        assert!(r.cvss.is_empty());
        assert_eq!(rate(None, &[], None).severity, Severity::Unknown);
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
