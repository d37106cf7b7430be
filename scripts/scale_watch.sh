#!/bin/bash
# The file-system monitor at a million files (issue 17): no-op `status` and a one-file
# `add -A` + `commit` with and without `cairn watch`, beside git on the same tree, the order
# alternating every round. The figures in docs/BENCHMARKS.md ("A file-system monitor") came
# from it.
#
#   CAIRN=target/release/cairn [ROUNDS=5] [ONLY=status|one] scripts/scale_watch.sh TREE GIT_DIR
#
# TREE: a committed cairn worktree (a copy: the one-file steps change and commit files in
# it). GIT_DIR: a git repository of the same tree (`GIT_DIR=... GIT_WORK_TREE=TREE git add
# -A`, `.cairn/` excluded in its info/exclude), committed. Prints one CSV line per command:
# step,seconds,peak RSS in KB (/usr/bin/time's %e and %M, as `-v` reports them).
set -euo pipefail
TREE=$(realpath "$1")
export GIT_DIR=$(realpath "$2") GIT_WORK_TREE=$TREE
ROUNDS=${ROUNDS:-5}
CAIRN=$(realpath "${CAIRN:-target/release/cairn}")
OUT=$(mktemp)
trap '"$CAIRN" -C "$TREE" watch stop -q || true; rm -f "$OUT"' EXIT
cd "$TREE"

timed() { # LABEL COMMAND...: prints LABEL,seconds,KB
  local label=$1
  shift
  /usr/bin/time -f %e,%M -o "$OUT" "$@" >/dev/null
  echo "$label,$(tail -1 "$OUT")"
}

watch_on() { # starts the monitor; the first status after it checks every file (untimed)
  "$CAIRN" watch start -q
  "$CAIRN" status >/dev/null
}

change() { # appends to the first file of directory dN
  local n=$1
  echo "change $RANDOM" >>"d$n/f$(printf %06d "$n").bin"
}

cairn_status() { timed status_nowatch "$CAIRN" status; }
git_status() { timed status_git git status; }
watch_status() {
  watch_on
  timed status_watch "$CAIRN" status
  "$CAIRN" watch stop -q
}

cairn_one() { # $1: round
  change $((100 + $1))
  timed add_one_nowatch "$CAIRN" add -A -q
  timed commit_one_nowatch "$CAIRN" commit -q -m "nowatch $1"
}
git_one() {
  change $((300 + $1))
  timed add_one_git git add -A
  timed commit_one_git git -c user.name=b -c user.email=b@b commit -q -m "git $1"
}
watch_one() {
  watch_on
  change $((500 + $1))
  timed add_one_watch "$CAIRN" add -A -q
  timed commit_one_watch "$CAIRN" commit -q -m "watch $1"
  "$CAIRN" watch stop -q
}

"$CAIRN" watch stop -q || true
# The order rotates every round.
for r in $(seq 1 "$ROUNDS"); do
  [[ ${ONLY:-status} == status ]] || break
  case $((r % 3)) in
    1) cairn_status; git_status; watch_status ;;
    2) git_status; watch_status; cairn_status ;;
    0) watch_status; cairn_status; git_status ;;
  esac
done
for r in $(seq 1 "$ROUNDS"); do
  [[ ${ONLY:-one} == one ]] || break
  case $((r % 3)) in
    1) cairn_one "$r"; git_one "$r"; watch_one "$r" ;;
    2) git_one "$r"; watch_one "$r"; cairn_one "$r" ;;
    0) watch_one "$r"; cairn_one "$r"; git_one "$r" ;;
  esac
done
