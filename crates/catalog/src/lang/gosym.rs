//! The functions a Go binary holds, from its pc-line table (`runtime.pclntab`), which the
//! Go runtime needs at run time and so survives stripping (`-ldflags=-s -w`). Go
//! vulnerability records name the vulnerable functions (`imports[].symbols`); a binary
//! without them does not contain the vulnerable code.
//!
//! Layouts, by the table's magic (Go's `debug/gosym` reads the same):
//! - `0xfffffffb` (Go 1.2–1.15): header, `nfunc`, then (entry, funcoff) pairs of pointer
//!   size; a func's name offset (int32, after its entry) counts from the table's start.
//! - `0xfffffffa` (Go 1.16–1.17): header, `nfunc`, `nfiles`, then the offsets of the name
//!   table, CU table, file table, pc table and func table (pointer size each); pairs of
//!   pointer size; names from the name table.
//! - `0xfffffff0` (Go 1.18–1.19), `0xfffffff1` (Go 1.20 on): as 1.16 with `textStart`
//!   after `nfiles`, and (entryoff, funcoff) pairs of 4 bytes.

use std::collections::BTreeSet;

// Every function name of every Go binary is looked up: a fast hasher, keys as bytes.
use foldhash::{HashMap, HashMapExt, HashSet};

/// Why a pc-line table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Go pc-line table: {0}")]
pub struct GoSymbolsError(String);

pub(crate) fn err(s: impl Into<String>) -> GoSymbolsError {
    GoSymbolsError(s.into())
}

/// The fully qualified names of the functions in a Go executable (ELF, PE or Mach-O), as
/// `go tool nm` prints them (`net/http.(*Server).Serve`, `main.main`).
pub fn go_functions(binary: &[u8]) -> Result<BTreeSet<String>, GoSymbolsError> {
    let (table, little) = table_of(binary)?;
    functions(table, little)
}

fn table_of(binary: &[u8]) -> Result<(&[u8], bool), GoSymbolsError> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(binary).map_err(|e| err(format!("not an executable: {e}")))?;
    let table = file
        .sections()
        .find(|s| matches!(s.name(), Ok(".gopclntab" | "__gopclntab")))
        .and_then(|s| s.data().ok())
        .or_else(|| find_table(binary))
        .ok_or_else(|| err("no pc-line table (.gopclntab) found"))?;
    Ok((table, file.is_little_endian()))
}

/// The vulnerable Go symbols to look for, by package path, as the Go vulnerability
/// database writes them: (`net/textproto`, `Reader.ReadMIMEHeader`).
#[derive(Debug, Clone, Default)]
pub struct GoSymbolSet {
    by_package: HashMap<Box<[u8]>, HashSet<Box<[u8]>>>,
    /// SHA-256 of the sorted set: what a layer read with it may be cached by.
    fingerprint: String,
}

impl GoSymbolSet {
    pub fn new(symbols: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut by_package: HashMap<Box<[u8]>, HashSet<Box<[u8]>>> = HashMap::new();
        let sorted: std::collections::BTreeSet<(String, String)> = symbols.into_iter().collect();
        let mut hasher = ferret_model::Hasher::new(ferret_model::DigestAlgorithm::Sha256);
        for (path, symbol) in &sorted {
            hasher.update(path.as_bytes());
            hasher.update(b"\0");
            hasher.update(symbol.as_bytes());
            hasher.update(b"\0");
        }
        let fingerprint = hasher.finish().to_string();
        for (path, symbol) in sorted {
            by_package
                .entry(path.into_bytes().into_boxed_slice())
                .or_default()
                .insert(symbol.into_bytes().into_boxed_slice());
        }
        Self {
            by_package,
            fingerprint,
        }
    }

