//! Reading header blobs out of rpm's NDB database (`Packages.db`, SUSE): a header naming
//! the slot pages, slots pointing at blobs in 16-byte blocks.

use super::DbError;

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const SLOT_PAGE: usize = 4096;
const SLOT_SIZE: usize = 16;
const BLOCK: usize = 16;
const MAX_SLOT_PAGES: usize = 2048;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn blobs(db: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<String>), DbError> {
    if le32(db, 0) != Some(HEADER_MAGIC) {
        return Err(DbError("not an rpm NDB database (bad magic)".to_owned()));
    }
    if le32(db, 4) != Some(0) {
        return Err(DbError("unsupported NDB version".to_owned()));
    }
    let slot_pages = le32(db, 12).unwrap_or(0) as usize;
    if slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
        return Err(DbError(format!(
            "implausible NDB slot page count {slot_pages}"
        )));
    }
    // The 32-byte file header takes the room of the first two slots.
    let slots = slot_pages * (SLOT_PAGE / SLOT_SIZE) - 2;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for s in 0..slots {
        let at = 32 + s * SLOT_SIZE;
        let (Some(magic), Some(pkg), Some(block)) =
            (le32(db, at), le32(db, at + 4), le32(db, at + 8))
        else {
            problems.push(format!("slot {s} is past the end of the file"));
            break;
        };
        if magic != SLOT_MAGIC {
            problems.push(format!("slot {s} has a bad magic"));
            continue;
        }
        if pkg == 0 {
            continue;
        }
        let start = block as usize * BLOCK;
        let (Some(bmagic), Some(bpkg), Some(len)) =
            (le32(db, start), le32(db, start + 4), le32(db, start + 12))
        else {
            problems.push(format!(
                "package {pkg}: blob header past the end of the file"
            ));
            continue;
        };
        if bmagic != BLOB_MAGIC || bpkg != pkg {
            problems.push(format!("package {pkg}: bad blob header"));
            continue;
        }
        match db.get(start + BLOCK..start + BLOCK + len as usize) {
            Some(blob) => out.push(blob.to_vec()),
            None => problems.push(format!(
                "package {pkg}: blob of {len} bytes past the end of the file"
            )),
        }
    }
    Ok((out, problems))
}
