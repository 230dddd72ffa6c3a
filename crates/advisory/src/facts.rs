//! Feeds that say something about a CVE rather than about packages: NVD's CVE API 2.0
//! JSON (its yearly and `modified` feed files), CVE JSON 5 records (the CNA's metrics and
//! CISA's ADP container), CISA's KEV catalog and FIRST's EPSS scores. Each reader streams
//! its input and hands over one [`FactRecord`] at a time, so memory does not grow with a
//! feed of hundreds of megabytes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ferret_model::{CveFact, Epss, Kev, RatingSource, RawRating};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use sha2::{Digest as _, Sha256};

use crate::db::FeedMeta;
use crate::model::{FeedKind, Skipped};
use crate::{AdvisoryError, Database, FeedEvent, ImportSummary, Progress, Validators};

/// What one record of a fact feed says about one id.
#[derive(Debug, Clone, PartialEq)]
pub struct FactRecord {
    /// The id it is about (`CVE-2024-3094`); the database finds it under this id.
    pub id: String,
    /// The record it came from (the CVE id for CVE feeds, the advisory id for OSV).
    pub record: String,
    /// When the record last changed, as the feed writes it: of two feeds with the same
    /// record (NVD's yearly file and its `modified` file), the newer one counts.
    pub modified: Option<String>,
    pub fact: CveFact,
}

/// NVD's CVE API 2.0 `source` of CISA's ADP: NVD lists vulnrichment metrics as
/// `Secondary` under this identifier.
pub const CISA_ADP_ORG_ID: &str = "134c704f-9b21-4f2e-91b3-4a467353bcc0";