    /// SHA-256 over the sorted symbols.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn is_empty(&self) -> bool {
        self.by_package.is_empty()
    }

    /// Whether a symbol (`net/textproto`, `Reader.ReadMIMEHeader`) is looked for.
    pub fn contains(&self, path: &str, symbol: &str) -> bool {
        self.by_package
            .get(path.as_bytes())
            .is_some_and(|s| s.contains(symbol.as_bytes()))
    }

    /// The symbol a function name stands for, qualified (`net/textproto.Reader.ReadMIMEHeader`),
    /// when it is one of the set's; `Err` with the name's `path.` prefix when no record
    /// names its package.
    fn wanted<'n>(&self, name: &'n [u8], buf: &mut String) -> Result<Option<String>, &'n [u8]> {
        // Most names are of packages no record names: their package path, read without
        // allocating, rules them out (an escaped path is looked at whole).
        let head = &name[..memchr::memchr(b'[', name).unwrap_or(name.len())];
        let slash = memchr::memrchr(b'/', head).map_or(0, |i| i + 1);
        let Some(dot) = memchr::memchr(b'.', &head[slash..]).map(|d| slash + d) else {
            return Ok(None);
        };
        let path = &head[..dot];
        if !path.contains(&b'%') {
            let Some(symbols) = self.by_package.get(path) else {
                return Err(&name[..=dot]);
            };
            // A name without type arguments needs no more than its pointer receiver made
            // plain and its closure suffixes dropped.
            if head.len() == name.len() {
                let Ok(mut rest) = std::str::from_utf8(&head[dot + 1..]) else {
                    return Ok(None);
                };
                // `(*Reader).ReadMIMEHeader` is `Reader.ReadMIMEHeader`, spelled out in a
                // buffer kept from name to name.
                if let Some(r) = rest.strip_prefix("(*")
                    && let Some((receiver, method)) = r.split_once(')')
                {
                    buf.clear();
                    buf.push_str(receiver);
                    buf.push_str(method);
                    rest = buf.as_str();
                }
                let symbol = without_closures(rest);
                return Ok(symbols
                    .contains(symbol.as_bytes())
                    .then(|| format!("{}.{symbol}", String::from_utf8_lossy(path))));
            }
        }
        let Some((path, symbol)) = std::str::from_utf8(name).ok().and_then(vulndb_symbol) else {
            return Ok(None);
        };
        Ok(self
            .by_package
            .get(path.as_bytes())
            .is_some_and(|s| s.contains(symbol.as_bytes()))
            .then(|| format!("{path}.{symbol}")))
    }
}

/// Of `wanted`, the symbols whose code a Go executable holds, qualified
/// (`net/textproto.Reader.ReadMIMEHeader`). Every name the pc-line table holds counts:
/// from Go 1.16 on its name table also names the functions inlined into others (whose
/// code is there though `go tool nm` does not list them), and a closure or wrapper
/// (`F.func1`, `F.gowrap1`) counts for the function it belongs to. Before Go 1.16, every
/// string in the table counts.
pub fn go_symbols_present(
    binary: &[u8],
    wanted: &GoSymbolSet,
) -> Result<BTreeSet<String>, GoSymbolsError> {
    let (table, little) = table_of(binary)?;
    // Before Go 1.16 the names, inlined functions' among them, are strings inside the
    // table itself: every string there counts (more names can only keep findings).
    let names = match name_table(table, little)? {
        Some(names) => names,
        None => {
            // Read through once so that a damaged table is an error, not fewer names
            // (which would suppress more).
            functions(table, little)?;
            table
        }
    };
    Ok(symbols_in_names(names, wanted))
}

/// Of `wanted`, the symbols named in a Go name table: zero-terminated names.
pub(crate) fn symbols_in_names(names: &[u8], wanted: &GoSymbolSet) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut from = 0;
    // The linker lays a package's functions out together: a run of names of a package no
    // record names (`path.` then no further `/`) is passed over on its prefix alone.
    let mut skip: &[u8] = b"";
    let mut buf = String::new();
    for end in memchr::memchr_iter(0, names) {
        let name = &names[from..end];
        from = end + 1;
        if !skip.is_empty()
            && let Some(rest) = name.strip_prefix(skip)
            && memchr::memchr(b'/', rest).is_none()
        {
            continue;
        }
        match wanted.wanted(name, &mut buf) {
            Ok(s) => {
                out.extend(s);
                skip = b"";
            }
            Err(prefix) => skip = prefix,
        }
    }
    out
}

