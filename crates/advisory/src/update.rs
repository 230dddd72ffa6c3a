//! `ferret db update`: fetch the configured feeds with conditional requests, import them
//! into a copy of the database, and swap the copy in with one rename. A failure at any
//! point removes the copy; the database in place is never half-written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use crate::db::{DB_FILE, Database, ImportSummary, Validators};
use crate::progress::Counting;
use crate::{AdvisoryError, Ecosystem, FeedEvent, FeedKind, Progress, import_feeds_with};

/// A feed to fetch: its kind and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    pub kind: FeedKind,
    pub url: String,
}

impl std::str::FromStr for FeedSource {
    type Err = String;

    /// `KIND=URL`, as `ferret db update --feed` and the hub's `db_update_feeds` take it.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, url) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected KIND=URL"))?;
        let kind =
            FeedKind::parse(kind).ok_or_else(|| format!("{s:?}: unknown feed kind {kind:?}"))?;
        Ok(Self {
            kind,
            url: url.to_owned(),
        })
    }
}

/// The ecosystems whose osv.dev exports `ferret db update` fetches by default: the ones
/// Ferret catalogs whose distro has no native feed here.
pub const DEFAULT_OSV_ECOSYSTEMS: &[Ecosystem] = &[
    Ecosystem::PyPI,
    Ecosystem::Npm,
    Ecosystem::CratesIo,
    Ecosystem::Go,
    Ecosystem::Maven,
    Ecosystem::RubyGems,
    Ecosystem::NuGet,
    Ecosystem::Packagist,
    Ecosystem::Ubuntu,
    Ecosystem::AlmaLinux,
    Ecosystem::RockyLinux,
    Ecosystem::Wolfi,
    Ecosystem::Chainguard,
];

/// Alpine branches fetched by default.
pub const DEFAULT_ALPINE_BRANCHES: &[&str] = &["v3.18", "v3.19", "v3.20", "v3.21", "v3.22", "edge"];

/// NVD's first yearly JSON 2.0 feed file (it holds every CVE up to 2002).
pub const NVD_FIRST_YEAR: u16 = 2002;

/// NVD's JSON 2.0 feed files: one per year up to `year`, and the `modified` file (the
/// last eight days' changes, which win over the yearly files by record date).
pub fn nvd_sources(year: u16) -> Vec<FeedSource> {
    (NVD_FIRST_YEAR..=year)
        .map(|y| y.to_string())
        .chain(std::iter::once("modified".to_owned()))
        .map(|part| FeedSource {
            kind: FeedKind::Nvd,
            url: format!("https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-{part}.json.gz"),
        })
        .collect()
}

/// The default feeds: osv.dev exports, Debian's tracker JSON, Alpine's secdb JSON, NVD's
/// JSON 2.0 files up to this year, CISA's KEV catalog and FIRST's EPSS scores.
pub fn default_sources() -> Vec<FeedSource> {
    default_sources_until(current_year())
}

/// The year now, from the system clock (UTC).
fn current_year() -> u16 {
    use chrono::Datelike as _;
    u16::try_from(chrono::Utc::now().year()).unwrap_or(u16::MAX)
}

/// [`default_sources`] with NVD's yearly files up to `year`.
pub fn default_sources_until(year: u16) -> Vec<FeedSource> {
    let mut out: Vec<FeedSource> = DEFAULT_OSV_ECOSYSTEMS
        .iter()
        .map(|e| FeedSource {
            kind: FeedKind::Osv,
            url: format!(
                "https://osv-vulnerabilities.storage.googleapis.com/{}/all.zip",
                e.osv_name().replace(' ', "%20")
            ),
        })
        .collect();
    out.push(FeedSource {
        kind: FeedKind::DebianTracker,
        url: "https://security-tracker.debian.org/tracker/data/json".to_owned(),
    });
    for branch in DEFAULT_ALPINE_BRANCHES {
        for repo in ["main", "community"] {
            out.push(FeedSource {
                kind: FeedKind::Secdb,
                url: format!("https://secdb.alpinelinux.org/{branch}/{repo}.json"),
            });
        }
    }
    out.extend(nvd_sources(year));
    out.extend(distro_sources());
    out.push(FeedSource {
        kind: FeedKind::Kev,
        url: "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
            .to_owned(),
    });
    out.push(FeedSource {
        kind: FeedKind::Epss,
        url: "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz".to_owned(),
    });
    out
}

