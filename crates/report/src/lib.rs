//! Stage ⑥: renderers. Every renderer takes the plain inventory the engine produced and
//! writes bytes; output is sorted and carries no wall-clock time or random id, so the same
//! image gives the same bytes.

mod cyclonedx;
pub mod grype;
mod ids;
mod json;
mod license;
pub mod sarif;
mod scan;
mod spdx_json;
mod table;

use std::io::Write;

use ferret_model::Inventory;

pub use ids::package_id;
pub use scan::{DatabaseInfo, Order, ScanFormat, ScanReport, risk, write_scan};

/// Output formats of `ferret sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    Table,
    Json,
    SpdxJson,
    CycloneDxJson,
}

impl SbomFormat {
    pub const ALL: &[(&'static str, SbomFormat)] = &[
        ("table", Self::Table),
        ("json", Self::Json),
        ("spdx-json", Self::SpdxJson),
        ("cyclonedx-json", Self::CycloneDxJson),
    ];
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The tool name and version written into documents.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: "ferret",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

pub fn write_sbom(
    inv: &Inventory,
    format: SbomFormat,
    tool: &Tool,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        SbomFormat::Table => table::write(inv, out)?,
        SbomFormat::Json => write_json(&json::document(inv, tool), out)?,
        SbomFormat::SpdxJson => write_json(&spdx_json::document(inv, tool), out)?,
        SbomFormat::CycloneDxJson => write_json(&cyclonedx::document(inv, tool), out)?,
    }
    Ok(())
}

fn write_json(value: &impl serde::Serialize, out: &mut dyn Write) -> Result<(), ReportError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}
