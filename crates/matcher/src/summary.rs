//! Counts per severity, computed once and shown in the shapes the front doors speak.

use serde::{Deserialize, Serialize};

use crate::Severity;

/// How many findings there are of each severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub unknown: u64,
}

/// ATCR's `io.atcr.hold.scan` counts: the total counts every finding, negligible and
/// unknown ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtcrCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub total: u64,
}

/// Yandex Container Registry's `VulnerabilityStats`: unknown is `undefined` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct YandexStats {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub undefined: u64,
}

impl Summary {
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

    pub fn atcr(&self) -> AtcrCounts {
        AtcrCounts {
            critical: self.critical,
            high: self.high,
            medium: self.medium,
            low: self.low,
            total: self.total(),
        }
    }

    pub fn yandex(&self) -> YandexStats {
        YandexStats {
            critical: self.critical,
            high: self.high,
            medium: self.medium,
            low: self.low,
            negligible: self.negligible,
            undefined: self.unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_computation_two_shapes() {
        use Severity::*;
        let s = Summary::of([
            Critical, High, High, Medium, Low, Negligible, Unknown, Unknown,
        ]);
        assert_eq!(s.total(), 8);
        assert_eq!(
            serde_json::to_value(s.atcr()).unwrap(),
            serde_json::json!({"critical": 1, "high": 2, "medium": 1, "low": 1, "total": 8})
        );
        assert_eq!(
            serde_json::to_value(s.yandex()).unwrap(),
            serde_json::json!({"critical": 1, "high": 2, "medium": 1, "low": 1, "negligible": 1, "undefined": 2})
        );
        assert_eq!(s.at_or_above(High), 3);
        assert_eq!(s.at_or_above(Unknown), 8);
    }
}