/// The name table (`funcnametab`, Go 1.16 on): every function's and inlined function's
/// name, each ended by a zero byte. `None` for the older layout, which has none.
fn name_table(t: &[u8], little: bool) -> Result<Option<&[u8]>, GoSymbolsError> {
    let header = Header::read(t, little).ok_or_else(|| err("header cut short"))?;
    let Some((from, to)) = header.names else {
        return Ok(None);
    };
    t.get(from..to)
        .map(Some)
        .ok_or_else(|| err(format!("name table {from}..{to} past the table")))
}

/// What the start of a pc-line table says.
struct Header {
    /// The name table's range, from the table's start (Go 1.16 on).
    names: Option<(usize, usize)>,
    /// The header's length.
    len: usize,
}

impl Header {
    fn read(t: &[u8], little: bool) -> Option<Self> {
        let u32_at = |at: usize| -> Option<u32> {
            let b: [u8; 4] = t.get(at..at + 4)?.try_into().ok()?;
            Some(if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        };
        let ptr = usize::from(*t.get(7)?);
        let word = |at: usize| -> Option<usize> {
            match ptr {
                4 => usize::try_from(u32_at(at)?).ok(),
                8 => {
                    let b: [u8; 8] = t.get(at..at + 8)?.try_into().ok()?;
                    usize::try_from(if little {
                        u64::from_le_bytes(b)
                    } else {
                        u64::from_be_bytes(b)
                    })
                    .ok()
                }
                _ => None,
            }
        };
        // nfunc, nfiles, [textStart,] funcnameOffset, cuOffset, ...
        let skip = match u32_at(0)? {
            0xffff_fff0 | 0xffff_fff1 => 3,
            0xffff_fffa => 2,
            0xffff_fffb => {
                return Some(Self {
                    names: None,
                    len: 8 + ptr,
                });
            }
            _ => return None,
        };
        let from = word(8 + skip * ptr)?;
        let to = word(8 + (skip + 1) * ptr)?;
        (from <= to).then_some(Self {
            names: Some((from, to)),
            len: 8 + (skip + 5) * ptr,
        })
    }
}

/// The largest name table kept while streaming a binary (the largest real ones, of
/// Kubernetes' binaries, are a few MiB).
const MAX_NAMES: usize = 64 << 20;

/// Finds a Go 1.16+ pc-line table in a binary read as a stream and keeps its name table:
/// fed the file's bytes in order, it looks at every 4-byte-aligned offset for the header
/// (magic, two zero bytes, quantum 1, 2 or 4, pointer size 4 or 8) whose name table starts
/// right after it (past the linker's alignment) with a name; a match by chance in other
/// data is not.
#[derive(Debug, Default)]
pub(crate) struct NameTableScan {
    /// The not yet searched tail of the stream, from file offset `base`.
    window: Vec<u8>,
    base: u64,
    /// The name table being captured: the bytes still to skip before it (alignment), its
    /// bytes so far and its length.
    capture: Option<(usize, Vec<u8>, usize)>,
    done: Option<Vec<u8>>,
}

impl NameTableScan {
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        if self.done.is_some() {
            return;
        }
        if let Some((skip, got, want)) = &mut self.capture {
            let skipped = data.len().min(*skip);
            *skip -= skipped;
            let data = &data[skipped..];
            let take = data.len().min(*want - got.len());
            got.extend_from_slice(&data[..take]);
            if got.len() == *want {
                self.done = self.capture.take().map(|(_, g, _)| g);
            }
            return;
        }
        // Longest header: magic word, 7 more words of 8 bytes.
        const HEADER: usize = 8 + 8 * 8;
        while !data.is_empty() {
            let room = (1 << 20).min(data.len());
            self.window.extend_from_slice(&data[..room]);
            data = &data[room..];
            // Every magic has three 0xff bytes: after its first byte in little endian,
            // before its last in big endian. Found by memchr's vectorised search.
            let mut found = None;
            for hit in memchr::memmem::find_iter(&self.window, b"\xff\xff\xff") {
                for at in [hit.wrapping_sub(1), hit] {
                    if at > self.window.len()
                        || !(self.base + at as u64).is_multiple_of(4)
                        || at + HEADER > self.window.len()
                    {
                        continue;
                    }
                    if let Some(f) = self.header_at(at) {
                        found = Some(f);
                        break;
                    }
                }
                if found.is_some() {
                    break;
                }
            }
            if let Some((start, len)) = found {
                let mut got = Vec::with_capacity(len);
                let have = self.window.get(start..).unwrap_or_default();
                got.extend_from_slice(&have[..have.len().min(len)]);
                let skip = start.saturating_sub(self.window.len());
                self.window = Vec::new();
                if got.len() == len {
                    self.done = Some(got);
                } else {
                    self.capture = Some((skip, got, len));
                    // The rest of this chunk holds the table (or its start).
                    self.feed(data);
                }
                return;
            }
            // Keep what could begin a header not yet whole.
            let keep = self.window.len().min(HEADER);
            let drop = self.window.len() - keep;
            self.window.drain(..drop);
            self.base += drop as u64;
        }
    }

