//! OS detection: `/etc/os-release`, `/usr/lib/os-release`, then the older release files.

use std::collections::BTreeMap;

use ferret_layers::{Content, FileTree};
use ferret_model::{Distro, Note};

/// Files OS detection reads (kept by the layer walk alongside the catalogers' files).
pub const PATTERNS: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/fedora-release",
    "etc/oracle-release",
    "etc/system-release",
    "etc/lsb-release",
    "root/buildinfo/content_manifests/*.json",
];

/// Where Red Hat's images record the content sets they were built from.
const CONTENT_MANIFESTS: &str = "root/buildinfo/content_manifests/";

/// The content sets every content manifest of the tree lists, sorted and without repeats;
/// a manifest that does not parse is noted.
fn content_sets(tree: &FileTree, notes: &mut Vec<Note>) -> Vec<String> {
    let mut sets = std::collections::BTreeSet::new();
    for file in tree.files() {
        if !file.path.starts_with(CONTENT_MANIFESTS) || !file.path.ends_with(".json") {
            continue;
        }
        let Content::Kept(data) = file.content else {
            continue;
        };
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(doc) => sets.extend(
                doc.get("content_sets")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .map(str::to_owned),
            ),
            Err(e) => notes.push(
                Note::new("os", format!("content manifest is not JSON: {e}")).with_path(file.path),
            ),
        }
    }
    sets.into_iter().collect()
}

/// Parses os-release syntax: `KEY=value` lines, values optionally in double or single
/// quotes with shell-style backslash escapes inside double quotes; `#` comments.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(key.to_owned(), unquote(value.trim()));
    }
    out
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return v[1..v.len() - 1].to_owned();
    }
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let inner = &v[1..v.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_owned()
}

/// Builds a [`Distro`] from parsed os-release fields.
pub fn distro_from_os_release(fields: &BTreeMap<String, String>, source: &str) -> Option<Distro> {
    let id = fields.get("ID")?.trim().to_ascii_lowercase();
    if id.is_empty() {
        return None;
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let codename = match get("VERSION_CODENAME") {
        c if c.is_empty() => get("UBUNTU_CODENAME"),
        c => c,
    };
    Some(Distro {
        id,
        version_id: get("VERSION_ID"),
        codename,
        pretty_name: get("PRETTY_NAME"),
        name: get("NAME"),
        id_like: get("ID_LIKE")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        cpe_name: get("CPE_NAME"),
        source: source.to_owned(),
        content_sets: Vec::new(),
    })
}

fn text<'a>(tree: &'a FileTree, path: &str) -> Option<(&'a str, String)> {
    let file = tree.get(path)?;
    match file.content {
        Content::Kept(data) => Some((file.path, String::from_utf8_lossy(data).into_owned())),
        Content::TooLarge(_) | Content::Probed(_) => None,
    }
}

/// Detects the OS of a file tree; the notes say what was found but not understood.
pub fn detect(tree: &FileTree) -> (Option<Distro>, Vec<Note>) {
    let mut notes = Vec::new();
    for path in ["etc/os-release", "usr/lib/os-release"] {
        if let Some((real, body)) = text(tree, path) {
            let fields = parse_os_release(&body);
            match distro_from_os_release(&fields, path) {
                Some(mut d) => {
                    d.content_sets = content_sets(tree, &mut notes);
                    return (Some(d), notes);
                }
                None => notes.push(Note::new("os", "os-release has no ID").with_path(real)),
            }
        }
    }
    if let Some((_, body)) = text(tree, "etc/alpine-release") {
        let version = body.trim().to_owned();
        return (
            Some(Distro {
                id: "alpine".to_owned(),
                pretty_name: format!("Alpine Linux v{version}"),
                name: "Alpine Linux".to_owned(),
                version_id: version,
                source: "etc/alpine-release".to_owned(),
                ..Distro::default()
            }),
            notes,
        );
    }
    for path in [
        "etc/centos-release",
        "etc/rocky-release",
        "etc/almalinux-release",
        "etc/fedora-release",
        "etc/oracle-release",
        "etc/redhat-release",
        "etc/system-release",
    ] {
        if let Some((_, body)) = text(tree, path)
            && let Some(d) = parse_redhat_release(body.trim(), path)
        {
            return (Some(d), notes);
        }
    }
    if let Some((_, body)) = text(tree, "etc/lsb-release") {
        let fields = parse_os_release(&body);
        if let Some(id) = fields.get("DISTRIB_ID") {
            return (
                Some(Distro {
                    id: id.to_ascii_lowercase(),
                    version_id: fields.get("DISTRIB_RELEASE").cloned().unwrap_or_default(),
                    codename: fields.get("DISTRIB_CODENAME").cloned().unwrap_or_default(),
                    pretty_name: fields
                        .get("DISTRIB_DESCRIPTION")
                        .cloned()
                        .unwrap_or_default(),
                    source: "etc/lsb-release".to_owned(),
                    ..Distro::default()
                }),
                notes,
            );
        }
    }
    if let Some((_, body)) = text(tree, "etc/debian_version") {
        let v = body.trim();
        let major = v.split('.').next().unwrap_or("");
        let (version_id, codename) =
            if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) {
                (major.to_owned(), String::new())
            } else {
                // Testing and unstable say `trixie/sid`: no version, a codename.
                (String::new(), v.split('/').next().unwrap_or("").to_owned())
            };
        return (
            Some(Distro {
                id: "debian".to_owned(),
                name: "Debian GNU/Linux".to_owned(),
                version_id,
                codename,
                source: "etc/debian_version".to_owned(),
                ..Distro::default()
            }),
            notes,
        );
    }
    (None, notes)
}

/// `Rocky Linux release 9.3 (Blue Onyx)` and friends.
fn parse_redhat_release(line: &str, source: &str) -> Option<Distro> {
    let (name, rest) = line.split_once(" release ")?;
    let version: String = rest
        .split_whitespace()
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let lower = name.to_ascii_lowercase();
    let id = if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("oracle") {
        "ol"
    } else if lower.starts_with("amazon") {
        "amzn"
    } else {
        return None;
    };
    // CentOS and Fedora name releases by their major version alone.
    let version_id = match id {
        "centos" | "fedora" => version.split('.').next().unwrap_or("").to_owned(),
        _ => version,
    };
    let codename = rest
        .split_once('(')
        .and_then(|(_, c)| c.split_once(')'))
        .map(|(c, _)| c.to_owned())
        .unwrap_or_default();
    Some(Distro {
        id: id.to_owned(),
        version_id,
        codename,
        pretty_name: line.to_owned(),
        name: name.to_owned(),
        source: source.to_owned(),
        ..Distro::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let f = parse_os_release("A=\"x \\\"y\\\" \\$z\"\nB='q r'\n# c\nC=plain\nbad line\n");
        assert_eq!(f["A"], "x \"y\" $z");
        assert_eq!(f["B"], "q r");
        assert_eq!(f["C"], "plain");
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn redhat_release_lines() {
        let d = parse_redhat_release("CentOS Linux release 7.9.2009 (Core)", "x").unwrap();
        assert_eq!((d.id.as_str(), d.version_id.as_str()), ("centos", "7"));
        let d = parse_redhat_release("Red Hat Enterprise Linux release 8.9 (Ootpa)", "x").unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_str(), d.codename.as_str()),
            ("rhel", "8.9", "Ootpa")
        );
    }
}
