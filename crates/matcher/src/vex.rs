//! OpenVEX 0.2 documents (`--vex FILE`): statements that a product is `not_affected` by a
//! vulnerability, or has it `fixed`, suppress the matching findings. A statement names the
//! vulnerability (its name, `@id` or aliases, against a finding's id and related ids) and
//! products by purl: a package purl matches the package (a purl without a version matches
//! every version; qualifiers are ignored), and an image purl (`pkg:oci/…`,
//! `pkg:docker/…`) with no subcomponents speaks for every package of the image. Later
//! statements supersede earlier ones.

use serde::Deserialize;
use serde_json::Value;

use crate::Finding;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    /// The vulnerability's name, `@id` and aliases.
    ids: Vec<String>,
    /// Product and subcomponent purls; `None` matches every package (an image-level
    /// statement).
    purls: Option<Vec<String>>,
    status: String,
    justification: String,
}

/// The statements of a VEX document.
#[derive(Debug, Clone, Default)]
pub struct Vex {
    statements: Vec<Statement>,
}

/// A VEX document that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VexError(String);

#[derive(Deserialize)]
struct RawDoc {
    #[serde(rename = "@context", default)]
    context: String,
    #[serde(default)]
    statements: Vec<RawStatement>,
}

#[derive(Deserialize)]
struct RawStatement {
    vulnerability: Value,
    #[serde(default)]
    products: Vec<Value>,
    status: String,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    impact_statement: Option<String>,
    #[serde(default)]
    status_notes: Option<String>,
}

const STATUSES: &[&str] = &["not_affected", "affected", "fixed", "under_investigation"];

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `pkg:type/ns/name@version?q#p` without qualifiers and subpath.
fn purl_core(purl: &str) -> &str {
    purl.split(['?', '#']).next().unwrap_or(purl)
}

fn purl_matches(product: &str, package: &str) -> bool {
    let (product, package) = (purl_core(product), purl_core(package));
    if product.contains('@') {
        product == package
    } else {
        package
            .split_once('@')
            .map_or(package, |(base, _)| base)
            .eq(product)
    }
}

fn is_image(purl: &str) -> bool {
    purl.starts_with("pkg:oci/") || purl.starts_with("pkg:docker/")
}

impl Vex {
    pub fn parse(text_in: &str) -> Result<Self, VexError> {
        let doc: RawDoc = serde_json::from_str(text_in)
            .map_err(|e| VexError(format!("not an OpenVEX document: {e}")))?;
        if !doc.context.starts_with("https://openvex.dev/ns") {
            return Err(VexError(format!(
                "not an OpenVEX document: @context is {:?}, expected https://openvex.dev/ns/v0.2.0",
                doc.context
            )));
        }
        let mut statements = Vec::new();
        for (i, s) in doc.statements.into_iter().enumerate() {
            let at = format!("statement {}", i + 1);
            if !STATUSES.contains(&s.status.as_str()) {
                return Err(VexError(format!(
                    "{at}: status {:?} is not one of {}",
                    s.status,
                    STATUSES.join(", ")
                )));
            }
            let ids: Vec<String> = match &s.vulnerability {
                Value::String(name) => vec![name.clone()],
                v @ Value::Object(_) => {
                    let mut ids: Vec<String> =
                        ["name", "@id"].iter().filter_map(|k| text(v, k)).collect();
                    if let Some(Value::Array(a)) = v.get("aliases") {
                        ids.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    ids
                }
                _ => Vec::new(),
            };
            if ids.is_empty() {
                return Err(VexError(format!("{at}: the vulnerability has no name")));
            }
            let mut purls = Vec::new();
            let mut image_wide = false;
            for p in &s.products {
                let id = match p {
                    Value::String(s) => Some(s.clone()),
                    v => text(v, "@id"),
                };
                let subs: Vec<String> = p
                    .get("subcomponents")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| match s {
                                Value::String(s) => Some(s.clone()),
                                v => text(v, "@id"),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if subs.is_empty() {
                    match id {
                        Some(id) if is_image(&id) => image_wide = true,
                        Some(id) => purls.push(id),
                        None => {}
                    }
                } else {
                    purls.extend(subs);
                }
            }
            let justification = [s.justification, s.impact_statement, s.status_notes]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            statements.push(Statement {
                ids,
                purls: if image_wide { None } else { Some(purls) },
                status: s.status,
                justification,
            });
        }
        Ok(Self { statements })
    }

    /// Why `finding` of the package with this purl is suppressed (`not_affected` or
    /// `fixed`, with the justification), if the last statement about it says so.
    pub fn suppresses(&self, finding: &Finding, purl: &str) -> Option<String> {
        let s = self.statements.iter().rev().find(|s| {
            s.ids
                .iter()
                .any(|id| *id == finding.id || finding.related.contains(id))
                && s.purls
                    .as_ref()
                    .is_none_or(|ps| ps.iter().any(|p| purl_matches(p, purl)))
        })?;
        matches!(s.status.as_str(), "not_affected" | "fixed").then(|| {
            if s.justification.is_empty() {
                s.status.clone()
            } else {
                format!("{}: {}", s.status, s.justification)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;

    const DOC: &str = r#"{
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://example.com/vex/1",
      "author": "Example",
      "timestamp": "2026-11-01T00:00:00Z",
      "version": 1,
      "statements": [
        {"vulnerability": {"name": "CVE-2024-1"},
         "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": "pkg:deb/debian/openssl@3.0.11-1?arch=amd64"}]}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": "GHSA-aaaa", "aliases": ["CVE-2024-2"]},
         "products": [{"@id": "pkg:deb/debian/bar"}],
         "status": "fixed"},
        {"vulnerability": {"name": "CVE-2024-3"},
         "products": [{"@id": "pkg:oci/app"}],
         "status": "not_affected", "justification": "component_not_present"},
        {"vulnerability": {"name": "CVE-2024-3"},
         "products": [{"@id": "pkg:deb/debian/baz"}],
         "status": "affected", "action_statement": "upgrade"}
      ]
    }"#;

    #[test]
    fn statements_suppress_by_purl_and_alias() {
        let vex = Vex::parse(DOC).unwrap();
        let openssl = "pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=debian-12";
        assert!(
            vex.suppresses(&finding("CVE-2024-1", &[]), openssl)
                .unwrap()
                .contains("not_in_execute_path")
        );
        assert!(
            vex.suppresses(
                &finding("CVE-2024-1", &[]),
                "pkg:deb/debian/openssl@3.0.13-1"
            )
            .is_none()
        );
        assert_eq!(
            vex.suppresses(&finding("CVE-2024-2", &[]), "pkg:deb/debian/bar@2.0-1")
                .as_deref(),
            Some("fixed")
        );
        // Image-wide, but a later statement says baz is affected.
        assert!(
            vex.suppresses(&finding("CVE-2024-3", &[]), "pkg:deb/debian/qux@1")
                .is_some()
        );
        assert!(
            vex.suppresses(&finding("CVE-2024-3", &[]), "pkg:deb/debian/baz@1")
                .is_none()
        );
    }

    #[test]
    fn bad_documents_name_the_problem() {
        assert!(
            Vex::parse("{}")
                .unwrap_err()
                .to_string()
                .contains("@context")
        );
        let bad = r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "CVE-1"}, "status": "maybe"}]}"#;
        assert!(
            Vex::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("statement 1")
        );
    }
}