/// The RPM distros' own feeds: Oracle's ELSA OVAL (every release, bzip2), Microsoft's
/// Azure Linux and CBL-Mariner OVAL, VMware's Photon OS OVAL, Red Hat's and SUSE's CSAF
/// VEX archives with Red Hat's repository-to-CPE map, and Amazon Linux's updateinfo,
/// reached through each repository's `mirror.list` (AL2 core and its kernel extras,
/// AL2023).
pub fn distro_sources() -> Vec<FeedSource> {
    let mut out = vec![FeedSource {
        kind: FeedKind::Oval,
        url: "https://linux.oracle.com/security/oval/com.oracle.elsa-all.xml.bz2".to_owned(),
    }];
    for file in ["azurelinux-3.0-oval.xml", "cbl-mariner-2.0-oval.xml"] {
        out.push(FeedSource {
            kind: FeedKind::Oval,
            url: format!(
                "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main/{file}"
            ),
        });
    }
    for release in ["3", "4", "5"] {
        out.push(FeedSource {
            kind: FeedKind::Oval,
            url: format!(
                "https://packages.vmware.com/photon/photon_oval_definitions/com.vmware.phsa-photon{release}.xml"
            ),
        });
    }
    // Red Hat's VEX archive (named in archive_latest.txt) and the map of its repositories
    // to product streams; SUSE's VEX archive.
    out.push(FeedSource {
        kind: FeedKind::CsafVex,
        url: "https://security.access.redhat.com/data/csaf/v2/vex/archive_latest.txt".to_owned(),
    });
    out.push(FeedSource {
        kind: FeedKind::RepositoryToCpe,
        url: "https://security.access.redhat.com/data/metrics/repository-to-cpe.json".to_owned(),
    });
    out.push(FeedSource {
        kind: FeedKind::CsafVex,
        url: "https://ftp.suse.com/pub/projects/security/csaf-vex.tar.bz2".to_owned(),
    });
    for repo in [
        "2/core/latest",
        "2/extras/kernel-5.10/latest",
        "2/extras/kernel-5.15/latest",
        "al2023/core/mirrors/latest",
    ] {
        out.push(FeedSource {
            kind: FeedKind::Alas,
            url: format!("https://cdn.amazonlinux.com/{repo}/x86_64/mirror.list"),
        });
    }
    out
}

#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub sources: Vec<FeedSource>,
    /// Largest download accepted.
    pub max_bytes: u64,
    pub timeout: Duration,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            max_bytes: 4 << 30,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What an update did.
#[derive(Debug, Clone, Default)]
pub struct UpdateReport {
    pub not_modified: Vec<String>,
    pub imported: Vec<ImportSummary>,
}

fn is_loopback_url(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A small document fetched whole (a mirror list, a repomd.xml).
fn fetch_small(http: &reqwest::blocking::Client, url: &reqwest::Url) -> Result<String, String> {
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback_url(url)) {
        return Err(format!(
            "{url}: feeds are fetched over HTTPS (plain HTTP only from this machine)"
        ));
    }
    let resp = http
        .get(url.clone())
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    resp.take(SMALL_DOCUMENT + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("{url}: {e}"))?;
    if body.len() as u64 > SMALL_DOCUMENT {
        return Err(format!("{url}: larger than {SMALL_DOCUMENT} bytes"));
    }
    String::from_utf8(body).map_err(|_| format!("{url}: not UTF-8 text"))
}

/// Largest mirror list or repomd.xml read.
const SMALL_DOCUMENT: u64 = 4 << 20;

/// The updateinfo file of an Amazon Linux repository: the first mirror of its mirror list,
/// then the `updateinfo` entry of that mirror's `repodata/repomd.xml`.
fn updateinfo_url(
    http: &reqwest::blocking::Client,
    mirror_list: &reqwest::Url,
) -> Result<reqwest::Url, String> {
    let list = fetch_small(http, mirror_list)?;
    let first = list
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("{mirror_list}: the mirror list names no mirror"))?;
    let base = format!("{}/", first.trim_end_matches('/'));
    let base = reqwest::Url::parse(&base).map_err(|e| format!("mirror {first}: {e}"))?;
    let repomd_url = base
        .join("repodata/repomd.xml")
        .map_err(|e| format!("{base}: {e}"))?;
    let repomd = fetch_small(http, &repomd_url)?;
    let href = crate::updateinfo::repomd_location(repomd.as_bytes())
        .map_err(|e| format!("{repomd_url}: {e}"))?;
    base.join(&href)
        .map_err(|e| format!("{repomd_url}: {href}: {e}"))
}

/// The archive Red Hat's `archive_latest.txt` names (its first line, a file name beside
/// it: `csaf_vex_2026-12-01.tar.zst`).
fn latest_archive(
    http: &reqwest::blocking::Client,
    pointer: &reqwest::Url,
) -> Result<reqwest::Url, String> {
    let text = fetch_small(http, pointer)?;
    let name = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| format!("{pointer}: names no archive"))?;
    if name.contains('/') || name.contains("..") {
        return Err(format!("{pointer}: {name:?} is not a file name"));
    }
    pointer
        .join(name)
        .map_err(|e| format!("{pointer}: {name}: {e}"))
}

/// Removes a file when dropped, unless kept.
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
            let _ = std::fs::remove_file(format!("{}-journal", p.display()));
        }
    }
}

/// [`update_with`], reporting nothing.
pub fn update(
    dir: &Path,
    options: &UpdateOptions,
    now: &str,
) -> Result<UpdateReport, AdvisoryError> {
    update_with(dir, options, now, &crate::no_progress)
}

