//! SPDX 2.3 JSON: the image as the described root package, each package contained in it.

use std::collections::BTreeMap;

use ferret_model::{Inventory, SourceKind};
use serde_json::{Value, json};

use crate::Tool;
use crate::ids::{package_id, spdx_safe, uuid_for};
use crate::license::spdx_expression;

pub(crate) fn document(inv: &Inventory, tool: &Tool) -> Value {
    let src = &inv.source;
    let root_id = format!(
        "SPDXRef-{}-{}",
        match src.kind {
            SourceKind::Image => "Image",
            SourceKind::Directory => "Directory",
            SourceKind::Sbom => "Sbom",
        },
        &src.digest.hex()[..16]
    );
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let mut license_field = |raw: &[String]| -> String {
        spdx_expression(raw, |text| {
            let id = format!("LicenseRef-{}", spdx_safe(text));
            extracted.insert(id.clone(), text.to_owned());
            id
        })
        .unwrap_or_else(|| "NOASSERTION".to_owned())
    };

    let mut root = json!({
        "SPDXID": root_id,
        "name": src.name,
        "versionInfo": src.digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "checksums": [{"algorithm": "SHA256", "checksumValue": src.digest.hex()}],
        "primaryPackagePurpose": if src.kind == SourceKind::Image { "CONTAINER" } else { "SOURCE" },
    });
    if src.kind == SourceKind::Image {
        let mut q = Vec::new();
        if let Some(arch) = &src.architecture {
            q.push(format!("arch={arch}"));
        }
        let bare = ["oci:", "docker-archive:"]
            .iter()
            .find_map(|p| src.name.strip_prefix(p))
            .unwrap_or(&src.name);
        let last = bare
            .split('@')
            .next()
            .unwrap_or(bare)
            .rsplit('/')
            .next()
            .unwrap_or(bare);
        let name = last
            .split(':')
            .next()
            .unwrap_or(last)
            .trim_end_matches(".tar")
            .to_owned();
        let name = if name.is_empty() {
            "image".to_owned()
        } else {
            spdx_safe(&name).to_lowercase()
        };
        let mut purl = format!("pkg:oci/{name}@sha256%3A{}", src.digest.hex());
        if !q.is_empty() {
            purl.push('?');
            purl.push_str(&q.join("&"));
        }
        root["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }]);
    }

    let mut packages = vec![root];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root_id,
    })];
    // The distro as its own package, as Trivy and claircore write it, so that a reader of
    // the SBOM knows which release's advisories apply.
    if let Some(d) = &inv.distro {
        let id = format!("SPDXRef-OperatingSystem-{}", spdx_safe(&d.purl_qualifier()));
        let mut os = json!({
            "SPDXID": id,
            "name": d.id,
            "versionInfo": d.version_id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        if !d.pretty_name.is_empty() {
            os["description"] = json!(d.pretty_name);
        }
        let version = if d.version_id.is_empty() {
            &d.codename
        } else {
            &d.version_id
        };
        if version.is_empty() {
            os.as_object_mut().map(|o| o.remove("versionInfo"));
        } else {
            os["versionInfo"] = json!(version);
        }
        packages.push(os);
        relationships.push(json!({
            "spdxElementId": root_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    for p in &inv.packages {
        let id = format!(
            "SPDXRef-Package-{}-{}-{}",
            p.kind.as_str(),
            spdx_safe(&p.name),
            package_id(p)
        );
        let mut source_info = format!(
            "acquired package info from {} database: /{}",
            p.found_by, p.location.path
        );
        if let Some(layer) = p.location.layer.as_ref().and_then(|l| l.digest.as_ref()) {
            source_info.push_str(&format!(" (layer {layer})"));
        }
        let supplier = match &p.metadata {
            ferret_model::PackageMetadata::Dpkg(m) => m.maintainer.clone(),
            ferret_model::PackageMetadata::Apk(m) => m.maintainer.clone(),
            ferret_model::PackageMetadata::Rpm(m) => m.vendor.clone(),
            ferret_model::PackageMetadata::Sbom(_) => None,
            ferret_model::PackageMetadata::Python(m) => m.author.clone(),
            ferret_model::PackageMetadata::Npm(_)
            | ferret_model::PackageMetadata::Lang(_)
            | ferret_model::PackageMetadata::Java(_) => None,
        };
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "supplier": supplier.filter(|s| !s.is_empty()).map_or("NOASSERTION".to_owned(), |s| format!("Organization: {}", s.replace(['\n', '\r'], " "))),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license_field(&p.licenses),
            "copyrightText": "NOASSERTION",
            "sourceInfo": source_info,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        });
        if let Some(src_pkg) = &p.source
            && (src_pkg.name != p.name || src_pkg.version != p.version)
        {
            pkg["comment"] = json!(format!(
                "source package: {} {}",
                src_pkg.name, src_pkg.version
            ));
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": root_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }

    let namespace_seed = format!("ferret/spdx/{}", src.digest);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": src.name,
        "documentNamespace": format!("https://ferret.invalid/spdx/{}-{}", spdx_safe(&src.name), uuid_for(&namespace_seed)),
        "creationInfo": {
            "created": src.created,
            "creators": [format!("Tool: {}-{}", tool.name, tool.version)],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(
            extracted
                .into_iter()
                .map(|(id, text)| json!({"licenseId": id, "extractedText": text, "name": text}))
                .collect(),
        );
    }
    doc
}
