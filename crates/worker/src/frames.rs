//! The frames of `io.atcr.hold.subscribeScanJobs` (DESIGN.md §3.1): JSON text frames with
//! the lexicon's field names, both the lexicon's `type` and the AT Protocol union tag
//! `$type`, and `bytes` as `{"$bytes": base64}` (written unpadded, read either way).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::{Deserialize, Serialize};

pub const NSID: &str = "io.atcr.hold.subscribeScanJobs";
pub const JOB_TYPE: &str = "io.atcr.hold.subscribeScanJobs#scanJob";
pub const RESULT_TYPE: &str = "io.atcr.hold.subscribeScanJobs#scanResult";
/// The lexicon's cap on each blob.
pub const MAX_BLOB: usize = 100 << 20;
/// The largest frame a connection accepts: two blobs at the cap, base64-encoded, and the
/// rest of the result.
pub const MAX_FRAME: usize = 2 * (MAX_BLOB / 3 * 4 + 4) + (1 << 20);

/// A job, as the hub sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanJob {
    #[serde(rename = "$type")]
    pub lex_type: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: i64,
    pub digest: String,
    pub repository: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tag: Option<String>,
    pub user_did: String,
    pub hold_did: String,
    pub hold_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub priority: Option<i64>,
}

/// The lexicon's `vulnSummary`.
pub use ferret_model::AtcrSummary;

/// `{"$bytes": "…"}`. Read borrowing from the frame, so a 100 MiB blob is not copied
/// before it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes<'a> {
    #[serde(rename = "$bytes", borrow)]
    pub b64: Cow<'a, str>,
}

impl Bytes<'static> {
    pub fn encode(data: &[u8]) -> Self {
        Self {
            b64: Cow::Owned(STANDARD_NO_PAD.encode(data)),
        }
    }
}

/// An error frame: the JSON form of an AT Protocol event-stream error frame, whose header
/// `{"op": -1}` and body `{error, message}` are one object here, as every frame of this
/// subscription is one JSON object. It carries no `type` or `$type`, so no client takes it
/// for a message of the union. After `FutureCursor` the hub closes the connection (1008,
/// the error's name as reason), as AT Protocol subscriptions do; after the others it goes
/// on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub op: i64,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// The names error frames carry.
pub mod errors {
    /// `cursor` is beyond the end of the job log.
    pub const FUTURE_CURSOR: &str = "FutureCursor";
    /// A text frame that is not a JSON object of the union, or a binary frame.
    pub const INVALID_FRAME: &str = "InvalidFrame";
    /// A `scan_result` that fails the lexicon or disagrees with itself; the attempt of the
    /// job it names fails.
    pub const INVALID_RESULT: &str = "InvalidResult";
    /// A result for a digest this connection does not hold (never leased here, or leased
    /// to another scanner since); nothing is recorded.
    pub const NOT_LEASED: &str = "NotLeased";
    /// The hub could not keep a valid result; the job is queued again.
    pub const INTERNAL_ERROR: &str = "InternalError";
}

impl ErrorFrame {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            op: -1,
            error: error.to_owned(),
            message: Some(message.into()),
        }
    }

    /// Reads an error frame; `None` for any other frame.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str::<Self>(text)
            .ok()
            .filter(|f| f.op == -1)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A result, as a scanner sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResultFrame<'a> {
    #[serde(rename = "$type", skip_serializing_if = "Option::is_none", default)]
    pub lex_type: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    pub digest: String,
    pub summary: AtcrSummary,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    pub sbom: Option<Bytes<'a>>,
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    pub vuln_report: Option<Bytes<'a>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scanner_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// A result that passed validation, its blobs decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidResult {
    pub digest: String,
    pub summary: AtcrSummary,
    pub sbom: Option<Vec<u8>>,
    pub report: Option<Vec<u8>>,
    pub scanner_version: Option<String>,
    pub error: Option<String>,
}

/// Why a frame was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    pub message: String,
    /// The frame is not JSON at all (as opposed to JSON that is not a valid result).
    pub not_json: bool,
}

impl FrameError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            not_json: false,
        }
    }
}

fn bad(msg: impl Into<String>) -> FrameError {
    FrameError::new(msg)
}

impl ScanResultFrame<'_> {
    /// A result frame carrying both discriminators.
    pub fn new(digest: &str, summary: AtcrSummary) -> Self {
        Self {
            lex_type: Some(RESULT_TYPE.to_owned()),
            kind: Some("scan_result".to_owned()),
            digest: digest.to_owned(),
            summary,
            sbom: None,
            vuln_report: None,
            scanner_version: None,
            error: None,
        }
    }
}

fn decode(field: &str, b: &Bytes<'_>) -> Result<Vec<u8>, FrameError> {
    // Padded or not; the decoded size is checked before decoding.
    let trimmed = b.b64.trim_end_matches('=');
    if trimmed.len() / 4 * 3 > MAX_BLOB {
        return Err(bad(format!("{field}: larger than {MAX_BLOB} bytes")));
    }
    let data = STANDARD_NO_PAD
        .decode(trimmed)
        .map_err(|e| bad(format!("{field}: not base64: {e}")))?;
    if data.len() > MAX_BLOB {
        return Err(bad(format!("{field}: larger than {MAX_BLOB} bytes")));
    }
    Ok(data)
}

fn max_len(field: &str, value: &str, max: usize) -> Result<(), FrameError> {
    if value.len() > max {
        return Err(bad(format!("{field}: longer than {max} bytes")));
    }
    Ok(())
}

