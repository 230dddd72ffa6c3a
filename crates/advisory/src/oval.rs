//! OVAL definitions of RPM distros, as their vendors publish them: Oracle Linux (ELSA),
//! Azure Linux and CBL-Mariner, Photon OS (PHSA).
//!
//! A definition's criteria tree is read through its tests, objects and states (not its
//! comments): every `rpminfo` test with an `evr` state under "less than" is a fixed package
//! version, "less than or equal" an affected one with no fix. A test on the release
//! package's version (`^8`) names the release, and one on the machine's architecture
//! restricts the branch it guards to that architecture. The result is one advisory per
//! CVE, the vendor's advisory (ELSA, PHSA) kept as a related id.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{
    Advisory, Affected, Ecosystem, Event, FeedKind, FixState, Namespace, Range, RangeKind, Skipped,
};
use crate::xml::{XmlEvent, attr, walk};

/// Whose OVAL a document is, from its definitions' id namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Vendor {
    Oracle,
    AzureLinux,
    Mariner,
    Photon,
}

impl Vendor {
    fn of(definition_id: &str) -> Option<Self> {
        let namespace = definition_id.strip_prefix("oval:")?.split(':').next()?;
        Some(match namespace {
            "com.oracle.elsa" => Self::Oracle,
            "com.microsoft.azurelinux" => Self::AzureLinux,
            "com.microsoft.cbl-mariner" => Self::Mariner,
            "com.vmware.phsa" => Self::Photon,
            _ => return None,
        })
    }

    fn ecosystem(self) -> Ecosystem {
        match self {
            Self::Oracle => Ecosystem::OracleLinux,
            Self::AzureLinux => Ecosystem::AzureLinux,
            Self::Mariner => Ecosystem::CblMariner,
            Self::Photon => Ecosystem::PhotonOs,
        }
    }
}

#[derive(Debug, Default)]
struct Definition {
    id: String,
    title: String,
    platforms: Vec<String>,
    /// (source, ref_id, ref_url)
    references: Vec<(String, String, String)>,
    cves: Vec<String>,
    severity: Option<String>,
    issued: Option<String>,
    criteria: Option<Node>,
}

#[derive(Debug)]
enum Node {
    Criteria {
        and: bool,
        negate: bool,
        children: Vec<Node>,
    },
    Criterion {
        test: String,
        negate: bool,
    },
}

/// One field of an `rpminfo_state`: (operation, value).
type Field = Option<(String, String)>;

#[derive(Debug, Default)]
struct State {
    evr: Field,
    version: Field,
    arch: Field,
}

#[derive(Debug, Default)]
struct Test {
    object: String,
    states: Vec<String>,
}

#[derive(Debug, Default)]
struct Document {
    definitions: Vec<Definition>,
    tests: HashMap<String, Test>,
    /// Object id → package name.
    objects: HashMap<String, String>,
    states: HashMap<String, State>,
    /// Every state id, of any kind (module and file tests have states Ferret does not read).
    any_state: std::collections::HashSet<String>,
}

fn inside(path: &[String], name: &str) -> bool {
    path.iter().any(|p| p == name)
}

