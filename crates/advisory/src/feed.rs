//! Reading feed inputs from disk: OSV as `all.zip`, a directory of `.json`/`.yaml`
//! records, a single record or JSON lines; the Debian tracker JSON; secdb documents.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::model::{Advisory, FeedKind};
use rayon::prelude::*;

use crate::osv::{RawRecord, Rejection, convert};
use crate::{AdvisoryError, debian, secdb};

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
    /// Records skipped, as (id or file, reason).
    pub skipped: Vec<(String, String)>,
}

struct Input {
    name: String,
    bytes: Vec<u8>,
}

fn read_limited(mut r: impl Read, path: &Path, what: &str) -> Result<Vec<u8>, AdvisoryError> {
    let mut buf = Vec::new();
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

/// Every document under `path`: zip members, directory files, or the file itself.
fn inputs(path: &Path) -> Result<Vec<Input>, AdvisoryError> {
    let meta = std::fs::metadata(path).map_err(|e| AdvisoryError::io(path, e))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let mut stack = vec![path.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| AdvisoryError::io(&dir, e))? {
                let p = entry.map_err(|e| AdvisoryError::io(&dir, e))?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "yaml" | "yml" | "jsonl")
                ) {
                    files.push(p);
                }
            }
        }
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let file = std::fs::File::open(&f).map_err(|e| AdvisoryError::io(&f, e))?;
            out.push(Input {
                name: f.display().to_string(),
                bytes: read_limited(file, &f, "file")?,
            });
        }
        return Ok(out);
    }
    let file = std::fs::File::open(path).map_err(|e| AdvisoryError::io(path, e))?;
    if path.extension().and_then(|e| e.to_str()) == Some("zip") {
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
        let mut out = Vec::new();
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
            let bytes = read_limited(member, path, &format!("member {name}"))?;
            out.push(Input { name, bytes });
        }
        return Ok(out);
    }
    Ok(vec![Input {
        name: path.display().to_string(),
        bytes: read_limited(file, path, "file")?,
    }])
}

type Parsed = Result<Result<Advisory, Rejection>, (String, String)>;

fn parse_one(text: &str, at: &str) -> Parsed {
    serde_json::from_str::<RawRecord>(text)
        .map(|raw| {
            let id = raw.id.clone();
            convert(raw).map_err(|r| match r {
                Rejection::Invalid(why) => Rejection::Invalid(format!("{id}: {why}")),
                other => other,
            })
        })
        .map_err(|e| (at.to_owned(), format!("invalid JSON: {e}")))
}

/// Parses and converts every OSV record of one input, records in parallel.
fn osv_records(input: &Input, out: &mut Vec<Parsed>) {
    let is_yaml = input.name.ends_with(".yaml") || input.name.ends_with(".yml");
    if is_yaml {
        out.push(
            serde_norway::from_slice::<RawRecord>(&input.bytes)
                .map(convert)
                .map_err(|e| (input.name.clone(), format!("invalid YAML: {e}"))),
        );
        return;
    }
    let text = String::from_utf8_lossy(&input.bytes);
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        match serde_json::from_str::<Vec<RawRecord>>(&text) {
            Ok(records) => out.extend(records.into_iter().map(|r| Ok(convert(r)))),
            Err(e) => out.push(Err((input.name.clone(), format!("invalid JSON: {e}")))),
        }
        return;
    }
    // One record per file, or JSON lines (one record per line).
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let jsonl = input.name.ends_with(".jsonl")
        || (lines.len() > 1
            && lines
                .iter()
                .all(|(_, l)| l.trim_start().starts_with('{') && l.trim_end().ends_with('}')));
    if jsonl {
        out.par_extend(
            lines
                .par_iter()
                .map(|(n, line)| parse_one(line, &format!("{}:{}", input.name, n + 1))),
        );
    } else {
        out.push(parse_one(&text, &input.name));
    }
}

