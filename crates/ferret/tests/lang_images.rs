//! Language packages installed by their own tools, in images the test builds (one layer
//! from a root file system, or layers of assembled jars): `ferret sbom` lists exactly what
//! the tools list. Nothing compiled is committed; the
//! packages come from PyPI and the npm registry at test time.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ferret_testsupport::*;
use serde_json::Value;

/// The packages of `kind` in an image whose one layer is `root`.
fn packages_of(root: &Path, kind: &str) -> Vec<Value> {
    let layout = root.with_extension("layout");
    image_of_root(root, &layout);
    let doc = inventory(&format!("oci:{}:root", layout.display()), &[]);
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .cloned()
        .collect()
}

/// `ferret sbom` of a root file system holding only `file`, copied to `at`.
fn sbom_of_file(file: &Path, at: &str) -> Value {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join(at);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap();
    inventory(&format!("dir:{}", root.path().display()), &[])
}

/// The packages of `kind` in a `ferret sbom` document.
fn of_kind<'a>(doc: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(move |p| p["kind"] == kind)
}

fn pair(p: &Value) -> (String, String) {
    (
        p["name"].as_str().unwrap().to_owned(),
        p["version"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_virtualenv_lists_what_pip_lists() {
    let root = tempfile::tempdir().unwrap();
    let venv = root.path().join("opt/venv");
    if !python_venv(&venv, OLD_WHEELS) {
        return;
    }
    let pip = venv.join("bin/pip");
    let listed = succeeded(
        Command::new(&pip)
            .args(["list", "--format=json", "--disable-pip-version-check"])
            .output()
            .unwrap(),
    );
    let want: BTreeSet<(String, String)> = serde_json::from_slice::<Value>(&listed.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(pair)
        .collect();
    assert!(
        want.contains(&("Django".to_owned(), "2.0.1".to_owned())),
        "{want:?}"
    );
    let found = packages_of(root.path(), "python");
    let got: BTreeSet<(String, String)> = found.iter().map(pair).collect();
    assert_eq!(got, want);
    let django = found.iter().find(|p| p["name"] == "Django").unwrap();
    assert_eq!(django["purl"], "pkg:pypi/django@2.0.1");
    assert!(
        django["metadata"]["site_packages"]
            .as_str()
            .unwrap()
            .starts_with("opt/venv/lib/python3"),
        "{django}"
    );
}

#[test]
fn npm_ci_lists_what_npm_ls_lists() {
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("srv/app");
    if !npm_app(&app) {
        return;
    }
    let want = npm_ls(&app);
    assert!(
        want.contains(&("ms".to_owned(), "2.0.0".to_owned())),
        "{want:?}"
    );
    assert!(
        want.contains(&("ms".to_owned(), "0.7.1".to_owned())),
        "{want:?}"
    );

    let found = packages_of(root.path(), "npm");
    let by_role = |role: &str| -> BTreeSet<(String, String)> {
        found
            .iter()
            .filter(|p| p["metadata"]["role"] == role)
            .map(pair)
            .collect()
    };
    assert_eq!(by_role("installed"), want, "installed under node_modules");
    assert_eq!(by_role("declared"), want, "declared by package-lock.json");
    let app_pkg: Vec<_> = found
        .iter()
        .filter(|p| p["metadata"]["role"] == "application")
        .collect();
    assert_eq!(app_pkg.len(), 1);
    assert_eq!(app_pkg[0]["name"], "ferret-fixture-app");
    assert_eq!(app_pkg[0]["metadata"]["private"], true);
    let scoped = found.iter().find(|p| p["name"] == "@types/node").unwrap();
    assert_eq!(scoped["purl"], "pkg:npm/%40types/node@10.0.0");
}

/// A Go program built by Debian's golang-go against a module from Debian's
/// `golang-github-google-uuid-dev` sources, vendored (there is no module proxy here).
#[test]
fn a_go_binary_lists_what_go_version_m_lists() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let binary = root.join("usr/local/bin/app");
    let Some(module_version) = go_uuid_binary(work.path(), &binary) else {
        return;
    };
    let want = go_version_m(&binary);
    assert!(
        want.contains(&("github.com/google/uuid".to_owned(), module_version.clone())),
        "{want:?}"
    );
    let found = packages_of(&root, "go-module");
    let got: BTreeSet<(String, String)> = found.iter().map(pair).collect();
    assert_eq!(got, want);
    let uuid = found
        .iter()
        .find(|p| p["name"] == "github.com/google/uuid")
        .unwrap();
    assert_eq!(
        uuid["purl"],
        format!("pkg:golang/github.com/google/uuid@{module_version}")
    );
    assert_eq!(uuid["location"]["path"], "usr/local/bin/app");
}

/// A toolchain run with a non-default GOEXPERIMENT writes `go1.19.8 X:fieldtrack` as its
/// version: the stdlib is reported (and matched) as `go1.19.8`, as `go version -m` lists.
#[test]
fn a_go_binary_built_with_a_goexperiment_lists_its_toolchain_version() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let binary = root.join("usr/local/bin/app");
    if go_uuid_binary_with(work.path(), &binary, &[("GOEXPERIMENT", "fieldtrack")]).is_none() {
        return;
    }
    let listed = succeeded(
        Command::new("go")
            .arg("version")
            .arg(&binary)
            .output()
            .unwrap(),
    );
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(" X:fieldtrack"),
        "{listed:?}"
    );
    let want = go_version_m(&binary);
    let got: BTreeSet<(String, String)> =
        packages_of(&root, "go-module").iter().map(pair).collect();
    assert_eq!(got, want);
    assert!(got.iter().any(|(n, v)| n == "stdlib" && !v.contains(' ')));
}

/// Go binaries built before Go 1.18 (their header points at the build information):
/// release binaries from the npm registry, x86-64, i386 and arm64, list what
/// `go version -m` lists.
#[test]
fn go_binaries_built_before_go_1_18_list_what_go_version_m_lists() {
    let work = tempfile::tempdir().unwrap();
    let fetched = |package: &str| {
        setup(
            Command::new("npm")
                .args(["pack", "--silent", package])
                .current_dir(work.path()),
            "npm pack from the npm registry",
        )
    };
    if !fetched("esbuild-linux-64@0.13.15") || !fetched("@arkweid/lefthook@0.7.7") {
        return;
    }
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let members = [
        (
            "esbuild-linux-64-0.13.15.tgz",
            "package/bin/esbuild",
            "esbuild",
        ),
        (
            "arkweid-lefthook-0.7.7.tgz",
            "package/bin/lefthook_linux_386/lefthook",
            "lefthook-386",
        ),
        (
            "arkweid-lefthook-0.7.7.tgz",
            "package/bin/lefthook_linux_arm64/lefthook",
            "lefthook-arm64",
        ),
    ];
    for (tarball, member, name) in members {
        let out = succeeded(
            Command::new("tar")
                .arg("-xzOf")
                .arg(work.path().join(tarball))
                .arg(member)
                .output()
                .unwrap(),
        );
        let dir = root.join("opt").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app"), out.stdout).unwrap();
        // `go version` looks only at executables.
        std::fs::set_permissions(dir.join("app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let doc = inventory(&format!("dir:{}", root.display()), &[]);
    for (_, _, name) in members {
        let binary = root.join("opt").join(name).join("app");
        let want = go_version_m(&binary);
        assert!(
            want.iter()
                .any(|(n, v)| n == "stdlib" && (v.starts_with("go1.16") || v.starts_with("go1.17"))),
            "{name}: {want:?}"
        );
        // Stripped (`go tool nm` finds no symbols), their pc-line tables (Go 1.16/1.17
        // layout, 32- and 64-bit) still name their functions.
        let functions = ferret_catalog::go_functions(&std::fs::read(&binary).unwrap()).unwrap();
        for f in ["main.main", "runtime.main", "os.(*File).Write"] {
            assert!(
                functions.contains(f),
                "{name}: {f} not among {}",
                functions.len()
            );
        }
        let at = format!("opt/{name}/app");
        let got: BTreeSet<(String, String)> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "go-module" && p["location"]["path"] == at.as_str())
            .map(pair)
            .collect();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(
        doc["notes"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        doc["notes"]
    );
}

/// A Rust program built with `cargo auditable` (from crates.io, as `.ci/run` installs it)
/// against a crate from crates.io: the binary's embedded dependency list and its
/// `Cargo.lock` are both reported, each at its own location, and both hold what the
/// lockfile lists.
#[test]
fn a_cargo_auditable_binary_and_its_lockfile() {
    let work = tempfile::tempdir().unwrap();
    let Some((src, built)) = auditable_binary(work.path()) else {
        return;
    };
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(root.join("src/app")).unwrap();
    std::fs::copy(built, root.join("usr/local/bin/app")).unwrap();
    std::fs::copy(src.join("Cargo.lock"), root.join("src/app/Cargo.lock")).unwrap();

    let lock = std::fs::read_to_string(src.join("Cargo.lock")).unwrap();
    let want: BTreeSet<(String, String)> = lock
        .split("[[package]]")
        .skip(1)
        .map(|block| {
            let field = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            };
            (field("name"), field("version"))
        })
        .collect();
    assert!(
        want.contains(&("itoa".to_owned(), "1.0.9".to_owned())),
        "{want:?}"
    );
    let found = packages_of(&root, "rust-crate");
    let at = |path: &str| -> BTreeSet<(String, String)> {
        found
            .iter()
            .filter(|p| p["location"]["path"] == path)
            .map(pair)
            .collect()
    };
    assert_eq!(at("usr/local/bin/app"), want, "from the binary");
    assert_eq!(at("src/app/Cargo.lock"), want, "from the lockfile");
    let own = found
        .iter()
        .find(|p| p["name"] == "ferret-fixture" && p["location"]["path"] == "usr/local/bin/app")
        .unwrap();
    assert!(own["metadata"].get("origin").is_none(), "{own}");
}

fn sha1sum(path: &Path) -> String {
    let out = succeeded(Command::new("sha1sum").arg(path).output().unwrap());
    String::from_utf8(out.stdout).unwrap()[..40].to_owned()
}

/// Java archives assembled by the JDK's `jar` tool into a two-layer image: a jar named by
/// its `pom.properties`, one named only by its `MANIFEST.MF`, a shaded jar listing the
/// artifacts it embeds, and a war holding a jar that holds a jar. `ferret sbom` lists
/// every artifact the archives' metadata names, at the nested path it sits at, with the
/// SHA-1 of the archive it came from and the layer that added it.
#[test]
fn jars_assembled_by_the_jdk_list_their_contents() {
    if !setup(Command::new("jar").arg("--version"), "the JDK's jar tool") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let class = b"\xca\xfe\xba\xbe\x00\x00\x00\x3d".as_slice();
    let (alpha_pom, alpha_body) = pom("org.example", "alpha", "1.2.3");
    assert!(jar_tool(
        &w.join("alpha"),
        &[
            (&alpha_pom, &alpha_body),
            ("org/example/Alpha.class", class)
        ],
        None,
        &w.join("alpha-1.2.3.jar"),
    ));
    assert!(jar_tool(
        &w.join("beta"),
        &[("org/example/beta/Beta.class", class)],
        Some(
            "Implementation-Title: beta\nImplementation-Version: 2.0.1\nImplementation-Vendor-Id: org.example.beta\nBundle-License: Apache-2.0\n"
        ),
        &w.join("beta.jar"),
    ));
    let shaded = [
        pom("com.example", "uber", "1.0"),
        pom("com.google.guava", "guava", "20.0"),
        pom("org.apache.commons", "commons-lang3", "3.4"),
    ];
    let mut files: Vec<(&str, &[u8])> = shaded
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    files.push(("com/google/common/base/Strings.class", class));
    assert!(jar_tool(
        &w.join("uber"),
        &files,
        None,
        &w.join("uber-1.0.jar")
    ));
    // A war with a library jar that itself bundles a jar.
    let (inner_pom, inner_body) = pom("io.netty", "netty-common", "4.1.42.Final");
    assert!(jar_tool(
        &w.join("inner"),
        &[(&inner_pom, &inner_body)],
        None,
        &w.join("netty-common-4.1.42.Final.jar"),
    ));
    let inner_jar = std::fs::read(w.join("netty-common-4.1.42.Final.jar")).unwrap();
    let (lib_pom, lib_body) = pom("io.netty", "netty-all", "4.1.42.Final");
    assert!(jar_tool(
        &w.join("lib"),
        &[
            (&lib_pom, &lib_body),
            ("META-INF/lib/netty-common-4.1.42.Final.jar", &inner_jar),
        ],
        None,
        &w.join("netty-all-4.1.42.Final.jar"),
    ));
    let lib_jar = std::fs::read(w.join("netty-all-4.1.42.Final.jar")).unwrap();
    let (war_pom, war_body) = pom("org.example", "webapp", "3.1");
    assert!(jar_tool(
        &w.join("war"),
        &[
            (&war_pom, &war_body),
            ("WEB-INF/lib/netty-all-4.1.42.Final.jar", &lib_jar),
        ],
        None,
        &w.join("webapp.war"),
    ));

    let read = |name: &str| std::fs::read(w.join(name)).unwrap();
    let lower = tar(&[
        Entry::File("opt/app/alpha-1.2.3.jar".into(), read("alpha-1.2.3.jar")),
        Entry::File("opt/app/beta.jar".into(), read("beta.jar")),
        Entry::File("opt/app/uber-1.0.jar".into(), read("uber-1.0.jar")),
    ]);
    let upper = tar(&[Entry::File("srv/webapp.war".into(), read("webapp.war"))]);
    let diff_ids = [sha256(&lower), sha256(&upper)];
    let spec = ImageSpec::new(vec![(lower, Comp::Gzip), (upper, Comp::Zstd)]);
    let layout = w.join("layout");
    oci_layout(&layout, &spec, "jars");
    let doc = inventory(&format!("oci:{}:jars", layout.display()), &[]);
    let got: BTreeSet<(String, String, String, String, String)> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "java-archive")
        .map(|p| {
            let m = &p["metadata"];
            (
                p["purl"].as_str().unwrap().to_owned(),
                p["location"]["path"].as_str().unwrap().to_owned(),
                m["nested_path"].as_str().unwrap_or("").to_owned(),
                m["named_by"].as_str().unwrap().to_owned(),
                m["sha1"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    // What the archives hold, as `jar` lists and unpacks them.
    let listed = succeeded(
        Command::new("jar")
            .arg("--list")
            .arg("--file")
            .arg(w.join("uber-1.0.jar"))
            .output()
            .unwrap(),
    );
    let poms = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.ends_with("pom.properties"))
        .count();
    assert_eq!(poms, 3);
    let sha = |name: &str| sha1sum(&w.join(name));
    let row = |purl: &str, path: &str, nested: &str, by: &str, sha1: String| {
        (
            purl.to_owned(),
            path.to_owned(),
            nested.to_owned(),
            by.to_owned(),
            sha1,
        )
    };
    let want = BTreeSet::from([
        row(
            "pkg:maven/org.example/alpha@1.2.3",
            "opt/app/alpha-1.2.3.jar",
            "",
            "pom.properties",
            sha("alpha-1.2.3.jar"),
        ),
        row(
            "pkg:maven/org.example.beta/beta@2.0.1",
            "opt/app/beta.jar",
            "",
            "MANIFEST.MF",
            sha("beta.jar"),
        ),
        row(
            "pkg:maven/com.example/uber@1.0",
            "opt/app/uber-1.0.jar",
            "",
            "pom.properties",
            sha("uber-1.0.jar"),
        ),
        row(
            "pkg:maven/com.google.guava/guava@20.0",
            "opt/app/uber-1.0.jar",
            "",
            "pom.properties",
            sha("uber-1.0.jar"),
        ),
        row(
            "pkg:maven/org.apache.commons/commons-lang3@3.4",
            "opt/app/uber-1.0.jar",
            "",
            "pom.properties",
            sha("uber-1.0.jar"),
        ),
        row(
            "pkg:maven/org.example/webapp@3.1",
            "srv/webapp.war",
            "",
            "pom.properties",
            sha("webapp.war"),
        ),
        row(
            "pkg:maven/io.netty/netty-all@4.1.42.Final",
            "srv/webapp.war",
            "WEB-INF/lib/netty-all-4.1.42.Final.jar",
            "pom.properties",
            sha("netty-all-4.1.42.Final.jar"),
        ),
        row(
            "pkg:maven/io.netty/netty-common@4.1.42.Final",
            "srv/webapp.war",
            "WEB-INF/lib/netty-all-4.1.42.Final.jar!META-INF/lib/netty-common-4.1.42.Final.jar",
            "pom.properties",
            sha("netty-common-4.1.42.Final.jar"),
        ),
    ]);
    assert_eq!(got, want);

    // Attribution: the war came with the upper layer, and the license the manifest states.
    let by_name = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    let layer_of = |p: &Value| {
        p["location"]["layer"]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(layer_of(&by_name("netty-common")), diff_ids[1]);
    assert_eq!(layer_of(&by_name("alpha")), diff_ids[0]);
    assert_eq!(
        by_name("beta")["licenses"],
        serde_json::json!(["Apache-2.0"])
    );
}

/// yarn v1 lockfiles, as yarn writes them and as npm tooling writes them (every key and
/// value quoted): `ferret sbom` lists what yarn's own lockfile parser reads.
#[test]
fn yarn_v1_lockfiles_list_what_yarns_own_parser_reads() {
    let quoted = own_testdata().join("lang/javascript/yarn-v1-quoted");
    let plain = tempfile::tempdir().unwrap();
    let written = plain.path().join("yarn.lock");
    std::fs::write(
        &written,
        "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  resolved \"https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz\"\n  dependencies:\n    \"@babel/highlight\" \"^7.10.4\"\n\nleft-pad@1.3.0:\n  version \"1.3.0\"\n\nstring-width-cjs@npm:string-width@^4.2.0:\n  version \"4.2.3\"\n",
    )
    .unwrap();
    for lock in [
        quoted.join("cdxgen-yarnv1-empty.yarn.lock"),
        quoted.join("osv-scalibr-with-quotes.v1.yarn.lock"),
        written,
    ] {
        let Some(want) = yarn_v1_entries(&lock) else {
            return;
        };
        let doc = sbom_of_file(&lock, "app/yarn.lock");
        let got: BTreeSet<(String, String)> = of_kind(&doc, "npm").map(pair).collect();
        assert!(!want.is_empty(), "{}", lock.display());
        assert_eq!(got, want, "{}", lock.display());
        assert_eq!(doc["notes"].as_array().map_or(0, Vec::len), 0, "{doc}");
    }
}

/// composer.lock files written by composer: `ferret sbom` lists each package at the version
/// `composer show --locked` shows, a tag's `v` kept (`v1.0.2`).
#[test]
fn composer_lockfiles_list_what_composer_shows() {
    let shared = testdata().join("fixtures/lang/php/osv-scalibr-composerlock");
    for lock in [
        own_testdata().join("lang/php/v-prefix/composer.lock"),
        shared.join("drupal-packages.json"),
        shared.join("one-package-dev.json"),
        shared.join("two-packages.json"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("srv/app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(&lock, app.join("composer.lock")).unwrap();
        std::fs::write(app.join("composer.json"), "{}").unwrap();
        let Some(want) = composer_show_locked(&app) else {
            return;
        };
        std::fs::remove_dir_all(app.join(".composer-home")).ok();
        let doc = sbom_of_file(&app.join("composer.lock"), "srv/app/composer.lock");
        let got: BTreeSet<(String, String)> = of_kind(&doc, "php-composer").map(pair).collect();
        assert!(!want.is_empty(), "{}", lock.display());
        assert_eq!(got, want, "{}", lock.display());
    }
}

/// Self-contained .NET apps as `dotnet publish` writes their `deps.json`: the runtime packs
/// they carry are listed under the names advisories give them, the apps' own projects not.
#[test]
fn self_contained_dotnet_apps_list_their_runtime_packs() {
    let dir = own_testdata().join("lang/dotnet/self-contained");
    for (file, want) in [
        (
            "paketo-dotnet-core-source-app.deps.json",
            &[
                ("Microsoft.AspNetCore.App.Runtime.linux-x64", "8.0.1"),
                ("Microsoft.AspNetCore.SpaProxy", "8.0.11"),
                ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.1"),
            ][..],
        ),
        (
            "paketo-dotnet-execute-webapp_8.deps.json",
            &[
                ("Microsoft.AspNetCore.App.Runtime.linux-x64", "8.0.11"),
                ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.11"),
            ][..],
        ),
    ] {
        let doc = sbom_of_file(&dir.join(file), &format!("app/{file}"));
        let got: BTreeSet<(String, String)> = of_kind(&doc, "dotnet").map(pair).collect();
        let want: BTreeSet<(String, String)> = want
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(got, want, "{file}");
    }
}

/// `Gemfile.lock` with gems from a gem server, a git repository and a path, as Bundler
/// writes it: `ferret sbom` lists what Bundler's own lockfile parser reads, each gem once,
/// the git and path gems with their origin.
#[test]
fn gemfile_locks_list_what_bundler_reads() {
    let lock = own_testdata().join("lang/ruby/path-git/dependabot-nested_path_source.Gemfile.lock");
    let Some(want) = bundler_specs(&lock) else {
        return;
    };
    let doc = sbom_of_file(&lock, "srv/app/Gemfile.lock");
    let gems: Vec<&Value> = of_kind(&doc, "gem").collect();
    let got: BTreeSet<(String, String)> = gems.iter().map(|p| pair(p)).collect();
    assert_eq!(got, want);
    let origin =
        |name: &str| gems.iter().find(|p| p["name"] == name).unwrap()["metadata"]["origin"].clone();
    assert_eq!(
        origin("prius"),
        "git https://github.com/gocardless/prius@cff701b3bfb182afc99a85657d7c9f3d6c1ccce2"
    );
    assert_eq!(origin("example"), "path plugins/example");
    assert_eq!(origin("business"), Value::Null);
}

/// Installed gem specifications: `ferret sbom` lists a gem exactly where RubyGems loads
/// the file (a malformed one is a note, a version from a constant the file sets is read).
#[test]
fn gem_specifications_list_what_rubygems_loads() {
    let dir = testdata().join("fixtures/lang/ruby/osv-scalibr-gemspec");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gemspec"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for spec in files {
        let Some(want) = rubygems_load(&spec) else {
            return;
        };
        let doc = sbom_of_file(&spec, "usr/lib/ruby/gems/3.1.0/specifications/x-1.gemspec");
        let got: Vec<(String, String)> = of_kind(&doc, "gem").map(pair).collect();
        assert_eq!(
            got,
            want.clone().into_iter().collect::<Vec<_>>(),
            "{}",
            spec.display()
        );
        if want.is_none() && std::fs::metadata(&spec).unwrap().len() > 0 {
            assert!(
                doc["notes"].to_string().contains("x-1.gemspec"),
                "{}: {}",
                spec.display(),
                doc["notes"]
            );
        }
    }
}

/// Lockfiles written by pnpm 7, 8 and 9 (lockfile 5.4, 6.0, 9.0): `ferret sbom` on the
/// lockfile alone lists what `pnpm list --depth Infinity` lists, development-only packages
/// marked as such (v9 has no `dev:` flags: they are found through its snapshots).
#[test]
fn pnpm_lockfiles_list_what_pnpm_lists() {
    let manifest = r#"{"name": "app", "version": "1.0.0", "private": true,
        "dependencies": {"chalk": "4.1.2", "left-pad": "1.3.0", "debug": "4.3.4"},
        "devDependencies": {"is-number": "7.0.0", "ms": "2.1.2"}}"#;
    for major in [7u8, 8, 9] {
        let work = tempfile::tempdir().unwrap();
        let project = work.path().join("project");
        let Some(want) = pnpm_project(major, &project, manifest) else {
            return;
        };
        let doc = sbom_of_file(&project.join("pnpm-lock.yaml"), "app/pnpm-lock.yaml");
        let got: std::collections::BTreeMap<(String, String), bool> = of_kind(&doc, "npm")
            .map(|p| (pair(p), p["metadata"]["dev"] == true))
            .collect();
        assert_eq!(got, want, "pnpm {major}");
        assert!(want.values().any(|dev| *dev), "pnpm {major}: {want:?}");
    }
}

/// A lockfile written by yarn 4 (berry), an npm alias among its entries: `ferret sbom` on
/// the lockfile alone lists what `yarn info --all --recursive` lists.
#[test]
fn yarn_berry_lockfiles_list_what_yarn_lists() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    let Some(want) = yarn_berry_project(
        &project,
        r#"{"name": "app", "version": "1.0.0", "private": true,
            "dependencies": {"chalk": "4.1.2", "left-pad": "1.3.0", "is-num": "npm:is-number@7.0.0"}}"#,
    ) else {
        return;
    };
    let doc = sbom_of_file(&project.join("yarn.lock"), "app/yarn.lock");
    let got: BTreeSet<(String, String)> = of_kind(&doc, "npm").map(pair).collect();
    assert!(
        want.contains(&("is-number".to_owned(), "7.0.0".to_owned())),
        "{want:?}"
    );
    assert_eq!(got, want);
}

/// A lockfile v1 written by npm 6, with a nested version, a development dependency and an
/// npm alias: `ferret sbom` on the lockfile alone lists what `npm ls` lists (the alias under
/// the package it installs).
#[test]
fn npm_6_lockfiles_list_what_npm_ls_lists() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    let Some(want) = npm6_project(
        &project,
        r#"{"name": "app", "version": "1.0.0", "private": true,
            "dependencies": {"chalk": "4.1.2", "left-pad": "1.3.0", "debug": "2.6.9", "ms": "2.1.3",
                             "is-num": "npm:is-number@7.0.0"},
            "devDependencies": {"is-number": "6.0.0"}}"#,
    ) else {
        return;
    };
    let doc = sbom_of_file(&project.join("package-lock.json"), "app/package-lock.json");
    let got: BTreeSet<(String, String)> = of_kind(&doc, "npm").map(pair).collect();
    for p in [
        ("is-number", "7.0.0"),
        ("is-number", "6.0.0"),
        ("ms", "2.0.0"),
    ] {
        assert!(
            want.contains(&(p.0.to_owned(), p.1.to_owned())),
            "{p:?}: {want:?}"
        );
    }
    assert_eq!(got, want);
}

/// The functions a Go binary holds, read from its pc-line table (which stripping keeps):
/// for a binary built here, exactly the text symbols `go tool nm` lists (Debian's Go; the
/// `.abi0` of assembly functions aside), and
/// the same set from the same program built with `-ldflags=-s -w`, where `go tool nm`
/// finds no symbols at all.
#[test]
fn go_functions_are_the_text_symbols_go_tool_nm_lists() {
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("plain");
    if go_uuid_binary(work.path(), &plain).is_none() {
        return;
    }
    let stripped = work.path().join("stripped");
    go_uuid_binary_with(
        work.path(),
        &stripped,
        &[("GOFLAGS", "-mod=vendor -ldflags=-s -w")],
    )
    .unwrap();
    let nm = |binary: &Path| {
        Command::new("go")
            .args(["tool", "nm"])
            .arg(binary)
            .output()
            .unwrap()
    };
    let listed = succeeded(nm(&plain));
    let want: BTreeSet<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind) = (f.next()?, f.next()?);
            // The symbol table names assembly functions by their ABI (`runtime.abort.abi0`);
            // the pc-line table, as Go vulnerability records do, without it.
            // The linker also shortens array lengths in the type equality functions' names
            // there (`type..eq.[...]runtime.Frame`); the text section's bounds
            // (`runtime.text`, `runtime.etext`) and cgo's host sections are no functions.
            let name = f.collect::<Vec<_>>().join(" ");
            let name = name.strip_suffix(".abi0").unwrap_or(&name);
            let name = match name.strip_prefix("type..eq.[") {
                Some(rest) => format!("type..eq.[...]{}", rest.split_once(']')?.1),
                None => name.to_owned(),
            };
            (matches!(kind, "T" | "t")
                && !matches!(name.as_str(), "runtime.text" | "runtime.etext")
                && !name.ends_with(')'))
            .then_some(name)
        })
        .collect();
    assert!(want.contains("main.main") && want.contains("github.com/google/uuid.NewString"));
    let read =
        |binary: &Path| ferret_catalog::go_functions(&std::fs::read(binary).unwrap()).unwrap();
    let got = read(&plain);
    assert_eq!(
        (
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>()
        ),
        (Vec::new(), Vec::new())
    );
    assert!(!nm(&stripped).status.success() || nm(&stripped).stdout.is_empty());
    assert_eq!(read(&stripped), want);
}
