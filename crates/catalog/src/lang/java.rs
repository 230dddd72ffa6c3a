//! `lang/java`: Java archives (`.jar`, `.war`, `.ear`, `.jpi`, `.hpi`) and the archives
//! nested in them, to a bounded depth. Each `pom.properties` names an artifact (a shaded
//! jar lists the ones it embeds); an archive without one is named by its `MANIFEST.MF`
//! and its file name. Reading is bounded: members are read up to a size, a member that
//! expands too far against its stored size is a bomb and is skipped, and an archive that
//! holds itself is a loop.

use std::io::{self, Cursor, Read, Seek, Write};

use ferret_layers::{Content, FileEntry};
use ferret_model::{JavaMetadata, Package, PackageKind, PackageMetadata};
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Java;

const NAME: &str = "lang/java";
/// How deep archives inside archives are opened.
const MAX_DEPTH: usize = 8;
/// The largest nested archive read into memory.
const MAX_NESTED: u64 = 256 << 20;
/// The most bytes all nested archives of one file may expand to.
const MAX_EXPANDED: u64 = 1 << 30;
/// The largest `pom.properties` or `MANIFEST.MF` read.
const MAX_METADATA: u64 = 1 << 20;
/// A member expanding more than this many times its stored size, past a floor, is a bomb.
const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 16 << 20;
/// An archive streaming past in a layer is held in memory up to this size, and spooled
/// to a temporary file beyond it (a zip is read from its end, so it must be seekable).
const SPOOL_IN_MEMORY: usize = 16 << 20;

const ARCHIVES: &[&str] = &[".jar", ".war", ".ear", ".jpi", ".hpi"];

impl Cataloger for Java {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        2
    }

    fn patterns(&self) -> &'static [&'static str] {
        &["**/*.jar", "**/*.war", "**/*.ear", "**/*.jpi", "**/*.hpi"]
    }

    fn extracts(&self) -> bool {
        true
    }

    /// Reads the archive as it streams past, keeping only the artifacts and notes found.
    fn extract(&self, path: &str, file: &mut dyn Read, size: u64) -> io::Result<Option<Vec<u8>>> {
        let mut spool = tempfile::spooled_tempfile(SPOOL_IN_MEMORY.min(size as usize));
        let mut hasher = Sha1::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            spool.write_all(&buf[..n])?;
        }
        spool.rewind()?;
        let sha1 = hex::encode(hasher.finalize());
        let found = extract(spool, sha1, base_name(path));
        serde_json::to_vec(&found)
            .map(Some)
            .map_err(io::Error::other)
    }

    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let found = match file.content {
                Content::Probed(data) => match serde_json::from_slice::<Extracted>(data) {
                    Ok(found) => found,
                    Err(e) => {
                        out.notes
                            .push(note(NAME, file, format!("unreadable extract: {e}")));
                        continue;
                    }
                },
                // Kept whole by a caller that did not stream it (an unpacked directory
                // read by another reader): read in place.
                Content::Kept(data) => extract(
                    Cursor::new(data),
                    hex::encode(Sha1::digest(data)),
                    base_name(file.path),
                ),
                Content::TooLarge(_) => {
                    out.read(file, NAME);
                    continue;
                }
            };
            for (nested, message) in found.notes {
                let message = if nested.is_empty() {
                    message
                } else {
                    format!("{nested}: {message}")
                };
                out.notes.push(note(NAME, file, message));
            }
            for f in found.artifacts {
                out.packages.push(package(file, f));
            }
        }
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What one archive (with the archives nested in it) holds: the artifacts, and the
/// problems met, each with the nested path (`inner.jar!deeper.jar`, empty for the archive
/// itself). It travels from the layer walk to the cataloger serialised.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Extracted {
    artifacts: Vec<Found>,
    notes: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Found {
    #[serde(flatten)]
    artifact: Artifact,
    nested: String,
    sha1: String,
}

/// Reads an archive whose SHA-1 is `sha1`.
fn extract<R: Read + Seek>(reader: R, sha1: String, file_name: &str) -> Extracted {
    let mut walk = Walk {
        found: Extracted::default(),
        expanded: 0,
        ancestors: Vec::new(),
    };
    walk.archive(reader, sha1, file_name, "");
    walk.found
}