/// Reads the inputs of one import. OSV inputs form one feed, named after the ecosystems
/// they cover; each secdb document is its own feed (`alpine-3.10-main`); the Debian
/// tracker is the feed `debian`.
pub fn read_feeds(kind: FeedKind, paths: &[PathBuf]) -> Result<Vec<FeedData>, AdvisoryError> {
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
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
        FeedKind::Osv => {
            let mut parsed = Vec::new();
            for (_, input) in &all_inputs {
                osv_records(input, &mut parsed);
            }
            let mut advisories = Vec::new();
            let mut skipped = Vec::new();
            let mut withdrawn = 0;
            for r in parsed {
                match r {
                    Err(e) => skipped.push(e),
                    Ok(Ok(a)) => advisories.push(a),
                    Ok(Err(Rejection::Withdrawn)) => withdrawn += 1,
                    Ok(Err(Rejection::Invalid(reason))) => {
                        let (id, why) = reason
                            .split_once(": ")
                            .map_or((String::new(), reason.clone()), |(i, w)| {
                                (i.to_owned(), w.to_owned())
                            });
                        skipped.push((id, why));
                    }
                }
            }
            let mut ecosystems: Vec<String> = advisories
                .iter()
                .flat_map(|a| {
                    a.affected
                        .iter()
                        .map(|x| x.ecosystem.name.to_lowercase().replace(' ', "-"))
                })
                .collect();
            ecosystems.sort();
            ecosystems.dedup();
            let name = if ecosystems.is_empty() {
                "osv".to_owned()
            } else {
                format!("osv-{}", ecosystems.join("+"))
            };
            let refs: Vec<&Input> = all_inputs.iter().map(|(_, i)| i).collect();
            Ok(vec![FeedData {
                kind,
                name,
                source,
                snapshot: snapshot_of(&refs),
                advisories,
                withdrawn,
                skipped,
            }])
        }
        FeedKind::DebianTracker => {
            let mut out = Vec::new();
            for (path, input) in &all_inputs {
                let (advisories, skipped) =
                    debian::parse(&input.bytes).map_err(|message| AdvisoryError::Feed {
                        path: path.clone(),
                        message,
                    })?;
                out.push(FeedData {
                    kind,
                    name: "debian".to_owned(),
                    source: path.display().to_string(),
                    snapshot: snapshot_of(&[input]),
                    advisories,
                    withdrawn: 0,
                    skipped,
                });
            }
            Ok(out)
        }
        FeedKind::Secdb => {
            let mut by_name: BTreeMap<String, FeedData> = BTreeMap::new();
            for (path, input) in &all_inputs {
                let (name, advisories, skipped) =
                    secdb::parse(&input.bytes).map_err(|message| AdvisoryError::Feed {
                        path: path.clone(),
                        message: format!("{}: {message}", input.name),
                    })?;
                // Two documents of the same branch and repository form one feed.
                match by_name.get_mut(&name) {
                    Some(existing) => {
                        existing.source.push(' ');
                        existing.source.push_str(&input.name);
                        existing.snapshot = snapshot_of(&[input]) + &existing.snapshot;
                        existing.skipped.extend(skipped);
                        for a in advisories {
                            match existing.advisories.iter_mut().find(|x| x.id == a.id) {
                                Some(x) => {
                                    for aff in a.affected {
                                        if !x.affected.contains(&aff) {
                                            x.affected.push(aff);
                                        }
                                    }
                                }
                                None => existing.advisories.push(a),
                            }
                        }
                    }
                    None => {
                        by_name.insert(
                            name.clone(),
                            FeedData {
                                kind,
                                name,
                                source: input.name.clone(),
                                snapshot: snapshot_of(&[input]),
                                advisories,
                                withdrawn: 0,
                                skipped,
                            },
                        );
                    }
                }
            }
            Ok(by_name.into_values().collect())
        }
    }
}
