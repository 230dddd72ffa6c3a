//! Reading header blobs out of a Berkeley DB database (`var/lib/rpm/Packages`) without
//! libdb: rpm 4 keeps a hash database, rpm 5 (Yocto, OpenEmbedded) a Btree one. Walk the
//! hash buckets or the Btree leaves, and follow each value's overflow-page chain. Page
//! layouts as Berkeley DB's `db_page.h` gives them.

use super::DbError;

const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_LBTREE: u8 = 5;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_BTREEMETA: u8 = 9;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// Btree item types (`B_KEYDATA`, `B_OVERFLOW`), after the item's 2-byte length.
const B_KEYDATA: u8 = 1;
const B_OVERFLOW: u8 = 3;

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(match self {
            Self::Little => u32::from_le_bytes(s),
            Self::Big => u32::from_be_bytes(s),
        })
    }

    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(match self {
            Self::Little => u16::from_le_bytes(s),
            Self::Big => u16::from_be_bytes(s),
        })
    }
}

/// Every value blob of the database, in page order. Damaged items are reported and
/// skipped; a damaged metadata page fails the whole file.
pub(crate) fn blobs(db: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<String>), DbError> {
    let (endian, btree) = [Endian::Little, Endian::Big]
        .into_iter()
        .find_map(|e| match e.u32(db, 12) {
            Some(HASH_MAGIC) => Some((e, false)),
            Some(BTREE_MAGIC) => Some((e, true)),
            _ => None,
        })
        .ok_or_else(|| {
            DbError("not a Berkeley DB hash or Btree database (bad magic)".to_owned())
        })?;
    let meta = if btree { P_BTREEMETA } else { P_HASHMETA };
    if db.get(25) != Some(&meta) {
        return Err(DbError(
            "Berkeley DB metadata page has the wrong type".to_owned(),
        ));
    }
    let page_size = endian.u32(db, 20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(DbError(format!(
            "invalid Berkeley DB page size {page_size}"
        )));
    }
    if btree {
        return Ok(btree_blobs(db, endian, page_size));
    }
    let pages = db.len() / page_size;
    let page = |n: usize| db.get(n * page_size..(n + 1) * page_size);
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for n in 1..pages {
        let Some(p) = page(n) else { break };
        if p[25] != P_HASH && p[25] != P_HASH_UNSORTED {
            continue;
        }
        let entries = endian.u16(p, 20).unwrap_or(0) as usize;
        // Items come in (key, value) pairs; values are what we want.
        for i in (1..entries).step_by(2) {
            let Some(off) = endian.u16(p, PAGE_HEADER + i * 2).map(usize::from) else {
                problems.push(format!("page {n}: item index {i} out of range"));
                continue;
            };
            match p.get(off) {
                Some(&H_OFFPAGE) => match off_page(db, page_size, endian, p, off) {
                    Ok(blob) => out.push(blob),
                    Err(e) => problems.push(format!("page {n}: {e}")),
                },
                Some(&H_KEYDATA) => {
                    let Some(value) = on_page(p, endian, page_size, i) else {
                        continue;
                    };
                    // Key 0 holds rpm's 4-byte counter of the largest header instance
                    // (rpm's db3.c, pkgInstance), not a header.
                    if on_page(p, endian, page_size, i - 1) == Some(&[0u8; 4][..]) {
                        continue;
                    }
                    out.push(value.to_vec());
                }
                _ => {}
            }
        }
    }
    Ok((out, problems))
}

/// The values of a Btree database's leaf pages (`P_LBTREE`: key and value items in
/// turn), in page order. A Btree item is its length (2 bytes), its type, then the bytes;
/// an overflow item is read by [`off_page`].
fn btree_blobs(db: &[u8], endian: Endian, page_size: usize) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let item = |p: &[u8], i: usize| -> Option<usize> {
        let off = usize::from(endian.u16(p, PAGE_HEADER + i * 2)?);
        (off + 3 <= page_size).then_some(off)
    };
    for n in 1..db.len() / page_size {
        let p = &db[n * page_size..(n + 1) * page_size];
        if p[25] != P_LBTREE {
            continue;
        }
        let entries = endian.u16(p, 20).unwrap_or(0) as usize;
        for i in (1..entries).step_by(2) {
            let (Some(key), Some(value)) = (item(p, i - 1), item(p, i)) else {
                problems.push(format!("page {n}: item index {i} out of range"));
                continue;
            };
            match p[value + 2] {
                B_OVERFLOW => match off_page(db, page_size, endian, p, value) {
                    Ok(blob) => out.push(blob),
                    Err(e) => problems.push(format!("page {n}: {e}")),
                },
                B_KEYDATA => {
                    let bytes = |off: usize| {
                        let len = usize::from(endian.u16(p, off)?);
                        p.get(off + 3..off + 3 + len)
                    };
                    let Some(data) = bytes(value) else {
                        problems.push(format!("page {n}: item {i} runs past the page"));
                        continue;
                    };
                    // As in rpm 4's hash database: key 0 holds a counter, not a header.
                    if p[key + 2] == B_KEYDATA && bytes(key) == Some(&[0u8; 4][..]) {
                        continue;
                    }
                    out.push(data.to_vec());
                }
                _ => {}
            }
        }
    }
    (out, problems)
}

/// The bytes of on-page item `i` (after its type byte): items grow down from the end of
/// the page, so an item runs to the start of the one before it.
fn on_page(p: &[u8], endian: Endian, page_size: usize, i: usize) -> Option<&[u8]> {
    let off = usize::from(endian.u16(p, PAGE_HEADER + i * 2)?);
    let end = match i {
        0 => page_size,
        _ => usize::from(endian.u16(p, PAGE_HEADER + (i - 1) * 2)?),
    };
    if p.get(off) != Some(&H_KEYDATA) || off + 1 > end || end > page_size {
        return None;
    }
    p.get(off + 1..end)
}

/// The value of an item kept on overflow pages: a hash `H_OFFPAGE` and a Btree
/// `B_OVERFLOW` item alike hold its first page at 4 and its length at 8 (from the item's
/// start); the chain is followed through each page's next-page number.
fn off_page(
    db: &[u8],
    page_size: usize,
    endian: Endian,
    p: &[u8],
    item: usize,
) -> Result<Vec<u8>, String> {
    let (Some(first), Some(total)) = (endian.u32(p, item + 4), endian.u32(p, item + 8)) else {
        return Err("truncated overflow item".to_owned());
    };
    let (first, total) = (first as usize, total as usize);
    if total > db.len() {
        return Err(format!(
            "value of {total} bytes is larger than the database"
        ));
    }
    let mut blob = Vec::with_capacity(total);
    let mut next = first;
    let mut hops = 0;
    while blob.len() < total {
        hops += 1;
        if next == 0 || hops > db.len() / page_size {
            return Err("overflow chain ends early or loops".to_owned());
        }
        let p = db
            .get(next * page_size..(next + 1) * page_size)
            .ok_or_else(|| format!("overflow page {next} is past the end of the file"))?;
        if p[25] != P_OVERFLOW {
            return Err(format!("page {next} is not an overflow page"));
        }
        let want = (total - blob.len()).min(page_size - PAGE_HEADER);
        blob.extend_from_slice(&p[PAGE_HEADER..PAGE_HEADER + want]);
        next = endian.u32(p, 16).unwrap_or(0) as usize;
    }
    Ok(blob)
}
