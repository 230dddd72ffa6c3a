//! Reading feed inputs from disk: OSV as `all.zip`, a directory of `.json`/`.yaml`
//! records, a single record or JSON lines; the Debian tracker JSON; secdb documents.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::model::{Advisory, FeedKind, Skipped};
use rayon::prelude::*;

use crate::db::FeedMeta;
use crate::osv::{RawRecord, Rejection, convert};
use crate::{
    AdvisoryError, Database, FeedEvent, ImportSummary, Progress, Validators, debian, oval, secdb,
    updateinfo,
};

/// Largest single record or document read (a zip member declaring more is refused).
pub const MAX_DOCUMENT: u64 = 512 << 20;
/// Zip members read at most.
const MAX_ZIP_MEMBERS: usize = 2_000_000;

/// What reading a feed produced, before it touches the database.
#[derive(Debug)]
pub struct FeedData {
    pub kind: FeedKind,
    /// The feed's name in the database: re-importing the same name replaces its records.
    pub name: String,
    /// Where it came from (paths or URL).
    pub source: String,
    /// SHA-256 of everything read.
    pub snapshot: String,
    pub advisories: Vec<Advisory>,
    pub withdrawn: usize,
    /// How many records were skipped as malformed.
    pub skipped: usize,
    /// The first of them (up to [`FIRST_SKIPPED`]), as (id or file and line, reason).
    pub first_skipped: Vec<Skipped>,
}

fn first_of(mut skipped: Vec<Skipped>) -> Vec<Skipped> {
    skipped.truncate(FIRST_SKIPPED);
    skipped
}

pub(crate) struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn read_limited(
    mut r: impl Read,
    size_hint: u64,
    path: &Path,
    what: &str,
) -> Result<Vec<u8>, AdvisoryError> {
    let mut buf = Vec::with_capacity(size_hint.min(MAX_DOCUMENT) as usize + 1);
    (&mut r)
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AdvisoryError::io(path, e))?;
    if buf.len() as u64 > MAX_DOCUMENT {
        return Err(AdvisoryError::Feed {
            path: path.to_owned(),
            message: format!("{what} is larger than {MAX_DOCUMENT} bytes"),
        });
    }
    Ok(buf)
}