fn package(file: &FileEntry<'_>, f: Found) -> Package {
    let a = f.artifact;
    let group = a.group.clone().unwrap_or_default();
    Package {
        purl: purl::build(
            PackageKind::JavaArchive.purl_type(),
            &group,
            &a.artifact,
            &a.version,
            &[],
        ),
        name: a.artifact.clone(),
        version: a.version,
        kind: PackageKind::JavaArchive,
        architecture: None,
        source: None,
        licenses: a.licenses,
        location: location(file),
        found_by: NAME.to_owned(),
        metadata: PackageMetadata::Java(JavaMetadata {
            group_id: a.group,
            artifact_id: a.artifact,
            named_by: a.named_by,
            nested_path: f.nested,
            sha1: f.sha1,
        }),
    }
}

struct Walk {
    found: Extracted,
    expanded: u64,
    /// SHA-1s of the archives being read, outermost first.
    ancestors: Vec<String>,
}

impl Walk {
    fn note(&mut self, nested: &str, message: impl Into<String>) {
        self.found.notes.push((nested.to_owned(), message.into()));
    }

    /// Reads one archive: its artifacts, then the archives inside it.
    fn archive<R: Read + Seek>(&mut self, reader: R, sha1: String, file_name: &str, nested: &str) {
        if self.ancestors.contains(&sha1) {
            self.note(
                nested,
                "the archive contains itself (a nesting loop); not read again",
            );
            return;
        }
        let mut zip = match zip::ZipArchive::new(reader) {
            Ok(z) => z,
            Err(e) => {
                self.note(nested, format!("not a readable zip archive: {e}"));
                return;
            }
        };
        let mut poms = Vec::new();
        let mut manifest = None;
        let mut inner = Vec::new();
        for i in 0..zip.len() {
            let Ok(entry) = zip.by_index_raw(i) else {
                continue;
            };
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if entry.is_dir() {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if name == "pom.properties" || name.ends_with("/pom.properties") {
                poms.push(i);
            } else if lower == "meta-inf/manifest.mf" {
                manifest = Some(i);
            } else if ARCHIVES.iter().any(|s| lower.ends_with(s)) {
                inner.push(i);
            }
        }
        let mut found = Vec::new();
        for i in poms {
            match read_member(&mut zip, i, MAX_METADATA) {
                Ok(bytes) => {
                    if let Some(a) = pom_properties(&String::from_utf8_lossy(&bytes)) {
                        found.push(a);
                    }
                }
                Err(e) => self.note(nested, e),
            }
        }
        if found.is_empty() {
            let mf = manifest
                .and_then(|i| read_member(&mut zip, i, MAX_METADATA).ok())
                .map(|b| main_section(&String::from_utf8_lossy(&b)))
                .unwrap_or_default();
            found.extend(from_manifest_and_name(&mf, file_name));
        }
        found.sort();
        found.dedup();
        for artifact in found {
            self.found.artifacts.push(Found {
                artifact,
                nested: nested.to_owned(),
                sha1: sha1.clone(),
            });
        }
        if self.ancestors.len() + 1 >= MAX_DEPTH && !inner.is_empty() {
            self.note(
                nested,
                format!("archives nested deeper than {MAX_DEPTH} levels are not read"),
            );
            return;
        }
        self.ancestors.push(sha1);
        for i in inner {
            let (member, size, stored) = match zip.by_index_raw(i) {
                Ok(e) => (
                    String::from_utf8_lossy(e.name_raw()).into_owned(),
                    e.size(),
                    e.compressed_size(),
                ),
                Err(_) => continue,
            };
            let path = if nested.is_empty() {
                member.clone()
            } else {
                format!("{nested}!{member}")
            };
            if size > MAX_NESTED {
                self.note(
                    &path,
                    format!("not read: {size} bytes is over {MAX_NESTED}"),
                );
                continue;
            }
            if size > RATIO_FLOOR && size / stored.max(1) > MAX_RATIO {
                self.note(
                    &path,
                    format!("not read: expands {size} bytes from {stored} (a decompression bomb)"),
                );
                continue;
            }
            if self.expanded + size > MAX_EXPANDED {
                self.note(
                    &path,
                    "not read: the nested archives of this file expand past 1 GiB",
                );
                continue;
            }
            match read_member(&mut zip, i, MAX_NESTED) {
                Ok(bytes) => {
                    self.expanded += bytes.len() as u64;
                    let name = base_name(&member).to_owned();
                    let sha1 = hex::encode(Sha1::digest(&bytes));
                    self.archive(Cursor::new(bytes), sha1, &name, &path);
                }
                Err(e) => self.note(&path, e),
            }
        }
        self.ancestors.pop();
    }
}

/// Reads a member, refusing more than `limit` bytes whatever its header claims.
fn read_member<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let entry = zip
        .by_index(index)
        .map_err(|e| format!("member {index}: {e}"))?;
    let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name}: larger than {limit} bytes; not read"));
    }
    Ok(bytes)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Artifact {
    group: Option<String>,
    artifact: String,
    version: String,
    named_by: String,
    licenses: Vec<String>,
}