/// Opens a feed file, decompressing it when it is gzip (by its magic bytes, not its name).
pub(crate) fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>, AdvisoryError> {
    let file = std::fs::File::open(path).map_err(|e| AdvisoryError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let head = reader.fill_buf().map_err(|e| AdvisoryError::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

// --- NVD CVE API 2.0 -------------------------------------------------------------------

#[derive(Deserialize)]
struct NvdItem {
    cve: NvdCve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdCve {
    id: String,
    #[serde(default)]
    vuln_status: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    metrics: NvdMetrics,
}

#[derive(Deserialize, Default)]
struct NvdMetrics {
    #[serde(default, rename = "cvssMetricV40")]
    v40: Vec<NvdMetric>,
    #[serde(default, rename = "cvssMetricV31")]
    v31: Vec<NvdMetric>,
    #[serde(default, rename = "cvssMetricV30")]
    v30: Vec<NvdMetric>,
    #[serde(default, rename = "cvssMetricV2")]
    v2: Vec<NvdMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdMetric {
    source: String,
    #[serde(rename = "type")]
    kind: String,
    cvss_data: NvdCvss,
    /// v2 states its severity beside `cvssData`.
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdCvss {
    version: String,
    vector_string: String,
    base_score: f64,
    #[serde(default)]
    base_severity: Option<String>,
}

fn nvd_source(metric: &NvdMetric) -> RatingSource {
    if metric.kind.eq_ignore_ascii_case("primary") {
        RatingSource::Nvd
    } else if metric.source == CISA_ADP_ORG_ID {
        RatingSource::CisaAdp
    } else {
        RatingSource::Cna
    }
}

/// One NVD record's facts; `None` for a rejected CVE, which rates nothing.
fn nvd_record(raw: &str) -> Result<Option<FactRecord>, String> {
    let item: NvdItem = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let cve = item.cve;
    if !cve.id.starts_with("CVE-") {
        return Err(format!("{}: not a CVE id", cve.id));
    }
    if cve
        .vuln_status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("rejected"))
    {
        return Ok(None);
    }
    let m = cve.metrics;
    let ratings: Vec<RawRating> = [m.v40, m.v31, m.v30, m.v2]
        .into_iter()
        .flatten()
        .map(|metric| RawRating {
            source: nvd_source(&metric),
            by: metric.source.clone(),
            cvss_version: Some(metric.cvss_data.version.clone()),
            vector: Some(metric.cvss_data.vector_string.clone()),
            score: Some(metric.cvss_data.base_score),
            qualitative: metric.cvss_data.base_severity.or(metric.base_severity),
        })
        .collect();
    Ok(Some(FactRecord {
        record: cve.id.clone(),
        id: cve.id,
        modified: cve.last_modified,
        fact: CveFact::Ratings(ratings),
    }))
}

/// Counts of a fact feed's read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FactsRead {
    /// Records read (a rejected CVE counts as withdrawn, not as a record).
    pub records: usize,
    pub withdrawn: usize,
    pub skipped: usize,
    pub first_skipped: Vec<Skipped>,
}

impl FactsRead {
    fn skip(&mut self, at: String, why: String) {
        self.skipped += 1;
        if self.first_skipped.len() < crate::FIRST_SKIPPED {
            self.first_skipped.push((at, why));
        }
    }
}

type Each<'a> = dyn FnMut(FactRecord) -> Result<(), AdvisoryError> + 'a;

/// Streams the `vulnerabilities` array of an NVD JSON 2.0 document (a feed file or an API
/// response), one record at a time; other top-level fields are skipped unread.
pub fn read_nvd(path: &Path, each: &mut Each<'_>) -> Result<FactsRead, AdvisoryError> {
    let reader = open_maybe_gz(path)?;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut state = NvdState {
        each,
        read: FactsRead::default(),
        failed: None,
        seen_array: false,
        index: 0,
    };
    let result = serde::Deserializer::deserialize_map(&mut de, TopLevel(&mut state));
    if let Some(e) = state.failed.take() {
        return Err(e);
    }
    let feed_err = |message: String| AdvisoryError::Feed {
        path: path.to_owned(),
        message,
    };
    result.map_err(|e| feed_err(format!("not an NVD CVE API 2.0 JSON document: {e}")))?;
    de.end()
        .map_err(|e| feed_err(format!("trailing data after the document: {e}")))?;
    if !state.seen_array {
        return Err(feed_err(
            "not an NVD CVE API 2.0 JSON document: it has no \"vulnerabilities\" array".into(),
        ));
    }
    Ok(state.read)
}

struct NvdState<'a, 'b> {
    each: &'a mut Each<'b>,
    read: FactsRead,
    /// An error from the callback (the database), which stops the stream.
    failed: Option<AdvisoryError>,
    seen_array: bool,
    index: usize,
}

struct TopLevel<'s, 'a, 'b>(&'s mut NvdState<'a, 'b>);

impl<'de> Visitor<'de> for TopLevel<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object with a \"vulnerabilities\" array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "vulnerabilities" {
                self.0.seen_array = true;
                map.next_value_seed(Items(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Items<'s, 'a, 'b>(&'s mut NvdState<'a, 'b>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of {\"cve\": …} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each item is held only while it is converted: memory stays at one record.
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let state = &mut *self.0;
            let at = state.index;
            state.index += 1;
            match nvd_record(raw.get()) {
                Ok(Some(record)) => {
                    state.read.records += 1;
                    if let Err(e) = (state.each)(record) {
                        state.failed = Some(e);
                        return Err(serde::de::Error::custom("stopped"));
                    }
                }
                Ok(None) => state.read.withdrawn += 1,
                Err(why) => state.read.skip(format!("vulnerabilities[{at}]"), why),
            }
        }
        Ok(())
    }
}

// --- CVE JSON 5 --------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve5Record {
    data_type: Option<String>,
    cve_metadata: Cve5Metadata,
    #[serde(default)]
    containers: Cve5Containers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve5Metadata {
    cve_id: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    date_updated: Option<String>,
}

#[derive(Deserialize, Default)]
struct Cve5Containers {
    #[serde(default)]
    cna: Option<Cve5Container>,
    #[serde(default)]
    adp: Vec<Cve5Container>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Cve5Container {
    #[serde(default)]
    provider_metadata: Option<Cve5Provider>,
    #[serde(default)]
    metrics: Vec<Cve5Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve5Provider {
    #[serde(default)]
    short_name: Option<String>,
    #[serde(default)]
    org_id: Option<String>,
}

#[derive(Deserialize)]
struct Cve5Metric {
    #[serde(default, rename = "cvssV4_0")]
    v40: Option<Cve5Cvss>,
    #[serde(default, rename = "cvssV3_1")]
    v31: Option<Cve5Cvss>,
    #[serde(default, rename = "cvssV3_0")]
    v30: Option<Cve5Cvss>,
    #[serde(default, rename = "cvssV2_0")]
    v20: Option<Cve5Cvss>,
    #[serde(default)]
    other: Option<Cve5Other>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve5Cvss {
    version: String,
    vector_string: String,
    #[serde(default)]
    base_score: Option<f64>,
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
struct Cve5Other {
    #[serde(default)]
    content: Option<serde_json::Value>,
}

impl Cve5Other {
    /// A textual severity: `content.value` (Red Hat's "Important"), `content.text`, or
    /// `content.other` when it is a string.
    fn qualitative(&self) -> Option<String> {
        let c = self.content.as_ref()?;
        ["value", "text", "other"]
            .iter()
            .find_map(|k| c.get(k).and_then(|v| v.as_str()))
            .map(str::to_owned)
    }
}

fn cve5_ratings(container: &Cve5Container, source: RatingSource, out: &mut Vec<RawRating>) {
    let by = container
        .provider_metadata
        .as_ref()
        .and_then(|p| p.short_name.clone().or_else(|| p.org_id.clone()))
        .unwrap_or_default();
    for m in &container.metrics {
        for c in [&m.v40, &m.v31, &m.v30, &m.v20].into_iter().flatten() {
            out.push(RawRating {
                source,
                by: by.clone(),
                cvss_version: Some(c.version.clone()),
                vector: Some(c.vector_string.clone()),
                score: c.base_score,
                qualitative: c.base_severity.clone(),
            });
        }
        if let Some(q) = m.other.as_ref().and_then(Cve5Other::qualitative) {
            out.push(RawRating {
                source,
                by: by.clone(),
                cvss_version: None,
                vector: None,
                score: None,
                qualitative: Some(q),
            });
        }
    }
}

/// One CVE JSON 5 record's ratings: the CNA's metrics and CISA's ADP metrics (other ADP
/// containers carry references, not ratings). `None` for a rejected CVE.
pub(crate) fn cve5_record(bytes: &[u8]) -> Result<Option<FactRecord>, String> {
    let rec: Cve5Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if rec.data_type.as_deref().is_some_and(|t| t != "CVE_RECORD") {
        return Err(format!(
            "dataType {:?} is not CVE_RECORD",
            rec.data_type.unwrap_or_default()
        ));
    }
    let id = rec.cve_metadata.cve_id;
    if !id.starts_with("CVE-") {
        return Err(format!("{id}: not a CVE id"));
    }
    if rec
        .cve_metadata
        .state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("rejected"))
    {
        return Ok(None);
    }
    let mut ratings = Vec::new();
    if let Some(cna) = &rec.containers.cna {
        cve5_ratings(cna, RatingSource::Cna, &mut ratings);
    }
    for adp in &rec.containers.adp {
        let is_cisa = adp.provider_metadata.as_ref().is_some_and(|p| {
            p.short_name.as_deref() == Some("CISA-ADP")
                || p.org_id.as_deref() == Some(CISA_ADP_ORG_ID)
        });
        if is_cisa {
            cve5_ratings(adp, RatingSource::CisaAdp, &mut ratings);
        }
    }
    Ok(Some(FactRecord {
        record: id.clone(),
        id,
        modified: rec.cve_metadata.date_updated,
        fact: CveFact::Ratings(ratings),
    }))
}

// --- CISA KEV -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KevCatalog {
    #[serde(default)]
    date_released: Option<String>,
    vulnerabilities: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KevEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    date_added: String,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    known_ransomware_campaign_use: Option<String>,
}

/// CISA's KEV catalog (`known_exploited_vulnerabilities.json`). It is a few megabytes, so
/// it is read whole.
pub fn read_kev(path: &Path, each: &mut Each<'_>) -> Result<FactsRead, AdvisoryError> {
    let reader = open_maybe_gz(path)?;
    let catalog: KevCatalog =
        serde_json::from_reader(reader.take(crate::MAX_DOCUMENT)).map_err(|e| {
            AdvisoryError::Feed {
                path: path.to_owned(),
                message: format!("not a CISA KEV catalog: {e}"),
            }
        })?;
    let mut read = FactsRead::default();
    for (i, raw) in catalog.vulnerabilities.iter().enumerate() {
        let entry: KevEntry = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                read.skip(format!("vulnerabilities[{i}]"), e.to_string());
                continue;
            }
        };
        if !entry.cve_id.starts_with("CVE-") || !is_date(&entry.date_added) {
            read.skip(
                entry.cve_id.clone(),
                format!("dateAdded {:?} is not YYYY-MM-DD", entry.date_added),
            );
            continue;
        }
        read.records += 1;
        each(FactRecord {
            record: entry.cve_id.clone(),
            id: entry.cve_id,
            modified: catalog.date_released.clone(),
            fact: CveFact::Kev(Kev {
                date_added: entry.date_added,
                due_date: entry.due_date.filter(|d| is_date(d)),
                ransomware: entry
                    .known_ransomware_campaign_use
                    .is_some_and(|k| k.eq_ignore_ascii_case("known")),
            }),
        })?;
    }
    Ok(read)
}

/// `YYYY-MM-DD`, a real day.
fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

// --- FIRST EPSS ----------------------------------------------------------------------------

/// FIRST's daily EPSS CSV (plain or gzip): a `#model_version:…,score_date:…` comment, the
/// header `cve,epss,percentile`, then one row per CVE. Streamed line by line.
pub fn read_epss(path: &Path, each: &mut Each<'_>) -> Result<FactsRead, AdvisoryError> {
    let reader = open_maybe_gz(path)?;
    let feed_err = |message: String| AdvisoryError::Feed {
        path: path.to_owned(),
        message,
    };
    let mut read = FactsRead::default();
    let mut date: Option<String> = None;
    let mut columns: Option<(usize, usize, usize)> = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| feed_err(format!("line {}: {e}", n + 1)))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            for part in comment.split(',') {
                if let Some(d) = part.trim().strip_prefix("score_date:") {
                    date = d.get(..10).filter(|d| is_date(d)).map(str::to_owned);
                }
            }
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let Some((c_cve, c_epss, c_pct)) = columns else {
            let find = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
            columns = match (find("cve"), find("epss"), find("percentile")) {
                (Some(a), Some(b), Some(c)) => Some((a, b, c)),
                _ => {
                    return Err(feed_err(format!(
                        "line {}: not an EPSS CSV: the header is {line:?}, not cve,epss,percentile",
                        n + 1
                    )));
                }
            };
            continue;
        };
        let Some(date) = date.clone() else {
            return Err(feed_err(
                "not an EPSS CSV: no #…score_date:YYYY-MM-DD… line before the rows".into(),
            ));
        };
        let at = || format!("line {}", n + 1);
        let (Some(cve), Some(score), Some(pct)) =
            (fields.get(c_cve), fields.get(c_epss), fields.get(c_pct))
        else {
            read.skip(at(), format!("{} fields, not 3", fields.len()));
            continue;
        };
        let unit = |s: &str| s.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v));
        match (cve.starts_with("CVE-"), unit(score), unit(pct)) {
            (true, Some(score), Some(percentile)) => {
                read.records += 1;
                each(FactRecord {
                    id: (*cve).to_owned(),
                    record: (*cve).to_owned(),
                    modified: Some(date.clone()),
                    fact: CveFact::Epss(Epss {
                        score,
                        percentile,
                        date,
                    }),
                })?;
            }
            _ => read.skip(
                at(),
                format!("{line:?} is not a CVE id with a score and a percentile from 0 to 1"),
            ),
        }
    }
    if columns.is_none() {
        return Err(feed_err(
            "not an EPSS CSV: no cve,epss,percentile header".into(),
        ));
    }
    Ok(read)
}

