//! What the world says about a vulnerability besides which packages it affects: severity
//! ratings from every source that rates it (NVD, the CNA, CISA's ADP, GitHub, other OSV
//! records), and the exploitation signals (CISA KEV, FIRST EPSS). Feeds store these per
//! CVE ([`CveFact`]); the matcher attaches them to findings and chooses the severity.
//!
//! [`CveFact`] is persisted in the advisory database (MessagePack, field names kept):
//! changing its shape needs a new database schema version.

use serde::{Deserialize, Serialize};

use crate::Severity;

/// Who rated a vulnerability, in the order the severity rule consults them (after the
/// distro's own rating, [`RatingSource::Vendor`], which comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RatingSource {
    /// The distro's own rating of its package: Debian urgency, Ubuntu priority, Red Hat
    /// and SUSE severity.
    Vendor,
    /// NVD's own analysis (the `Primary` metrics of an NVD record).
    Nvd,
    /// The CVE Numbering Authority that published the CVE (the CNA container of a CVE
    /// record, or an NVD `Secondary` metric from the CNA).
    Cna,
    /// CISA's Authorized Data Publisher container ("vulnrichment").
    CisaAdp,
    /// A GitHub security advisory (GHSA) in OSV form.
    Ghsa,
    /// Any other OSV record's severity.
    Osv,
}

impl RatingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vendor => "vendor",
            Self::Nvd => "nvd",
            Self::Cna => "cna",
            Self::CisaAdp => "cisa-adp",
            Self::Ghsa => "ghsa",
            Self::Osv => "osv",
        }
    }
}

impl std::fmt::Display for RatingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rating as a feed states it: a CVSS vector (with the score the source gave, when it
/// gave one) or a qualitative rating, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRating {
    pub source: RatingSource,
    /// Who exactly: `nvd@nist.gov`, the CNA's short name or address, `CISA-ADP`, the
    /// advisory id (`GHSA-…`, `PYSEC-…`).
    pub by: String,
    /// `2.0`, `3.0`, `3.1` or `4.0`, for a CVSS rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// The base score the source stated; computed from the vector when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// A qualitative rating as written (`HIGH`, `MODERATE`, `important`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualitative: Option<String>,
}

/// A CVE in CISA's Known Exploited Vulnerabilities catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kev {
    /// `YYYY-MM-DD`.
    pub date_added: String,
    /// The remediation due date for US federal agencies, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// CISA knows of its use in ransomware campaigns (`knownRansomwareCampaignUse` is
    /// `Known`).
    pub ransomware: bool,
}

/// FIRST's Exploit Prediction Scoring System: the probability of exploitation activity in
/// the next 30 days, and where that stands among all scored CVEs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    /// 0 to 1.
    pub score: f64,
    /// 0 to 1.
    pub percentile: f64,
    /// The day the scores are for, `YYYY-MM-DD`.
    pub date: String,
}

/// What one feed says about one id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CveFact {
    Ratings(Vec<RawRating>),
    Kev(Kev),
    Epss(Epss),
}

/// A rating of a finding, as reports show it: [`RawRating`] with its severity decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRating {
    pub source: RatingSource,
    pub by: String,
    /// The id this rating is for (the finding's id or one of its aliases).
    pub id: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualitative: Option<String>,
}

impl SourceRating {
    /// `nvd 3.1`, `debian`, `ghsa` — the short form tables print.
    pub fn label(&self) -> String {
        let who = match self.source {
            RatingSource::Vendor => self.by.as_str(),
            s => s.as_str(),
        };
        match &self.cvss_version {
            Some(v) => format!("{who} {v}"),
            None => who.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored form is persisted: this pins it.
    #[test]
    fn persisted_form_v1() {
        let fact = CveFact::Ratings(vec![RawRating {
            source: RatingSource::CisaAdp,
            by: "CISA-ADP".into(),
            cvss_version: Some("3.1".into()),
            vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            score: Some(9.8),
            qualitative: Some("CRITICAL".into()),
        }]);
        assert_eq!(
            serde_json::to_string(&fact).unwrap(),
            r#"{"ratings":[{"source":"cisa-adp","by":"CISA-ADP","cvss_version":"3.1","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","score":9.8,"qualitative":"CRITICAL"}]}"#
        );
        let kev = CveFact::Kev(Kev {
            date_added: "2021-12-10".into(),
            due_date: Some("2021-12-24".into()),
            ransomware: true,
        });
        assert_eq!(
            serde_json::to_string(&kev).unwrap(),
            r#"{"kev":{"date_added":"2021-12-10","due_date":"2021-12-24","ransomware":true}}"#
        );
        let epss = CveFact::Epss(Epss {
            score: 0.94,
            percentile: 0.999,
            date: "2025-03-14".into(),
        });
        assert_eq!(
            serde_json::to_string(&epss).unwrap(),
            r#"{"epss":{"score":0.94,"percentile":0.999,"date":"2025-03-14"}}"#
        );
        for f in [fact, kev, epss] {
            let back: CveFact = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn the_rule_orders_sources() {
        use RatingSource::*;
        let mut v = vec![Osv, Ghsa, CisaAdp, Cna, Nvd, Vendor];
        v.sort();
        assert_eq!(v, [Vendor, Nvd, Cna, CisaAdp, Ghsa, Osv]);
    }
}
