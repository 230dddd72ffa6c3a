//! Binaries: the probe the layer walk runs over executables, and `lang/go`, which reads
//! the Go build information it extracts.
//!
//! A Go binary built by Go 1.18 or later carries its build information inline, after the
//! 16-byte-aligned magic `\xff Go buildinf:`: a 32-byte header (pointer size, flags with
//! bit 2 for "inline"), then the toolchain version and the module information as
//! varint-length strings. The probe finds it by streaming through the file, so a binary of
//! any size is never held whole; only the few kilobytes after the magic are kept. Binaries
//! up to 48 MiB are also looked at whole, for the dependency list `cargo auditable` embeds,
//! which `lang/rust` reads, and for the build information of Go before 1.18, whose header
//! holds pointers to it (resolved through the binary's segments); a larger binary of such
//! an old Go gets a note saying so. When a scan looks for vulnerable Go symbols, the probe
//! also keeps which of them a Go binary's pc-line table names (`gosym`): read from the
//! whole binary, or for a larger one from the name table captured as it streams by.

use std::collections::BTreeSet;
use std::io::{self, Read};

use ferret_layers::{FileEntry, Probe};
use ferret_model::{LangMetadata, Package, PackageKind, PackageMetadata};

use crate::lang::gosym::{
    GoSymbolSet, GoSymbolsError, NameTableScan, err, go_symbols_present, symbols_in_names,
};
use crate::{Cataloger, Context, Output, location, note, purl};

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// What is kept after the magic: the header and both strings are far smaller.
const GO_KEEP: usize = 1 << 20;
/// The tag of what the probe kept for a Go binary.
const GO_TAG: &[u8] = b"go\0";

/// The binary probe; given the vulnerable Go symbols to look for, it also keeps which of
/// them each Go binary holds.
#[derive(Debug, Default)]
pub(crate) struct BinaryProbe {
    pub(crate) go_symbols: Option<std::sync::Arc<GoSymbolSet>>,
}

impl Probe for BinaryProbe {
    fn wants(&self, head: &[u8]) -> bool {
        head.starts_with(b"\x7fELF")
            || head.starts_with(b"MZ")
            || [
                [0xfe, 0xed, 0xfa, 0xce],
                [0xfe, 0xed, 0xfa, 0xcf],
                [0xce, 0xfa, 0xed, 0xfe],
                [0xcf, 0xfa, 0xed, 0xfe],
            ]
            .iter()
            .any(|m| head.starts_with(m))
    }

    fn extract(&self, _path: &str, file: &mut dyn Read, size: u64) -> io::Result<Option<Vec<u8>>> {
        let wanted = self.go_symbols.as_deref().filter(|w| !w.is_empty());
        if size > MAX_HELD {
            // Too large to hold: the Go build information and, when symbols are looked
            // for, the pc-line table's names, both found as the file streams by.
            let mut names = wanted.map(|_| NameTableScan::default());
            let Some(info) = find_go_build_info(file, names.as_mut())? else {
                return Ok(None);
            };
            let symbols = match (wanted, names) {
                (Some(w), Some(mut scan)) => {
                    // The table usually comes before the build information; if not, it is
                    // in what is left.
                    if !scan.found() {
                        let mut chunk = vec![0u8; 256 << 10];
                        loop {
                            let n = file.read(&mut chunk)?;
                            if n == 0 || scan.found() {
                                break;
                            }
                            scan.feed(&chunk[..n]);
                        }
                    }
                    Some(match scan.finish() {
                        Some(table) => Ok(symbols_in_names(&table, w)),
                        None => Err(err(
                            "no pc-line table of Go 1.16 or later found in a binary too large to hold",
                        )),
                    })
                }
                _ => None,
            };
            return Ok(Some(go_output(&info, symbols)));
        }
        // Section tables sit at the end of a binary, so a Rust binary's `.dep-v0` needs the
        // whole file; it is held only here, in the layer's thread, and dropped at once.
        let mut data = Vec::with_capacity(size as usize);
        file.take(MAX_HELD).read_to_end(&mut data)?;
        if let Some(at) = go_magic_in(&data, 0) {
            let symbols = wanted.map(|w| go_symbols_present(&data, w));
            // Before Go 1.18 the header points at the strings; held whole, they resolve.
            if data[at + 15] & 0x2 == 0
                && let Some(inline) = pointed_build_info(&data, &data[at..at + 32])
            {
                return Ok(Some(go_output(&inline, symbols)));
            }
            let end = data.len().min(at + GO_KEEP);
            return Ok(Some(go_output(&data[at..end], symbols)));
        }
        Ok(cargo_auditable(&data).map(|json| [RUST_TAG, &json].concat()))
    }
}

