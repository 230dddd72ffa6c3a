//! Hostile and broken language files: each gets a note naming the file and what was
//! wrong, the other files are still read, and memory stays bounded.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use ferret_catalog::Catalog;
use ferret_layers::{Limits, read_dir};
use ferret_model::PackageKind;

fn jar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in members {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const POM: &[u8] = b"groupId=org.example\nartifactId=good\nversion=1.0.0\n";

#[test]
fn hostile_archives_and_broken_lockfiles() {
    let root = tempfile::tempdir().unwrap();
    let put = |at: &str, data: &[u8]| {
        let dest = root.path().join(at);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, data).unwrap();
    };
    // A bomb: 100 MiB of zeros stored in about 100 KiB, as a nested jar.
    let zeros = vec![0u8; 100 << 20];
    put(
        "app/bomb.jar",
        &jar(&[
            ("META-INF/maven/org.example/good/pom.properties", POM),
            ("lib/zeros.jar", &zeros),
        ]),
    );
    drop(zeros);
    // Twelve archives deep: read to the depth limit, the rest noted.
    let mut deep = jar(&[(
        "META-INF/maven/org.example/deep/pom.properties",
        b"groupId=org.example\nartifactId=deep\nversion=1\n",
    )]);
    for _ in 0..12 {
        deep = jar(&[("inner.jar", &deep)]);
    }
    put("app/deep-1.0.jar", &deep);
    // Not a zip, and a 1 GiB sparse file named like a jar.
    put("app/truncated-1.0.jar", &jar(&[("a", b"b")])[..10]);
    let big = std::fs::File::create(root.path().join("app/huge-1.0.jar")).unwrap();
    big.set_len(1 << 30).unwrap();
    // Broken lockfiles beside good ones.
    put("srv/a/package-lock.json", b"{\"packages\": ");
    put(
        "srv/a/node_modules/ok/package.json",
        b"{\"name\": \"ok\", \"version\": \"1.0.0\"}",
    );
    put(
        "srv/b/yarn.lock",
        b"__metadata:\n  version: 6\n\"x@npm:1\": [unclosed\n",
    );
    put(
        "srv/c/pnpm-lock.yaml",
        b"lockfileVersion: '9.0'\npackages: {a@1: [\n",
    );
    put("srv/d/Cargo.lock", b"[[package]]\nname = \"x\"\nversion = ");
    put("srv/e/composer.lock", b"not json");
    put("srv/f/App.deps.json", b"{\"libraries\": [");
    put(
        "srv/g/yarn.lock",
        b"# yarn lockfile v1\n\nleft-pad@1.3.0:\n  resolved \"x\"\n",
    );
    put("srv/h/Gemfile.lock", b"<<<<<<< HEAD\nnot a lockfile\n");
    put(
        "usr/lib/ruby/gems/3.1.0/specifications/bad-1.0.gemspec",
        b"Gem::Specif\n  s.name = \"foo\"\n  s.version = \"1.2.3\"\nend\n",
    );
    put(
        "srv/i/pnpm-lock.yaml",
        b"lockfileVersion: '9.0'\npackages:\n  d@git+https://example.com/d.git#abc:\n    resolution: {commit: abc, repo: https://example.com/d.git, type: git}\n",
    );

    // Executables cut short: a real ELF (this test's own binary) at 4 KiB, and a Go
    // binary cut just past its build information's header.
    let exe = std::fs::read("/proc/self/exe").unwrap();
    put("usr/bin/cut-elf", &exe[..4096]);
    // Go 1.18+ inline build information: the 16-byte-aligned magic, pointer size 8,
    // flags with the inline bit, then a version string claiming 100 bytes of which 5 follow.
    let mut go = exe[..64].to_vec();
    go.extend_from_slice(b"\xff Go buildinf:\x08\x02");
    go.resize(64 + 32, 0);
    go.extend_from_slice(b"\x64go1.2");
    put("usr/bin/cut-go", &go);
    for exe in ["usr/bin/cut-elf", "usr/bin/cut-go"] {
        use std::os::unix::fs::PermissionsExt;
        let path = root.path().join(exe);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let catalog = Catalog::new();
    let tree = read_dir(root.path(), catalog.wanted(), &Limits::default()).unwrap();
    let result = catalog.run(&tree);
    let notes: Vec<String> = result.notes.iter().map(ToString::to_string).collect();
    let has = |path: &str, what: &str| {
        assert!(
            notes.iter().any(|n| n.contains(path) && n.contains(what)),
            "no note for {path} saying {what:?}: {notes:#?}"
        );
    };
    has("app/bomb.jar", "decompression bomb");
    has("app/deep-1.0.jar", "nested deeper than 8");
    has("app/truncated-1.0.jar", "not a readable zip");
    has("app/huge-1.0.jar", "over the file size limit");
    has("srv/a/package-lock.json", "not valid JSON");
    has("srv/b/yarn.lock", "line 3: expected an entry ending in ':'");
    has("srv/c/pnpm-lock.yaml", "not valid YAML");
    has("srv/d/Cargo.lock", "not valid TOML");
    has("srv/e/composer.lock", "not valid JSON");
    has("srv/f/App.deps.json", "not valid JSON");
    has("usr/bin/cut-go", "cut short");
    has("srv/g/yarn.lock", "none of its 1 entries has a version");
    has("srv/h/Gemfile.lock", "not a Gemfile.lock");
    has("bad-1.0.gemspec", "no Gem::Specification.new block");
    has(
        "srv/i/pnpm-lock.yaml",
        "d@git+https://example.com/d.git#abc",
    );
    // What could be read still was.
    let names: Vec<&str> = result
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::JavaArchive || p.kind == PackageKind::Npm)
        .map(|p| p.name.as_str())
        .collect();
    assert!(names.contains(&"good"), "{names:?}");
    assert!(names.contains(&"ok"), "{names:?}");
}
