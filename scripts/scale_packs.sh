#!/usr/bin/env bash
# cairn on a repository of thousands of packs against the same repository in a few packs.
#
#   scripts/scale_packs.sh                  # 1,000 commits of three small files: ~2,000 packs
#   COMMITS=10000 AUTO=1 scripts/scale_packs.sh   # pack counts of 10,000 commits, merging on
#
# The "many" repository is made by COMMITS commits, each adding one new file and changing two
# (`add` of the three paths, then `commit`), with merging after commits turned off
# (`gc.auto 0`): every commit leaves a data pack and a metadata pack. The "few" repository is
# a copy of it after `cairn gc`, which merges the small packs: the same layers, the same
# objects. Then each command runs RUNS times on each, alternating, and the table gives the
# median wall time, the ratio many/few of the medians, and the peak RSS (`/usr/bin/time`).
# With AUTO=1 the commits run with merging on (the default threshold) and only the pack
# counts are reported (after the commits, and after a gc).
#
# Environment (all optional):
#   COMMITS=1000    commits made
#   RUNS=9          timed runs of each command on each repository
#   AUTO=0          1: merge after commits (the default gc.auto) and report pack counts only
#   WORK=...        where the repositories go (default: a new directory under /tmp, deleted
#                   at the end unless KEEP=1)
#   CAIRN_BIN=...   the cairn binary (default: this checkout's release build, built if absent)
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
COMMITS=${COMMITS:-1000}
RUNS=${RUNS:-9}
AUTO=${AUTO:-0}
KEEP=${KEEP:-0}
BIN=${CAIRN_BIN:-$REPO/target/release/cairn}
if [[ ! -x $BIN ]]; then
    (cd "$REPO" && CARGO_INCREMENTAL=0 cargo build --release --quiet)
fi
WORK=${WORK:-$(mktemp -d /tmp/cairn-scale-packs.XXXXXX)}
mkdir -p "$WORK"
if [[ $KEEP != 1 ]]; then
    trap 'rm -rf "$WORK"' EXIT
fi
many=$WORK/many
few=$WORK/few

cairn() { "$BIN" "$@"; }
now_ms() { echo "${EPOCHREALTIME/./}" | sed 's/...$//'; }
packs_in() { find "$1/.cairn/packs" -name '*.pack' | wc -l; }

# COMMITS commits of one new file and two changed ones, in $1.
make_history() {
    local dir=$1 i d
    mkdir -p "$dir"
    cd "$dir"
    cairn init -q
    if [[ $AUTO != 1 ]]; then
        cairn config gc.auto 0 >/dev/null
    fi
    for ((i = 1; i <= COMMITS; i++)); do
        d=d$((i % 100))
        mkdir -p "$d"
        printf 'id,value\n%d,%d\n%d,%d\n' "$i" $((i * 7)) $((i + 1)) $((i * 13)) >"$d/f$i.csv"
        printf 'notes of commit %d in %s\n' "$i" "$d" >"$d/notes.txt"
        printf 'last commit %d\n' "$i" >shared.txt
        cairn -q add "$d/f$i.csv" "$d/notes.txt" shared.txt
        cairn -q commit -m "commit $i"
    done
}

start=$(now_ms)
make_history "$many"
made=$(($(now_ms) - start))
echo "made $COMMITS commits in $((made / 1000)) s: $(packs_in "$many") packs"
if [[ $AUTO == 1 ]]; then
    start=$(now_ms)
    (cd "$many" && cairn -q gc)
    echo "after gc ($(($(now_ms) - start)) ms): $(packs_in "$many") packs"
    exit 0
fi
cp -a "$many" "$few"
start=$(now_ms)
(cd "$few" && cairn -q gc)
echo "gc merged them in $(($(now_ms) - start)) ms: $(packs_in "$few") packs"

mid=$((COMMITS / 2))
old_file="d$((mid % 100))/f$mid.csv"
# name|cairn arguments; "commit one" writes a new file (untimed), then adds and commits it.
commands=(
    "status|status"
    "log -1|log -1"
    "cat (a file of commit $mid)|cat HEAD:$old_file"
    "cat (layer HEAD~$mid)|cat HEAD~$mid:shared.txt"
    "ls HEAD|ls HEAD"
    "add + commit of one file|commit one"
    "verify --data|verify --data"
)

declare -A times rss
n=0
peak=0
# Runs cairn with the arguments given, keeping the largest peak RSS seen in $peak (KiB).
timed() {
    /usr/bin/time -f %M -o "$WORK/rss" "$BIN" "$@" >/dev/null
    local kib
    kib=$(tail -1 "$WORK/rss")
    peak=$((kib > peak ? kib : peak))
}

# Runs the command $2 in repository $1 once: appends its wall ms and peak RSS under key $3.
measure() {
    local dir=$1 cmd=$2 key=$3 t0 t1
    cd "$dir"
    peak=0
    if [[ $cmd == "commit one" ]]; then
        n=$((n + 1))
        printf 'one more file %d\n' "$n" >"one-$n.txt"
        t0=$(now_ms)
        timed -q add "one-$n.txt"
        timed -q commit -m "one $n"
    else
        t0=$(now_ms)
        # shellcheck disable=SC2086 # the arguments are words
        timed $cmd
    fi
    t1=$(now_ms)
    times[$key]+="$((t1 - t0)) "
    rss[$key]=$(((${rss[$key]:-0} > peak) ? ${rss[$key]:-0} : peak))
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

for entry in "${commands[@]}"; do
    name=${entry%%|*}
    cmd=${entry#*|}
    # One untimed run each warms the caches.
    measure "$many" "$cmd" warm
    measure "$few" "$cmd" warm
    for ((r = 0; r < RUNS; r++)); do
        if ((r % 2 == 0)); then
            measure "$many" "$cmd" "many|$name"
            measure "$few" "$cmd" "few|$name"
        else
            measure "$few" "$cmd" "few|$name"
            measure "$many" "$cmd" "many|$name"
        fi
    done
done

echo
echo "$COMMITS commits; many: $(packs_in "$many") packs; few: $(packs_in "$few") packs; median of $RUNS runs, alternating"
echo
echo "| command | many packs | few packs | many / few | peak RSS many / few |"
echo "|---|---:|---:|---:|---:|"
for entry in "${commands[@]}"; do
    name=${entry%%|*}
    m=$(echo "${times["many|$name"]}" | median)
    f=$(echo "${times["few|$name"]}" | median)
    ratio=$(awk -v m="$m" -v f="$f" 'BEGIN { printf "%.2f", (f > 0 ? m / f : 0) }')
    echo "| $name | $m ms | $f ms | $ratio | $((${rss["many|$name"]} / 1024)) / $((${rss["few|$name"]} / 1024)) MB |"
done
