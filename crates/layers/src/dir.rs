//! `dir:` sources: an unpacked root file system on disk, walked once without following
//! symlinks (they are recorded and resolved inside the root, like an image's).

use std::io::Read;
use std::path::Path;

use ferret_model::Note;

use crate::stream::Content;
use crate::tree::FileTree;
use crate::{LayerError, Limits, Wanted};

/// Top-level directories of a live system that hold no packages and can be huge or
/// endless (`/proc/kcore`).
const PSEUDO_FS: &[&str] = &["proc", "sys", "dev"];

pub fn read_dir(root: &Path, wanted: &Wanted, limits: &Limits) -> Result<FileTree, LayerError> {
    let meta = std::fs::metadata(root).map_err(|e| LayerError::Dir {
        path: root.to_owned(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(LayerError::Dir {
            path: root.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut tree = FileTree::new();
    let mut unreadable = 0usize;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.depth() == 1
                && e.file_type().is_dir()
                && PSEUDO_FS.iter().any(|p| e.file_name() == *p))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(_) => {
                unreadable += 1;
                continue;
            }
        };
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue };
        if rel.is_empty() {
            continue;
        }
        let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
        let ft = entry.file_type();
        if ft.is_symlink() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                tree.insert_symlink(rel, target.to_string_lossy().into_owned());
            }
        } else if ft.is_file() {
            let kept = wanted.is_match(&rel);
            let claimed = !kept && wanted.reads(&rel);
            if !(kept || claimed || (wanted.probe.is_some() && executable(&entry))) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if (kept || claimed) && size > limits.max_file_size {
                tree.notes.push(
                    Note::new(
                        "layers",
                        format!(
                            "file of {size} bytes exceeds the {}-byte limit; not read",
                            limits.max_file_size
                        ),
                    )
                    .with_path(&rel),
                );
                tree.insert_file(rel, Content::TooLarge(size));
                continue;
            }
            let read = if kept {
                let mut buf = Vec::new();
                std::fs::File::open(entry.path())
                    .and_then(|f| f.take(limits.max_file_size + 1).read_to_end(&mut buf))
                    .map(|_| Some(Content::Kept(buf.into())))
            } else {
                probe(entry.path(), &rel, claimed, wanted)
                    .map(|found| found.map(|f| Content::Probed(f.into())))
            };
            match read {
                Ok(Some(content)) => tree.insert_file(rel, content),
                Ok(None) => {}
                Err(e) => tree
                    .notes
                    .push(Note::new("layers", format!("cannot read: {e}")).with_path(rel)),
            }
        }
    }
    if unreadable > 0 {
        tree.notes.push(Note::new(
            "layers",
            format!(
                "{unreadable} entries under {} could not be read",
                root.display()
            ),
        ));
    }
    Ok(tree)
}

#[cfg(unix)]
fn executable(entry: &walkdir::DirEntry) -> bool {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(_entry: &walkdir::DirEntry) -> bool {
    true
}

fn probe(
    path: &Path,
    rel: &str,
    claimed: bool,
    wanted: &Wanted,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if claimed {
        // A file that grows while it is read is read no further than its size.
        return wanted.read_claimed(rel, &mut file.take(size), size);
    }
    let head = crate::read_head(&mut file)?;
    wanted.probe_file(rel, &head, &mut file, size)
}