fn read_document(bytes: &[u8]) -> Result<Document, String> {
    let mut doc = Document::default();
    let mut def: Option<Definition> = None;
    // Open criteria, innermost last.
    let mut criteria: Vec<Node> = Vec::new();
    let mut text = String::new();
    let mut test: Option<(String, Test)> = None;
    let mut object: Option<(String, String)> = None;
    let mut state: Option<(String, State)> = None;
    let mut field_op = String::new();
    let mut root_seen = false;
    walk(bytes, &mut |path, event| {
        match event {
            XmlEvent::Open { name, attrs } => {
                text.clear();
                if !root_seen {
                    root_seen = true;
                    if name != "oval_definitions" {
                        return Err(format!("not an OVAL definitions document (root <{name}>)"));
                    }
                }
                match name {
                    "definition" if inside(path, "definitions") => {
                        def = Some(Definition {
                            id: attr(attrs, "id").unwrap_or_default().to_owned(),
                            ..Definition::default()
                        });
                    }
                    "criteria" if def.is_some() => criteria.push(Node::Criteria {
                        and: attr(attrs, "operator").is_none_or(|o| o.eq_ignore_ascii_case("AND")),
                        negate: attr(attrs, "negate") == Some("true"),
                        children: Vec::new(),
                    }),
                    "criterion" => {
                        if let Some(Node::Criteria { children, .. }) = criteria.last_mut() {
                            children.push(Node::Criterion {
                                test: attr(attrs, "test_ref").unwrap_or_default().to_owned(),
                                negate: attr(attrs, "negate") == Some("true"),
                            });
                        }
                    }
                    "reference" if def.is_some() => {
                        if let Some(d) = def.as_mut() {
                            d.references.push((
                                attr(attrs, "source").unwrap_or_default().to_owned(),
                                attr(attrs, "ref_id").unwrap_or_default().to_owned(),
                                attr(attrs, "ref_url").unwrap_or_default().to_owned(),
                            ));
                        }
                    }
                    "issued" if def.is_some() => {
                        if let Some(d) = def.as_mut() {
                            d.issued = attr(attrs, "date").map(str::to_owned);
                        }
                    }
                    n if n.ends_with("_state") && inside(path, "states") => {
                        doc.any_state
                            .insert(attr(attrs, "id").unwrap_or_default().to_owned());
                        if n == "rpminfo_state" {
                            state = Some((
                                attr(attrs, "id").unwrap_or_default().to_owned(),
                                State::default(),
                            ));
                        }
                    }
                    n if n.ends_with("_test") && inside(path, "tests") => {
                        test = Some((
                            attr(attrs, "id").unwrap_or_default().to_owned(),
                            Test::default(),
                        ));
                    }
                    "object" if test.is_some() => {
                        if let Some((_, t)) = test.as_mut() {
                            attr(attrs, "object_ref")
                                .unwrap_or_default()
                                .clone_into(&mut t.object);
                        }
                    }
                    "state" if test.is_some() => {
                        if let Some((_, t)) = test.as_mut() {
                            t.states
                                .push(attr(attrs, "state_ref").unwrap_or_default().to_owned());
                        }
                    }
                    "rpminfo_object" => {
                        object = Some((
                            attr(attrs, "id").unwrap_or_default().to_owned(),
                            String::new(),
                        ));
                    }
                    "evr" | "version" | "arch" if state.is_some() => {
                        attr(attrs, "operation")
                            .unwrap_or("equals")
                            .clone_into(&mut field_op);
                    }
                    _ => {}
                }
            }
            XmlEvent::Text(t) => text.push_str(t),
            XmlEvent::Close { name } => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match name {
                    "definition" if def.is_some() => {
                        if let Some(d) = def.take() {
                            doc.definitions.push(d);
                        }
                        criteria.clear();
                    }
                    "criteria" if def.is_some() => {
                        if let Some(node) = criteria.pop() {
                            match criteria.last_mut() {
                                Some(Node::Criteria { children, .. }) => children.push(node),
                                _ => {
                                    if let Some(d) = def.as_mut() {
                                        d.criteria = Some(node);
                                    }
                                }
                            }
                        }
                    }
                    "title" if def.is_some() && inside(path, "metadata") => {
                        if let Some(d) = def.as_mut() {
                            d.title = value;
                        }
                    }
                    "platform" if def.is_some() => {
                        if let Some(d) = def.as_mut() {
                            d.platforms.push(value);
                        }
                    }
                    "severity" if def.is_some() => {
                        if let Some(d) = def.as_mut() {
                            d.severity = Some(value).filter(|v| !v.is_empty());
                        }
                    }
                    "cve" if def.is_some() => {
                        if let Some(d) = def.as_mut() {
                            d.cves.push(value);
                        }
                    }
                    n if n.ends_with("_test") && test.is_some() => {
                        if let Some((id, t)) = test.take() {
                            doc.tests.insert(id, t);
                        }
                    }
                    "name" if object.is_some() => {
                        if let Some((_, n)) = object.as_mut() {
                            *n = value;
                        }
                    }
                    "rpminfo_object" => {
                        if let Some((id, n)) = object.take() {
                            doc.objects.insert(id, n);
                        }
                    }
                    "evr" | "version" | "arch" if state.is_some() => {
                        if let Some((_, s)) = state.as_mut() {
                            let field = Some((std::mem::take(&mut field_op), value));
                            match name {
                                "evr" => s.evr = field,
                                "version" => s.version = field,
                                _ => s.arch = field,
                            }
                        }
                    }
                    "rpminfo_state" => {
                        if let Some((id, s)) = state.take() {
                            doc.states.insert(id, s);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    Ok(doc)
}

/// What a test checks, as far as matching goes.
enum Check {
    /// The package is affected below (`fixed`) or up to and including a version.
    Package {
        name: String,
        version: String,
        fixed: bool,
    },
    /// The distro release (`oraclelinux-release` version `^8`).
    Release(String),
    /// The machine architecture.
    Arch(Vec<String>),
    /// Signatures, ksplice or module conditions: decided from the versions themselves.
    Other,
}

fn check(doc: &Document, test: &str) -> Result<Check, String> {
    let t = doc
        .tests
        .get(test)
        .ok_or_else(|| format!("test {test} is referenced but not defined"))?;
    let mut out = Check::Other;
    for state_id in &t.states {
        let Some(state) = doc.states.get(state_id) else {
            if doc.any_state.contains(state_id) {
                continue;
            }
            return Err(format!("state {state_id} is referenced but not defined"));
        };
        if let Some((op, value)) = &state.evr {
            let name = doc
                .objects
                .get(&t.object)
                .ok_or_else(|| format!("object {} is referenced but not defined", t.object))?;
            let fixed = match op.as_str() {
                "less than" => true,
                "less than or equal" => false,
                // Other operations do not say a package is vulnerable.
                _ => continue,
            };
            let version = value.strip_prefix("0:").unwrap_or(value).to_owned();
            return Ok(Check::Package {
                name: name.clone(),
                version,
                fixed,
            });
        }
        if let Some((op, value)) = &state.version
            && op == "pattern match"
        {
            let digits: String = value
                .trim_start_matches('^')
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() {
                out = Check::Release(digits);
            }
        } else if let Some((_, value)) = &state.arch {
            let arches = value
                .trim_start_matches('^')
                .trim_end_matches('$')
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split('|')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            out = Check::Arch(arches);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
struct Context {
    release: Option<String>,
    arches: Vec<String>,
}

/// A package entry of a definition: (name, version, fixed, release, arches).
type Entry = (String, String, bool, Option<String>, Vec<String>);

fn entries(doc: &Document, node: &Node, ctx: &Context, out: &mut Vec<Entry>) -> Result<(), String> {
    let Node::Criteria {
        and,
        negate,
        children,
    } = node
    else {
        return Ok(());
    };
    if *negate {
        return Ok(());
    }
    let mut ctx = ctx.clone();
    let mut packages = Vec::new();
    for child in children {
        if let Node::Criterion {
            test,
            negate: false,
        } = child
        {
            match check(doc, test)? {
                Check::Package {
                    name,
                    version,
                    fixed,
                } => packages.push((name, version, fixed)),
                // Conditions beside the packages of an AND hold for all of them.
                Check::Release(r) if *and => ctx.release = Some(r),
                Check::Arch(a) if *and => ctx.arches = a,
                _ => {}
            }
        }
    }
    for (name, version, fixed) in packages {
        out.push((
            name,
            version,
            fixed,
            ctx.release.clone(),
            ctx.arches.clone(),
        ));
    }
    for child in children {
        if matches!(child, Node::Criteria { .. }) {
            entries(doc, child, &ctx, out)?;
        }
    }
    Ok(())
}

/// The release a definition's platform names (`Oracle Linux 8`, `Photon 3`).
fn platform_release(platforms: &[String]) -> Option<String> {
    platforms.iter().find_map(|p| {
        let last = p.split_whitespace().last()?;
        last.chars()
            .all(|c| c.is_ascii_digit() || c == '.')
            .then(|| last.split('.').next().unwrap_or(last).to_owned())
            .filter(|r| !r.is_empty())
    })
}

/// The release an Azure Linux or CBL-Mariner version's dist tag names (`.azl3`, `.cm2`).
fn dist_tag_release(version: &str) -> Option<String> {
    let release = version.rsplit_once('-')?.1;
    release.split('.').find_map(|part| {
        let digits = part
            .strip_prefix("azl")
            .or_else(|| part.strip_prefix("cm"))?;
        (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
            .then(|| digits.to_owned())
    })
}

fn is_cve(id: &str) -> bool {
    id.starts_with("CVE-") && id.len() > 9
}

/// The CVE ids a definition names: its advisory's `<cve>` elements and CVE references
/// (Photon writes them as `CVE:00004:CVE-2019-19959`).
fn cve_ids(d: &Definition) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for c in &d.cves {
        if is_cve(c.trim()) {
            ids.insert(c.trim().to_owned());
        }
    }
    for (source, id, _) in &d.references {
        if source.eq_ignore_ascii_case("CVE")
            && let Some(at) = id.find("CVE-")
            && is_cve(&id[at..])
        {
            ids.insert(id[at..].to_owned());
        }
    }
    ids
}

/// The vendor's own advisory id (`ELSA-2018-1196-1`, `PHSA-2020:00004`), from the title.
fn vendor_id(d: &Definition) -> Option<String> {
    let first = d.title.split_whitespace().next()?.trim_end_matches(':');
    (first.starts_with("ELSA-") || first.starts_with("PHSA-")).then(|| first.to_owned())
}

/// Reads one OVAL document: its feed label (`oval-oracle-linux-5+8`), the advisories (one
/// per CVE) and the definitions it could not use.
pub(crate) fn parse(bytes: &[u8]) -> Result<(String, Vec<Advisory>, Vec<Skipped>), String> {
    let doc = read_document(bytes)?;
    let mut skipped = Vec::new();
    let mut vendors = BTreeSet::new();
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    // Azure Linux and CBL-Mariner state no release: their versions' dist tags do, and a
    // version without one takes the document's.
    let mut document_release: BTreeMap<String, usize> = BTreeMap::new();
    for state in doc.states.values() {
        if let Some(r) = state.evr.as_ref().and_then(|(_, v)| dist_tag_release(v)) {
            *document_release.entry(r).or_default() += 1;
        }
    }
    let document_release = document_release
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(r, _)| r);
    for d in &doc.definitions {
        let Some(vendor) = Vendor::of(&d.id) else {
            skipped.push((
                d.id.clone(),
                "not an Oracle Linux, Azure Linux, CBL-Mariner or Photon OS definition".to_owned(),
            ));
            continue;
        };
        vendors.insert(vendor);
        let Some(criteria) = &d.criteria else {
            skipped.push((d.id.clone(), "the definition has no criteria".to_owned()));
            continue;
        };
        let mut found = Vec::new();
        if let Err(why) = entries(&doc, criteria, &Context::default(), &mut found) {
            skipped.push((d.id.clone(), why));
            continue;
        }
        if found.is_empty() {
            skipped.push((
                d.id.clone(),
                "no package version test in its criteria".to_owned(),
            ));
            continue;
        }
        let vendor_advisory = vendor_id(d);
        let mut ids: Vec<String> = cve_ids(d).into_iter().collect();
        if ids.is_empty() {
            match &vendor_advisory {
                Some(v) => ids.push(v.clone()),
                None => {
                    skipped.push((d.id.clone(), "names no CVE or advisory id".to_owned()));
                    continue;
                }
            }
        }
        let mut affected = Vec::new();
        let mut problem = None;
        for (name, version, fixed, release, arches) in found {
            let release = match vendor {
                Vendor::AzureLinux | Vendor::Mariner => {
                    dist_tag_release(&version).or_else(|| document_release.clone())
                }
                Vendor::Oracle | Vendor::Photon => {
                    release.or_else(|| platform_release(&d.platforms))
                }
            };
            let Some(release) = release else {
                problem = Some(format!("{name}: no release in its criteria or platform"));
                break;
            };
            if ferret_version::Scheme::Rpm.parse(&version).is_err() {
                problem = Some(format!("{name}: invalid version {version:?}"));
                break;
            }
            covered.insert(release.clone());
            let (events, state) = if fixed {
                (Event::Fixed(version.clone()), FixState::Fixed(version))
            } else {
                (Event::LastAffected(version), FixState::NotFixed)
            };
            let entry = Affected {
                namespace: Namespace::new(vendor.ecosystem(), &release),
                name,
                purl: None,
                ranges: vec![Range {
                    kind: RangeKind::Ecosystem,
                    events: vec![Event::Introduced("0".to_owned()), events],
                }],
                versions: Vec::new(),
                fix_state: Some(state),
                severity: d.severity.clone(),
                arches,
                platforms: Vec::new(),
                imports: Vec::new(),
            };
            if !affected.contains(&entry) {
                affected.push(entry);
            }
        }
        if let Some(why) = problem {
            skipped.push((d.id.clone(), why));
            continue;
        }
        for id in ids {
            let a = by_id.entry(id.clone()).or_insert_with(|| {
                let mut a = Advisory::new(&id, FeedKind::Oval);
                a.published = d.issued.clone();
                a
            });
            if let Some(v) = &vendor_advisory
                && *v != id
                && !a.related.contains(v)
            {
                a.related.push(v.clone());
            }
            if a.summary.is_none() && !d.title.is_empty() {
                a.summary = Some(d.title.clone());
            }
            for (_, _, url) in &d.references {
                if !url.is_empty() && !a.references.contains(url) {
                    a.references.push(url.clone());
                }
            }
            for entry in &affected {
                if !a.affected.contains(entry) {
                    a.affected.push(entry.clone());
                }
            }
        }
    }
    let Some(first) = vendors.iter().next() else {
        return Err(if doc.definitions.is_empty() {
            "the OVAL document holds no definitions".to_owned()
        } else {
            "no Oracle Linux, Azure Linux, CBL-Mariner or Photon OS definition (Ferret reads the OVAL of those vendors; SUSE's data as OSV)".to_owned()
        });
    };
    if vendors.len() > 1 {
        return Err("definitions of more than one vendor in one document".to_owned());
    }
    let slug = first.ecosystem().slug();
    // Oracle publishes one document for every release (and the same split by year); the
    // others one per release.
    let label = if *first == Vendor::Oracle {
        format!("oval-{slug}")
    } else {
        format!(
            "oval-{slug}-{}",
            covered.into_iter().collect::<Vec<_>>().join("+")
        )
    };
    let mut advisories: Vec<Advisory> = by_id.into_values().collect();
    for a in &mut advisories {
        a.related.sort();
    }
    Ok((label, advisories, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_from_dist_tags_and_platforms() {
        assert_eq!(dist_tag_release("2.6.7-3.azl3").as_deref(), Some("3"));
        assert_eq!(dist_tag_release("5.15.70.1-1.cm2").as_deref(), Some("2"));
        assert_eq!(dist_tag_release("0.9.0"), None);
        assert_eq!(
            platform_release(&["Oracle Linux 8".to_owned()]).as_deref(),
            Some("8")
        );
        assert_eq!(
            platform_release(&["Photon 3".to_owned()]).as_deref(),
            Some("3")
        );
        assert_eq!(platform_release(&["Azure Linux".to_owned()]), None);
    }
}