/// What the probe keeps of a Go binary: [`GO_TAG`], the length of the build information
/// (u32, little endian) and the bytes from its magic on, then whether the vulnerable
/// symbols were looked for: `0`, no; `1` and the symbols found, one per line; `2` and why
/// they could not be.
fn go_output(info: &[u8], symbols: Option<Result<BTreeSet<String>, GoSymbolsError>>) -> Vec<u8> {
    let mut out = GO_TAG.to_vec();
    out.extend((info.len() as u32).to_le_bytes());
    out.extend_from_slice(info);
    match symbols {
        None => out.push(0),
        Some(Ok(found)) => {
            out.push(1);
            out.extend(
                found
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
            );
        }
        Some(Err(e)) => {
            out.push(2);
            out.extend(e.to_string().into_bytes());
        }
    }
    out
}

/// A Go executable read whole: the modules its build information lists, as (name,
/// version) the way Ferret names their packages (`stdlib` first), and which of the
/// vulnerable symbols looked for it holds.
#[derive(Debug)]
pub struct GoBinary {
    pub modules: Vec<(String, String)>,
    pub symbols: Result<BTreeSet<String>, GoSymbolsError>,
}

/// `data` read as a Go executable; `None` when it is not one (no readable build
/// information).
pub fn read_go_binary(data: &[u8], wanted: &GoSymbolSet) -> Option<GoBinary> {
    let at = go_magic_in(data, 0)?;
    let pointed;
    let info = if data[at + 15] & 0x2 == 0 {
        pointed = pointed_build_info(data, &data[at..at + 32])?;
        &pointed[..]
    } else {
        &data[at..data.len().min(at + GO_KEEP)]
    };
    let modules = build_info(info)
        .ok()?
        .modules()
        .into_iter()
        .map(|m| (m.path, m.version))
        .collect();
    Some(GoBinary {
        modules,
        symbols: go_symbols_present(data, wanted),
    })
}

/// What [`go_output`] wrote: the build information and the symbol check.
fn read_go_output(data: &[u8]) -> Option<(&[u8], SymbolCheck)> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let info = data.get(4..4 + len)?;
    let rest = &data[4 + len..];
    let check = match rest.split_first() {
        Some((1, found)) => SymbolCheck::Found(
            std::str::from_utf8(found)
                .ok()?
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Some((2, why)) => SymbolCheck::Failed(String::from_utf8_lossy(why).into_owned()),
        _ => SymbolCheck::NotLooked,
    };
    Some((info, check))
}

enum SymbolCheck {
    NotLooked,
    Found(BTreeSet<String>),
    Failed(String),
}

/// The largest binary held whole while it is probed.
const MAX_HELD: u64 = 48 << 20;
/// The tag of what the probe kept for a Rust binary built with `cargo auditable`.
pub(crate) const RUST_TAG: &[u8] = b"rust\0";
/// The most the `.dep-v0` section may inflate to.
const MAX_DEP_INFO: u64 = 8 << 20;

