//! Stage ③ of the pipeline: catalogers turn the files the layer walk kept into packages.
//!
//! Catalogers never walk. Each declares the path patterns it wants; [`Catalog`] compiles
//! every pattern (and the OS release files) into one glob set, which the layer walk asks
//! once per entry; then each cataloger parses the files it asked for. The registry of
//! catalogers is static, named and versioned ([`CATALOGERS`]).

mod apk;
mod dpkg;
mod lang;
pub mod os;
mod purl;
mod rpm;

use std::io::{self, Read};
use std::time::Instant;

use ferret_layers::{Content, FileEntry, FileTree, Probe, Wanted};
use ferret_model::{Distro, GoSymbolsFound, Note, Package};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

pub use lang::binary::{GoBinary, read_go_binary};
pub use lang::gosym::{GoSymbolSet, GoSymbolsError, go_functions, go_symbols_present};
pub use rpm::header::{RpmHeader, parse_header};

/// What catalogers are given besides their files.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub distro: Option<&'a Distro>,
    pub tree: &'a FileTree,
}

/// What a cataloger produces.
#[derive(Debug, Default)]
pub struct Output {
    pub packages: Vec<Package>,
    pub notes: Vec<Note>,
    /// Of the vulnerable Go symbols looked for, those each Go binary holds, by its path.
    pub go_symbols: GoSymbolsFound,
}

impl Output {
    /// The bytes of a kept file; when it was not kept, a note says why and this is `None`.
    pub fn read<'a>(&mut self, file: &FileEntry<'a>, source: &str) -> Option<&'a [u8]> {
        match file.content {
            Content::Kept(data) => Some(data),
            Content::TooLarge(size) => {
                self.notes.push(note(
                    source,
                    file,
                    format!("not read: {size} bytes is over the file size limit"),
                ));
                None
            }
            Content::Probed(data) => Some(data),
        }
    }
}

