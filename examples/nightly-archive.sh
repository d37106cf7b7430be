#!/bin/sh
# Archive a dataset into a cairn repository kept apart from it, once a night.
#
#   nightly-archive.sh DATASET REPOSITORY [KEEP]
#
# Stages every change of DATASET (a directory cairn never writes into), commits a layer
# when something changed, keeps the newest KEEP layers (default 3), reclaims what the
# forgotten layers alone held, and checks every stored byte. Run it from cron; run it
# again after a crash or a kill: a killed add resumes where it stopped, and every other
# step leaves the repository as it was or as it should be.
#
# It uses only cairn's documented contract: --repo/--work-tree (CAIRN_DIR and
# CAIRN_WORK_TREE work too), --json documents (docs/JSON.md), and exit codes: 0 success,
# 1 damage found (verify), 2 error. It exits with the same codes. CAIRN names the binary (default: cairn).

set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: nightly-archive.sh DATASET REPOSITORY [KEEP]" >&2
    exit 2
fi
DATASET=$1
REPOSITORY=$2
KEEP=${3:-3}
CAIRN=${CAIRN:-cairn}

say() { echo "nightly: $*" >&2; }

# Every command of the night runs against the same repository and dataset.
cairn() { "$CAIRN" --repo "$REPOSITORY" --work-tree "$DATASET" --no-progress "$@"; }

# The first night creates the repository.
if [ ! -e "$REPOSITORY" ]; then
    say "creating $REPOSITORY"
    "$CAIRN" --repo "$REPOSITORY" init --json >/dev/null || exit 2
fi

say "adding"
cairn add -A --json >/dev/null || { say "add failed"; exit 2; }

say "committing"
message="nightly archive $(date -u +%Y-%m-%dT%H:%M:%SZ)"
# --skip-if-unchanged exits 0 with "committed": false when the dataset did not change.
out=$(cairn commit --skip-if-unchanged -m "$message" --json 2>/dev/null)
status=$?
if [ $status -eq 0 ] && printf '%s' "$out" | grep -q '"committed": *false'; then
    say "nothing changed since the last night"
fi
if [ $status -ne 0 ]; then
    say "commit failed: $out"
    exit 2
fi

say "keeping the last $KEEP layers"
cairn forget --keep-last "$KEEP" --keep-tag --json >/dev/null || { say "forget failed"; exit 2; }

# The forgotten layers stay reachable through the reflog for gc's grace period, so a
# mistaken forget can be undone; a nightly job that wants the space back at once would
# add --prune=now here.
say "collecting garbage"
cairn gc --json >/dev/null || { say "gc failed"; exit 2; }

say "verifying"
cairn verify --data --json >/dev/null
status=$?
case $status in
    0) say "done" ;;
    1) say "verify found damage: run \`cairn verify --data\` to see it" ;;
    *) say "verify failed" ;;
esac
exit $status
