//! The CVE feeds (NVD JSON 2.0, CVE JSON 5, CISA KEV, FIRST EPSS) and GitHub's OSV
//! advisories, imported from the real samples in `testdata/advisories`: counts, what the
//! database answers for an id, the newer of two NVD files winning, gzip, and bad input
//! refused with the database unchanged.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use ferret_advisory::{Database, FeedKind, KnownFact, Validators, import_feeds};
use ferret_model::{CveFact, RatingSource};

fn adv(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/advisories")
        .join(p)
}

fn import(db: &mut Database, kind: FeedKind, paths: &[PathBuf]) -> Vec<(String, usize, usize)> {
    import_feeds(
        db,
        kind,
        paths,
        None,
        "2026-12-02T00:00:00Z",
        &Validators::default(),
    )
    .unwrap()
    .into_iter()
    .map(|r| {
        let s = r.unwrap();
        (s.feed, s.records, s.withdrawn)
    })
    .collect()
}

fn nvd_sample() -> PathBuf {
    adv("nvd/nvdcve-2.0-sample.json")
}

fn sample_count(pred: impl Fn(&serde_json::Value) -> bool) -> usize {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nvd_sample()).unwrap()).unwrap();
    doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| pred(&v["cve"]))
        .count()
}

fn ratings(facts: &[KnownFact]) -> Vec<(RatingSource, String, Option<String>, Option<f64>)> {
    facts
        .iter()
        .flat_map(|f| match &f.fact {
            CveFact::Ratings(r) => r.clone(),
            _ => Vec::new(),
        })
        .map(|r| (r.source, r.by, r.cvss_version, r.score))
        .collect()
}

#[test]
fn nvd_records_import_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let rejected = sample_count(|c| c["vulnStatus"] == "Rejected");
    let total = sample_count(|_| true);
    assert_eq!(
        import(&mut db, FeedKind::Nvd, &[nvd_sample()]),
        [("nvd-sample".to_owned(), total - rejected, rejected)]
    );
    // Log4Shell: NVD's own v3.1 and v2, and CISA's ADP v3.1 listed as Secondary.
    let facts = db.facts(&["CVE-2021-44228"]).unwrap();
    let mut got = ratings(&facts);
    got.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    assert_eq!(
        got,
        [
            (
                RatingSource::Nvd,
                "nvd@nist.gov".to_owned(),
                Some("2.0".to_owned()),
                Some(9.3)
            ),
            (
                RatingSource::Nvd,
                "nvd@nist.gov".to_owned(),
                Some("3.1".to_owned()),
                Some(10.0)
            ),
            (
                RatingSource::CisaAdp,
                "134c704f-9b21-4f2e-91b3-4a467353bcc0".to_owned(),
                Some("3.1".to_owned()),
                Some(10.0)
            ),
        ]
    );
    // The same file gzipped, under the yearly feed's name, imports the same records.
    let gz = dir.path().join("nvdcve-2.0-2021.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(nvd_sample()).unwrap())
        .unwrap();
    enc.finish().unwrap();
    assert_eq!(
        import(&mut db, FeedKind::Nvd, &[gz]),
        [("nvd-2021".to_owned(), total - rejected, rejected)]
    );
    // Two feeds with the record: one answer (the same record date, so either).
    assert_eq!(ratings(&db.facts(&["CVE-2021-44228"]).unwrap()).len(), 3);
    // A rejected CVE rates nothing.
    assert!(db.facts(&["CVE-2016-3197"]).unwrap().is_empty());
}

#[test]
fn the_newer_record_of_two_nvd_files_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let record = |modified: &str, score: f64| {
        serde_json::json!({"format": "NVD_CVE", "version": "2.0", "vulnerabilities": [{"cve": {
            "id": "CVE-2024-0001", "vulnStatus": "Analyzed", "lastModified": modified,
            "metrics": {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary",
                "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": score}}]}}}]})
    };
    let yearly = dir.path().join("nvdcve-2.0-2024.json");
    let modified = dir.path().join("nvdcve-2.0-modified.json");
    std::fs::write(&yearly, record("2024-06-01T00:00:00.000", 9.8).to_string()).unwrap();
    std::fs::write(
        &modified,
        record("2024-07-01T00:00:00.000", 7.5).to_string(),
    )
    .unwrap();
    import(&mut db, FeedKind::Nvd, &[modified, yearly]);
    let got = ratings(&db.facts(&["CVE-2024-0001"]).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].3, Some(7.5));
}

