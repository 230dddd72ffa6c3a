//! The merged file view: kept files and every symlink, after all layers are applied.

use std::collections::{BTreeMap, VecDeque};

use ferret_model::{LayerRef, Note};

use crate::path::normalize;
use crate::stream::{Change, Content, LayerDiff};

/// How many symlinks one lookup may follow before it is taken for a loop.
const MAX_SYMLINK_HOPS: usize = 40;

#[derive(Debug, Clone)]
enum Node {
    File {
        content: Content,
        layer: Option<LayerRef>,
    },
    Symlink {
        target: String,
        layer: Option<LayerRef>,
    },
}

impl Node {
    fn layer_index(&self) -> Option<usize> {
        match self {
            Self::File { layer, .. } | Self::Symlink { layer, .. } => {
                layer.as_ref().map(|l| l.index)
            }
        }
    }
}

/// A kept file as catalogers see it.
#[derive(Debug, Clone, Copy)]
pub struct FileEntry<'a> {
    /// The real path (no symlinks in it), without a leading `/`.
    pub path: &'a str,
    pub content: &'a Content,
    /// The layer that last wrote the file; `None` for `dir:` sources.
    pub layer: Option<&'a LayerRef>,
}

/// The final file system view of an image, restricted to the wanted files and symlinks.
#[derive(Debug, Default)]
pub struct FileTree {
    nodes: BTreeMap<String, Node>,
    /// Entries that were skipped or could not be resolved, with their reasons.
    pub notes: Vec<Note>,
}

