//! Package URLs for distro packages.

use ferret_model::{Distro, PackageKind};
use packageurl::PackageUrl;

/// The purl namespace for a package of `kind`, and the `distro` qualifier: the image's
/// distro when it uses that package manager, else the manager's home distro without a
/// qualifier (an apk database in a Debian image is not a Debian package).
pub(crate) fn namespace(kind: PackageKind, distro: Option<&Distro>) -> (String, Option<String>) {
    let (home, family): (&str, &[&str]) = match kind {
        PackageKind::Deb => ("debian", &["debian", "ubuntu"]),
        PackageKind::Apk => (
            "alpine",
            &["alpine", "wolfi", "chainguard", "postmarketos", "adelie"],
        ),
        PackageKind::Rpm => (
            "redhat",
            &[
                "rhel",
                "fedora",
                "centos",
                "rocky",
                "almalinux",
                "ol",
                "amzn",
                "mariner",
                "azurelinux",
                "sles",
                "opensuse",
                "opensuse-leap",
                "opensuse-tumbleweed",
                "suse",
                "photon",
            ],
        ),
        // Language packages carry no distro namespace.
        _ => return (String::new(), None),
    };
    match distro {
        Some(d)
            if family.contains(&d.id.as_str())
                || d.id_like.iter().any(|l| family.contains(&l.as_str())) =>
        {
            (d.id.clone(), Some(d.purl_qualifier()))
        }
        _ => (home.to_owned(), None),
    }
}

/// Builds `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`, qualifiers in key order as the
/// purl spec asks. Falls back to a minimal hand-escaped form if the crate refuses a part
/// (names with characters no real package uses), so every package has a purl.
pub(crate) fn build(
    kind: &str,
    namespace: &str,
    name: &str,
    version: &str,
    qualifiers: &[(&str, String)],
) -> String {
    let mut q: Vec<(&str, &String)> = qualifiers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v))
        .collect();
    q.sort_by(|a, b| a.0.cmp(b.0));
    let built = (|| -> Result<String, packageurl::Error> {
        let mut p = PackageUrl::new(kind, name)?;
        if !namespace.is_empty() {
            p.with_namespace(namespace)?;
        }
        if !version.is_empty() {
            p.with_version(version)?;
        }
        for (k, v) in &q {
            p.add_qualifier(*k, v.as_str())?;
        }
        Ok(p.to_string())
    })();
    built.unwrap_or_else(|_| {
        let mut s = if namespace.is_empty() {
            format!("pkg:{kind}/{}", escape(name))
        } else {
            format!("pkg:{kind}/{namespace}/{}", escape(name))
        };
        if !version.is_empty() {
            s.push('@');
            s.push_str(&escape(version));
        }
        for (i, (k, v)) in q.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(k);
            s.push('=');
            s.push_str(&escape(v));
        }
        s
    })
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `upstream` qualifier Syft and Grype use for a binary package's source: the source
/// name, with `@VERSION` when the versions differ; `None` when the package is its own
/// source.
pub(crate) fn upstream(
    name: &str,
    version: &str,
    source: &str,
    source_version: &str,
) -> Option<String> {
    match (source == name, source_version == version) {
        (true, true) => None,
        (_, true) => Some(source.to_owned()),
        (_, false) => Some(format!("{source}@{source_version}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_purl_matches_the_spec_example() {
        let p = build(
            "deb",
            "debian",
            "openssl",
            "3.0.15-1~deb12u1",
            &[("distro", "debian-12".into()), ("arch", "amd64".into())],
        );
        assert_eq!(
            p,
            "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12"
        );
        let p = build(
            "rpm",
            "rocky",
            "bash",
            "5.1.8-6.el9",
            &[("epoch", "1".into()), ("arch", "x86_64".into())],
        );
        assert_eq!(p, "pkg:rpm/rocky/bash@5.1.8-6.el9?arch=x86_64&epoch=1");
        let p = build("deb", "debian", "libstdc++6", "1:12+b1", &[]);
        assert_eq!(p, "pkg:deb/debian/libstdc%2B%2B6@1:12%2Bb1");
    }
}