/// The zlib-compressed JSON dependency list `cargo auditable` embeds in a `.dep-v0`
/// section (`__dep_v0` in Mach-O), inflated.
fn cargo_auditable(data: &[u8]) -> Option<Vec<u8>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).ok()?;
    let section = file
        .sections()
        .find(|s| matches!(s.name(), Ok(".dep-v0" | "__dep_v0")))?;
    let compressed = section.data().ok()?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_DEP_INFO + 1)
        .read_to_end(&mut json)
        .ok()?;
    (json.len() as u64 <= MAX_DEP_INFO).then_some(json)
}

/// The build information of a binary built before Go 1.18, in the inline form Go 1.18
/// writes: the header holds two pointers (byte 14 their size, bit 0 of byte 15 big
/// endian) to the Go strings `runtime.buildVersion` and `runtime.modinfo`, each a
/// (pointer, length) pair at a virtual address, read through the binary's segments (Go's
/// own debug/buildinfo does the same). `None` when they do not resolve.
fn pointed_build_info(data: &[u8], header: &[u8]) -> Option<Vec<u8>> {
    use object::{Object, ObjectSegment};
    let size = usize::from(header[14]);
    let big = header[15] & 0x1 != 0;
    let file = object::File::parse(data).ok()?;
    let word = |b: &[u8]| -> Option<u64> {
        Some(match (size, big) {
            (4, false) => u64::from(u32::from_le_bytes(b.get(..4)?.try_into().ok()?)),
            (4, true) => u64::from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)),
            (8, false) => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            (8, true) => u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            _ => return None,
        })
    };
    let at = |address: u64, len: u64| -> Option<&[u8]> {
        file.segments()
            .find_map(|s| s.data_range(address, len).ok().flatten())
    };
    let string = |address: u64| -> Option<&[u8]> {
        let pair = at(address, 2 * size as u64)?;
        let (ptr, len) = (word(pair)?, word(&pair[size..])?);
        match len {
            0 => Some(&[][..]),
            n if n <= GO_KEEP as u64 => at(ptr, n),
            _ => None,
        }
    };
    let version = string(word(header.get(16..)?)?)?;
    let modinfo = string(word(header.get(16 + size..)?)?)?;
    if version.is_empty() {
        return None;
    }
    let mut out = header[..32].to_vec();
    out[15] |= 0x2;
    for s in [version, modinfo] {
        let mut n = s.len() as u64;
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(s);
    }
    Some(out)
}

/// The first build-information magic in `data` (whose first byte is at file offset
/// `base`) that is 16-byte aligned with a valid pointer size after it. A magic too close
/// to the end to show its header does not count; the streaming caller reads on and looks
/// again.
fn go_magic_in(data: &[u8], base: u64) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find(&data[from..], GO_MAGIC) {
        let at = from + i;
        if at + 32 > data.len() {
            return None;
        }
        let ptr_size = data[at + 14];
        if (base + at as u64).is_multiple_of(16) && (ptr_size == 4 || ptr_size == 8) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Streams through `r` for the build information: the bytes from the magic on (up to
/// [`GO_KEEP`]), at the first 16-byte-aligned magic whose header is valid.
fn find_go_build_info(
    r: &mut dyn Read,
    mut names: Option<&mut NameTableScan>,
) -> io::Result<Option<Vec<u8>>> {
    const CHUNK: usize = 256 << 10;
    let mut window: Vec<u8> = Vec::with_capacity(CHUNK + 32);
    // File offset of window[0].
    let mut base: u64 = 0;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(scan) = names.as_deref_mut() {
            scan.feed(&chunk[..n]);
        }
        window.extend_from_slice(&chunk[..n]);
        if let Some(at) = go_magic_in(&window, base) {
            let mut info = window.split_off(at);
            info.truncate(GO_KEEP);
            let before = info.len();
            r.take((GO_KEEP - info.len()) as u64)
                .read_to_end(&mut info)?;
            if let Some(scan) = names {
                scan.feed(&info[before..]);
            }
            return Ok(Some(info));
        }
        // Keep the tail that could hold a magic or a header not yet complete.
        let keep = window.len().min(31);
        let drop = window.len() - keep;
        window.drain(..drop);
        base += drop as u64;
    }
}

/// Every executable byte of an image passes through here, so the search is memchr's
/// vectorised one.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

pub(crate) struct Go;

const NAME: &str = "lang/go";

impl Cataloger for Go {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        2
    }

    fn patterns(&self) -> &'static [&'static str] {
        &[]
    }

    fn probed(&self) -> bool {
        true
    }

    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let Some((info, check)) = data.strip_prefix(GO_TAG).and_then(read_go_output) else {
                continue;
            };
            match build_info(info) {
                Ok(b) => {
                    for m in b.modules() {
                        out.packages.push(package(file, m));
                    }
                    match check {
                        SymbolCheck::NotLooked => {}
                        SymbolCheck::Found(found) => {
                            out.go_symbols.insert(file.path.to_owned(), found);
                        }
                        SymbolCheck::Failed(why) => out.notes.push(note(
                            NAME,
                            file,
                            format!("{why}: its findings are not checked for the vulnerable code"),
                        )),
                    }
                }
                Err(message) => out.notes.push(note(NAME, file, message)),
            }
        }
    }
}