impl FileTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer on top of the layers applied so far. Call in layer order.
    pub fn apply(&mut self, diff: LayerDiff) {
        let here = LayerRef {
            index: diff.index,
            digest: diff.digest.clone(),
        };
        self.notes.extend(diff.notes);
        for change in diff.changes {
            match change {
                // Whiteouts and opaque markers only hide what lower layers wrote.
                Change::Whiteout(path) => {
                    self.remove(&path, Some(here.index));
                    self.remove_children(&path, Some(here.index));
                }
                Change::Opaque(dir) => self.remove_children(&dir, Some(here.index)),
                Change::File { path, content } => {
                    self.replace(&path);
                    self.nodes.insert(
                        path,
                        Node::File {
                            content,
                            layer: Some(here.clone()),
                        },
                    );
                }
                Change::Symlink { path, target } => {
                    self.replace(&path);
                    self.nodes.insert(
                        path,
                        Node::Symlink {
                            target,
                            layer: Some(here.clone()),
                        },
                    );
                }
                Change::Hardlink { path, target } => {
                    let linked = match self.nodes.get(&target) {
                        Some(Node::File { content, .. }) => Some(content.clone()),
                        _ => None,
                    };
                    self.replace(&path);
                    match linked {
                        Some(content) => {
                            self.nodes.insert(
                                path,
                                Node::File {
                                    content,
                                    layer: Some(here.clone()),
                                },
                            );
                        }
                        None => self.notes.push(
                            Note::new(
                                "layers",
                                format!(
                                    "hard link target /{target} was not kept or does not exist"
                                ),
                            )
                            .with_path(path)
                            .with_layer(here.digest.clone()),
                        ),
                    }
                }
                Change::Dir(path) => {
                    // A directory replaces a file or symlink of the same name, not its children.
                    self.nodes.remove(&path);
                }
                Change::Other(path) => self.replace(&path),
            }
        }
    }

    /// Adds a file directly (for `dir:` sources).
    pub fn insert_file(&mut self, path: String, content: Content) {
        self.nodes.insert(
            path,
            Node::File {
                content,
                layer: None,
            },
        );
    }

    /// Adds a symlink directly (for `dir:` sources).
    pub fn insert_symlink(&mut self, path: String, target: String) {
        self.nodes.insert(
            path,
            Node::Symlink {
                target,
                layer: None,
            },
        );
    }

    fn replace(&mut self, path: &str) {
        self.nodes.remove(path);
        self.remove_children(path, None);
    }

    fn remove(&mut self, path: &str, below: Option<usize>) {
        if let Some(node) = self.nodes.get(path)
            && below.is_none_or(|b| node.layer_index().is_none_or(|i| i < b))
        {
            self.nodes.remove(path);
        }
    }

    fn remove_children(&mut self, dir: &str, below: Option<usize>) {
        let doomed: Vec<String> = if dir.is_empty() {
            self.nodes
                .iter()
                .filter(|(_, n)| below.is_none_or(|b| n.layer_index().is_none_or(|i| i < b)))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            // Children of `a/b` sort between `a/b/` and `a/b0` ('0' follows '/').
            let start = format!("{dir}/");
            let end = format!("{dir}0");
            self.nodes
                .range(start..end)
                .filter(|(_, n)| below.is_none_or(|b| n.layer_index().is_none_or(|i| i < b)))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in doomed {
            self.nodes.remove(&key);
        }
    }

    /// Every kept file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = FileEntry<'_>> {
        self.nodes.iter().filter_map(|(path, node)| match node {
            Node::File { content, layer } => Some(FileEntry {
                path,
                content,
                layer: layer.as_ref(),
            }),
            Node::Symlink { .. } => None,
        })
    }

    /// Resolves symlinks in `path` inside the image root: `..` stops at the root and
    /// absolute targets start from the image root, so no lookup leaves the image.
    /// `None` on a symlink loop.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: VecDeque<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop_front() {
            match component.as_str() {
                "." => {}
                ".." => {
                    done.pop();
                }
                name => {
                    let mut candidate = done.join("/");
                    if !candidate.is_empty() {
                        candidate.push('/');
                    }
                    candidate.push_str(name);
                    if let Some(Node::Symlink { target, .. }) = self.nodes.get(&candidate) {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return None;
                        }
                        if target.starts_with('/') {
                            done.clear();
                        }
                        for part in target.split('/').rev().filter(|c| !c.is_empty()) {
                            pending.push_front(part.to_owned());
                        }
                    } else {
                        done.push(name.to_owned());
                    }
                }
            }
        }
        Some(done.join("/"))
    }

    /// The kept file at `path`, following symlinks.
    pub fn get(&self, path: &str) -> Option<FileEntry<'_>> {
        let path = normalize(path.trim_start_matches('/')).ok()?;
        let real = self.resolve(&path)?;
        let (key, node) = self.nodes.get_key_value(&real)?;
        match node {
            Node::File { content, layer } => Some(FileEntry {
                path: key,
                content,
                layer: layer.as_ref(),
            }),
            Node::Symlink { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn file(path: &str, data: &str) -> Change {
        Change::File {
            path: path.into(),
            content: Content::Kept(Arc::from(data.as_bytes())),
        }
    }

    fn layer(index: usize, changes: Vec<Change>) -> LayerDiff {
        LayerDiff {
            index,
            changes,
            ..LayerDiff::default()
        }
    }

    fn text(tree: &FileTree, path: &str) -> Option<String> {
        tree.get(path).map(|f| match f.content {
            Content::Kept(d) => String::from_utf8_lossy(d).into_owned(),
            Content::TooLarge(_) => "<too large>".into(),
            Content::Probed(d) => format!("<probed {} bytes>", d.len()),
        })
    }

    #[test]
    fn whiteouts_opaque_and_recreate() {
        let mut t = FileTree::new();
        t.apply(layer(
            0,
            vec![
                file("a/x", "1"),
                file("b/y", "2"),
                file("c/z", "3"),
                file("d", "4"),
            ],
        ));
        t.apply(layer(
            1,
            vec![
                Change::Whiteout("a/x".into()),
                Change::Whiteout("b".into()),
                Change::Opaque("c".into()),
                file("c/new", "5"),
                Change::Whiteout("d".into()),
            ],
        ));
        t.apply(layer(2, vec![file("d", "6")]));
        assert_eq!(text(&t, "a/x"), None);
        assert_eq!(text(&t, "b/y"), None);
        assert_eq!(text(&t, "c/z"), None);
        assert_eq!(text(&t, "c/new").as_deref(), Some("5"));
        assert_eq!(text(&t, "d").as_deref(), Some("6"));
        assert_eq!(t.get("d").unwrap().layer.unwrap().index, 2);
    }

    #[test]
    fn whiteout_does_not_hide_same_layer() {
        let mut t = FileTree::new();
        t.apply(layer(0, vec![file("a", "1")]));
        t.apply(layer(1, vec![file("a", "2"), Change::Whiteout("a".into())]));
        assert_eq!(text(&t, "a").as_deref(), Some("2"));
    }

    #[test]
    fn symlinks_are_confined() {
        let mut t = FileTree::new();
        t.apply(layer(
            0,
            vec![
                file("usr/lib/os-release", "ID=x"),
                Change::Symlink {
                    path: "etc/os-release".into(),
                    target: "../usr/lib/os-release".into(),
                },
                Change::Symlink {
                    path: "escape".into(),
                    target: "../../../../usr/lib/os-release".into(),
                },
                Change::Symlink {
                    path: "abs".into(),
                    target: "/usr/lib/os-release".into(),
                },
                Change::Symlink {
                    path: "loop1".into(),
                    target: "loop2".into(),
                },
                Change::Symlink {
                    path: "loop2".into(),
                    target: "loop1".into(),
                },
            ],
        ));
        assert_eq!(text(&t, "etc/os-release").as_deref(), Some("ID=x"));
        assert_eq!(text(&t, "escape").as_deref(), Some("ID=x"));
        assert_eq!(text(&t, "abs").as_deref(), Some("ID=x"));
        assert!(t.get("loop1").is_none());
    }

    #[test]
    fn hardlink_survives_whiteout_of_target() {
        let mut t = FileTree::new();
        t.apply(layer(0, vec![file("usr/lib/os-release", "ID=y")]));
        t.apply(layer(
            1,
            vec![
                Change::Hardlink {
                    path: "etc/os-release".into(),
                    target: "usr/lib/os-release".into(),
                },
                Change::Whiteout("usr/lib/os-release".into()),
            ],
        ));
        assert_eq!(text(&t, "etc/os-release").as_deref(), Some("ID=y"));
        assert!(t.get("usr/lib/os-release").is_none());
    }

    #[test]
    fn children_range_is_exact() {
        let mut t = FileTree::new();
        t.apply(layer(
            0,
            vec![file("a/b/c", "1"), file("a/b-c", "2"), file("a/b0", "3")],
        ));
        t.apply(layer(1, vec![Change::Whiteout("a/b".into())]));
        assert!(t.get("a/b/c").is_none());
        assert!(t.get("a/b-c").is_some());
        assert!(t.get("a/b0").is_some());
    }
}
