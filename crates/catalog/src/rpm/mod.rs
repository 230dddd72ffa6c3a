//! `os/rpm`: the rpm database in any of its three backends, SQLite (`rpmdb.sqlite`),
//! Berkeley DB hash (`Packages`) and NDB (`Packages.db`), under `var/lib/rpm` or
//! `usr/lib/sysimage/rpm`. Each backend yields header blobs, parsed by [`header`].

mod bdb;
pub(crate) mod header;
mod ndb;

use ferret_layers::FileEntry;
use ferret_model::{Package, PackageKind, PackageMetadata, RpmMetadata, SourcePackage};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Rpm;

const NAME: &str = "os/rpm";

/// A package database could not be read at all.
#[derive(Debug)]
pub(crate) struct DbError(pub String);

impl Cataloger for Rpm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        3
    }

    fn patterns(&self) -> &'static [&'static str] {
        &[
            "var/lib/rpm/{Packages,Packages.db,rpmdb.sqlite}",
            "usr/lib/sysimage/rpm/{Packages,Packages.db,rpmdb.sqlite}",
            "usr/share/rpm/{Packages,Packages.db,rpmdb.sqlite}",
        ]
    }

    fn catalog(&self, files: &[FileEntry<'_>], ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let file_name = file.path.rsplit('/').next().unwrap_or("");
            let read = match file_name {
                "rpmdb.sqlite" => sqlite_blobs(data),
                "Packages.db" => ndb::blobs(data),
                _ => bdb::blobs(data),
            };
            let (blobs, problems) = match read {
                Ok(r) => r,
                Err(DbError(message)) => {
                    out.notes.push(note(NAME, file, message));
                    continue;
                }
            };
            for p in problems {
                out.notes.push(note(NAME, file, p));
            }
            for blob in blobs {
                match header::parse_header(&blob) {
                    // Imported signing keys are stored as pseudo-packages; they are not software.
                    Ok(h) if h.name == "gpg-pubkey" => {}
                    Ok(h) => out.packages.push(package(h, file, ctx)),
                    Err(e) => out.notes.push(note(NAME, file, e.to_string())),
                }
            }
        }
    }
}

/// Header blobs from an `rpmdb.sqlite`, opened in memory (no temporary file).
fn sqlite_blobs(data: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<String>), DbError> {
    if !data.starts_with(b"SQLite format 3\0") {
        return Err(DbError("not an SQLite database".to_owned()));
    }
    let mut image = data.to_vec();
    // A WAL-mode database (bytes 18-19 = 2) cannot be opened from memory; the legacy
    // journal mode reads the same pages.
    if image.len() > 19 && image[18] == 2 && image[19] == 2 {
        image[18] = 1;
        image[19] = 1;
    }
    let err = |e: rusqlite::Error| DbError(format!("rpmdb.sqlite: {e}"));
    let mut conn = rusqlite::Connection::open_in_memory().map_err(err)?;
    let len = image.len();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], len, true)
        .map_err(err)?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(err)?;
    let mut blobs = Vec::new();
    let mut problems = Vec::new();
    for row in rows {
        match row {
            Ok(b) => blobs.push(b),
            Err(e) => problems.push(format!("rpmdb.sqlite row: {e}")),
        }
    }
    Ok((blobs, problems))
}

fn package(h: header::RpmHeader, file: &FileEntry<'_>, ctx: &Context<'_>) -> Package {
    let evr_version = format!("{}-{}", h.version, h.release);
    let version = match h.epoch {
        Some(e) => format!("{e}:{evr_version}"),
        None => evr_version.clone(),
    };
    let (namespace, distro_qualifier) = purl::namespace(PackageKind::Rpm, ctx.distro);
    let arch = h.arch.clone().filter(|a| !a.is_empty() && a != "(none)");
    let mut qualifiers = Vec::new();
    if let Some(a) = &arch {
        qualifiers.push(("arch", a.clone()));
    }
    if let Some(e) = h.epoch {
        qualifiers.push(("epoch", e.to_string()));
    }
    if let Some(q) = distro_qualifier {
        qualifiers.push(("distro", q));
    }
    let source = h
        .source_rpm
        .as_deref()
        .and_then(split_srpm)
        .map(|(n, v, r)| SourcePackage {
            name: n.to_owned(),
            version: match h.epoch {
                Some(e) => format!("{e}:{v}-{r}"),
                None => format!("{v}-{r}"),
            },
        });
    let none_if_empty = |s: Option<String>| s.filter(|s| !s.is_empty() && s != "(none)");
    // As Syft writes it: the source RPM's file name, when the package is not its own source.
    if let (Some(srpm), Some(src)) = (none_if_empty(h.source_rpm.clone()), &source)
        && (src.name != h.name || src.version != version)
    {
        qualifiers.push(("upstream", srpm));
    }
    Package {
        purl: purl::build(
            PackageKind::Rpm.purl_type(),
            &namespace,
            &h.name,
            &evr_version,
            &qualifiers,
        ),
        name: h.name,
        version,
        kind: PackageKind::Rpm,
        architecture: arch,
        source,
        licenses: none_if_empty(h.license).into_iter().collect(),
        location: location(file),
        found_by: NAME.to_owned(),
        metadata: PackageMetadata::Rpm(RpmMetadata {
            epoch: h.epoch,
            version: h.version,
            release: h.release,
            source_rpm: none_if_empty(h.source_rpm),
            vendor: none_if_empty(h.vendor),
            modularity_label: none_if_empty(h.modularity_label),
        }),
    }
}

/// `name-version-release.src.rpm` → (name, version, release).
fn split_srpm(srpm: &str) -> Option<(&str, &str, &str)> {
    let base = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = base.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some((name, version, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srpm_names() {
        assert_eq!(
            split_srpm("glibc-2.34-100.el9.src.rpm"),
            Some(("glibc", "2.34", "100.el9"))
        );
        assert_eq!(
            split_srpm("python3-pip-21.2.3-7.el9.src.rpm"),
            Some(("python3-pip", "21.2.3", "7.el9"))
        );
        assert_eq!(split_srpm("weird"), None);
    }

    #[test]
    fn databases_reject_garbage() {
        assert!(bdb::blobs(&[0u8; 4096]).is_err());
        assert!(ndb::blobs(b"RpmP").is_err());
        assert!(sqlite_blobs(b"not sqlite").is_err());
    }
}