    /// The name table's start (in the window) and length, when a table's header is at
    /// `at`.
    fn header_at(&self, at: usize) -> Option<(usize, usize)> {
        let h = &self.window[at..];
        // Go 1.16 on: the older layout has no name table (`names` is `None`).
        let header = Header::read(h, header_endian(h)?)?;
        let (from, to) = header.names?;
        // The name table follows the header, aligned to at most 64 bytes, and starts with
        // a name.
        ((header.len..=header.len + 64).contains(&from)
            && to > from
            && to - from <= MAX_NAMES
            && self
                .window
                .get(at + from)
                .is_none_or(|b| b.is_ascii_graphic()))
        .then_some((at + from, to - from))
    }

    pub(crate) fn found(&self) -> bool {
        self.done.is_some()
    }

    /// The name table, when the stream held one whole.
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        self.done
    }
}

/// A function's name as the Go vulnerability database names symbols: its package path
/// (with the linker's `%2e` escapes undone) and the rest, with type arguments (`[...]`)
/// dropped, a pointer receiver made plain (`(*Reader).Read` is `Reader.Read`), and
/// closures, wrappers and ABI suffixes (`.func1`, `.gowrap2`, `.deferwrap1`, `.abi0`)
/// taken as the function they belong to.
pub(crate) fn vulndb_symbol(name: &str) -> Option<(String, String)> {
    let mut plain = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let slash = plain.rfind('/').map_or(0, |i| i + 1);
    let dot = slash + plain[slash..].find('.')?;
    let path = unescape(&plain[..dot]);
    let mut rest = &plain[dot + 1..];
    let owned;
    if let Some(r) = rest.strip_prefix("(*") {
        let close = r.find(')')?;
        owned = format!("{}{}", &r[..close], &r[close + 1..]);
        rest = &owned;
    }
    let symbol = without_closures(rest).to_owned();
    (!path.is_empty() && !symbol.is_empty()).then_some((path, symbol))
}

