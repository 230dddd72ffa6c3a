//! Amazon Linux's ALAS advisories as its yum repositories publish them (`updateinfo.xml`,
//! gunzipped): each security `<update>` names its CVEs and the binary packages that fix
//! them. One advisory per CVE, keyed as Amazon keys them (release `1`, `2`, `2022`, `2023`,
//! binary package name), the ALAS id kept as a related id.
//!
//! Amazon Linux 2's extras topics (`ALAS2KERNEL-5.15-…`, `ALAS2PHP8.0-…`) update packages
//! that also exist in the core repository at other versions: their fixes apply from the
//! topic's version on (`kernel` 5.15 and later), so that the core `kernel` 4.14 is not
//! judged by a 5.15 fix; packages not versioned by the topic (a fix below the topic's
//! version, as `kernel-livepatch-5.15.43` at 1.0) are not bounded.

use std::collections::BTreeMap;

use crate::model::{
    Advisory, Affected, Ecosystem, Event, FeedKind, FixState, Namespace, Range, RangeKind, Skipped,
};
use crate::xml::{XmlEvent, attr, walk};

#[derive(Debug, Default)]
struct Update {
    security: bool,
    id: String,
    title: String,
    severity: Option<String>,
    issued: Option<String>,
    updated: Option<String>,
    cves: Vec<String>,
    references: Vec<String>,
    /// (name, epoch, version, release, arch)
    packages: Vec<(String, String, String, String, String)>,
}

/// The release and extras topic version an ALAS id names: `ALAS-2011-1` → (`1`, none),
/// `ALAS2KERNEL-5.15-2022-001` → (`2`, `5.15`), `ALAS2023NVIDIA-2025-001` → (`2023`, none).
pub(crate) fn release_of(id: &str) -> Option<(&'static str, Option<String>)> {
    let rest = id.strip_prefix("ALAS")?;
    let (release, topic) = if let Some(t) = rest.strip_prefix("2022") {
        ("2022", t)
    } else if let Some(t) = rest.strip_prefix("2023") {
        ("2023", t)
    } else if let Some(t) = rest.strip_prefix('2') {
        ("2", t)
    } else {
        ("1", rest)
    };
    // What is left: `-YYYY-NNN`, or a topic before it (`KERNEL-5.15-2022-001`).
    let parts: Vec<&str> = topic.trim_start_matches('-').split('-').collect();
    if parts.len() < 2 {
        return None;
    }
    let topic = parts[..parts.len() - 2].join("-");
    let year = parts[parts.len() - 2];
    if year.len() != 4 || !year.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let version: String = {
        let tail: Vec<char> = topic
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        tail.into_iter().rev().collect::<String>()
    };
    let version = version.trim_matches('.').to_owned();
    let version =
        (!version.is_empty() && version.chars().any(|c| c.is_ascii_digit())).then_some(version);
    Some((release, version))
}

/// The location of the `updateinfo` data a repository's `repomd.xml` lists.
pub(crate) fn repomd_location(bytes: &[u8]) -> Result<String, String> {
    let mut in_updateinfo = false;
    let mut found = None;
    walk(bytes, &mut |_path, event| {
        match event {
            XmlEvent::Open {
                name: "data",
                attrs,
            } => {
                in_updateinfo = attr(attrs, "type") == Some("updateinfo");
            }
            XmlEvent::Open {
                name: "location",
                attrs,
            } if in_updateinfo && found.is_none() => {
                found = attr(attrs, "href").map(str::to_owned);
            }
            XmlEvent::Close { name: "data" } => in_updateinfo = false,
            _ => {}
        }
        Ok(())
    })?;
    found.ok_or_else(|| "repomd.xml lists no updateinfo".to_owned())
}

