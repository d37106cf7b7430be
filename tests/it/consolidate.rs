//! Packs consolidate: gc merges small packs, copying records unchanged; a commit merges them
//! once there are more than `gc.auto` of them; a kill at any instant of a merge loses
//! nothing; readers (a long restore, cat, a process that listed the packs before) never fail
//! while packs merge.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn::hash::ObjectId;
use cairn::pack::Codec;
use cairn::Repository;

use crate::midx::{assert_midx_exact, contents, listed};
use crate::support::*;

/// A repository of `n` commits, each adding one file and changing a shared one, with
/// automatic merging set to `auto`. Returns its holder, root and layers, oldest first.
fn commits(n: usize, auto: &str) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    ok(&root, &["init", "-q"]);
    ok(&root, &["config", "gc.auto", auto]);
    let mut rng = Rng::new(5);
    let mut layers = Vec::new();
    for i in 0..n {
        let sub = root.join(format!("d{}", i % 4));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("n\u{f6} {i}")), text(&mut rng, 200 + i)).unwrap();
        std::fs::write(root.join("shared.csv"), text(&mut rng, 3000)).unwrap();
        ok(&root, &["-q", "add", "-A"]);
        ok(&root, &["-q", "commit", "-m", &format!("c{i}")]);
        layers.push(layer_id(&root, "HEAD"));
    }
    (dir, root, layers)
}

/// How each object is stored: codec and lengths, by id.
fn records(repo: &Repository) -> HashMap<ObjectId, (Codec, u32, u32)> {
    let mut out = HashMap::new();
    for p in repo.store.packs() {
        for e in p.index.entries().flatten() {
            out.insert(e.id, (e.codec, e.raw_len, e.stored_len));
        }
    }
    out
}

fn all_contents(root: &Path, layers: &[String]) -> Vec<BTreeMap<Vec<u8>, Vec<u8>>> {
    let repo = Repository::open(root).unwrap();
    layers.iter().map(|l| contents(&repo, l)).collect()
}

#[test]
fn gc_merges_small_packs_copying_records_unchanged() {
    let (_d, root, layers) = commits(40, "0");
    let before = listed(&root).len();
    assert_eq!(before, 80, "a data and a metadata pack per commit");
    let want = all_contents(&root, &layers);
    let stored = records(&Repository::open(&root).unwrap());
    let gc = json(&root, &["gc"]);
    assert_eq!(gc["packs_merged"], 80, "{gc}");
    assert_eq!(gc["packs_deleted"], 0, "{gc}");
    let after = listed(&root);
    assert!(after.len() <= 2, "{} packs after gc", after.len());
    assert_midx_exact(&root);
    assert!(
        all_contents(&root, &layers) == want,
        "every layer reads back"
    );
    let now = records(&Repository::open(&root).unwrap());
    assert_eq!(now, stored, "every record copied as it was stored");
    ok(&root, &["-q", "verify", "--data"]);
    // A second gc finds nothing to merge.
    let again = json(&root, &["gc"]);
    assert_eq!(again["packs_merged"], 0, "{again}");
    assert_eq!(listed(&root), after);
}

#[test]
fn commits_merge_packs_past_the_threshold() {
    let limit = 6;
    let (_d, root, layers) = commits(0, &limit.to_string());
    let mut layers = layers;
    let mut most = 0;
    for i in 0..30 {
        std::fs::write(root.join(format!("f{i}")), format!("file {i}\n")).unwrap();
        ok(&root, &["-q", "add", "-A"]);
        ok(&root, &["-q", "commit", "-m", &format!("c{i}")]);
        layers.push(layer_id(&root, "HEAD"));
        most = most.max(listed(&root).len());
    }
    assert!(most <= limit + 1, "at most {most} packs after a commit");
    let repo = Repository::open(&root).unwrap();
    let last = contents(&repo, &layers[29]);
    assert_eq!(last.len(), 30);
    assert_eq!(last[&b"f7"[..]], b"file 7\n");
    ok(&root, &["-q", "verify", "--data"]);
}

