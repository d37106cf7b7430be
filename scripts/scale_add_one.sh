#!/bin/bash
# One changed file among a million: `add -A` and `commit` of cairn (two builds) beside git,
# on copies of one generated tree, the tools' order rotating every round. Issue 17; the
# figures in docs/BENCHMARKS.md ("One-file add without the walk") came from it.
#
#   BEFORE=path/to/old/cairn AFTER=path/to/new/cairn [ROUNDS=5] [FILES=1000000] \
#     scripts/scale_add_one.sh DIR
#
# DIR must not exist; it takes about 9 GB at a million files (two copies of the tree and
# git's loose objects). Prints one CSV line per command: step,seconds,peak RSS in KB.
set -euo pipefail
DIR=$1
ROUNDS=${ROUNDS:-5}
FILES=${FILES:-1000000}
BEFORE=$(realpath "$BEFORE")
AFTER=$(realpath "$AFTER")
HERE=$(dirname "$(realpath "$0")")
W=$DIR/cairn
G=$DIR/git
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

timed() { # LABEL DIR COMMAND...: runs COMMAND in DIR, prints LABEL,seconds,KB
  local label=$1 dir=$2
  shift 2
  (cd "$dir" && /usr/bin/time -f %e,%M -o "$OUT" "$@")
  echo "$label,$(tail -1 "$OUT")"
}

python3 "$HERE/gen-data.py" small "$W" --files "$FILES" --dirs $((FILES / 1000)) \
  --min 64 --max 512 --seed 1000
(cd "$W" && "$AFTER" init -q && "$AFTER" add -A -q && "$AFTER" commit -q -m base)
cp -a "$W" "$G"
rm -rf "$G/.cairn"
(cd "$G" && git init -q && git config gc.auto 0 && git config user.name bench &&
  git config user.email bench@example.com && git add -A && git commit -q -m base)

cairn_round() { # LABEL BINARY
  echo "line $RANDOM" >>"$W/d000/f000000.bin"
  timed "$1_add" "$W" "$2" add -A -q
  timed "$1_commit" "$W" "$AFTER" commit -q -m change
}
git_round() {
  echo "line $RANDOM" >>"$G/d000/f000000.bin"
  timed git_add "$G" git add -A
  timed git_commit "$G" git commit -q -m change
}
for r in $(seq 1 "$ROUNDS"); do
  case $((r % 3)) in
  0) cairn_round before "$BEFORE"; cairn_round after "$AFTER"; git_round ;;
  1) cairn_round after "$AFTER"; git_round; cairn_round before "$BEFORE" ;;
  2) git_round; cairn_round before "$BEFORE"; cairn_round after "$AFTER" ;;
  esac
done
