//! A real Debian image: `debootstrap --variant=minbase bookworm`, then a second layer with
//! packages installed and one purged (built by `scripts/debian-image.sh`), read as an OCI
//! layout and as a docker-archive. `ferret sbom` must list exactly what `dpkg-query`
//! lists in the final root.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use ferret_testsupport::*;

#[test]
fn debootstrap_image_matches_dpkg_query() {
    let Some(out) = debian_image() else {
        return;
    };

    let mut want = BTreeSet::new();
    for line in std::fs::read_to_string(out.join("dpkg-query.txt"))
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 4, "unexpected dpkg-query line {line:?}");
        want.insert((
            f[0].to_owned(),
            f[1].to_owned(),
            f[2].to_owned(),
            f[3].to_owned(),
        ));
    }
    assert!(
        want.len() > 50,
        "dpkg-query listed only {} packages",
        want.len()
    );
    assert!(want.iter().any(|p| p.0 == "less"));
    assert!(!want.iter().any(|p| p.0 == "tzdata"));

    for image in [
        format!("oci:{}:bookworm", out.join("layout").display()),
        format!("docker-archive:{}", out.join("debian.tar").display()),
    ] {
        let doc = inventory(&image, &[]);
        let got: BTreeSet<_> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
                    p["source"]["name"].as_str().unwrap().to_owned(),
                    p["source"]["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{image}: missing {missing:?}, extra {extra:?}"
        );
        assert_eq!(doc["distro"]["id"], "debian");
        assert_eq!(doc["distro"]["version_id"], "12");
        // The database is rewritten by the second layer, so every package is attributed to it.
        let less = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "less")
            .unwrap();
        assert_eq!(less["location"]["layer"]["index"], 1);
    }
}