fn read_updates(bytes: &[u8]) -> Result<Vec<Update>, String> {
    let mut updates = Vec::new();
    let mut current: Option<Update> = None;
    let mut text = String::new();
    let mut root_seen = false;
    walk(bytes, &mut |_path, event| {
        match event {
            XmlEvent::Open { name, attrs } => {
                text.clear();
                if !root_seen {
                    root_seen = true;
                    if name != "updates" {
                        return Err(format!("not an updateinfo document (root <{name}>)"));
                    }
                }
                match (name, current.as_mut()) {
                    ("update", _) => {
                        current = Some(Update {
                            security: attr(attrs, "type") == Some("security"),
                            ..Update::default()
                        });
                    }
                    ("issued", Some(u)) => u.issued = attr(attrs, "date").map(str::to_owned),
                    ("updated", Some(u)) => u.updated = attr(attrs, "date").map(str::to_owned),
                    ("reference", Some(u)) => {
                        let id = attr(attrs, "id").unwrap_or_default();
                        if attr(attrs, "type") == Some("cve") && id.starts_with("CVE-") {
                            u.cves.push(id.to_owned());
                        }
                        if let Some(href) = attr(attrs, "href") {
                            u.references.push(href.to_owned());
                        }
                    }
                    ("package", Some(u)) => {
                        let get = |k: &str| attr(attrs, k).unwrap_or_default().trim().to_owned();
                        u.packages.push((
                            get("name"),
                            get("epoch"),
                            get("version"),
                            get("release"),
                            get("arch"),
                        ));
                    }
                    _ => {}
                }
            }
            XmlEvent::Text(t) => text.push_str(t),
            XmlEvent::Close { name } => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match (name, current.as_mut()) {
                    ("id", Some(u)) => u.id = value,
                    ("title", Some(u)) => u.title = value,
                    ("severity", Some(u)) => u.severity = Some(value).filter(|v| !v.is_empty()),
                    ("update", Some(_)) => updates.extend(current.take()),
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    Ok(updates)
}

/// Reads one `updateinfo.xml`: its feed label (`alas-2`, `alas-2023`), the advisories
/// (one per CVE) and the updates it could not use.
pub(crate) fn parse(bytes: &[u8]) -> Result<(String, Vec<Advisory>, Vec<Skipped>), String> {
    let updates = read_updates(bytes)?;
    let mut skipped = Vec::new();
    let mut releases = std::collections::BTreeSet::new();
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for u in updates.into_iter().filter(|u| u.security) {
        let Some((release, topic)) = release_of(&u.id) else {
            skipped.push((u.id.clone(), "not an ALAS id".to_owned()));
            continue;
        };
        let mut entries: Vec<Affected> = Vec::new();
        let mut problem = None;
        for (name, epoch, version, rel, _arch) in &u.packages {
            if name.is_empty() || version.is_empty() {
                problem = Some("a package without name or version".to_owned());
                break;
            }
            let evr = match epoch.as_str() {
                "" | "0" => format!("{version}-{rel}"),
                e => format!("{e}:{version}-{rel}"),
            };
            let evr = evr.trim_end_matches('-').to_owned();
            if ferret_version::Scheme::Rpm.parse(&evr).is_err() {
                problem = Some(format!("{name}: invalid version {evr:?}"));
                break;
            }
            // A topic's version bounds only the packages versioned by it (`kernel` 5.15.x,
            // not `kernel-livepatch-5.15.43` at 1.0).
            let introduced = topic
                .clone()
                .filter(|t| {
                    let scheme = ferret_version::Scheme::Rpm;
                    matches!(
                        (scheme.parse(t), scheme.parse(&evr)),
                        (Ok(t), Ok(f)) if t <= f
                    )
                })
                .unwrap_or_else(|| "0".to_owned());
            let entry = Affected {
                namespace: Namespace::new(Ecosystem::AmazonLinux, release),
                name: name.clone(),
                purl: None,
                ranges: vec![Range {
                    kind: RangeKind::Ecosystem,
                    events: vec![Event::Introduced(introduced), Event::Fixed(evr.clone())],
                }],
                versions: Vec::new(),
                fix_state: Some(FixState::Fixed(evr)),
                severity: u.severity.clone(),
                arches: Vec::new(),
                platforms: Vec::new(),
                imports: Vec::new(),
            };
            // One entry per package, whatever its architectures.
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        if let Some(why) = problem {
            skipped.push((u.id.clone(), why));
            continue;
        }
        if entries.is_empty() {
            skipped.push((u.id.clone(), "lists no package".to_owned()));
            continue;
        }
        releases.insert(release);
        let ids = if u.cves.is_empty() {
            vec![u.id.clone()]
        } else {
            u.cves.clone()
        };
        for id in ids {
            let a = by_id.entry(id.clone()).or_insert_with(|| {
                let mut a = Advisory::new(&id, FeedKind::Alas);
                a.published = u.issued.clone();
                a
            });
            if u.id != id && !a.related.contains(&u.id) {
                a.related.push(u.id.clone());
            }
            if a.summary.is_none() && !u.title.is_empty() {
                a.summary = Some(u.title.clone());
            }
            if u.updated.is_some() && a.modified < u.updated {
                a.modified.clone_from(&u.updated);
            }
            for r in &u.references {
                if !a.references.contains(r) {
                    a.references.push(r.clone());
                }
            }
            for e in &entries {
                if !a.affected.contains(e) {
                    a.affected.push(e.clone());
                }
            }
        }
    }
    let mut advisories: Vec<Advisory> = by_id.into_values().collect();
    for a in &mut advisories {
        a.related.sort();
    }
    let label = if releases.is_empty() {
        "alas".to_owned()
    } else {
        format!(
            "alas-{}",
            releases.into_iter().collect::<Vec<_>>().join("+")
        )
    };
    Ok((label, advisories, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_release_and_topic() {
        assert_eq!(release_of("ALAS-2011-1"), Some(("1", None)));
        assert_eq!(release_of("ALAS2-2018-939"), Some(("2", None)));
        assert_eq!(
            release_of("ALAS2KERNEL-5.15-2022-001"),
            Some(("2", Some("5.15".to_owned())))
        );
        assert_eq!(
            release_of("ALAS2PHP8.0-2022-001"),
            Some(("2", Some("8.0".to_owned())))
        );
        assert_eq!(release_of("ALAS2DOCKER-2023-001"), Some(("2", None)));
        assert_eq!(release_of("ALAS2022-2021-001"), Some(("2022", None)));
        assert_eq!(release_of("ALAS2023-2023-001"), Some(("2023", None)));
        assert_eq!(
            release_of("ALAS2023LIVEPATCH-2023-001"),
            Some(("2023", None))
        );
        assert_eq!(release_of("RHSA-2023-1"), None);
    }
}
