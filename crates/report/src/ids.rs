use ferret_model::Package;
use sha2::{Digest as _, Sha256};

/// A short id for a package that is stable across runs: the same package at the same
/// place always gets the same id, and two packages in one image never share one.
pub fn package_id(p: &Package) -> String {
    let mut h = Sha256::new();
    for part in [
        p.kind.as_str(),
        &p.name,
        &p.version,
        p.architecture.as_deref().unwrap_or(""),
        &p.location.path,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// A name-based (v5) UUID, so document ids follow from content.
pub(crate) fn uuid_for(seed: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, seed.as_bytes())
}

/// Keeps the characters SPDX allows in an SPDXID (`[A-Za-z0-9.-]`).
pub(crate) fn spdx_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