/// The files of a directory input with a feed extension, sorted.
pub(crate) fn dir_files(path: &Path) -> Result<Vec<PathBuf>, AdvisoryError> {
    let mut files = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| AdvisoryError::io(&dir, e))? {
            let p = entry.map_err(|e| AdvisoryError::io(&dir, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml" | "jsonl" | "xml")
            ) || [".xml.gz", ".xml.bz2"]
                .iter()
                .any(|x| p.to_string_lossy().ends_with(x))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Calls `each` with every document under `path` in order: zip members, directory files,
/// or the file itself; a `.jsonl` file is handed over as a reader, so that it streams.
pub(crate) fn each_input(
    path: &Path,
    each: &mut dyn FnMut(&str, InputBody<'_>) -> Result<(), AdvisoryError>,
) -> Result<(), AdvisoryError> {
    let meta = std::fs::metadata(path).map_err(|e| AdvisoryError::io(path, e))?;
    let files = if meta.is_dir() {
        dir_files(path)?
    } else {
        vec![path.to_owned()]
    };
    for f in files {
        let file = std::fs::File::open(&f).map_err(|e| AdvisoryError::io(&f, e))?;
        let name = f.display().to_string();
        if f.extension().and_then(|e| e.to_str()) == Some("zip") {
            each_zip_member(&f, file, each)?;
        } else if is_tar(&name) {
            each_tar_member(&f, tar_decoder(&name, file, &f)?, each)?;
        } else if name.ends_with(".jsonl") {
            let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
            each(&name, InputBody::Lines(&mut reader, &f))?;
        } else {
            let size = file.metadata().map_or(0, |m| m.len());
            each(
                &name,
                InputBody::Whole(read_limited(file, size, &f, "file")?),
            )?;
        }
    }
    Ok(())
}

/// A tar archive, plain or compressed, by its name (as the vendors name their archives).
fn is_tar(name: &str) -> bool {
    [".tar", ".tar.zst", ".tar.bz2", ".tar.gz", ".tgz"]
        .iter()
        .any(|x| name.ends_with(x))
}

/// A reader of the tar stream inside `.tar`, `.tar.zst`, `.tar.bz2` or `.tar.gz`.
fn tar_decoder(
    name: &str,
    file: std::fs::File,
    path: &Path,
) -> Result<Box<dyn Read>, AdvisoryError> {
    let file = std::io::BufReader::new(file);
    Ok(if name.ends_with(".tar") {
        Box::new(file)
    } else if name.ends_with(".tar.zst") {
        Box::new(zstd::Decoder::with_buffer(file).map_err(|e| AdvisoryError::io(path, e))?)
    } else if name.ends_with(".tar.bz2") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(file))
    } else {
        Box::new(flate2::bufread::MultiGzDecoder::new(file))
    })
}

/// Calls `each` with every `.json` member of a tar stream, one at a time.
fn each_tar_member(
    path: &Path,
    reader: Box<dyn Read>,
    each: &mut dyn FnMut(&str, InputBody<'_>) -> Result<(), AdvisoryError>,
) -> Result<(), AdvisoryError> {
    let tar_err = |e: std::io::Error| AdvisoryError::Feed {
        path: path.to_owned(),
        message: format!("not a readable tar archive: {e}"),
    };
    let mut archive = tar::Archive::new(reader);
    let mut members = 0usize;
    for entry in archive.entries().map_err(tar_err)? {
        let entry = entry.map_err(tar_err)?;
        members += 1;
        if members > MAX_ZIP_MEMBERS {
            return Err(AdvisoryError::Feed {
                path: path.to_owned(),
                message: format!("more than {MAX_ZIP_MEMBERS} members"),
            });
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(tar_err)?.display().to_string();
        if !name.ends_with(".json") {
            continue;
        }
        let size = entry.size();
        if size > MAX_DOCUMENT {
            return Err(AdvisoryError::Feed {
                path: path.to_owned(),
                message: format!(
                    "member {name} declares {size} bytes, more than the {MAX_DOCUMENT}-byte limit"
                ),
            });
        }
        let bytes = read_limited(entry, size, path, &format!("member {name}"))?;
        each(&name, InputBody::Whole(bytes))?;
    }
    Ok(())
}

fn each_zip_member(
    path: &Path,
    file: std::fs::File,
    each: &mut dyn FnMut(&str, InputBody<'_>) -> Result<(), AdvisoryError>,
) -> Result<(), AdvisoryError> {
    let zip_err = |e: zip::result::ZipError| AdvisoryError::Feed {
        path: path.to_owned(),
        message: format!("not a readable zip archive: {e}"),
    };
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
    if archive.len() > MAX_ZIP_MEMBERS {
        return Err(AdvisoryError::Feed {
            path: path.to_owned(),
            message: format!("{} members is more than {MAX_ZIP_MEMBERS}", archive.len()),
        });
    }
    for i in 0..archive.len() {
        let member = archive.by_index(i).map_err(zip_err)?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().map_err(zip_err)?.into_owned();
        if member.size() > MAX_DOCUMENT {
            return Err(AdvisoryError::Feed {
                path: path.to_owned(),
                message: format!(
                    "member {name} declares {} bytes, more than the {MAX_DOCUMENT}-byte limit",
                    member.size()
                ),
            });
        }
        let size = member.size();
        let bytes = read_limited(member, size, path, &format!("member {name}"))?;
        each(&name, InputBody::Whole(bytes))?;
    }
    Ok(())
}

pub(crate) enum InputBody<'a> {
    Whole(Vec<u8>),
    /// JSON lines, read line by line from the file at the path.
    Lines(&'a mut dyn std::io::BufRead, &'a Path),
}

fn inputs(path: &Path) -> Result<Vec<Input>, AdvisoryError> {
    let mut out = Vec::new();
    each_input(path, &mut |name, body| {
        let bytes = match body {
            InputBody::Whole(bytes) => bytes,
            InputBody::Lines(reader, at) => read_limited(reader, 0, at, "file")?,
        };
        out.push(Input {
            name: name.to_owned(),
            bytes,
        });
        Ok(())
    })?;
    Ok(out)
}

type Parsed = Result<Result<Advisory, Rejection>, (String, String)>;

fn parse_one(bytes: &[u8], at: impl FnOnce() -> String) -> Parsed {
    serde_json::from_slice::<RawRecord>(bytes)
        .map(|raw| {
            let id = raw.id.clone();
            convert(raw).map_err(|r| match r {
                Rejection::Invalid(why) => Rejection::Invalid(format!("{id}: {why}")),
                other => other,
            })
        })
        .map_err(|e| (at(), format!("invalid JSON: {e}")))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// One OSV document waiting to be parsed.
enum Piece {
    /// A record, or a JSON array of records; `line` is its line in a JSON lines file.
    Json {
        input: usize,
        line: Option<usize>,
        bytes: Vec<u8>,
    },
    Yaml {
        input: usize,
        bytes: Vec<u8>,
    },
}

/// Records parsed at once: enough to keep both cores busy, few enough to bound memory.
const CHUNK_RECORDS: usize = 8192;
const CHUNK_BYTES: usize = 32 << 20;

/// What streaming an OSV feed found, beside the advisories handed to the sink.
#[derive(Debug, Default)]
pub(crate) struct OsvRead {
    pub name: String,
    pub source: String,
    pub snapshot: String,
    pub withdrawn: usize,
    pub skipped: usize,
    /// The first [`FIRST_SKIPPED`] records skipped, as (id or file and line, reason).
    pub first_skipped: Vec<Skipped>,
}

/// Skipped records kept with their reasons; the rest are only counted.
pub const FIRST_SKIPPED: usize = 20;

struct OsvStreamer<'s> {
    names: Vec<String>,
    pending: Vec<Piece>,
    pending_bytes: usize,
    hasher: Sha256,
    ecosystems: BTreeSet<ferret_model::Ecosystem>,
    read: OsvRead,
    sink: &'s mut dyn FnMut(Vec<Advisory>) -> Result<(), AdvisoryError>,
}

impl OsvStreamer<'_> {
    fn push(&mut self, piece: Piece) -> Result<(), AdvisoryError> {
        self.pending_bytes += match &piece {
            Piece::Json { bytes, .. } | Piece::Yaml { bytes, .. } => bytes.len(),
        };
        self.pending.push(piece);
        if self.pending.len() >= CHUNK_RECORDS || self.pending_bytes >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Parses the pending pieces in parallel and hands the advisories to the sink.
    fn flush(&mut self) -> Result<(), AdvisoryError> {
        let pieces = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let names = &self.names;
        let parsed: Vec<Vec<Parsed>> = pieces
            .par_iter()
            .map(|piece| match piece {
                Piece::Yaml { input, bytes } => vec![
                    serde_norway::from_slice::<RawRecord>(bytes)
                        .map(convert)
                        .map_err(|e| (names[*input].clone(), format!("invalid YAML: {e}"))),
                ],
                Piece::Json { input, line, bytes } => {
                    let at = || match line {
                        Some(n) => format!("{}:{n}", names[*input]),
                        None => names[*input].clone(),
                    };
                    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
                    if start.is_some_and(|i| bytes[i] == b'[') {
                        match serde_json::from_slice::<Vec<RawRecord>>(bytes) {
                            Ok(records) => records.into_iter().map(|r| Ok(convert(r))).collect(),
                            Err(e) => vec![Err((at(), format!("invalid JSON: {e}")))],
                        }
                    } else {
                        vec![parse_one(bytes, at)]
                    }
                }
            })
            .collect();
        let mut advisories = Vec::new();
        for r in parsed.into_iter().flatten() {
            match r {
                Ok(Ok(a)) => advisories.push(a),
                Ok(Err(Rejection::Withdrawn)) => self.read.withdrawn += 1,
                Ok(Err(Rejection::Invalid(reason))) => {
                    let (id, why) = reason
                        .split_once(": ")
                        .map_or((String::new(), reason.clone()), |(i, w)| {
                            (i.to_owned(), w.to_owned())
                        });
                    self.skip((id, why));
                }
                Err(e) => self.skip(e),
            }
        }
        for a in &advisories {
            for x in &a.affected {
                self.ecosystems.insert(x.namespace.ecosystem);
            }
        }
        if advisories.is_empty() {
            return Ok(());
        }
        (self.sink)(advisories)
    }

    fn skip(&mut self, s: Skipped) {
        self.read.skipped += 1;
        if self.read.first_skipped.len() < FIRST_SKIPPED {
            self.read.first_skipped.push(s);
        }
    }

    fn input(&mut self, name: &str, body: InputBody<'_>) -> Result<(), AdvisoryError> {
        let input = self.names.len();
        self.names.push(name.to_owned());
        self.hasher.update(name.as_bytes());
        self.hasher.update([0]);
        match body {
            InputBody::Lines(reader, path) => {
                let mut n = 0;
                loop {
                    let mut line = Vec::new();
                    let read = (&mut *reader)
                        .take(MAX_DOCUMENT + 1)
                        .read_until(b'\n', &mut line)
                        .map_err(|e| AdvisoryError::io(path, e))?;
                    if read == 0 {
                        return Ok(());
                    }
                    n += 1;
                    if line.len() as u64 > MAX_DOCUMENT {
                        return Err(AdvisoryError::Feed {
                            path: path.to_owned(),
                            message: format!("line {n} is longer than {MAX_DOCUMENT} bytes"),
                        });
                    }
                    self.hasher.update(&line);
                    if !is_blank(&line) {
                        self.push(Piece::Json {
                            input,
                            line: Some(n),
                            bytes: line,
                        })?;
                    }
                }
            }
            InputBody::Whole(bytes) => {
                self.hasher.update(&bytes);
                if name.ends_with(".yaml") || name.ends_with(".yml") {
                    return self.push(Piece::Yaml { input, bytes });
                }
                // One record (or array) per file, or JSON lines without the extension.
                let lines: Vec<(usize, &[u8])> = bytes
                    .split(|b| *b == b'\n')
                    .enumerate()
                    .filter(|(_, l)| !is_blank(l))
                    .collect();
                let jsonl = lines.len() > 1
                    && lines.iter().all(|(_, l)| {
                        let t = l.trim_ascii();
                        t.starts_with(b"{") && t.ends_with(b"}")
                    });
                if !jsonl {
                    return self.push(Piece::Json {
                        input,
                        line: None,
                        bytes,
                    });
                }
                let lines: Vec<(usize, Vec<u8>)> = lines
                    .into_iter()
                    .map(|(n, l)| (n + 1, l.to_vec()))
                    .collect();
                drop(bytes);
                for (n, line) in lines {
                    self.push(Piece::Json {
                        input,
                        line: Some(n),
                        bytes: line,
                    })?;
                }
                Ok(())
            }
        }
    }
}

/// Reads OSV inputs as one feed, handing its advisories to `sink` in chunks as they are
/// parsed, so that memory stays bounded whatever the feed's size. The feed is named after
/// the ecosystems it covers (`osv-pypi`, `osv-go+pypi`).
pub(crate) fn stream_osv(
    paths: &[PathBuf],
    sink: &mut dyn FnMut(Vec<Advisory>) -> Result<(), AdvisoryError>,
) -> Result<OsvRead, AdvisoryError> {
    let mut streamer = OsvStreamer {
        names: Vec::new(),
        pending: Vec::new(),
        pending_bytes: 0,
        hasher: Sha256::new(),
        ecosystems: BTreeSet::new(),
        read: OsvRead {
            source: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            ..OsvRead::default()
        },
        sink,
    };
    for p in paths {
        each_input(p, &mut |name, body| streamer.input(name, body))?;
    }
    streamer.flush()?;
    let mut read = streamer.read;
    read.snapshot = hex::encode(streamer.hasher.finalize());
    let ecosystems: Vec<String> = streamer
        .ecosystems
        .iter()
        .map(|e| e.slug())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    read.name = if ecosystems.is_empty() {
        "osv".to_owned()
    } else {
        format!("osv-{}", ecosystems.join("+"))
    };
    Ok(read)
}

/// Advisories handed to the sink at once while streaming CSAF VEX documents.
const CSAF_CHUNK: usize = 512;

/// Reads CSAF VEX documents (a directory, a zip, a `.tar.zst`/`.tar.bz2`/`.tar.gz` archive
/// as the vendors publish them, or single files) one at a time, handing their advisories
/// to `sink` in chunks: Red Hat's archive is gigabytes, so nothing is held whole. The feed
/// is named after the vendors (`csaf-vex-redhat`).
pub(crate) fn stream_csaf(
    paths: &[PathBuf],
    sink: &mut dyn FnMut(Vec<Advisory>) -> Result<(), AdvisoryError>,
) -> Result<OsvRead, AdvisoryError> {
    let mut read = OsvRead {
        source: paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        ..OsvRead::default()
    };
    let mut hasher = Sha256::new();
    let mut vendors = BTreeSet::new();
    let mut pending: Vec<Advisory> = Vec::new();
    for p in paths {
        each_input(p, &mut |name, body| {
            let bytes = match body {
                InputBody::Whole(b) => b,
                InputBody::Lines(reader, at) => read_limited(reader, 0, at, "file")?,
            };
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(&bytes);
            match crate::csaf::parse(&bytes) {
                Ok((vendor, advisories, skipped)) => {
                    vendors.insert(vendor);
                    for s in skipped {
                        read.skipped += 1;
                        if read.first_skipped.len() < FIRST_SKIPPED {
                            read.first_skipped.push(s);
                        }
                    }
                    pending.extend(advisories);
                }
                // One unreadable document of thousands is skipped and named, as OSV's are.
                Err(why) => {
                    read.skipped += 1;
                    if read.first_skipped.len() < FIRST_SKIPPED {
                        read.first_skipped.push((name.to_owned(), why));
                    }
                }
            }
            if pending.len() >= CSAF_CHUNK {
                sink(std::mem::take(&mut pending))?;
            }
            Ok(())
        })?;
    }
    if !pending.is_empty() {
        sink(pending)?;
    }
    read.snapshot = hex::encode(hasher.finalize());
    read.name = if vendors.is_empty() {
        "csaf-vex".to_owned()
    } else {
        format!(
            "csaf-vex-{}",
            vendors
                .iter()
                .map(|v| v.slug())
                .collect::<Vec<_>>()
                .join("+")
        )
    };
    Ok(read)
}

/// Reads the inputs of one import. OSV inputs form one feed, named after the ecosystems
/// they cover, CSAF VEX documents one named after their vendors; each secdb, OVAL or
/// updateinfo document names its own feed (`alpine-3.10-main`, `oval-oracle-linux`,
/// `alas-2`); the Debian tracker is the feed `debian`.
pub fn read_feeds(kind: FeedKind, paths: &[PathBuf]) -> Result<Vec<FeedData>, AdvisoryError> {
    if matches!(kind, FeedKind::Osv | FeedKind::CsafVex) {
        let stream = if kind == FeedKind::CsafVex {
            stream_csaf
        } else {
            stream_osv
        };
        let mut advisories = Vec::new();
        let read = stream(paths, &mut |chunk| {
            advisories.extend(chunk);
            Ok(())
        })?;
        return Ok(vec![FeedData {
            kind,
            name: read.name,
            source: read.source,
            snapshot: read.snapshot,
            advisories,
            withdrawn: read.withdrawn,
            skipped: read.skipped,
            first_skipped: read.first_skipped,
        }]);
    }
    let mut all_inputs = Vec::new();
    for p in paths {
        for input in inputs(p)? {
            all_inputs.push((p.clone(), input));
        }
    }
    let snapshot_of = |inputs: &[&Input]| {
        let mut h = Sha256::new();
        for i in inputs {
            h.update(i.name.as_bytes());
            h.update([0]);
            h.update(&i.bytes);
        }
        hex::encode(h.finalize())
    };
    match kind {
        FeedKind::Osv | FeedKind::CsafVex => unreachable!("read above"),
        FeedKind::Nvd
        | FeedKind::Cve5
        | FeedKind::Kev
        | FeedKind::Epss
        | FeedKind::RepositoryToCpe => Err(AdvisoryError::Feed {
            path: paths.first().cloned().unwrap_or_default(),
            message: format!(
                "{} is a feed about CVEs, not packages: it streams into the database (import_feeds)",
                kind.name()
            ),
        }),
        FeedKind::DebianTracker => {
            // Several documents given at once form the one `debian` feed; a CVE named in
            // more than one keeps every package entry.
            let mut merged: BTreeMap<String, Advisory> = BTreeMap::new();
            let mut skipped_all = Vec::new();
            let mut sources = Vec::new();
            for (path, input) in &all_inputs {
                let (advisories, skipped) =
                    debian::parse(&input.bytes).map_err(|message| AdvisoryError::Feed {
                        path: path.clone(),
                        message,
                    })?;
                sources.push(path.display().to_string());
                skipped_all.extend(skipped);
                for a in advisories {
                    match merged.get_mut(&a.id) {
                        Some(x) => {
                            for aff in a.affected {
                                if !x.affected.contains(&aff) {
                                    x.affected.push(aff);
                                }
                            }
                        }
                        None => {
                            merged.insert(a.id.clone(), a);
                        }
                    }
                }
            }
            let inputs: Vec<&Input> = all_inputs.iter().map(|(_, i)| i).collect();
            Ok(vec![FeedData {
                kind,
                name: "debian".to_owned(),
                source: sources.join(" "),
                snapshot: snapshot_of(&inputs),
                advisories: merged.into_values().collect(),
                withdrawn: 0,
                skipped: skipped_all.len(),
                first_skipped: first_of(skipped_all),
            }])
        }
        FeedKind::Secdb => per_document(kind, &all_inputs, &snapshot_of, secdb::parse),
        FeedKind::Oval => per_document(kind, &all_inputs, &snapshot_of, |b| {
            oval::parse(&decompress(b)?)
        }),
        FeedKind::Alas => per_document(kind, &all_inputs, &snapshot_of, |b| {
            updateinfo::parse(&decompress(b)?)
        }),
    }
}

/// Gzip or bzip2 input (by its magic bytes, as Amazon and Oracle publish their XML),
/// decompressed up to [`MAX_DOCUMENT`] bytes.
fn decompress(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("not readable gzip: {e}"))?;
    } else if bytes.starts_with(b"BZh") {
        bzip2::read::MultiBzDecoder::new(bytes)
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("not readable bzip2: {e}"))?;
    } else {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    if out.len() as u64 > MAX_DOCUMENT {
        return Err(format!("decompresses to more than {MAX_DOCUMENT} bytes"));
    }
    Ok(std::borrow::Cow::Owned(out))
}

type DocumentParser<'p> =
    &'p dyn Fn(&[u8]) -> Result<(String, Vec<Advisory>, Vec<Skipped>), String>;

/// Feeds whose every document names its own feed (a secdb branch and repository, an OVAL
/// vendor and release, an updateinfo release): documents with the same name form one feed,
/// a record named in several keeps every package entry.
fn per_document(
    kind: FeedKind,
    all_inputs: &[(PathBuf, Input)],
    snapshot_of: &dyn Fn(&[&Input]) -> String,
    parse: impl Fn(&[u8]) -> Result<(String, Vec<Advisory>, Vec<Skipped>), String>,
) -> Result<Vec<FeedData>, AdvisoryError> {
    let parse: DocumentParser<'_> = &parse;
    let mut by_name: BTreeMap<String, FeedData> = BTreeMap::new();
    for (path, input) in all_inputs {
        let (name, advisories, skipped) =
            parse(&input.bytes).map_err(|message| AdvisoryError::Feed {
                path: path.clone(),
                // A zip member or a directory's file is named; a file given is the path.
                message: if Path::new(&input.name) == path.as_path() {
                    message
                } else {
                    format!("{}: {message}", input.name)
                },
            })?;
        match by_name.get_mut(&name) {
            Some(existing) => {
                existing.source.push(' ');
                existing.source.push_str(&input.name);
                existing.snapshot = snapshot_of(&[input]) + &existing.snapshot;
                existing.skipped += skipped.len();
                existing.first_skipped.extend(skipped);
                existing.first_skipped.truncate(FIRST_SKIPPED);
                for a in advisories {
                    match existing.advisories.iter_mut().find(|x| x.id == a.id) {
                        Some(x) => {
                            for aff in a.affected {
                                if !x.affected.contains(&aff) {
                                    x.affected.push(aff);
                                }
                            }
                            for r in a.related {
                                if !x.related.contains(&r) {
                                    x.related.push(r);
                                }
                            }
                            x.related.sort();
                        }
                        None => existing.advisories.push(a),
                    }
                }
            }
            None => {
                let skipped_count = skipped.len();
                by_name.insert(
                    name.clone(),
                    FeedData {
                        kind,
                        name,
                        source: input.name.clone(),
                        snapshot: snapshot_of(&[input]),
                        advisories,
                        withdrawn: 0,
                        skipped: skipped_count,
                        first_skipped: first_of(skipped),
                    },
                );
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// [`import_feeds_with`], reporting nothing.
pub fn import_feeds(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
    source: Option<&str>,
    fetched_at: &str,
    validators: &Validators,
) -> Result<Vec<Result<ImportSummary, AdvisoryError>>, AdvisoryError> {
    import_feeds_with(
        db,
        kind,
        paths,
        source,
        fetched_at,
        validators,
        &crate::no_progress,
    )
}

/// Reads feed inputs and imports them. OSV and CSAF VEX inputs stream through in chunks, so
/// memory stays bounded whatever the feed's size; Debian tracker, secdb, OVAL and
/// updateinfo documents are read whole.
/// `source` replaces the recorded source (`update` records the URL). One result per feed:
/// a failed secdb feed leaves the others imported. A failure while reading OSV inputs
/// fails the whole call, with the database unchanged.
pub fn import_feeds_with(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
    source: Option<&str>,
    fetched_at: &str,
    validators: &Validators,
    progress: Progress<'_>,
) -> Result<Vec<Result<ImportSummary, AdvisoryError>>, AdvisoryError> {
    let shown = source.map_or_else(
        || {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        },
        str::to_owned,
    );
    progress(FeedEvent::Import { source: &shown });
    let results = import_inner(db, kind, paths, source, fetched_at, validators, progress)?;
    for s in results.iter().flatten() {
        tracing::info!(feed = %s.feed, records = s.records, "imported");
        progress(FeedEvent::Imported {
            feed: &s.feed,
            records: s.records as u64,
        });
    }
    Ok(results)
}

fn import_inner(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
    source: Option<&str>,
    fetched_at: &str,
    validators: &Validators,
    progress: Progress<'_>,
) -> Result<Vec<Result<ImportSummary, AdvisoryError>>, AdvisoryError> {
    if kind.is_cve_feed() {
        return crate::facts::import_facts(
            db, kind, paths, source, fetched_at, validators, progress,
        );
    }
    if kind == FeedKind::RepositoryToCpe {
        return import_repository_cpes(db, kind, paths, source, fetched_at, validators);
    }
    if !matches!(kind, FeedKind::Osv | FeedKind::CsafVex) {
        let mut feeds = read_feeds(kind, paths)?;
        return Ok(feeds
            .iter_mut()
            .map(|feed| {
                if let Some(s) = source {
                    s.clone_into(&mut feed.source);
                }
                db.import(feed, fetched_at, validators)
            })
            .collect());
    }
    // OSV and CSAF VEX inputs stream into the import chunk by chunk.
    let stream = if kind == FeedKind::CsafVex {
        stream_csaf
    } else {
        stream_osv
    };
    let mut import = db.begin_import()?;
    let mut records = 0u64;
    let read = stream(paths, &mut |chunk| {
        records += chunk.len() as u64;
        progress(FeedEvent::Records(records));
        import.add(&chunk)
    })?;
    let summary = import.finish(
        &FeedMeta {
            kind,
            name: &read.name,
            source: source.unwrap_or(&read.source),
            snapshot: &read.snapshot,
            withdrawn: read.withdrawn,
            skipped: read.skipped,
            first_skipped: &read.first_skipped,
        },
        fetched_at,
        validators,
    );
    Ok(vec![summary])
}

/// Red Hat's `repository-to-cpe.json`: `{"data": {repository: {"cpes": [...]}}}`.
fn import_repository_cpes(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
    source: Option<&str>,
    fetched_at: &str,
    validators: &Validators,
) -> Result<Vec<Result<ImportSummary, AdvisoryError>>, AdvisoryError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        data: BTreeMap<String, Repo>,
    }
    #[derive(serde::Deserialize)]
    struct Repo {
        #[serde(default)]
        cpes: Vec<String>,
    }
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut hasher = Sha256::new();
    for p in paths {
        each_input(p, &mut |name, body| {
            let bytes = match body {
                InputBody::Whole(b) => b,
                InputBody::Lines(reader, at) => read_limited(reader, 0, at, "file")?,
            };
            hasher.update(&bytes);
            let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| AdvisoryError::Feed {
                path: p.clone(),
                message: format!("{name}: not Red Hat's repository-to-cpe JSON: {e}"),
            })?;
            for (repo, r) in doc.data {
                let cpes = map.entry(repo).or_default();
                for c in r.cpes {
                    if c.starts_with("cpe:/") && !cpes.contains(&c) {
                        cpes.push(c);
                    }
                }
            }
            Ok(())
        })?;
    }
    map.retain(|_, cpes| !cpes.is_empty());
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let snapshot = hex::encode(hasher.finalize());
    Ok(vec![db.import_repository_cpes(
        &FeedMeta {
            kind,
            name: "redhat-repository-to-cpe",
            source: source.unwrap_or(&shown),
            snapshot: &snapshot,
            withdrawn: 0,
            skipped: 0,
            first_skipped: &[],
        },
        &map,
        fetched_at,
        validators,
    )])
}
