//! The steps of a sequence (`Op`), what they act on (odd names, link targets, modes, fail
//! points) and the proptest strategies that make them; `Known` says which known defects
//! the steps may reach.

use proptest::prelude::*;

use crate::support;

/// Directory and file names are disjoint apart from `x`, which is both: a file `x` in
/// one state, a directory `x/` of files in another.
pub(super) const DIRS: &[&[u8]] = &[
    b"",
    b"d",
    b"d/sub dir",
    b"-lead",
    b"nl\ndir",
    b"\xc3(bad",
    b"x",
];
pub(super) const NAMES: &[&[u8]] = &[
    b"a",
    b"b c",
    b"-f",
    b"--",
    b"new\nline",
    b"\xff\xfe",
    b"e.txt",
    b" sp",
    b"star*?",
    b"x",
];
pub(super) const LINK_TARGETS: &[&[u8]] = &[
    b"a",
    b"../outside",
    b"/etc/passwd",
    b"d/sub dir",
    b"missing",
    b"\xff",
    b"-lead/a",
    b"nl\nx",
];
/// Modes a umask of 022 leaves alone (set-id bits are item 13's business).
pub(super) const MODES: &[u32] = &[0o644, 0o755, 0o600, 0o700, 0o444, 0o640];
pub(super) const TAGS: &[&str] = &["v1", "t-2", "x.y"];
/// The one file of the directory beside the worktree that symlinks point at.
pub(super) const OUTSIDE: &[u8] = b"outside the worktree\n";

pub(super) fn path_of(i: usize) -> Vec<u8> {
    let (dir, name) = (DIRS[i % DIRS.len()], NAMES[i / DIRS.len() % NAMES.len()]);
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Where worktree edits go: one time in three among a few paths that clash (the file `x`
/// and the directory `x/`) or are shared by most sequences, otherwise anywhere in the pool
/// (`path_of(i / 3)`).
pub(super) fn write_path(i: usize) -> Vec<u8> {
    const HOT: &[&[u8]] = &[b"x", b"x/a", b"a", b"d/a"];
    if i.is_multiple_of(3) {
        HOT[i / 3 % HOT.len()].to_vec()
    } else {
        path_of(i / 3)
    }
}

/// A file path of the pool (perhaps absent), or one time in four a directory.
pub(super) fn pool_path(i: usize) -> Vec<u8> {
    if i.is_multiple_of(4) {
        DIRS[1 + i / 4 % (DIRS.len() - 1)].to_vec()
    } else {
        path_of(i / 4)
    }
}

#[derive(Clone, Debug)]
pub(super) enum Content {
    Small(Vec<u8>),
    /// Pseudo-random bytes: several chunks at the test's 1 KiB average.
    Big {
        seed: u64,
        len: usize,
    },
}

impl Content {
    pub(super) fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Small(b) => b.clone(),
            Content::Big { seed, len } => support::random_bytes(*seed, *len),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum KillCmd {
    Add,
    Commit,
    Checkout,
    ResetHard,
    Gc,
}

/// One step. Numbers pick among what exists when the step runs (paths, layers, refs), so
/// every sequence means something whatever came before it.
#[derive(Clone, Debug)]
pub(super) enum Op {
    Write {
        path: usize,
        content: Content,
        mode: usize,
    },
    Link {
        path: usize,
        target: usize,
    },
    Delete {
        path: usize,
    },
    Chmod {
        path: usize,
        mode: usize,
    },
    /// A tracked directory replaced by a symlink (`CAIRN_MODEL_KNOWN=dir-symlink`).
    DirLink {
        dir: usize,
        target: usize,
    },
    Add {
        path: Option<usize>,
    },
    Rm {
        path: usize,
        cached: bool,
        force: bool,
    },
    Commit,
    /// `add -A` then `commit`, the usual pair.
    Snapshot,
    Checkout {
        target: usize,
        force: bool,
    },
    /// `checkout LAYER [-f] -- PATH`: a file or directory put back from a layer.
    CheckoutPaths {
        target: usize,
        path: usize,
        force: bool,
    },
    Reset {
        target: usize,
        hard: bool,
    },
    Tag {
        name: usize,
        target: usize,
        delete: bool,
    },
    Gc,
    /// `restore LAYER [PATH] --to DIR` of any layer ever made, whole or one path.
    Restore {
        layer: usize,
        path: Option<usize>,
    },
    /// `cat LAYER:PATH [--range S-E]` of a file in a live layer.
    /// `diff A B` of two live layers: the paths that differ.
    Diff {
        a: usize,
        b: usize,
    },
    Cat {
        layer: usize,
        path: usize,
        range: Option<(usize, usize)>,
    },
    /// SIGKILL after `delay_us`, or, with `point`, an abort at one of the command's fail
    /// points (`CAIRN_FAILPOINT`, see [`fail_points`]).
    Kill {
        cmd: KillCmd,
        target: usize,
        delay_us: u64,
        point: Option<usize>,
    },
}

/// The fail points each killed command passes (as in tests/crash.rs). A point the run does
/// not reach (a gc with nothing to do) lets the command finish.
pub(super) fn fail_points(cmd: KillCmd) -> &'static [&'static str] {
    match cmd {
        KillCmd::Add => &[
            "pack:before-rename",
            "pack:before-index",
            "pack:after-index",
            "atomic:before-rename",
            "add:before-index",
        ],
        KillCmd::Commit => &[
            "pack:before-rename",
            "pack:before-index",
            "pack:after-index",
            "commit:before-ref",
            "atomic:before-rename@2",
            "commit:before-index",
        ],
        KillCmd::Checkout => &[
            "checkout:after-write@1",
            "checkout:before-head",
            "atomic:before-rename",
            "checkout:before-index",
        ],
        KillCmd::ResetHard => &["atomic:before-rename"],
        KillCmd::Gc => &[
            "gc:after-new-packs",
            "pack:before-index",
            "pack:after-index",
            "gc:after-first-delete",
        ],
    }
}

pub(super) fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        2 => Just(Content::Small(Vec::new())),
        5 => prop::collection::vec(any::<u8>(), 0..48).prop_map(Content::Small),
        2 => (any::<u64>(), 1usize..24_000).prop_map(|(seed, len)| Content::Big { seed, len }),
    ]
}

