use std::io::Write;

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};
use ferret_model::Inventory;

pub(crate) fn write(inv: &Inventory, out: &mut dyn Write) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(vec!["NAME", "VERSION", "TYPE", "SOURCE", "LAYER"]);
    for p in &inv.packages {
        let source = p
            .source
            .as_ref()
            .filter(|s| s.name != p.name || s.version != p.version)
            .map(|s| {
                if s.version == p.version {
                    s.name.clone()
                } else {
                    format!("{} {}", s.name, s.version)
                }
            })
            .unwrap_or_default();
        let layer = p
            .location
            .layer
            .as_ref()
            .map(|l| l.index.to_string())
            .unwrap_or_default();
        table.add_row(vec![
            Cell::new(&p.name),
            Cell::new(&p.version),
            Cell::new(p.kind.as_str()),
            Cell::new(source),
            Cell::new(layer),
        ]);
    }
    if !inv.packages.is_empty() {
        writeln!(out, "{table}")?;
    }
    let distro = inv
        .distro
        .as_ref()
        .map(|d| {
            if d.pretty_name.is_empty() {
                d.purl_qualifier()
            } else {
                d.pretty_name.clone()
            }
        })
        .unwrap_or_else(|| "unknown OS".to_owned());
    writeln!(
        out,
        "{} package{} in {} ({distro}, {})",
        inv.packages.len(),
        if inv.packages.len() == 1 { "" } else { "s" },
        inv.source.name,
        inv.source.digest
    )?;
    Ok(())
}