#[test]
fn gc_auto_is_a_number_and_zero_turns_merging_off() {
    let (_d, root, _) = commits(28, "0");
    assert_eq!(listed(&root).len(), 56, "nothing merged");
    let err = fails(&root, &["config", "gc.auto", "lots"], &[]);
    assert!(err.contains("gc.auto"), "{err}");
    // Set by hand to nonsense: the commit is made, and the error says which setting.
    let settings = root.join(".cairn/settings.toml");
    std::fs::write(&settings, "[gc]\nauto = \"many\"\n").unwrap();
    std::fs::write(root.join("x"), b"x").unwrap();
    ok(&root, &["-q", "add", "x"]);
    let err = fails(&root, &["-q", "commit", "-m", "x"], &[]);
    assert!(
        err.contains("gc.auto") && err.contains("settings.toml"),
        "{err}"
    );
    ok(&root, &["config", "gc.auto", "20"]);
    std::fs::write(root.join("y"), b"y").unwrap();
    ok(&root, &["-q", "add", "y"]);
    ok(&root, &["-q", "commit", "-m", "y"]);
    assert!(listed(&root).len() <= 21, "{} packs", listed(&root).len());
    ok(&root, &["-q", "verify", "--data"]);
}

/// A commit killed while it merges packs (after the new packs, after the first old index
/// went) has committed; nothing is lost, and the next commit merges again. (Kills while the
/// multi-pack index is written are `midx::a_kill_around_the_midx_write_loses_nothing`.)
#[test]
fn a_kill_during_a_merge_loses_nothing() {
    for point in ["merge:after-new-packs", "gc:after-first-delete"] {
        let (_d, root, mut layers) = commits(10, "0");
        ok(&root, &["config", "gc.auto", "20"]);
        std::fs::write(root.join("last"), b"the last file\n").unwrap();
        ok(&root, &["-q", "add", "-A"]);
        let out = run(
            &root,
            &["-q", "commit", "-m", "last"],
            &[("CAIRN_FAILPOINT", point)],
        );
        assert!(!out.status.success(), "{point}: the commit was killed");
        layers.push(layer_id(&root, "HEAD"));
        let repo = Repository::open(&root).unwrap();
        let last = contents(&repo, &layers[10]);
        assert_eq!(last[&b"last"[..]], b"the last file\n", "{point}");
        drop(repo);
        ok(&root, &["-q", "verify", "--data"]);
        std::fs::write(root.join("after"), b"after\n").unwrap();
        ok(&root, &["-q", "add", "-A"]);
        ok(&root, &["-q", "commit", "-m", "after"]);
        assert!(listed(&root).len() <= 21, "{point}: merged again");
        ok(&root, &["-q", "gc"]);
        assert_midx_exact(&root);
        let want = all_contents(&root, &layers);
        assert_eq!(want[10][&b"last"[..]], b"the last file\n");
        ok(&root, &["-q", "verify", "--data"]);
    }
}

/// A reader that listed the packs before they were merged reads half a layer, gc merges
/// every pack it has not opened, and it reads the rest; meanwhile other processes cat and
/// restore in a loop while commits merge packs and gc runs: no read ever fails.
#[test]
fn readers_never_fail_while_packs_merge() {
    let (_d, root, layers) = commits(24, "0");
    let want = all_contents(&root, &layers);
    let repo = Repository::open(&root).unwrap();
    let early = contents(&repo, &layers[3]);
    assert!(early == want[3]);
    ok(&root, &["-q", "gc"]);
    assert!(
        contents(&repo, &layers[23]) == want[23],
        "the stale reader follows"
    );
    drop(repo);

    ok(&root, &["config", "gc.auto", "4"]);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (root, layers, want, stop) = (&root, &layers, &want, &stop);
                s.spawn(move || {
                    let mut rounds = 0;
                    while !stop.load(Ordering::Relaxed) || rounds < 3 {
                        let i = (rounds * 7 + r * 5) % layers.len();
                        let path = format!("d{}/n\u{f6} {i}", i % 4);
                        let spec = format!("{}:{path}", layers[i]);
                        let out = run(root, &["cat", &spec], &[]);
                        assert_success(&out, &["cat", &spec]);
                        assert_eq!(out.stdout, want[i][path.as_bytes()]);
                        let to = tempfile::tempdir().unwrap();
                        let dest = to.path().join("r");
                        let args = ["-q", "restore", &layers[i], "--to", dest.to_str().unwrap()];
                        assert_success(&run(root, &args, &[]), &args);
                        let shared = std::fs::read(dest.join("shared.csv")).unwrap();
                        assert_eq!(shared, want[i][&b"shared.csv"[..]]);
                        rounds += 1;
                    }
                })
            })
            .collect();
        for i in 0..16 {
            std::fs::write(root.join(format!("w{i}")), format!("w{i}\n")).unwrap();
            ok(&root, &["-q", "add", "-A"]);
            ok(&root, &["-q", "commit", "-m", &format!("w{i}")]);
            if i % 5 == 4 {
                ok(&root, &["-q", "gc"]);
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    });
    ok(&root, &["-q", "verify", "--data"]);
}
