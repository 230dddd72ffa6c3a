//! `os/apk`: Alpine's `lib/apk/db/installed`.

use ferret_layers::FileEntry;
use ferret_model::{ApkMetadata, Package, PackageKind, PackageMetadata, SourcePackage};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Apk;

const NAME: &str = "os/apk";

impl Cataloger for Apk {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn patterns(&self) -> &'static [&'static str] {
        &["lib/apk/db/installed", "usr/lib/apk/db/installed"]
    }

    fn catalog(&self, files: &[FileEntry<'_>], ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let text = String::from_utf8_lossy(data);
            let mut record = Record::default();
            for (i, raw) in text.split('\n').enumerate() {
                let line = raw.strip_suffix('\r').unwrap_or(raw);
                if line.trim().is_empty() {
                    record.finish(file, ctx, out);
                    continue;
                }
                let b = line.as_bytes();
                if b.len() < 2 || b[1] != b':' {
                    let shown: String = line.chars().take(40).collect();
                    out.notes.push(note(
                        NAME,
                        file,
                        format!(
                            "line {}: expected 'X:value', found {shown:?}; line skipped",
                            i + 1
                        ),
                    ));
                    continue;
                }
                if record.line == 0 {
                    record.line = i + 1;
                }
                let value = &line[2..];
                // The first occurrence of a key in a block wins.
                let slot = match b[0] {
                    b'P' => &mut record.name,
                    b'V' => &mut record.version,
                    b'A' => &mut record.arch,
                    b'o' => &mut record.origin,
                    b'L' => &mut record.license,
                    b'm' => &mut record.maintainer,
                    b't' => &mut record.build_time,
                    b'c' => &mut record.commit,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(value.to_owned());
                }
            }
            record.finish(file, ctx, out);
        }
    }
}

#[derive(Default)]
struct Record {
    line: usize,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
    license: Option<String>,
    maintainer: Option<String>,
    build_time: Option<String>,
    commit: Option<String>,
}

impl Record {
    fn finish(&mut self, file: &FileEntry<'_>, ctx: &Context<'_>, out: &mut Output) {
        let r = std::mem::take(self);
        if r.line == 0 {
            return;
        }
        let Some(name) = r.name.filter(|n| !n.is_empty()) else {
            return;
        };
        let Some(version) = r.version.filter(|v| !v.is_empty()) else {
            out.notes.push(note(
                NAME,
                file,
                format!("line {}: package {name:?} has no V: version", r.line),
            ));
            return;
        };
        let (namespace, distro_qualifier) = purl::namespace(PackageKind::Apk, ctx.distro);
        let mut qualifiers = Vec::new();
        if let Some(a) = &r.arch {
            qualifiers.push(("arch", a.clone()));
        }
        if let Some(q) = distro_qualifier {
            qualifiers.push(("distro", q));
        }
        let source = SourcePackage {
            name: r.origin.clone().unwrap_or_else(|| name.clone()),
            version: version.clone(),
        };
        if let Some(u) = purl::upstream(&name, &version, &source.name, &source.version) {
            qualifiers.push(("upstream", u));
        }
        out.packages.push(Package {
            purl: purl::build(
                PackageKind::Apk.purl_type(),
                &namespace,
                &name,
                &version,
                &qualifiers,
            ),
            name,
            version,
            kind: PackageKind::Apk,
            architecture: r.arch.filter(|a| !a.is_empty()),
            source: Some(source),
            licenses: r.license.filter(|l| !l.is_empty()).into_iter().collect(),
            location: location(file),
            found_by: NAME.to_owned(),
            metadata: PackageMetadata::Apk(ApkMetadata {
                origin: r.origin,
                maintainer: r.maintainer,
                build_time: r.build_time.and_then(|t| t.trim().parse().ok()),
                commit: r.commit,
            }),
        });
    }
}
