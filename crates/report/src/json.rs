//! Ferret's own JSON inventory, schema `ferret.inventory/v1` (documented in
//! `docs/json-schema.md`; fields are only ever added within a version).

use ferret_model::{Inventory, SourceKind};
use serde_json::{Value, json};

use crate::Tool;

pub const SCHEMA: &str = "ferret.inventory/v1";

/// The `source` object, shared with the scan document.
pub(crate) fn source(inv: &Inventory) -> Value {
    let src = &inv.source;
    json!({
            "type": match src.kind { SourceKind::Image => "image", SourceKind::Directory => "directory", SourceKind::Sbom => "sbom" },
            "name": src.name,
            "digest": src.digest,
            "configDigest": src.config_digest,
            "indexDigest": src.index_digest,
            "tags": src.tags,
            "architecture": src.architecture,
            "os": src.os,
            "created": src.created,
            "layers": src.layers.iter().map(|l| json!({
                "index": l.index,
                "digest": l.digest,
                "diffId": l.diff_id,
                "mediaType": l.media_type,
                "size": l.size,
            })).collect::<Vec<_>>(),
    })
}

pub(crate) fn document(inv: &Inventory, tool: &Tool) -> Value {
    json!({
        "schema": SCHEMA,
        "tool": {"name": tool.name, "version": tool.version},
        "source": source(inv),
        "distro": inv.distro,
        "packages": inv.packages,
        "catalogers": inv.catalogers.iter().map(|c| json!({
            "name": c.name,
            "version": c.version,
            "files": c.files,
            "packages": c.packages,
            "notes": c.notes,
            "state": format!("{:?}", c.state),
        })).collect::<Vec<_>>(),
        "notes": inv.notes,
    })
}
