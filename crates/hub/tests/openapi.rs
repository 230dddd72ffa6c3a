//! The REST API's OpenAPI document is a wire format: `docs/openapi.json` holds the
//! released shape, and any change to the generated document must show up as a change to
//! that file (rerun with FERRET_UPDATE_OPENAPI=1 to rewrite it after a deliberate change).

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn the_openapi_document_is_3_1_and_matches_docs() {
    let doc = serde_json::to_value(ferret_hub::openapi_document()).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    // The Aqua workflow names these operations; the SDK and `ferret remote` call these.
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId") {
                ids.push((id.as_str().unwrap().to_owned(), path.clone()));
            }
        }
    }
    ids.sort();
    for (id, path) in [
        ("login", "/api/v1/login"),
        ("registerImage", "/api/v2/images"),
        (
            "getImage",
            "/api/v2/images/{registry}/{image_name}/{image_tag}",
        ),
        ("scannerScan", "/container-registry/v1/scans"),
        (
            "scannerListVulnerabilities",
            "/container-registry/v1/scans/{scanResultId}:listVulnerabilities",
        ),
        (
            "scannerGetLast",
            "/container-registry/v1/images/{imageId}:lastScanResult",
        ),
        ("operationGet", "/operations/{operationId}"),
        // Ferret's own scans API, which `ferret remote` speaks.
        ("submitScan", "/api/ferret/v1/scans"),
        ("listFerretScans", "/api/ferret/v1/scans"),
        ("getFerretScan", "/api/ferret/v1/scans/{id}"),
        ("getFerretScanSbom", "/api/ferret/v1/scans/{id}/sbom"),
        ("getFerretScanReport", "/api/ferret/v1/scans/{id}/report"),
    ] {
        assert!(
            ids.contains(&(id.to_owned(), path.to_owned())),
            "{id} at {path}: {ids:?}"
        );
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("FERRET_UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == text,
        "the OpenAPI document changed; review it and rerun with FERRET_UPDATE_OPENAPI=1 to update {}",
        file.display()
    );
}

/// Every REST route the hub mounts (as written in `src/api`) is in the document, method
/// and path: a handler added without its annotation in `openapi.rs` fails here.
#[test]
fn every_rest_route_is_documented() {
    let doc = serde_json::to_value(ferret_hub::openapi_document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut missing = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // `.route(\n "PATH",` or `.route("PATH", get(a).post(b))`, whitespace aside.
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (i, _) in flat.match_indices(".route(") {
            let rest = &flat[i + ".route(".len()..];
            let Some(path) = rest
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            if !path.starts_with("/api/ferret/") {
                continue;
            }
            seen += 1;
            // The route's arguments: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let call = &rest[..end];
            let methods: Vec<&str> = ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| call.contains(&format!(" {m}(")) || call.contains(&format!(".{m}(")))
                .collect();
            let Some(item) = paths.get(path) else {
                missing.push(path.to_owned());
                continue;
            };
            for m in methods {
                if item.get(m).is_none() {
                    missing.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
    }
    assert!(seen >= 10, "found only {seen} routes under src/api");
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}"
    );
}
