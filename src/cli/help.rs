//! What `--help` adds to clap's generated text: an examples section for every command.
//! Kept apart from the argument types so that the examples read as one page.

use clap::{Command, CommandFactory};

use super::args::Cli;

/// The command line with every subcommand's examples attached.
pub(crate) fn command() -> Command {
    Cli::command().mut_subcommands(|sub| {
        let text = examples(sub.get_name()).map(|e| format!("Examples:\n{e}"));
        match text {
            Some(t) => sub.after_help(t),
            None => sub,
        }
    })
}

/// The examples of the command `name`: a command line and what it does, per line.
fn examples(name: &str) -> Option<&'static str> {
    Some(match name {
        "init" => {
            "  cairn init                      a repository in the current directory
  cairn init data --hash sha256   one in data/, with SHA-256 ids
  cairn init --chunk-size 1M      larger chunks, for a dataset of large files"
        }
        "add" => {
            "  cairn add data/ notes.md        stage a directory and a file
  cairn add -A                    stage every change, deletions included
  cairn add -n -A                 show what would be staged
  cairn add -f build/out.bin      stage a file an ignore rule excludes
  pg_dump db | cairn add --stdin db.sql   stage a stream as the file db.sql"
        }
        "rm" => {
            "  cairn rm old.csv                stop tracking a file and delete it
  cairn rm --cached secrets.env   stop tracking it but keep the file
  cairn rm -r scratch/            a directory and everything below it"
        }
        "status" => {
            "  cairn status                    staged, unstaged and untracked changes
  cairn status --short            git's two-column format
  cairn status -z | xargs -0 ...  exact names, each ended by NUL"
        }
        "commit" => {
            "  cairn commit -m \"raw scans\"     a new layer from what is staged
  cairn commit -m fix --author \"Ada <ada@example.org>\"
  cairn commit -b experiment -m x start the line `experiment` at the new layer
  cairn commit --skip-if-unchanged -m nightly   exit 0 and write nothing if nothing changed"
        }
        "log" => {
            "  cairn log                       the history of HEAD, newest first
  cairn log --oneline -5          the last five layers, one line each
  cairn log --stat -- data/a.csv  the layers that changed a file, with their changes
  cairn log --since 2.weeks.ago --format '%h %s'"
        }
        "show" => {
            "  cairn show                      HEAD: its metadata and changed paths
  cairn show HEAD~2 --stat        an older layer, with sizes
  cairn show v1 -p                a tagged layer, with its patch"
        }
        "ls" => {
            "  cairn ls                        the top of HEAD's tree
  cairn ls HEAD~1 data/ -l        a directory of an older layer, with modes and sizes
  cairn ls v1 -r                  every file of a tagged layer"
        }
        "mount" => {
            "  cairn mount /mnt/data           every line, tag and layer under /mnt/data; Ctrl-C unmounts
  cairn mount --layer v1 /mnt/v1  one layer at the root
  cairn mount --daemon /mnt/data  return once mounted, serve in the background
  cairn mount --cache-size 1G /mnt/data   keep more verified chunks in memory"
        }
        "umount" => {
            "  cairn umount /mnt/data          unmount it; the serving cairn exits"
        }
        "watch" => {
            "  cairn watch start               watch this worktree; status and add check only what changed
  cairn watch status --json       whether a monitor runs, its pid and watched directories
  cairn watch stop                end it; status and add check every file again"
        }
        "cat" => {
            "  cairn cat HEAD:data/a.csv                  a file of a layer
  cairn cat HEAD~3:big.bin --range 0-1023    its first KiB, reading only those chunks
  cairn cat v1:log.txt --range -100          its last 100 bytes"
        }
        "diff" => {
            "  cairn diff                      the worktree against the index
  cairn diff --cached             the index against HEAD: what commit would write
  cairn diff HEAD~1 HEAD --stat   two layers, one line per file
  cairn diff -p -- data/a.csv     the text patch of one file"
        }
        "checkout" => {
            "  cairn checkout main             move to a line (HEAD follows it)
  cairn checkout HEAD~2           move to a layer (HEAD is detached)
  cairn checkout -b fix HEAD~1    start the line `fix` there and move to it
  cairn checkout v1 -- data/      bring paths back from a layer, leaving HEAD"
        }
        "restore" => {
            "  cairn restore v1 --to ../old            a whole layer, into an empty directory
  cairn restore HEAD~1 data/ --to /tmp/data  some paths of a layer"
        }
        "tag" => {
            "  cairn tag v1                    tag HEAD
  cairn tag v0.9 HEAD~4           tag an older layer
  cairn tag --list                list tags
  cairn tag -d v0.9               delete a tag"
        }
        "verify" => {
            "  cairn verify                    check structure: every object reachable is there
  cairn verify --data             read and re-hash every stored byte
  cairn verify --repair           rebuild damaged pack indexes, then check
  cairn verify --remote origin    check what a remote holds"
        }
        "reset" => {
            "  cairn reset HEAD~1              move the line back, keep the worktree (--mixed)
  cairn reset --soft HEAD~1       move the line back, keep the index too
  cairn reset --hard HEAD@{1}     undo the last move of HEAD, worktree included
  cairn reset -- data/a.csv       unstage a path"
        }
        "gc" => {
            "  cairn gc -n                     show what would be removed
  cairn gc                        remove what nothing references (recent history kept)
  cairn gc --prune=now            also drop layers only the reflog still holds"
        }
        "forget" => {
            "  cairn forget --keep-last 3 -n   show which layers would be kept, and why
  cairn forget --keep-daily 7 --keep-weekly 4   a week of days, then a month of weeks
  cairn forget --keep-last 10 --keep-tag --line nightly   another line; tags kept
  cairn gc --prune=now            then reclaim the forgotten layers' data at once"
        }
        "stats" => {
            "  cairn stats                     layers, files, dedup and compression
  cairn stats --json              the same as a JSON document"
        }
        "completions" => {
            "  cairn completions bash > /etc/bash_completion.d/cairn
  cairn completions zsh > \"${fpath[1]}/_cairn\""
        }
        "prove" => {
            "  cairn prove HEAD:data/a.csv > proof.json                  a file is in HEAD
  cairn prove v1:big.bin --range 100-200 > proof.json        and these bytes are its bytes"
        }
        "verify-proof" => {
            "  cairn verify-proof proof.json                 check a proof; no repository needed
  cairn verify-proof proof.json --root <LAYER_ID> -o bytes.bin"
        }
        "remote" => {
            "  cairn remote add origin s3://bucket/datasets --endpoint http://127.0.0.1:3900
  cairn remote add backup file:///mnt/backup/scans
  cairn remote -v                 list remotes with endpoints
  cairn remote remove backup"
        }
        "push" => {
            "  cairn push                      HEAD's line to origin (or the only remote)
  cairn push backup v1            a tag to the remote `backup`
  cairn push --tags               every tag the remote lacks (differing ones are refused)
  cairn push --all --json         every line and tag, each reference's result in JSON
  cairn push --force              HEAD's line after `forget` rewrote its history"
        }
        "pull" => {
            "  cairn pull                      HEAD's line from origin, worktree moved forward
  cairn pull backup main          the line `main` from `backup`"
        }
        "clone" => {
            "  cairn clone s3://bucket/datasets scans --endpoint http://127.0.0.1:3900
  cairn clone file:///mnt/backup/scans --layer v1       only what one layer needs
  cairn clone s3://bucket/datasets -- data/labels/      only some paths"
        }
        "line" => {
            "  cairn line                      list lines, the current one marked with *
  cairn line experiment           start a line at HEAD
  cairn line fix HEAD~2           start a line at an older layer
  cairn line -m old new           rename a line
  cairn line -d experiment        delete a line whose layers another ref reaches"
        }
        "reflog" => {
            "  cairn reflog                    every move of HEAD, newest first
  cairn reflog main               every move of the line `main`
  cairn checkout HEAD@{2}         go back to where HEAD was two moves ago"
        }
        "mv" => {
            "  cairn mv a.csv b.csv            rename a tracked file
  cairn mv data/raw data/archive  move a directory and everything below it
  cairn mv a.csv b.csv notes/     move files into a directory"
        }
        "config" => {
            "  cairn config user.name \"Ada Lovelace\"              for this repository
  cairn config --global user.email ada@example.org    for every repository of this user
  cairn config --list                                 what is set, and where"
        }
        "export" => {
            "  cairn export v1 -o v1.tar                    a layer as a tar file
  cairn export HEAD data/ -o data.tar.zst       some paths, zstd-compressed (by the name)
  cairn export HEAD~2 | tar -x -C /tmp/old      stream it into tar"
        }
        "import" => {
            "  cairn import scans.tar.gz                    stage a tarball's members (gzip or zstd too)
  curl -s https://example.org/d.tar | cairn import - --prefix raw/
  cairn import old.tar && cairn commit -m \"from old.tar\""
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of `cmd` and its subcommands has a description, and every command
    /// below the top has one too.
    fn undocumented(cmd: &Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_name() != "help" {
                out.push(format!("{p} (the command)"));
            }
            undocumented(sub, &p, out);
        }
    }

    #[test]
    fn every_argument_and_command_is_described() {
        let mut missing = Vec::new();
        undocumented(&command(), "cairn", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }

    #[test]
    fn every_command_has_examples() {
        let cmd = command();
        let without: Vec<&str> = cmd
            .get_subcommands()
            .map(Command::get_name)
            .filter(|n| *n != "help" && examples(n).is_none())
            .collect();
        assert!(without.is_empty(), "no examples: {without:?}");
    }

    #[test]
    fn examples_use_the_commands_they_document() {
        let cmd = command();
        for sub in cmd.get_subcommands() {
            let Some(text) = examples(sub.get_name()) else {
                continue;
            };
            for line in text.lines() {
                // A pipeline may come first: the command follows the first `cairn`.
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "cairn");
                let at = at.unwrap_or_else(|| panic!("no cairn in {line}"));
                assert!(
                    cmd.find_subcommand(words[at + 1]).is_some(),
                    "{}: {line}",
                    sub.get_name()
                );
            }
        }
    }
}