/// Parses and validates a result frame against the lexicon: the discriminators (either one
/// is enough), lengths, non-negative counts, blobs within the cap, the SBOM an SPDX JSON
/// document and the report JSON. Both blobs are optional, as the lexicon has them: a
/// result without a report is counted by its `summary`.
pub fn parse_result(text: &str) -> Result<ValidResult, FrameError> {
    let frame: ScanResultFrame = serde_json::from_str(text).map_err(|e| FrameError {
        message: format!("not a scan_result frame: {e}"),
        not_json: e.is_syntax() || e.is_eof(),
    })?;
    let typed = frame.kind.as_deref() == Some("scan_result")
        || frame.lex_type.as_deref() == Some(RESULT_TYPE);
    if !typed {
        return Err(bad(format!(
            "type: expected \"scan_result\" (or $type {RESULT_TYPE:?})"
        )));
    }
    if let Some(k) = &frame.kind
        && k != "scan_result"
    {
        return Err(bad(format!("type: {k:?} is not \"scan_result\"")));
    }
    if let Some(t) = &frame.lex_type
        && t != RESULT_TYPE
    {
        return Err(bad(format!("$type: {t:?} is not {RESULT_TYPE:?}")));
    }
    max_len("digest", &frame.digest, 128)?;
    if frame.digest.is_empty() {
        return Err(bad("digest: empty"));
    }
    let s = frame.summary;
    for (name, v) in [
        ("critical", s.critical),
        ("high", s.high),
        ("medium", s.medium),
        ("low", s.low),
        ("total", s.total),
    ] {
        if v < 0 {
            return Err(bad(format!("summary.{name}: {v} is negative")));
        }
    }
    if let Some(v) = &frame.scanner_version {
        max_len("scannerVersion", v, 64)?;
    }
    if let Some(e) = &frame.error {
        max_len("error", e, 1024)?;
    }
    let sbom = frame.sbom.as_ref().map(|b| decode("sbom", b)).transpose()?;
    let report = frame
        .vuln_report
        .as_ref()
        .map(|b| decode("vulnReport", b))
        .transpose()?;
    if let Some(data) = &sbom {
        #[derive(Deserialize)]
        struct Spdx {
            #[serde(rename = "spdxVersion")]
            spdx_version: String,
        }
        let doc: Spdx = serde_json::from_slice(data)
            .map_err(|e| bad(format!("sbom: not an SPDX JSON document: {e}")))?;
        if !doc.spdx_version.starts_with("SPDX-") {
            return Err(bad(format!(
                "sbom: spdxVersion {:?} is not SPDX",
                doc.spdx_version
            )));
        }
    }
    if let Some(data) = &report {
        serde_json::from_slice::<serde::de::IgnoredAny>(data)
            .map_err(|e| bad(format!("vulnReport: not JSON: {e}")))?;
    }
    Ok(ValidResult {
        digest: frame.digest,
        summary: frame.summary,
        sbom,
        report,
        scanner_version: frame.scanner_version,
        error: frame.error,
    })
}

/// The `digest` a frame names, if it is a JSON object with one; the rest is skipped
/// without being kept (a refused frame may be hundreds of MiB).
pub fn digest_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        digest: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Named>(text)
        .ok()
        .and_then(|n| n.digest)
        .map(Cow::into_owned)
}

/// Parses a job frame (what `ferret scanner` receives), accepting either discriminator.
pub fn parse_job(text: &str) -> Result<ScanJob, FrameError> {
    let job: ScanJob =
        serde_json::from_str(text).map_err(|e| bad(format!("not a scan_job frame: {e}")))?;
    if job.kind != "scan_job" && job.lex_type != JOB_TYPE {
        return Err(bad(format!("type: {:?} is not \"scan_job\"", job.kind)));
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn results_are_validated_field_by_field() {
        let sbom = Bytes::encode(br#"{"spdxVersion":"SPDX-2.3"}"#);
        let report = Bytes::encode(b"{\"matches\":[]}");
        let mut f = ScanResultFrame::new("sha256:ab", AtcrSummary::default());
        f.sbom = Some(sbom.clone());
        f.vuln_report = Some(report.clone());
        let ok = parse_result(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(ok.report.unwrap(), b"{\"matches\":[]}");
        // Unpadded on the wire; padded accepted.
        assert!(!sbom.b64.ends_with('='));
        let mut padded = f.clone();
        padded.sbom = Some(Bytes {
            b64: STANDARD.encode(br#"{"spdxVersion":"SPDX-2.3"}"#).into(),
        });
        assert!(parse_result(&serde_json::to_string(&padded).unwrap()).is_ok());
        let mut neg = f.clone();
        neg.summary.high = -1;
        assert_eq!(
            parse_result(&serde_json::to_string(&neg).unwrap())
                .unwrap_err()
                .message,
            "summary.high: -1 is negative"
        );
        let mut not_spdx = f.clone();
        not_spdx.sbom = Some(Bytes::encode(b"{\"bomFormat\":\"CycloneDX\"}"));
        assert!(
            parse_result(&serde_json::to_string(&not_spdx).unwrap())
                .unwrap_err()
                .message
                .starts_with("sbom: not an SPDX JSON document")
        );
        let mut long = f.clone();
        long.scanner_version = Some("x".repeat(65));
        assert!(parse_result(&serde_json::to_string(&long).unwrap()).is_err());
        let mut untyped = f;
        untyped.kind = None;
        untyped.lex_type = None;
        assert!(parse_result(&serde_json::to_string(&untyped).unwrap()).is_err());
    }
}