/// A symbol without the closure, wrapper and ABI suffixes of what is compiled from it
/// (`F.func1.2`, `F.gowrap1`, `F.deferwrap1`, `F.abi0` are `F`).
fn without_closures(mut symbol: &str) -> &str {
    while let Some((head, last)) = symbol.rsplit_once('.') {
        let numbered = |prefix: &str| {
            last.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if last == "abi0"
            || numbered("")
            || numbered("func")
            || numbered("gowrap")
            || numbered("deferwrap")
        {
            symbol = head;
        } else {
            break;
        }
    }
    symbol
}

/// Undoes the linker's escapes of a package path (`%2e` for a dot in its last element).
fn unescape(path: &str) -> String {
    if !path.contains('%') {
        return path.to_owned();
    }
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A table found by its header where the section table does not name it (PE binaries keep
/// it inside `.rdata`): the magic, two zero bytes, an instruction size quantum of 1, 2 or
/// 4 and a pointer size of 4 or 8, at a 4-byte-aligned offset.
fn find_table(binary: &[u8]) -> Option<&[u8]> {
    (0..binary.len().saturating_sub(8))
        .step_by(4)
        .find(|at| header_endian(&binary[*at..]) == Some(true))
        .map(|at| &binary[at..])
}

/// Whether `h` starts like a pc-line table (a magic of a known layout, two zero bytes, an
/// instruction size quantum of 1, 2 or 4, a pointer size of 4 or 8): `Some(true)` in
/// little endian, `Some(false)` in big endian.
fn header_endian(h: &[u8]) -> Option<bool> {
    let h = h.get(..8)?;
    let magics = [0xffff_fff1u32, 0xffff_fff0, 0xffff_fffa, 0xffff_fffb];
    let little = magics.iter().any(|m| h[..4] == m.to_le_bytes());
    let big = magics.iter().any(|m| h[..4] == m.to_be_bytes());
    ((little || big)
        && h[4] == 0
        && h[5] == 0
        && matches!(h[6], 1 | 2 | 4)
        && matches!(h[7], 4 | 8))
    .then_some(little)
}

fn functions(t: &[u8], little: bool) -> Result<BTreeSet<String>, GoSymbolsError> {
    let u32_at = |at: usize| -> Result<u32, GoSymbolsError> {
        let b: [u8; 4] = t
            .get(at..at.saturating_add(4))
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| err(format!("cut short at byte {at}")))?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ptr = usize::from(*t.get(7).ok_or_else(|| err("header cut short"))?);
    let word = |at: usize| -> Result<usize, GoSymbolsError> {
        let v = match ptr {
            4 => u64::from(u32_at(at)?),
            8 => {
                let b: [u8; 8] = t
                    .get(at..at.saturating_add(8))
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| err(format!("cut short at byte {at}")))?;
                if little {
                    u64::from_le_bytes(b)
                } else {
                    u64::from_be_bytes(b)
                }
            }
            p => return Err(err(format!("pointer size {p}"))),
        };
        usize::try_from(v).map_err(|_| err("offset out of range"))
    };
    let name_at = |at: usize| -> Result<String, GoSymbolsError> {
        let rest = t
            .get(at..)
            .ok_or_else(|| err(format!("name offset {at} past the table")))?;
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| err("unterminated name"))?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let magic = u32_at(0)?;
    let nfunc = word(8)?;
    // Each func takes at least 8 bytes of the table: a count past that is damage.
    if nfunc > t.len() / 8 {
        return Err(err(format!(
            "{nfunc} functions claimed in {} bytes",
            t.len()
        )));
    }
    let mut out = BTreeSet::new();
    match magic {
        0xffff_fff0 | 0xffff_fff1 | 0xffff_fffa => {
            // nfunc, nfiles, [textStart,] funcnameOffset, cuOffset, filetabOffset,
            // pctabOffset, pclnOffset.
            let skip = if magic == 0xffff_fffa { 2 } else { 3 };
            let names = word(8 + skip * ptr)?;
            let pcln = word(8 + (skip + 4) * ptr)?;
            let pair = if magic == 0xffff_fffa { 2 * ptr } else { 8 };
            let entry = if magic == 0xffff_fffa { ptr } else { 4 };
            for i in 0..nfunc {
                let at = pcln.saturating_add(i.saturating_mul(pair));
                let funcoff = if magic == 0xffff_fffa {
                    word(at.saturating_add(ptr))?
                } else {
                    u32_at(at.saturating_add(4))? as usize
                };
                let name_off = u32_at(pcln.saturating_add(funcoff).saturating_add(entry))? as usize;
                out.insert(name_at(names.saturating_add(name_off))?);
            }
        }
        0xffff_fffb => {
            for i in 0..nfunc {
                let funcoff = word((8 + 2 * ptr).saturating_add(i.saturating_mul(2 * ptr)))?;
                let name_off = u32_at(funcoff.saturating_add(ptr))? as usize;
                out.insert(name_at(name_off)?);
            }
        }
        m => return Err(err(format!("unknown magic {m:#x}"))),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_tables_are_errors_not_panics() {
        assert!(functions(b"", true).is_err());
        let mut t = 0xffff_fff1u32.to_le_bytes().to_vec();
        t.extend([0, 0, 1, 8]);
        t.extend(u64::MAX.to_le_bytes());
        assert!(functions(&t, true).is_err());
        t.truncate(8);
        t.extend(1u64.to_le_bytes());
        t.resize(200, 0xff);
        assert!(functions(&t, true).is_err());
        assert!(go_functions(b"\x7fELF not really").is_err());
        let wanted = GoSymbolSet::new([("net".to_owned(), "Dial".to_owned())]);
        assert!(go_symbols_present(b"MZ", &wanted).is_err());
    }

    #[test]
    fn names_as_the_vulnerability_database_writes_them() {
        let v = |n: &str| vulndb_symbol(n).map(|(p, s)| format!("{p} {s}"));
        assert_eq!(
            v("net/textproto.(*Reader).ReadMIMEHeader").as_deref(),
            Some("net/textproto Reader.ReadMIMEHeader")
        );
        assert_eq!(
            v("net/url.URL.Hostname").as_deref(),
            Some("net/url URL.Hostname")
        );
        assert_eq!(
            v("gopkg.in/yaml%2ev2.Unmarshal").as_deref(),
            Some("gopkg.in/yaml.v2 Unmarshal")
        );
        assert_eq!(
            v("net/http.(*Transport).dialConn.func1.2").as_deref(),
            Some("net/http Transport.dialConn")
        );
        assert_eq!(v("net.Dial.gowrap1").as_deref(), Some("net Dial"));
        assert_eq!(
            v("example.com/m/pkg.(*List[go.shape.int]).Push").as_deref(),
            Some("example.com/m/pkg List.Push")
        );
        assert_eq!(v("slices.Sort[...]").as_deref(), Some("slices Sort"));
        assert_eq!(
            v("runtime.memmove.abi0").as_deref(),
            Some("runtime memmove")
        );
        assert_eq!(v("main.main").as_deref(), Some("main main"));
        assert_eq!(v("go:buildid"), None);
    }

    #[test]
    fn a_streamed_name_table_is_found_at_any_chunking() {
        // A Go 1.20 header (pointer size 8) with its name table right after it.
        let names = b"main.main\0net.Dial\0";
        let mut t = 0xffff_fff1u32.to_le_bytes().to_vec();
        t.extend([0, 0, 1, 8]);
        // The linker aligns the name table: here to 96 bytes, as Go 1.19 does.
        let names_at = 96;
        for w in [
            1u64,
            1,
            0,
            names_at as u64,
            (names_at + names.len()) as u64,
            0,
            0,
            0,
        ] {
            t.extend(w.to_le_bytes());
        }
        t.resize(names_at, 0);
        t.extend_from_slice(names);
        let mut file = vec![0x55u8; 1000];
        file.extend(&t);
        file.extend(vec![0xaau8; 1000]);
        for chunk in [1, 3, 7, 64, 4096] {
            let mut scan = NameTableScan::default();
            for c in file.chunks(chunk) {
                scan.feed(c);
            }
            assert_eq!(scan.finish().as_deref(), Some(&names[..]), "chunk {chunk}");
        }
        // Not 4-byte aligned: not a table.
        let mut off = vec![0x55u8; 1001];
        off.extend(&t);
        let mut scan = NameTableScan::default();
        scan.feed(&off);
        assert_eq!(scan.finish(), None);
    }
}