pub(super) fn kill_cmd() -> impl Strategy<Value = KillCmd> {
    prop_oneof![
        Just(KillCmd::Add),
        Just(KillCmd::Commit),
        Just(KillCmd::Checkout),
        Just(KillCmd::ResetHard),
        Just(KillCmd::Gc),
    ]
}

/// Any number: steps reduce it modulo what exists when they run.
fn ix() -> std::ops::Range<usize> {
    0..usize::MAX / 2
}

pub(super) fn op(known: &Known) -> BoxedStrategy<Op> {
    let base = prop_oneof![
        12 => (ix(), content(), ix())
            .prop_map(|(path, content, mode)| Op::Write { path, content, mode }),
        3 => (ix(), ix()).prop_map(|(path, target)| Op::Link { path, target }),
        3 => ix().prop_map(|path| Op::Delete { path }),
        2 => (ix(), ix()).prop_map(|(path, mode)| Op::Chmod { path, mode }),
        8 => prop::option::weighted(0.3, ix()).prop_map(|path| Op::Add { path }),
        3 => (ix(), any::<bool>(), any::<bool>())
            .prop_map(|(path, cached, force)| Op::Rm { path, cached, force }),
        3 => Just(Op::Commit),
        5 => Just(Op::Snapshot),
        4 => (ix(), any::<bool>()).prop_map(|(target, force)| Op::Checkout { target, force }),
        2 => (ix(), ix(), any::<bool>())
            .prop_map(|(target, path, force)| Op::CheckoutPaths { target, path, force }),
        2 => (ix(), any::<bool>()).prop_map(|(target, hard)| Op::Reset { target, hard }),
        2 => (ix(), ix(), any::<bool>())
            .prop_map(|(name, target, delete)| Op::Tag { name, target, delete }),
        2 => Just(Op::Gc),
        3 => (ix(), prop::option::weighted(0.4, ix()))
            .prop_map(|(layer, path)| Op::Restore { layer, path }),
        2 => (ix(), ix(), prop::option::of((ix(), ix())))
            .prop_map(|(layer, path, range)| Op::Cat { layer, path, range }),
        2 => (ix(), ix()).prop_map(|(a, b)| Op::Diff { a, b }),
        3 => (kill_cmd(), ix(), 0u64..25_000, prop::option::of(ix())).prop_map(
            |(cmd, target, delay_us, point)| Op::Kill { cmd, target, delay_us, point }
        ),
    ];
    if !known.dir_symlink {
        return base.boxed();
    }
    let dir_link = (ix(), ix()).prop_map(|(dir, target)| Op::DirLink { dir, target });
    prop_oneof![25 => base, 1 => dir_link].boxed()
}

/// Known defects turned back on (see the top of the file).
#[derive(Clone, Debug, Default)]
pub(super) struct Known {
    pub dir_symlink: bool,
    pub checkout_kill: bool,
    pub non_utf8: bool,
    pub file_now_dir: bool,
    pub checkout_dir: bool,
}

impl Known {
    pub(super) fn from_env() -> Known {
        Known {
            dir_symlink: Known::on("dir-symlink"),
            checkout_kill: Known::on("checkout-kill"),
            non_utf8: Known::on("non-utf8"),
            file_now_dir: Known::on("file-now-dir"),
            checkout_dir: Known::on("checkout-dir"),
        }
    }

    /// Every defect named here is fixed, so its steps run by default. One stays opt-in:
    /// `checkout-kill` finishes a killed `checkout -f` with a plain `checkout`, which (by
    /// design) carries local edits made before the `-f` over instead of discarding them.
    pub(super) fn on(name: &str) -> bool {
        if name != "checkout-kill" {
            return true;
        }
        let v = std::env::var("CAIRN_MODEL_KNOWN").unwrap_or_default();
        v.split(',').any(|s| s.trim() == name || s.trim() == "all")
    }
}