// --- importing --------------------------------------------------------------------------

/// The feed name of an NVD file: `nvd-2024` for `nvdcve-2.0-2024.json.gz`, `nvd-modified`
/// for the `modified` file; other names keep their stem (`nvd-mydump`).
pub fn nvd_feed_name(file_or_url: &str) -> String {
    let base = file_or_url
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_or_url);
    let stem = base
        .trim_end_matches(".gz")
        .trim_end_matches(".zip")
        .trim_end_matches(".json");
    let part = stem.strip_prefix("nvdcve-2.0-").unwrap_or(stem);
    format!("nvd-{part}")
}

/// SHA-256 over the files of the inputs (names and bytes), streamed.
fn snapshot(paths: &[PathBuf]) -> Result<String, AdvisoryError> {
    let mut h = Sha256::new();
    for p in paths {
        let mut files = vec![p.clone()];
        if p.is_dir() {
            files = crate::feed::dir_files(p)?;
        }
        for f in files {
            h.update(f.display().to_string().as_bytes());
            h.update([0]);
            let mut file = std::fs::File::open(&f).map_err(|e| AdvisoryError::io(&f, e))?;
            std::io::copy(&mut file, &mut h).map_err(|e| AdvisoryError::io(&f, e))?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Imports CVE feed inputs: each NVD file is its own feed (`nvd-2024`, so that `db update`
/// can refresh one year alone); CVE JSON 5 directories or zips form the feed `cve5`; the
/// KEV catalog is `kev`, the EPSS scores `epss`. Each feed commits on its own.
pub(crate) fn import_facts(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
    source: Option<&str>,
    fetched_at: &str,
    validators: &Validators,
    progress: Progress<'_>,
) -> Result<Vec<Result<ImportSummary, AdvisoryError>>, AdvisoryError> {
    let groups: Vec<(String, Vec<PathBuf>)> = match kind {
        FeedKind::Nvd => paths
            .iter()
            .map(|p| {
                let name = nvd_feed_name(source.unwrap_or(&p.display().to_string()));
                (name, vec![p.clone()])
            })
            .collect(),
        _ => vec![(kind.name().to_owned(), paths.to_vec())],
    };
    let mut out = Vec::new();
    for (name, files) in groups {
        let snapshot = snapshot(&files)?;
        let mut import = db.begin_facts(&name)?;
        let mut read = FactsRead::default();
        let mut count = 0u64;
        for f in &files {
            let mut each = |r: FactRecord| {
                count += 1;
                if count.is_multiple_of(crate::progress::RECORDS_EVERY) {
                    progress(FeedEvent::Records(count));
                }
                import.add(r)
            };
            let one = match kind {
                FeedKind::Nvd => read_nvd(f, &mut each),
                FeedKind::Kev => read_kev(f, &mut each),
                FeedKind::Epss => read_epss(f, &mut each),
                FeedKind::Cve5 => read_cve5(f, &mut each),
                _ => unreachable!("not a CVE feed"),
            };
            let one = match one {
                Ok(r) => r,
                Err(e) => {
                    out.push(Err(e));
                    read.records = usize::MAX;
                    break;
                }
            };
            read.records += one.records;
            read.withdrawn += one.withdrawn;
            read.skipped += one.skipped;
            for s in one.first_skipped {
                if read.first_skipped.len() < crate::FIRST_SKIPPED {
                    read.first_skipped.push(s);
                }
            }
        }
        if read.records == usize::MAX {
            // Dropping the import rolls it back.
            continue;
        }
        let display = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        out.push(import.finish(
            &FeedMeta {
                kind,
                name: &name,
                source: source.unwrap_or(&display),
                snapshot: &snapshot,
                withdrawn: read.withdrawn,
                skipped: read.skipped,
                first_skipped: &read.first_skipped,
            },
            fetched_at,
            validators,
        ));
    }
    Ok(out)
}

/// CVE JSON 5 records: a `cves/` tree of `CVE-*.json` files (cvelistV5), a zip of one, or
/// a single record. Other files (`delta.json`, READMEs) are passed over.
pub fn read_cve5(path: &Path, each: &mut Each<'_>) -> Result<FactsRead, AdvisoryError> {
    let mut read = FactsRead::default();
    crate::feed::each_input(path, &mut |name, body| {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        if !(base.starts_with("CVE-") && base.ends_with(".json")) {
            return Ok(());
        }
        let crate::feed::InputBody::Whole(bytes) = body else {
            return Ok(());
        };
        match cve5_record(&bytes) {
            Ok(Some(r)) => {
                read.records += 1;
                each(r)
            }
            Ok(None) => {
                read.withdrawn += 1;
                Ok(())
            }
            Err(why) => {
                read.skip(base.to_owned(), why);
                Ok(())
            }
        }
    })?;
    Ok(read)
}

// --- ratings in OSV records ---------------------------------------------------------------

/// The ratings an OSV record gives: GitHub's advisories (GHSA) and other OSV records
/// (PyPA, RustSec, distro OSV). Ubuntu's priority is the distro's rating of its own
/// packages, which the matcher reads from the matched record itself.
pub fn record_ratings(a: &crate::Advisory) -> Vec<RawRating> {
    let source = if a.id.starts_with("GHSA-") {
        RatingSource::Ghsa
    } else {
        RatingSource::Osv
    };
    let mut ratings: Vec<RawRating> = a
        .severity
        .iter()
        .filter_map(|s| {
            let version = match s.kind {
                crate::ScoreKind::CvssV2 => "2.0",
                crate::ScoreKind::CvssV3 if s.score.starts_with("CVSS:3.0/") => "3.0",
                crate::ScoreKind::CvssV3 => "3.1",
                crate::ScoreKind::CvssV4 => "4.0",
                crate::ScoreKind::Ubuntu => return None,
            };
            Some(RawRating {
                source,
                by: a.id.clone(),
                cvss_version: Some(version.to_owned()),
                vector: Some(s.score.clone()),
                score: None,
                qualitative: None,
            })
        })
        .collect();
    if let Some(q) = &a.database_severity {
        ratings.push(RawRating {
            source,
            by: a.id.clone(),
            cvss_version: None,
            vector: None,
            score: None,
            qualitative: Some(q.clone()),
        });
    }
    ratings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        read: impl Fn(&Path, &mut Each<'_>) -> Result<FactsRead, AdvisoryError>,
        text: &str,
    ) -> Result<(Vec<FactRecord>, FactsRead), AdvisoryError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed");
        std::fs::write(&p, text).unwrap();
        let mut out = Vec::new();
        let read = read(&p, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok((out, read))
    }

    #[test]
    fn nvd_items_stream_and_bad_ones_are_skipped() {
        let doc = r#"{"resultsPerPage":3,"format":"NVD_CVE","version":"2.0","vulnerabilities":[
          {"cve":{"id":"CVE-2021-44228","vulnStatus":"Analyzed","lastModified":"2024-01-01T00:00:00.000","metrics":{
            "cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H","baseScore":10.0,"baseSeverity":"CRITICAL"}}],
            "cvssMetricV2":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"2.0","vectorString":"AV:N/AC:M/Au:N/C:C/I:C/A:C","baseScore":9.3},"baseSeverity":"HIGH"}]}}},
          {"cve":{"id":"CVE-2020-0001","vulnStatus":"Rejected"}},
          {"cve":{"id":42}}
        ],"timestamp":"x"}"#;
        let (out, read) = collect(read_nvd, doc).unwrap();
        assert_eq!(read.records, 1);
        assert_eq!(read.withdrawn, 1);
        assert_eq!(read.skipped, 1);
        assert_eq!(read.first_skipped[0].0, "vulnerabilities[2]");
        let CveFact::Ratings(r) = &out[0].fact else {
            panic!()
        };
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].qualitative.as_deref(), Some("HIGH"));
        assert_eq!(r[0].source, RatingSource::Nvd);
    }

    #[test]
    fn nvd_refuses_what_is_not_a_feed() {
        let e = collect(read_nvd, r#"{"format":"NVD_CVE"}"#).unwrap_err();
        assert!(
            e.to_string().contains("no \"vulnerabilities\" array"),
            "{e}"
        );
        let e = collect(read_nvd, "[1,2]").unwrap_err();
        assert!(e.to_string().contains("not an NVD CVE API 2.0"), "{e}");
        let e = collect(read_nvd, r#"{"vulnerabilities":[{"cve":{"id":"CVE-1-1"}}"#).unwrap_err();
        assert!(e.to_string().contains("not an NVD"), "{e}");
    }

    #[test]
    fn epss_rows_and_errors() {
        let csv = "#model_version:v2025.03.14,score_date:2025-03-20T00:00:00+0000\ncve,epss,percentile\nCVE-1999-0001,0.0123,0.5\nCVE-1999-0002,1.5,0.2\n";
        let (out, read) = collect(read_epss, csv).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(read.skipped, 1);
        assert_eq!(
            out[0].fact,
            CveFact::Epss(Epss {
                score: 0.0123,
                percentile: 0.5,
                date: "2025-03-20".into()
            })
        );
        let e = collect(read_epss, "cve,score\n").unwrap_err();
        assert!(e.to_string().contains("not cve,epss,percentile"), "{e}");
        let e = collect(read_epss, "cve,epss,percentile\nCVE-1-1,0.1,0.1\n").unwrap_err();
        assert!(e.to_string().contains("score_date"), "{e}");
    }
}