/// `groupId`, `artifactId` and `version` of a `pom.properties` (Java properties; `#`
/// comments; `=` or `:` separators).
fn pom_properties(text: &str) -> Option<Artifact> {
    let (mut group, mut artifact, mut version) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "groupId" => group = Some(v.to_owned()).filter(|v| !v.is_empty()),
            "artifactId" => artifact = Some(v.to_owned()).filter(|v| !v.is_empty()),
            "version" => version = Some(v.to_owned()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    Some(Artifact {
        group,
        artifact: artifact?,
        version: version?,
        named_by: "pom.properties".to_owned(),
        licenses: Vec::new(),
    })
}

/// The main section of a manifest, continuation lines joined.
fn main_section(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(more);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// A file name without its archive extension (`.jar`, `.war`, … in any case).
fn archive_stem(file_name: &str) -> &str {
    ARCHIVES
        .iter()
        .find_map(|s| {
            file_name
                .len()
                .checked_sub(s.len())
                .filter(|&i| file_name[i..].eq_ignore_ascii_case(s))
                .map(|i| &file_name[..i])
        })
        .unwrap_or(file_name)
}

/// `name-1.2.3.jar` → (`name`, `1.2.3`): the version starts at the first `-` followed by
/// a digit.
fn split_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = archive_stem(file_name);
    let i = stem
        .char_indices()
        .find(|(i, c)| *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)?;
    Some((&stem[..i], &stem[i + 1..]))
}

/// Without a `pom.properties`: the artifact from the file name (with or without a version
/// in it; a manifest title only when the name says nothing, and never a title with spaces
/// such as `Spring Framework`, which is no artifactId), the version from the file name or
/// the manifest, the group from `Implementation-Vendor-Id`, else from
/// `Bundle-SymbolicName`: the part before `.artifact`, or before its last segment when
/// that segment is the artifact's last word (`org.apache.commons.lang3` for
/// `commons-lang3`).
fn from_manifest_and_name(mf: &[(String, String)], file_name: &str) -> Option<Artifact> {
    let get = |k: &str| {
        mf.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let stem = archive_stem(file_name);
    let plausible = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let (artifact, file_version) = match split_file_name(file_name) {
        Some((a, v)) => (a.to_owned(), Some(v.to_owned())),
        None if plausible(stem) && !mf.is_empty() => (stem.to_owned(), None),
        None => (
            get("Implementation-Title")
                .or_else(|| get("Bundle-Name"))
                .filter(|t| plausible(t))
                .map(str::to_owned)?,
            None,
        ),
    };
    let version = file_version.or_else(|| {
        get("Implementation-Version")
            .or_else(|| get("Bundle-Version"))
            .or_else(|| get("Specification-Version"))
            .map(|v| v.split_whitespace().next().unwrap_or(v).to_owned())
    })?;
    let group = get("Implementation-Vendor-Id")
        .map(str::to_owned)
        .or_else(|| {
            let bsn = get("Bundle-SymbolicName")?;
            let bsn = bsn.split(';').next().unwrap_or(bsn).trim();
            if let Some(g) = bsn.strip_suffix(&format!(".{artifact}")) {
                return Some(g.to_owned());
            }
            let (parent, last) = bsn.rsplit_once('.')?;
            let word = artifact.rsplit(['-', '_']).next().unwrap_or(&artifact);
            last.eq_ignore_ascii_case(word).then(|| parent.to_owned())
        });
    let licenses = get("Bundle-License")
        .map(|l| vec![l.split(';').next().unwrap_or(l).trim().to_owned()])
        .unwrap_or_default();
    Some(Artifact {
        group,
        artifact,
        version,
        named_by: if mf.is_empty() {
            "file name"
        } else {
            "MANIFEST.MF"
        }
        .to_owned(),
        licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in members {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// An archive met again inside itself (a zip quine's shape: the same bytes one level
    /// down) is noted and not descended into; its siblings still are.
    #[test]
    fn nesting_loops_stop() {
        let inner = jar(&[(
            "META-INF/maven/g/inner/pom.properties",
            b"groupId=g\nartifactId=inner\nversion=1\n",
        )]);
        let other = jar(&[(
            "META-INF/maven/g/other/pom.properties",
            b"groupId=g\nartifactId=other\nversion=2\n",
        )]);
        let outer = jar(&[("lib/self.jar", &inner), ("lib/other.jar", &other)]);
        let mut walk = Walk {
            found: Extracted::default(),
            expanded: 0,
            // As if `inner` were the archive being read further up.
            ancestors: vec![hex::encode(Sha1::digest(&inner))],
        };
        walk.archive(Cursor::new(&outer[..]), "outer".to_owned(), "outer.jar", "");
        assert_eq!(
            walk.found.notes,
            [(
                "lib/self.jar".to_owned(),
                "the archive contains itself (a nesting loop); not read again".to_owned()
            )]
        );
        let names: Vec<&str> = walk
            .found
            .artifacts
            .iter()
            .map(|f| f.artifact.artifact.as_str())
            .collect();
        assert_eq!(names, ["other"]);
    }

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("zstd-jni-1.3.8-5.jar"),
            Some(("zstd-jni", "1.3.8-5"))
        );
        assert_eq!(
            split_file_name("HdrHistogram-2.1.9.JAR"),
            Some(("HdrHistogram", "2.1.9"))
        );
        assert_eq!(split_file_name("stress.jar"), None);
        assert_eq!(split_file_name("nested_at_10.jar"), None);
    }

    #[test]
    fn manifests() {
        let mf = main_section(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.hdrhistogram.Hdr\r\n Histogram\r\nImplementation-Version: 5.6.0 (b0)\r\n\r\nName: x\r\nImplementation-Version: 9\r\n",
        );
        assert_eq!(
            mf[1],
            (
                "Bundle-SymbolicName".to_owned(),
                "org.hdrhistogram.HdrHistogram".to_owned()
            )
        );
        assert_eq!(mf.len(), 3);
        // No version in the file name: the name and the manifest's version and symbolic name.
        let a = from_manifest_and_name(&mf, "HdrHistogram.jar").unwrap();
        assert_eq!(
            (a.group.as_deref(), a.artifact.as_str(), a.version.as_str()),
            (Some("org.hdrhistogram"), "HdrHistogram", "5.6.0")
        );
        // A title with spaces is no artifactId; the file name is.
        let spring = main_section(
            "Manifest-Version: 1.0\r\nImplementation-Title: Spring Framework\r\nImplementation-Version: 5.3.39\r\nBundle-SymbolicName: org.apache.commons.lang3\r\n",
        );
        let a = from_manifest_and_name(&spring, "commons-lang3.jar").unwrap();
        assert_eq!(
            (a.group.as_deref(), a.artifact.as_str(), a.version.as_str()),
            (Some("org.apache.commons"), "commons-lang3", "5.3.39")
        );
        assert!(from_manifest_and_name(&spring[..2], "Spring Framework.jar").is_none());
        let mut titled = mf.clone();
        titled.push(("Implementation-Title".to_owned(), "jna".to_owned()));
        let a = from_manifest_and_name(&titled, "jna.jar").unwrap();
        assert_eq!((a.artifact.as_str(), a.version.as_str()), ("jna", "5.6.0"));
        let a = from_manifest_and_name(&mf, "HdrHistogram-2.1.9.jar").unwrap();
        assert_eq!(
            (a.group.as_deref(), a.version.as_str()),
            (Some("org.hdrhistogram"), "2.1.9")
        );
    }
}
