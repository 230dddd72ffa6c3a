//! CSAF VEX documents (one per CVE), as Red Hat and SUSE publish them: every product
//! stream's status of every component, fixed (with the fixed build), affected (with Red
//! Hat's "will not fix" / "fix deferred" remediations) or not affected.
//!
//! A product id of the status lists is a relationship: a component of a platform, or a
//! component of a module of a platform (`AppStream-8.10.0.Z.MAIN.EUS:postgresql:15:…:
//! postgresql-0:15.8-1.module+el8.10.0+….src`). Each becomes an affected entry keyed as the
//! vendor's images are matched: Red Hat by source package (`arch=src` builds give the fixed
//! version; a module's packages as `module:stream/name`), SUSE by binary package; the
//! platform's CPE goes with the entry, so that an image matches only its own product
//! streams. Not-affected and under-investigation statuses add nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::model::{
    Advisory, Affected, Ecosystem, Event, FeedKind, FixState, Namespace, Range, RangeKind, Skipped,
};

/// Whose VEX a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Vendor {
    RedHat,
    Suse,
}

impl Vendor {
    pub(crate) fn ecosystem(self) -> Ecosystem {
        match self {
            Self::RedHat => Ecosystem::RedHat,
            Self::Suse => Ecosystem::Suse,
        }
    }

