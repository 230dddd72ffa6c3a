//! CycloneDX 1.6 JSON: the image as the metadata component, the OS and packages as
//! components.

use ferret_engine::{Inventory, SourceKind};
use serde_json::{Value, json};

use crate::Tool;
use crate::ids::{package_id, uuid_for};
use crate::license::{License, classify};

pub(crate) fn document(inv: &Inventory, tool: &Tool) -> Value {
    let src = &inv.source;
    let root_ref = format!("source-{}", &src.digest.hex()[..16]);
    let mut root = json!({
        "bom-ref": root_ref,
        "type": if src.kind == SourceKind::Image { "container" } else { "file" },
        "name": src.name,
        "version": src.digest.to_string(),
        "hashes": [{"alg": "SHA-256", "content": src.digest.hex()}],
    });
    let mut props = Vec::new();
    if let Some(arch) = &src.architecture {
        props.push(prop("ferret:image:architecture", arch));
    }
    for t in &src.tags {
        props.push(prop("ferret:image:tag", t));
    }
    if let Some(d) = &src.config_digest {
        props.push(prop("ferret:image:config-digest", &d.to_string()));
    }
    if !props.is_empty() {
        root["properties"] = Value::Array(props);
    }

    let mut components = Vec::new();
    let mut refs = Vec::new();
    if let Some(d) = &inv.distro {
        let os_ref = format!("os-{}", d.purl_qualifier());
        let mut c = json!({"bom-ref": os_ref, "type": "operating-system", "name": d.id});
        if !d.version_id.is_empty() {
            c["version"] = json!(d.version_id);
        }
        if !d.pretty_name.is_empty() {
            c["description"] = json!(d.pretty_name);
        }
        refs.push(os_ref);
        components.push(c);
    }
    for p in &inv.packages {
        let bom_ref = format!("pkg-{}", package_id(p));
        let mut c = json!({
            "bom-ref": bom_ref,
            "type": "library",
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
        });
        // CycloneDX takes either one expression or a list of licenses, not both.
        let licenses: Vec<License> = p.licenses.iter().map(|l| classify(l)).collect();
        match licenses.as_slice() {
            [] => {}
            [License::Expression(e)] => c["licenses"] = json!([{"expression": e}]),
            many => {
                c["licenses"] = Value::Array(
                    many.iter()
                        .map(|l| match l {
                            License::Id(id) => json!({"license": {"id": id}}),
                            License::Expression(e) | License::Other(e) => {
                                json!({"license": {"name": e}})
                            }
                        })
                        .collect(),
                )
            }
        }
        let mut props = vec![
            prop("ferret:package:type", p.kind.as_str()),
            prop("ferret:package:found-by", &p.found_by),
            prop("ferret:location:0:path", &format!("/{}", p.location.path)),
        ];
        if let Some(layer) = p.location.layer.as_ref().and_then(|l| l.digest.as_ref()) {
            props.push(prop("ferret:location:0:layer", &layer.to_string()));
        }
        if let Some(s) = &p.source {
            props.push(prop("ferret:package:source-name", &s.name));
            props.push(prop("ferret:package:source-version", &s.version));
        }
        if let Some(a) = &p.architecture {
            props.push(prop("ferret:package:architecture", a));
        }
        c["properties"] = Value::Array(props);
        refs.push(bom_ref);
        components.push(c);
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_for(&format!("ferret/cyclonedx/{}", src.digest))),
        "version": 1,
        "metadata": {
            "timestamp": src.created,
            "tools": {"components": [{"type": "application", "name": tool.name, "version": tool.version}]},
            "component": root,
        },
        "components": components,
        "dependencies": [{"ref": root_ref, "dependsOn": refs}],
    })
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}