/// A cataloger: declares the paths it wants, then parses the kept files it is handed.
pub trait Cataloger: Sync {
    /// Stable name, e.g. `os/dpkg`.
    fn name(&self) -> &'static str;
    /// Bumped whenever what the cataloger reports for the same input changes.
    fn version(&self) -> u32;
    /// Glob patterns over root-relative paths; `*` does not cross `/`, `**` does.
    fn patterns(&self) -> &'static [&'static str];
    /// Parses the files (sorted by path) that matched the patterns.
    fn catalog(&self, files: &[FileEntry<'_>], ctx: &Context<'_>, out: &mut Output);
    /// Whether it is also handed what the binary probe extracted from executables.
    fn probed(&self) -> bool {
        false
    }
    /// Whether the files its patterns match are read by [`Cataloger::extract`] as the
    /// layer walk streams them (archives, which can be large), instead of being kept
    /// whole; `catalog` is then handed what `extract` returned, as [`Content::Probed`].
    fn extracts(&self) -> bool {
        false
    }
    /// Reads one file it claims, `size` bytes at `path`. An error is the stream's; what
    /// the file itself gets wrong belongs in what it returns.
    fn extract(
        &self,
        _path: &str,
        _file: &mut dyn Read,
        _size: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Every cataloger, in the order they run.
pub static CATALOGERS: &[&dyn Cataloger] = &[
    &dpkg::Dpkg,
    &apk::Apk,
    &rpm::Rpm,
    &lang::python::Python,
    &lang::node::Node,
    &lang::simple::Rust,
    &lang::simple::Ruby,
    &lang::simple::Php,
    &lang::simple::Dotnet,
    &lang::java::Java,
    &lang::binary::Go,
];

pub use ferret_model::{CatalogerState as State, CatalogerStatus};

/// Everything cataloging found.
#[derive(Debug, Default)]
pub struct CatalogResult {
    pub distro: Option<Distro>,
    /// Sorted by [`Package::sort_key`].
    pub packages: Vec<Package>,
    pub notes: Vec<Note>,
    pub catalogers: Vec<CatalogerStatus>,
    pub go_symbols: GoSymbolsFound,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    Os,
    Cataloger(usize),
}

/// The compiled set of wanted paths, and the dispatch from paths to catalogers.
#[derive(Debug)]
pub struct Catalog {
    wanted: Wanted,
    /// What a layer read for this catalog may be cached by (see [`Catalog::fingerprint`]).
    fingerprint: String,
    /// Every pattern, kept or claimed, for the dispatch after the walk.
    dispatch: GlobSet,
    owners: Vec<Owner>,
}

/// The layer walk's probe: archives claimed by a cataloger's patterns go to its
/// [`Cataloger::extract`]; executables go to the binary probe.
#[derive(Debug)]
struct CatalogProbe {
    claims: GlobSet,
    /// The cataloger behind each pattern of `claims`.
    claimed_by: Vec<usize>,
    binary: lang::binary::BinaryProbe,
}

impl Probe for CatalogProbe {
    fn reads(&self, path: &str) -> bool {
        self.claims.is_match(path)
    }

    fn wants(&self, head: &[u8]) -> bool {
        self.binary.wants(head)
    }

    fn extract(&self, path: &str, file: &mut dyn Read, size: u64) -> io::Result<Option<Vec<u8>>> {
        match self.claims.matches(path).first() {
            Some(&m) => CATALOGERS[self.claimed_by[m]].extract(path, file, size),
            None => self.binary.extract(path, file, size),
        }
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

fn glob(pattern: &str) -> globset::Glob {
    // The patterns are static and covered by a test, so a bad one is a programming error.
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .unwrap_or_else(|e| panic!("invalid cataloger pattern {pattern:?}: {e}"))
}

fn compile(builder: &GlobSetBuilder) -> GlobSet {
    builder
        .build()
        .unwrap_or_else(|e| panic!("cataloger patterns do not compile: {e}"))
}

impl Catalog {
    /// The catalog of every registered cataloger.
    pub fn new() -> Self {
        Self::with_go_symbols(None)
    }

    /// The catalog of every registered cataloger that also looks in each Go binary for
    /// these vulnerable symbols ([`CatalogResult::go_symbols`]).
    pub fn with_go_symbols(go_symbols: Option<std::sync::Arc<GoSymbolSet>>) -> Self {
        let (mut all, mut keep, mut claims) = (
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
        );
        let mut owners = Vec::new();
        let mut claimed_by = Vec::new();
        for p in os::PATTERNS {
            all.add(glob(p));
            keep.add(glob(p));
            owners.push(Owner::Os);
        }
        for (i, c) in CATALOGERS.iter().enumerate() {
            for p in c.patterns() {
                all.add(glob(p));
                owners.push(Owner::Cataloger(i));
                if c.extracts() {
                    claims.add(glob(p));
                    claimed_by.push(i);
                } else {
                    keep.add(glob(p));
                }
            }
        }
        let mut hasher = ferret_model::Hasher::new(ferret_model::DigestAlgorithm::Sha256);
        hasher.update(b"ferret-catalog\0");
        for p in os::PATTERNS {
            hasher.update(p.as_bytes());
            hasher.update(b"\0");
        }
        for c in CATALOGERS {
            hasher.update(format!("{}@{}\0", c.name(), c.version()).as_bytes());
            for p in c.patterns() {
                hasher.update(p.as_bytes());
                hasher.update(b"\0");
            }
        }
        hasher.update(
            go_symbols
                .as_ref()
                .map_or("no go symbols", |g| g.fingerprint())
                .as_bytes(),
        );
        Self {
            fingerprint: hasher.finish().to_string(),
            wanted: Wanted {
                globs: compile(&keep),
                probe: Some(Box::new(CatalogProbe {
                    claims: compile(&claims),
                    claimed_by,
                    binary: lang::binary::BinaryProbe { go_symbols },
                })),
            },
            dispatch: compile(&all),
            owners,
        }
    }

    /// A digest of everything that decides what reading a layer keeps: the catalogers'
    /// names, versions and patterns, and the Go symbols looked for. A layer read with one
    /// catalog may stand in for reading it again with another of the same fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// What the layer walk keeps: the glob set it asks for each entry, and the probe for
    /// executables.
    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }

    /// Detects the OS and runs every cataloger over the tree.
    pub fn run(&self, tree: &FileTree) -> CatalogResult {
        let mut per_cataloger: Vec<Vec<FileEntry<'_>>> = vec![Vec::new(); CATALOGERS.len()];
        let mut matches = Vec::new();
        for file in tree.files() {
            self.dispatch.matches_into(file.path, &mut matches);
            let mut seen = Vec::new();
            for &m in &matches {
                if let Owner::Cataloger(i) = self.owners[m]
                    && !seen.contains(&i)
                {
                    seen.push(i);
                    per_cataloger[i].push(file);
                }
            }
            // What the binary probe kept from an executable no pattern names.
            if seen.is_empty() && matches!(file.content, Content::Probed(_)) {
                for (i, c) in CATALOGERS.iter().enumerate() {
                    if c.probed() {
                        per_cataloger[i].push(file);
                    }
                }
            }
        }
        let (distro, mut notes) = os::detect(tree);
        let ctx = Context {
            distro: distro.as_ref(),
            tree,
        };
        let mut packages = Vec::new();
        let mut catalogers = Vec::new();
        let mut go_symbols = GoSymbolsFound::new();
        for (cataloger, files) in CATALOGERS.iter().zip(&per_cataloger) {
            let started = Instant::now();
            let mut out = Output::default();
            cataloger.catalog(files, &ctx, &mut out);
            let state = match (out.notes.is_empty(), out.packages.is_empty()) {
                (true, _) => State::Succeeded,
                (false, false) => State::PartiallySucceeded,
                (false, true) => State::Failed,
            };
            catalogers.push(CatalogerStatus {
                name: cataloger.name(),
                version: cataloger.version(),
                files: files.len(),
                packages: out.packages.len(),
                notes: out.notes.len(),
                state,
                millis: started.elapsed().as_millis(),
            });
            packages.extend(out.packages);
            notes.extend(out.notes);
            go_symbols.extend(out.go_symbols);
        }
        packages.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        notes.sort();
        CatalogResult {
            distro,
            packages,
            notes,
            catalogers,
            go_symbols,
        }
    }
}

pub(crate) fn note(source: &str, file: &FileEntry<'_>, message: impl Into<String>) -> Note {
    Note::new(source, message)
        .with_path(file.path)
        .with_layer(file.layer.and_then(|l| l.digest.clone()))
}

pub(crate) fn location(file: &FileEntry<'_>) -> ferret_model::Location {
    ferret_model::Location {
        path: file.path.to_owned(),
        layer: file.layer.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_patterns_compile() {
        let catalog = Catalog::new();
        let mut names: Vec<_> = CATALOGERS.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGERS.len());
        assert!(catalog.wanted().is_match("var/lib/dpkg/status"));
        assert!(catalog.wanted().is_match("var/lib/dpkg/status.d/libc6"));
        assert!(!catalog.wanted().is_match("var/lib/dpkg/status.d/x/y"));
        assert!(catalog.wanted().is_match("lib/apk/db/installed"));
        assert!(
            catalog
                .wanted()
                .is_match("usr/lib/sysimage/rpm/Packages.db")
        );
        assert!(catalog.wanted().is_match("etc/os-release"));
        assert!(!catalog.wanted().is_match("usr/bin/bash"));
    }
}