    pub(crate) fn slug(self) -> &'static str {
        match self {
            Self::RedHat => "redhat",
            Self::Suse => "suse",
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Product id → CPE, for every product of the tree's branches.
fn product_cpes(branches: &Value, out: &mut HashMap<String, String>) {
    for b in branches.as_array().into_iter().flatten() {
        if let Some(p) = b.get("product")
            && let (Some(id), Some(cpe)) = (
                str_of(p, "product_id"),
                p.get("product_identification_helper")
                    .and_then(|h| str_of(h, "cpe")),
            )
        {
            out.insert(id.to_owned(), cpe.to_owned());
        }
        if let Some(children) = b.get("branches") {
            product_cpes(children, out);
        }
    }
}

/// `name-[epoch:]version-release[.arch]` → (name, `[epoch:]version-release`, arch).
fn split_nevra(component: &str, with_arch: bool) -> Option<(&str, String, Option<&str>)> {
    let (rest, arch) = if with_arch {
        let (r, a) = component.rsplit_once('.')?;
        (r, Some(a))
    } else {
        (component, None)
    };
    let (nv, release) = rest.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    let evr = format!("{version}-{release}");
    // Red Hat writes epoch 0 out; Ferret compares `0:` and no epoch alike and shows none.
    let evr = evr.strip_prefix("0:").map(str::to_owned).unwrap_or(evr);
    Some((name, evr, arch))
}

/// `postgresql:15:8100020240814101911:489197e6` → `postgresql:15`.
pub(crate) fn module_stream(label: &str) -> Option<String> {
    let mut parts = label.split(':');
    let (module, stream) = (parts.next()?, parts.next()?);
    (!module.is_empty() && !stream.is_empty()).then(|| format!("{module}:{stream}"))
}

struct Tree {
    cpes: HashMap<String, String>,
    /// Relationship product id → (component, the product it is a component of).
    relations: HashMap<String, (String, String)>,
}

impl Tree {
    /// A status entry's component, the module it belongs to (if any) and its platform.
    fn resolve<'a>(&'a self, pid: &'a str) -> Option<(&'a str, Option<&'a str>, &'a str)> {
        let (component, parent) = self.relations.get(pid)?;
        match self.relations.get(parent) {
            Some((module, platform)) => Some((component, Some(module), platform)),
            None => Some((component, None, parent)),
        }
    }
}

/// Reads one CSAF VEX document: its vendor, the advisories (one per CVE) and the product
/// statuses it could not use.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Vendor, Vec<Advisory>, Vec<Skipped>), String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not CSAF JSON: {e}"))?;
    let document = doc
        .get("document")
        .ok_or("not a CSAF document (no `document`)")?;
    let category = str_of(document, "category").unwrap_or_default();
    if category != "csaf_vex" {
        return Err(format!(
            "not a CSAF VEX document (category {category:?}; Ferret reads `csaf_vex`)"
        ));
    }
    let publisher = document.get("publisher").unwrap_or(&Value::Null);
    let namespace = str_of(publisher, "namespace").unwrap_or_default();
    let vendor = if namespace.contains("redhat.com") {
        Vendor::RedHat
    } else if namespace.contains("suse.com") {
        Vendor::Suse
    } else {
        return Err(format!(
            "a VEX document of {:?}: Ferret reads Red Hat's and SUSE's",
            str_of(publisher, "name").unwrap_or(namespace)
        ));
    };
    let tree = doc.get("product_tree").unwrap_or(&Value::Null);
    let mut cpes = HashMap::new();
    product_cpes(tree.get("branches").unwrap_or(&Value::Null), &mut cpes);
    let mut relations = HashMap::new();
    for r in tree
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(id), Some(component), Some(parent)) = (
            r.get("full_product_name")
                .and_then(|f| str_of(f, "product_id")),
            str_of(r, "product_reference"),
            str_of(r, "relates_to_product_reference"),
        ) {
            relations.insert(id.to_owned(), (component.to_owned(), parent.to_owned()));
        }
    }
    let tree = Tree { cpes, relations };
    let modified = document
        .get("tracking")
        .and_then(|t| str_of(t, "current_release_date"))
        .map(str::to_owned);
    let mut skipped = Vec::new();
    let mut advisories = Vec::new();
    for v in doc
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(cve) = str_of(v, "cve") else {
            skipped.push((
                str_of(document, "title").unwrap_or("?").to_owned(),
                "a vulnerability without a CVE id".to_owned(),
            ));
            continue;
        };
        let mut advisory = Advisory::new(cve, FeedKind::CsafVex);
        advisory.summary = str_of(v, "title").map(str::to_owned);
        advisory.published = str_of(v, "release_date").map(str::to_owned);
        advisory.modified.clone_from(&modified);
        for r in v
            .get("references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(url) = str_of(r, "url") {
                advisory.references.push(url.to_owned());
            }
        }
        // The vendor's impact rating, for some products or all.
        let mut impact: HashMap<&str, &str> = HashMap::new();
        let mut impact_all = None;
        for t in v
            .get("threats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_of(t, "category") != Some("impact") {
                continue;
            }
            let Some(details) = str_of(t, "details") else {
                continue;
            };
            match t.get("product_ids").and_then(Value::as_array) {
                Some(ids) => {
                    for id in ids.iter().filter_map(Value::as_str) {
                        impact.insert(id, details);
                    }
                }
                None => impact_all = Some(details),
            }
        }
        let mut remediation: HashMap<&str, (&str, &str)> = HashMap::new();
        for r in v
            .get("remediations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let category = str_of(r, "category").unwrap_or_default();
            if !matches!(category, "no_fix_planned" | "none_available") {
                continue;
            }
            let details = str_of(r, "details").unwrap_or_default();
            for id in r
                .get("product_ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                remediation.insert(id, (category, details));
            }
        }
        let status = v.get("product_status").unwrap_or(&Value::Null);
        let list = |k: &str| -> Vec<&str> {
            status
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        };
        // SUSE lists the builds to install as `recommended`.
        let fixed: Vec<&str> = [list("fixed"), list("recommended")].concat();
        let affected = list("known_affected");
        // (name, fix state) → entry.
        let mut entries: BTreeMap<(String, String), Affected> = BTreeMap::new();
        for (pid, is_fixed) in fixed
            .iter()
            .map(|p| (*p, true))
            .chain(affected.iter().map(|p| (*p, false)))
        {
            // A product that is no component of a platform (a layered product as a
            // whole) has no package to match.
            let Some((component, module, platform)) = tree.resolve(pid) else {
                continue;
            };
            let Some(cpe) = tree.cpes.get(platform) else {
                // A platform without a CPE is not an installable product stream.
                continue;
            };
            let (name, state) = if is_fixed {
                let parsed = match vendor {
                    Vendor::RedHat => split_nevra(component, true),
                    Vendor::Suse => split_nevra(component, false),
                };
                let Some((name, evr, arch)) = parsed else {
                    // A module (`postgresql:15:8100020240814101911:489197e6`) is fixed
                    // through its packages, which are listed too.
                    if component.matches(':').count() < 3 {
                        skipped.push((
                            cve.to_owned(),
                            format!("component {component} has no version"),
                        ));
                    }
                    continue;
                };
                // Red Hat: the source build names the fix, keyed by source package.
                if vendor == Vendor::RedHat && arch != Some("src") {
                    continue;
                }
                if ferret_version::Scheme::Rpm.parse(&evr).is_err() {
                    skipped.push((cve.to_owned(), format!("{component}: invalid version")));
                    continue;
                }
                (name.to_owned(), FixState::Fixed(evr))
            } else {
                let state = match remediation.get(pid) {
                    Some(("no_fix_planned", _)) => FixState::WillNotFix,
                    _ => FixState::NotFixed,
                };
                // Red Hat names a module's component `module:stream/name` already.
                (component.to_owned(), state)
            };
            let name = match module.and_then(module_stream) {
                Some(stream) if !name.contains('/') => format!("{stream}/{name}"),
                _ => name,
            };
            // One entry per package and state, with every product stream it holds in.
            let key = (name.clone(), format!("{state:?}"));
            if let Some(e) = entries.get_mut(&key) {
                if !e.platforms.contains(cpe) {
                    e.platforms.push(cpe.clone());
                    e.platforms.sort();
                }
                continue;
            }
            let mut events = vec![Event::Introduced("0".to_owned())];
            if let FixState::Fixed(v) = &state {
                events.push(Event::Fixed(v.clone()));
            }
            let severity = impact.get(pid).copied().or(impact_all).map(str::to_owned);
            entries.insert(
                key,
                Affected {
                    namespace: Namespace::new(vendor.ecosystem(), ""),
                    name,
                    purl: None,
                    ranges: vec![Range {
                        kind: RangeKind::Ecosystem,
                        events,
                    }],
                    versions: Vec::new(),
                    fix_state: Some(state),
                    severity,
                    arches: Vec::new(),
                    platforms: vec![cpe.clone()],
                    imports: Vec::new(),
                },
            );
        }
        advisory.affected = entries.into_values().collect();
        if !advisory.affected.is_empty() {
            advisories.push(advisory);
        }
    }
    Ok((vendor, advisories, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_split_into_name_and_version() {
        assert_eq!(
            split_nevra("curl-0:7.76.1-26.el9_3.2.src", true),
            Some(("curl", "7.76.1-26.el9_3.2".to_owned(), Some("src")))
        );
        assert_eq!(
            split_nevra("openssl-1:3.0.7-27.el9.src", true),
            Some(("openssl", "1:3.0.7-27.el9".to_owned(), Some("src")))
        );
        assert_eq!(
            split_nevra("samba-client-libs-4.19.4+git.339.acf1ccaa02-1.22", false),
            Some((
                "samba-client-libs",
                "4.19.4+git.339.acf1ccaa02-1.22".to_owned(),
                None
            ))
        );
        assert_eq!(split_nevra("libtiff", false), None);
        assert_eq!(
            module_stream("postgresql:15:8100020240814101911:489197e6").as_deref(),
            Some("postgresql:15")
        );
    }
}
