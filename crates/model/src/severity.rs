//! Severities and the one count of findings per severity. Every report and every front
//! door shows these counts: the scan report's summary and `--fail-on`, the ATCR record and
//! scanner frames ([`AtcrSummary`]), the Yandex API's VulnerabilityStats and the Aqua
//! counts are views of [`Counts`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A finding's severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first, for tables and summaries.
    pub const DESCENDING: [Severity; 6] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::Negligible,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Negligible => "NEGLIGIBLE",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// The name the Yandex API (and the hub's stored findings) give: as [`Self::as_str`],
    /// but `UNDEFINED` for unknown.
    pub fn yandex_name(self) -> &'static str {
        match self {
            Self::Unknown => "UNDEFINED",
            other => other.as_str(),
        }
    }

    /// Reads a [`Self::yandex_name`], exactly as written.
    pub fn from_yandex_name(name: &str) -> Option<Self> {
        Self::DESCENDING
            .into_iter()
            .find(|s| s.yandex_name() == name)
    }

    /// Sort rank, most severe first: 0 for critical to 5 for unknown.
    pub fn rank(self) -> i64 {
        match self {
            Self::Critical => 0,
            Self::High => 1,
            Self::Medium => 2,
            Self::Low => 3,
            Self::Negligible => 4,
            Self::Unknown => 5,
        }
    }

    /// The usual CVSS bands: ≥ 9 critical, ≥ 7 high, ≥ 4 medium, > 0 low; a score of 0
    /// (CVSS's "none") is negligible.
    pub fn from_cvss(score: f64) -> Self {
        if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else if score > 0.0 {
            Self::Low
        } else {
            Self::Negligible
        }
    }

    /// A qualitative rating as feeds write it: Debian urgencies (`unimportant`, `low`,
    /// `medium`, `high`), Ubuntu priorities (`negligible` … `critical`), GHSA severities
    /// (`MODERATE`). Ratings that say nothing (`not yet assigned`, `untriaged`,
    /// `end-of-life`) give `None`.
    pub fn from_qualitative(rating: &str) -> Option<Self> {
        // The tracker marks some urgencies with asterisks (`low**`).
        let r = rating.trim().trim_end_matches('*').to_ascii_lowercase();
        Some(match r.as_str() {
            "critical" => Self::Critical,
            "high" | "important" => Self::High,
            "medium" | "moderate" => Self::Medium,
            "low" => Self::Low,
            "negligible" | "unimportant" => Self::Negligible,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    /// The names as printed, any case (`--fail-on high`).
    fn from_str(s: &str) -> Result<Self, String> {
        Self::DESCENDING
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown severity {s:?}; expected one of critical, high, medium, low, negligible, unknown"
                )
            })
    }
}

/// How many findings there are of each severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub unknown: u64,
}

/// ATCR's counts (`io.atcr.hold.scan`, the scanner subscription's `vulnSummary`): the
/// total counts every finding, negligible and unknown ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtcrSummary {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub total: i64,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Counts {
    pub fn of(severities: impl IntoIterator<Item = Severity>) -> Self {
        let mut s = Self::default();
        for severity in severities {
            s.add(severity);
        }
        s
    }

    pub fn add(&mut self, severity: Severity) {
        *match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Negligible => &mut self.negligible,
            Severity::Unknown => &mut self.unknown,
        } += 1;
    }

    pub fn count(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Negligible => self.negligible,
            Severity::Unknown => self.unknown,
        }
    }

    pub fn total(&self) -> u64 {
        Severity::DESCENDING.iter().map(|s| self.count(*s)).sum()
    }

    /// Findings at or above `threshold`: what `--fail-on` looks at.
    pub fn at_or_above(&self, threshold: Severity) -> u64 {
        Severity::DESCENDING
            .iter()
            .filter(|s| **s >= threshold)
            .map(|s| self.count(*s))
            .sum()
    }

    /// The ATCR view.
    pub fn atcr(&self) -> AtcrSummary {
        AtcrSummary {
            critical: signed(self.critical),
            high: signed(self.high),
            medium: signed(self.medium),
            low: signed(self.low),
            total: signed(self.total()),
        }
    }

    /// Counts an ATCR summary stands for (a scanner's result without a report): what the
    /// total holds beyond the four rated levels is unknown.
    pub fn from_atcr(s: &AtcrSummary) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let rated = n(s.critical) + n(s.high) + n(s.medium) + n(s.low);
        Self {
            critical: n(s.critical),
            high: n(s.high),
            medium: n(s.medium),
            low: n(s.low),
            negligible: 0,
            unknown: n(s.total).saturating_sub(rated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_count_and_its_views() {
        use Severity::*;
        let s = Counts::of([
            Critical, High, High, Medium, Low, Negligible, Unknown, Unknown,
        ]);
        assert_eq!(s.total(), 8);
        assert_eq!(
            serde_json::to_value(s.atcr()).unwrap(),
            serde_json::json!({"critical": 1, "high": 2, "medium": 1, "low": 1, "total": 8})
        );
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"critical": 1, "high": 2, "medium": 1, "low": 1, "negligible": 1, "unknown": 2})
        );
        assert_eq!(s.at_or_above(High), 3);
        assert_eq!(s.at_or_above(Unknown), 8);
        for s in Severity::DESCENDING {
            assert_eq!(Severity::from_yandex_name(s.yandex_name()), Some(s));
        }
        assert_eq!(Severity::Unknown.yandex_name(), "UNDEFINED");
        assert_eq!(Severity::Critical.rank(), 0);
        let back = Counts::from_atcr(&s.atcr());
        assert_eq!((back.unknown, back.total()), (3, 8));
    }
}
