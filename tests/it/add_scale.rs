//! `add` of many files in bounded memory: the text output counts what it stages without
//! holding a list of it (only `--json` and `-v` list the paths). Checkpoints and resuming
//! with the queue that feeds the readers are tested in resume.rs and crash.rs.

use crate::support::TestRepo;

/// Two identical repositories, each with tracked files to modify and remove and new ones
/// to add, odd names among them.
fn changed_pair() -> (TestRepo, TestRepo) {
    let make = || {
        let t = TestRepo::new();
        for i in 0..30 {
            t.write(format!("d{}/f {i}.txt", i % 3), format!("{i}\n").as_bytes());
        }
        t.ok(&["add", "-A", "-q"]);
        t.commit("one");
        for i in 0..5 {
            t.append(format!("d0/f {}.txt", i * 3), b"more\n");
        }
        for i in [1, 4, 7] {
            t.remove(format!("d1/f {i}.txt"));
        }
        for i in 0..7 {
            t.write(format!("new/é\tn{i}"), format!("new {i}\n").as_bytes());
        }
        t
    };
    (make(), make())
}

#[test]
fn text_counts_what_json_lists() {
    let (text, json) = changed_pair();
    let out = text.ok(&["add", "-A"]);
    assert!(
        out.starts_with("staged 7 new, 5 modified, 3 removed;"),
        "{out}"
    );
    let v = json.json(&["add", "-A"]);
    let staged = v["staged"].as_array().unwrap();
    let count = |c: &str| staged.iter().filter(|s| s["change"] == c).count();
    assert_eq!(
        (count("added"), count("modified"), count("deleted")),
        (7, 5, 3),
        "{v}"
    );
    assert_eq!(text.status(), json.status(), "the same index either way");
}

#[test]
fn verbose_text_lists_each_path() {
    let (t, _) = changed_pair();
    let out = t.ok(&["add", "-A", "-v"]);
    let adds = out.lines().filter(|l| l.starts_with("add '")).count();
    let removes = out.lines().filter(|l| l.starts_with("remove '")).count();
    assert_eq!((adds, removes), (12, 3), "{out}");
    assert!(
        out.contains("staged 7 new, 5 modified, 3 removed;"),
        "{out}"
    );
}