/// Fetches and imports every source, then swaps the new database in; each download and
/// import reports to `progress` and logs at info level.
pub fn update_with(
    dir: &Path,
    options: &UpdateOptions,
    now: &str,
    progress: Progress<'_>,
) -> Result<UpdateReport, AdvisoryError> {
    std::fs::create_dir_all(dir).map_err(|e| AdvisoryError::io(dir, e))?;
    let live = dir.join(DB_FILE);
    let work = dir.join(format!("{DB_FILE}.updating"));
    let _ = std::fs::remove_file(&work);
    let mut guard = TempPath(Some(work.clone()));
    if live.exists() {
        match Database::open_file(&live) {
            Ok(db) => db.copy_to(&work)?,
            // A database of another schema is a cache of the feeds: build it anew.
            Err(AdvisoryError::Schema { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut db = Database::open_file(&work)?;
    let http = reqwest::blocking::Client::builder()
        .user_agent(concat!("ferret/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(options.timeout)
        .build()
        .map_err(|e| AdvisoryError::Fetch {
            url: String::new(),
            message: e.to_string(),
        })?;
    let mut report = UpdateReport::default();
    for (n, source) in options.sources.iter().enumerate() {
        let fetch_err = |message: String| AdvisoryError::Fetch {
            url: source.url.clone(),
            message,
        };
        let url = reqwest::Url::parse(&source.url).map_err(|e| fetch_err(e.to_string()))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback_url(&url)) {
            return Err(fetch_err(
                "feeds are fetched over HTTPS (plain HTTP only from this machine)".to_owned(),
            ));
        }
        let known = db.validators(&source.url)?;
        // Amazon's repositories name their current updateinfo file in repomd.xml, found
        // through the mirror list: the feed stays known by the mirror list's URL.
        let url = if source.kind == FeedKind::Alas && url.path().ends_with("/mirror.list") {
            updateinfo_url(&http, &url).map_err(fetch_err)?
        } else if url.path().ends_with("/archive_latest.txt") {
            // Red Hat names its current VEX archive in this file, beside it.
            latest_archive(&http, &url).map_err(fetch_err)?
        } else {
            url
        };
        let mut request = http.get(url.clone());
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut resp = request.send().map_err(|e| fetch_err(e.to_string()))?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            tracing::info!(url = %source.url, "not modified");
            report.not_modified.push(source.url.clone());
            continue;
        }
        if !resp.status().is_success() {
            return Err(fetch_err(format!("HTTP {}", resp.status())));
        }
        // Read before the body: afterwards it reports what is left.
        let declared = resp.content_length();
        if let Some(len) = declared.filter(|l| *l > options.max_bytes) {
            return Err(fetch_err(format!(
                "{len} bytes is more than the {}-byte limit",
                options.max_bytes
            )));
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        // Keep the URL's extension so the reader knows zip from JSON from YAML (and a tar
        // archive by both of its extensions).
        let tar = [".tar.zst", ".tar.bz2", ".tar.gz", ".tar"]
            .into_iter()
            .find(|x| url.path().ends_with(x));
        let ext = tar
            .map(|x| x.trim_start_matches('.'))
            .or_else(|| url.path().rsplit('.').next())
            .filter(|e| {
                e.starts_with("tar")
                    || matches!(
                        *e,
                        "zip" | "json" | "yaml" | "yml" | "jsonl" | "gz" | "csv" | "xml" | "bz2"
                    )
            })
            .unwrap_or("json");
        let download = dir.join(format!("{DB_FILE}.download-{n}.{ext}"));
        let _download_guard = TempPath(Some(download.clone()));
        {
            let mut file =
                std::fs::File::create(&download).map_err(|e| AdvisoryError::io(&download, e))?;
            progress(FeedEvent::Download {
                url: &source.url,
                total: declared,
            });
            let mut counted = Counting {
                inner: (&mut resp).take(options.max_bytes + 1),
                progress,
            };
            let copied = std::io::copy(&mut counted, &mut file)
                .map_err(|e| fetch_err(format!("download interrupted: {e}")))?;
            if copied > options.max_bytes {
                return Err(fetch_err(format!(
                    "more than the {}-byte limit",
                    options.max_bytes
                )));
            }
            if let Some(len) = declared
                && copied != len
            {
                return Err(fetch_err(format!(
                    "download interrupted after {copied} of {len} bytes"
                )));
            }
            file.flush().map_err(|e| AdvisoryError::io(&download, e))?;
            tracing::info!(url = %source.url, bytes = copied, "fetched");
            progress(FeedEvent::Fetched {
                url: &source.url,
                bytes: copied,
            });
        }
        for imported in import_feeds_with(
            &mut db,
            source.kind,
            std::slice::from_ref(&download),
            Some(&source.url),
            now,
            &validators,
            progress,
        )? {
            report.imported.push(imported?);
        }
    }
    drop(db);
    if report.imported.is_empty() && live.exists() {
        // Nothing changed upstream: keep the database in place; the guard drops the copy.
        return Ok(report);
    }
    std::fs::rename(&work, &live).map_err(|e| AdvisoryError::io(&live, e))?;
    guard.0 = None;
    Ok(report)
}