/// A module as the build information lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Module {
    path: String,
    version: String,
    sum: Option<String>,
    /// `=> path version`: what replaced it.
    replaced_by: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BuildInfo {
    go_version: String,
    main: Option<Module>,
    deps: Vec<Module>,
}

impl BuildInfo {
    /// The toolchain as `stdlib`, the main module, then the dependencies (a replacement
    /// with a version stands in for what it replaced).
    fn modules(&self) -> Vec<Module> {
        let mut out = vec![Module {
            path: "stdlib".to_owned(),
            version: self.go_version.clone(),
            sum: None,
            replaced_by: None,
        }];
        out.extend(self.main.clone());
        for d in &self.deps {
            match &d.replaced_by {
                Some((path, version)) if !version.is_empty() => out.push(Module {
                    path: path.clone(),
                    version: version.clone(),
                    sum: d.sum.clone(),
                    replaced_by: None,
                }),
                _ => out.push(d.clone()),
            }
        }
        out
    }
}

fn uvarint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn string<'a>(data: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(uvarint(data, pos)?).ok()?;
    let s = data.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(s)
}

/// The 16-byte markers the linker puts around the module information.
const MODINFO_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";

fn build_info(info: &[u8]) -> Result<BuildInfo, String> {
    let flags = *info.get(15).ok_or("build information header cut short")?;
    if flags & 0x2 == 0 {
        return Err(format!(
            "built with Go before 1.18: its build information is not inline, and only binaries up to {} MiB are read whole to follow its pointers",
            MAX_HELD >> 20
        ));
    }
    let mut pos = 32;
    let version = string(info, &mut pos).ok_or("build information cut short")?;
    let modinfo = string(info, &mut pos).ok_or("build information cut short")?;
    let modinfo = if modinfo.len() >= 33 && modinfo.starts_with(MODINFO_START) {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    // A toolchain built with non-default GOEXPERIMENTs says so after the version
    // (`go1.22.1 X:loopvar`, the linker's addition): the version is the first word.
    let version = String::from_utf8_lossy(version);
    let mut b = BuildInfo {
        go_version: version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        main: None,
        deps: Vec::new(),
    };
    if !b.go_version.starts_with("go") {
        return Err(format!("unexpected Go version {:?}", b.go_version));
    }
    for line in String::from_utf8_lossy(modinfo).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let module = |f: &[&str]| Module {
            path: f.get(1).copied().unwrap_or_default().to_owned(),
            version: f.get(2).copied().unwrap_or_default().to_owned(),
            sum: f.get(3).map(|s| (*s).to_owned()),
            replaced_by: None,
        };
        match f.first().copied() {
            Some("mod") => b.main = Some(module(&f)),
            Some("dep") => b.deps.push(module(&f)),
            Some("=>") => {
                let r = module(&f);
                if let Some(last) = b.deps.last_mut() {
                    last.replaced_by = Some((r.path, r.version));
                } else if let Some(main) = b.main.as_mut() {
                    main.replaced_by = Some((r.path, r.version));
                }
            }
            _ => {}
        }
    }
    Ok(b)
}