#[test]
fn cve5_records_give_cna_and_cisa_adp_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let files = std::fs::read_dir(adv("cve5"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("CVE-")
        })
        .count();
    let imported = import(&mut db, FeedKind::Cve5, &[adv("cve5")]);
    assert_eq!(imported[0].0, "cve5");
    assert_eq!(imported[0].1 + imported[0].2, files);
    // Every record's facts are found under its id, and the ADP metrics are CISA's.
    let mut adp = 0;
    let mut cna = 0;
    for entry in std::fs::read_dir(adv("cve5")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        for (source, ..) in ratings(&db.facts(&[id]).unwrap()) {
            match source {
                RatingSource::CisaAdp => adp += 1,
                RatingSource::Cna => cna += 1,
                other => panic!("{id}: a CVE record rated by {other}"),
            }
        }
    }
    assert!(adp >= 40 && cna >= 80, "adp {adp}, cna {cna}");
}

#[test]
fn kev_and_epss_facts() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let kev = import(
        &mut db,
        FeedKind::Kev,
        &[adv("kev/known_exploited_vulnerabilities.json")],
    );
    assert_eq!(kev, [("kev".to_owned(), 1404, 0)]);
    let epss_file = std::fs::read_dir(adv("epss"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let rows = std::fs::read_to_string(&epss_file).unwrap().lines().count() - 2;
    assert_eq!(
        import(&mut db, FeedKind::Epss, &[epss_file]),
        [("epss".to_owned(), rows, 0)]
    );
    let facts = db.facts(&["CVE-2025-48384", "CVE-1999-0001"]).unwrap();
    let kev: Vec<_> = facts
        .iter()
        .filter_map(|f| match &f.fact {
            CveFact::Kev(k) => Some((f.id.as_str(), k.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(kev.len(), 1);
    assert_eq!(kev[0].0, "CVE-2025-48384");
    assert_eq!(kev[0].1.date_added, "2025-08-25");
    assert_eq!(kev[0].1.due_date.as_deref(), Some("2025-09-15"));
    assert!(!kev[0].1.ransomware);
    let epss: Vec<_> = facts
        .iter()
        .filter_map(|f| match &f.fact {
            CveFact::Epss(e) => Some((f.id.as_str(), e.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(epss.len(), 1);
    assert_eq!(epss[0].0, "CVE-1999-0001");
    assert_eq!(epss[0].1.score, 0.03351);
    assert_eq!(epss[0].1.date, "2026-09-29");
}

#[test]
fn ghsa_ratings_are_found_under_every_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(adv("ghsa"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    import(&mut db, FeedKind::Osv, &files);
    for f in &files {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        if doc.get("withdrawn").is_some() {
            continue;
        }
        let id = doc["id"].as_str().unwrap();
        let rated = doc["severity"].as_array().is_some_and(|s| !s.is_empty())
            || doc["database_specific"]["severity"].is_string();
        let mut ids = vec![id];
        ids.extend(
            doc["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a.as_str().unwrap()),
        );
        for one in ids {
            let got = ratings(&db.facts(&[one]).unwrap());
            assert_eq!(!got.is_empty(), rated, "{one} of {id}: {got:?}");
            assert!(got.iter().all(|r| r.0 == RatingSource::Ghsa && r.1 == id));
        }
    }
}

#[test]
fn bad_cve_feeds_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    import(
        &mut db,
        FeedKind::Kev,
        &[adv("kev/known_exploited_vulnerabilities.json")],
    );
    let before = db.status().unwrap();
    let bad = dir.path().join("bad");
    for (kind, text, says) in [
        (
            FeedKind::Nvd,
            "{\"format\":\"NVD_CVE\"}",
            "no \"vulnerabilities\" array",
        ),
        (
            FeedKind::Nvd,
            "{\"vulnerabilities\": [",
            "not an NVD CVE API 2.0",
        ),
        (FeedKind::Kev, "{\"title\": 1}", "not a CISA KEV catalog"),
        (
            FeedKind::Kev,
            "{\"vulnerabilities\": []}",
            "has no valid record",
        ),
        (FeedKind::Epss, "cve,score\n", "not an EPSS CSV"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let results = import_feeds(
            &mut db,
            kind,
            std::slice::from_ref(&bad),
            None,
            "2026-12-02T00:00:00Z",
            &Validators::default(),
        );
        let e = match results {
            Err(e) => e,
            Ok(mut r) => r.pop().unwrap().unwrap_err(),
        };
        assert!(e.to_string().contains(says), "{kind:?} {text:?}: {e}");
    }
    assert_eq!(db.status().unwrap().snapshot, before.snapshot);
    assert_eq!(
        db.facts(&["CVE-2025-48384"]).unwrap().len(),
        1,
        "the KEV feed is intact"
    );
}
