//! Other formats of what a scan stored: the hub keeps one SPDX SBOM per scan and renders
//! CycloneDX from it on request, so the engine is reached only through the worker.

use ferret_report::{SbomFormat, Tool};

/// Why a stored SBOM could not be rendered again.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("scan digest {digest:?}: {reason}")]
    Digest { digest: String, reason: String },
    #[error("the stored SBOM: {0}")]
    Read(String),
    #[error("rendering {format}: {reason}")]
    Write {
        format: &'static str,
        reason: String,
    },
}

/// CycloneDX 1.6 JSON of a stored SPDX (or CycloneDX) SBOM of the image `digest`.
pub fn sbom_as_cyclonedx(sbom: &[u8], digest: &str, tool: &Tool) -> Result<Vec<u8>, ConvertError> {
    let parsed = digest.parse().map_err(|e| ConvertError::Digest {
        digest: digest.to_owned(),
        reason: format!("{e}"),
    })?;
    let inventory = ferret_engine::sbom_inventory_of(
        sbom,
        "stored SBOM".to_owned(),
        parsed,
        &ferret_engine::ScanOptions::default(),
    )
    .map_err(|e| ConvertError::Read(e.to_string()))?;
    let mut out = Vec::new();
    ferret_report::write_sbom(&inventory, SbomFormat::CycloneDxJson, tool, &mut out).map_err(
        |e| ConvertError::Write {
            format: "CycloneDX",
            reason: e.to_string(),
        },
    )?;
    Ok(out)
}
