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

/// Why a pc-line table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Go pc-line table: {0}")]
pub struct GoSymbolsError(String);

fn err(s: impl Into<String>) -> GoSymbolsError {
    GoSymbolsError(s.into())
}

/// The fully qualified names of the functions in a Go executable (ELF, PE or Mach-O), as
/// `go tool nm` prints them (`net/http.(*Server).Serve`, `main.main`).
pub fn go_functions(binary: &[u8]) -> Result<BTreeSet<String>, GoSymbolsError> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(binary).map_err(|e| err(format!("not an executable: {e}")))?;
    let table = file
        .sections()
        .find(|s| matches!(s.name(), Ok(".gopclntab" | "__gopclntab")))
        .and_then(|s| s.data().ok())
        .or_else(|| find_table(binary))
        .ok_or_else(|| err("no pc-line table (.gopclntab) found"))?;
    functions(table, file.is_little_endian())
}

/// A table found by its header where the section table does not name it (PE binaries keep
/// it inside `.rdata`): the magic, two zero bytes, an instruction size quantum of 1, 2 or
/// 4 and a pointer size of 4 or 8, at a 4-byte-aligned offset.
fn find_table(binary: &[u8]) -> Option<&[u8]> {
    let magics: [[u8; 4]; 4] = [
        0xffff_fff1u32.to_le_bytes(),
        0xffff_fff0u32.to_le_bytes(),
        0xffff_fffau32.to_le_bytes(),
        0xffff_fffbu32.to_le_bytes(),
    ];
    (0..binary.len().saturating_sub(8))
        .step_by(4)
        .find_map(|at| {
            let h = &binary[at..at + 8];
            (magics.iter().any(|m| h[..4] == m[..])
                && h[4] == 0
                && h[5] == 0
                && matches!(h[6], 1 | 2 | 4)
                && matches!(h[7], 4 | 8))
            .then(|| &binary[at..])
        })
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
    }
}
