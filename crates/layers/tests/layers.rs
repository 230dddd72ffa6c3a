//! Stage ② on layers built by the test: whiteouts, opaque directories, hard links across
//! layers, symlinks that try to leave the root, hostile entry names, every compression,
//! and the guards against truncated, corrupt and bomb layers.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ferret_layers::{Content, FileTree, LayerError, LayerInput, Limits, Wanted, read_layer};
use ferret_testsupport::{Comp, Entry, compress, file, tar};

/// Every file is wanted.
fn everything() -> Wanted {
    let mut b = globset::GlobSetBuilder::new();
    b.add(globset::Glob::new("**").unwrap());
    Wanted {
        globs: b.build().unwrap(),
        probe: None,
    }
}

fn input(index: usize, blob: Vec<u8>) -> LayerInput {
    LayerInput {
        index,
        digest: None,
        stored_size: Some(blob.len() as u64),
        reader: Box::new(std::io::Cursor::new(blob)),
    }
}

/// The final view of `layers` (each a tar and its compression): path → content.
fn view(layers: &[(Vec<u8>, Comp)], limits: &Limits) -> (BTreeMap<String, String>, FileTree) {
    let wanted = everything();
    let mut tree = FileTree::new();
    for (i, (tar, comp)) in layers.iter().enumerate() {
        let diff = read_layer(input(i, compress(tar, *comp)), &wanted, limits, &|_| {}).unwrap();
        tree.apply(diff);
    }
    let files = tree
        .files()
        .map(|f| {
            let body = match f.content {
                Content::Kept(b) | Content::Probed(b) => String::from_utf8_lossy(b).into_owned(),
                Content::TooLarge(n) => format!("<{n} bytes, not read>"),
            };
            (f.path.to_owned(), body)
        })
        .collect();
    (files, tree)
}

#[test]
fn whiteouts_opaque_directories_and_hard_links_apply_in_order() {
    let l0 = tar(&[
        file("etc/a", "a0"),
        file("etc/keep", "k0"),
        file("var/lib/x/one", "1"),
        file("var/lib/x/two", "2"),
        file("usr/lib/os-release", "ID=debian\n"),
        Entry::Symlink("etc/os-release".into(), "../usr/lib/os-release".into()),
    ]);
    let l1 = tar(&[
        file("etc/.wh.a", ""),
        file("var/lib/x/.wh..wh..opq", ""),
        file("var/lib/x/three", "3"),
        // A hard link keeps the content alive after its target is whited out.
        file("etc/.wh.os-release", ""),
        Entry::Hardlink("etc/os-release".into(), "usr/lib/os-release".into()),
        file("usr/lib/.wh.os-release", ""),
    ]);
    let l2 = tar(&[file("etc/a", "a2")]);
    for comps in [
        [Comp::Gzip, Comp::Zstd, Comp::None],
        [Comp::None, Comp::Gzip, Comp::Zstd],
    ] {
        let (files, _) = view(
            &[
                (l0.clone(), comps[0]),
                (l1.clone(), comps[1]),
                (l2.clone(), comps[2]),
            ],
            &Limits::default(),
        );
        let want: BTreeMap<String, String> = [
            ("etc/a", "a2"),
            ("etc/keep", "k0"),
            ("etc/os-release", "ID=debian\n"),
            ("var/lib/x/three", "3"),
        ]
        .into_iter()
        .map(|(p, b)| (p.to_owned(), b.to_owned()))
        .collect();
        assert_eq!(files, want, "{comps:?}");
    }
}

#[test]
fn hostile_names_are_noted_and_never_applied() {
    let l0 = tar(&[
        file("ok", "fine"),
        Entry::Raw("/etc/abs".into(), b"x".to_vec()),
        Entry::Raw("../../etc/dotdot".into(), b"x".to_vec()),
    ]);
    let (files, tree) = view(&[(l0, Comp::None)], &Limits::default());
    assert_eq!(files.keys().collect::<Vec<_>>(), ["ok"]);
    let notes = format!("{:?}", tree.notes);
    assert!(notes.contains("absolute path"), "{notes}");
    assert!(notes.contains("climbs out"), "{notes}");
}

#[test]
fn symlinks_resolve_inside_the_root_or_not_at_all() {
    let l0 = tar(&[
        file("etc/real", "r"),
        Entry::Symlink("etc/up".into(), "../../../../etc/real".into()),
        Entry::Symlink("etc/abs".into(), "/etc/real".into()),
        Entry::Symlink("loop/a".into(), "b".into()),
        Entry::Symlink("loop/b".into(), "a".into()),
    ]);
    let (_, tree) = view(&[(l0, Comp::None)], &Limits::default());
    // `..` past the root stays at the root, as the kernel does inside a chroot.
    assert_eq!(tree.resolve("etc/up").as_deref(), Some("etc/real"));
    assert_eq!(tree.resolve("etc/abs").as_deref(), Some("etc/real"));
    assert_eq!(tree.resolve("loop/a"), None);
}

#[test]
fn truncated_and_corrupt_layers_fail_naming_the_layer() {
    let wanted = everything();
    let body = tar(&[file("etc/a", &"a".repeat(1 << 16))]);
    let gz = compress(&body, Comp::Gzip);
    let cut = gz[..gz.len() / 2].to_vec();
    let e = read_layer(input(3, cut), &wanted, &Limits::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().starts_with("layer 3"), "{e}");
    let mut bad = body.clone();
    bad[148..156].copy_from_slice(b"garbage!"); // the header checksum
    let e = read_layer(input(4, bad), &wanted, &Limits::default(), &|_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            LayerError::Corrupt { index: 4, .. } | LayerError::Io { index: 4, .. }
        ),
        "{e}"
    );
}

#[test]
fn a_decompression_bomb_is_stopped_by_the_ratio_guard() {
    let wanted = everything();
    let huge = tar(&[file("zeros", &"\0".repeat(64 << 20))]);
    let blob = compress(&huge, Comp::Gzip);
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = read_layer(input(0, blob), &wanted, &limits, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("layer 0"), "{e}");
}

#[test]
fn files_over_the_size_cap_are_kept_as_a_size_not_read() {
    let l0 = tar(&[file("big", &"x".repeat(4096)), file("small", "s")]);
    let limits = Limits {
        max_file_size: 1024,
        ..Limits::default()
    };
    let (files, _) = view(&[(l0, Comp::None)], &limits);
    assert_eq!(files["big"], "<4096 bytes, not read>");
    assert_eq!(files["small"], "s");
}