fn package(file: &FileEntry<'_>, m: Module) -> Package {
    let (namespace, name) = m.path.rsplit_once('/').unwrap_or(("", m.path.as_str()));
    Package {
        purl: purl::build(
            PackageKind::GoModule.purl_type(),
            namespace,
            name,
            &m.version,
            &[],
        ),
        kind: PackageKind::GoModule,
        architecture: None,
        source: None,
        licenses: Vec::new(),
        location: location(file),
        found_by: NAME.to_owned(),
        metadata: PackageMetadata::Lang(LangMetadata {
            declared: false,
            dev: false,
            origin: m
                .replaced_by
                .map(|(p, v)| format!("{p} {v}").trim().to_owned()),
            checksum: m.sum,
        }),
        name: m.path,
        version: m.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_str(s: &[u8]) -> Vec<u8> {
        let mut out = vec![s.len() as u8];
        out.extend_from_slice(s);
        out
    }

    fn sample() -> Vec<u8> {
        let mut info = GO_MAGIC.to_vec();
        info.push(8);
        info.push(0x2);
        info.resize(32, 0);
        info.extend(varint_str(b"go1.19.8"));
        let modinfo = [
            MODINFO_START,
            b"path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgithub.com/google/uuid\tv1.3.0\th1:x=\ndep\tgolang.org/x/text\tv0.3.0\t\n=>\tgolang.org/x/text\tv0.3.8\th1:y=\nbuild\t-compiler=gc\n",
            b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2",
        ]
        .concat();
        info.extend(varint_str(&modinfo));
        info
    }

    #[test]
    fn finds_aligned_build_info_in_a_stream() {
        // A decoy (unaligned, as a string constant would be), then the real one at 4096.
        let mut binary = b"\x7fELF".to_vec();
        binary.resize(1001, 0);
        binary.extend_from_slice(GO_MAGIC);
        binary.resize(4096, 0);
        binary.extend(sample());
        binary.resize(700_000, 0);
        // Held whole, the same magic is found in place.
        assert_eq!(go_magic_in(&binary, 0), Some(4096));
        let found = find_go_build_info(&mut binary.as_slice(), None)
            .unwrap()
            .unwrap();
        let b = build_info(&found).unwrap();
        assert_eq!(b.go_version, "go1.19.8");
        let mods: Vec<(String, String)> = b
            .modules()
            .into_iter()
            .map(|m| (m.path, m.version))
            .collect();
        assert_eq!(
            mods,
            [
                ("stdlib", "go1.19.8"),
                ("example.com/app", "(devel)"),
                ("github.com/google/uuid", "v1.3.0"),
                ("golang.org/x/text", "v0.3.8"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert!(
            find_go_build_info(&mut &b"\x7fELF no go here"[..], None)
                .unwrap()
                .is_none()
        );
        // Before Go 1.18: not inline.
        let mut old = sample();
        old[15] = 0;
        assert!(build_info(&old).unwrap_err().contains("before 1.18"));
        assert!(build_info(&old[..10]).is_err());
    }

    #[test]
    fn a_goexperiment_suffix_is_not_part_of_the_version() {
        let mut info = GO_MAGIC.to_vec();
        info.push(8);
        info.push(0x2);
        info.resize(32, 0);
        info.extend(varint_str(b"go1.22.1 X:loopvar"));
        info.extend(varint_str(b""));
        let b = build_info(&info).unwrap();
        assert_eq!(b.go_version, "go1.22.1");
    }
}
