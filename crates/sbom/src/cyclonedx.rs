//! CycloneDX 1.4–1.7 JSON.

use ferret_model::SourcePackage;
use serde::Deserialize;

use crate::purl::{Element, package};
use crate::{Sbom, SbomError, finish};

#[derive(Deserialize)]
struct Bom {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "bom-ref", default)]
    bom_ref: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    licenses: Vec<LicenseChoice>,
    #[serde(default)]
    properties: Vec<Property>,
    /// Components may nest (a jar inside a war).
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct LicenseChoice {
    #[serde(default)]
    license: Option<License>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct License {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Property {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

impl Component {
    fn prop(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The source package as Ferret's or Trivy's properties state it.
    fn source(&self) -> Option<SourcePackage> {
        if let (Some(name), Some(version)) = (
            self.prop("ferret:package:source-name"),
            self.prop("ferret:package:source-version"),
        ) {
            return Some(SourcePackage {
                name: name.to_owned(),
                version: version.to_owned(),
            });
        }
        let name = self.prop("aquasecurity:trivy:SrcName")?;
        let mut version = self.prop("aquasecurity:trivy:SrcVersion")?.to_owned();
        if let Some(release) = self.prop("aquasecurity:trivy:SrcRelease") {
            version = format!("{version}-{release}");
        }
        if let Some(epoch) = self
            .prop("aquasecurity:trivy:SrcEpoch")
            .filter(|e| *e != "0")
        {
            version = format!("{epoch}:{version}");
        }
        Some(SourcePackage {
            name: name.to_owned(),
            version,
        })
    }
}

pub(crate) fn read(bytes: &[u8], version: &str) -> Result<Sbom, SbomError> {
    let bom: Bom = serde_json::from_slice(bytes)?;
    let format = format!("cyclonedx-{version}");
    let (created, root) = match bom.metadata {
        Some(m) => (m.timestamp, m.component),
        None => (None, None),
    };
    let mut sbom = Sbom {
        format: format.clone(),
        name: root.as_ref().map(|c| c.name.clone()),
        created,
        distro: None,
        packages: Vec::new(),
        notes: Vec::new(),
    };
    let mut stack: Vec<&Component> = bom.components.iter().rev().collect();
    if let Some(root) = &root {
        stack.extend(root.components.iter().rev());
    }
    while let Some(c) = stack.pop() {
        stack.extend(c.components.iter().rev());
        if c.kind == "operating-system" {
            if sbom.distro.is_none() {
                let id = c.prop("syft:distro:id").unwrap_or(&c.name);
                let version = c
                    .prop("syft:distro:versionID")
                    .or(c.version.as_deref())
                    .unwrap_or("");
                let pretty = c
                    .prop("syft:distro:prettyName")
                    .or(c.description.as_deref())
                    .unwrap_or("");
                sbom.distro = crate::distro(id, version, pretty).map(|mut d| {
                    d.id_like = (0..)
                        .map_while(|i| c.prop(&format!("syft:distro:idLike:{i}")))
                        .map(str::to_owned)
                        .collect();
                    d
                });
            }
            continue;
        }
        // Containers, files and the like are what was scanned, not packages in it.
        if c.purl.is_none() && !matches!(c.kind.as_str(), "library" | "framework" | "application") {
            continue;
        }
        let name = match &c.group {
            Some(g) if !g.is_empty() && c.purl.is_none() => format!("{g}:{}", c.name),
            _ => c.name.clone(),
        };
        let element = Element {
            id: &c.bom_ref,
            name: &name,
            version: c.version.as_deref(),
            purl: c.purl.as_deref(),
            licenses: c
                .licenses
                .iter()
                .filter_map(|l| {
                    l.expression.clone().or_else(|| {
                        l.license
                            .as_ref()
                            .and_then(|l| l.id.clone().or_else(|| l.name.clone()))
                    })
                })
                .collect(),
            path: c
                .prop("ferret:location:0:path")
                .or_else(|| c.prop("syft:location:0:path"))
                .or_else(|| c.prop("aquasecurity:trivy:FilePath"))
                .map(str::to_owned),
            source: c.source(),
        };
        match package(&element, &format) {
            Ok(Some(p)) => sbom.packages.push(p),
            Ok(None) => {}
            Err(note) => sbom.notes.push(note),
        }
    }
    Ok(finish(sbom))
}
