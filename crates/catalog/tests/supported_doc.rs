//! `docs/supported.md` lists exactly the registered catalogers, their versions and files.

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn supported_doc_matches_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/supported.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut rows = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 5
            && cells[1].starts_with('`')
            && cells[2].chars().all(|c| c.is_ascii_digit())
        {
            rows.push((
                cells[1].trim_matches('`').to_owned(),
                cells[2].to_owned(),
                cells[3].to_owned(),
            ));
        }
    }
    let registry: Vec<_> = ferret_catalog::CATALOGERS
        .iter()
        .map(|c| {
            let mut files: Vec<String> = c.patterns().iter().map(|p| format!("`{p}`")).collect();
            if c.probed() {
                files.push("executables (ELF, PE, Mach-O), by content".to_owned());
            }
            (
                c.name().to_owned(),
                c.version().to_string(),
                files.join(", "),
            )
        })
        .collect();
    assert_eq!(rows, registry, "docs/supported.md is out of date");
}
