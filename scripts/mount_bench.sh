#!/usr/bin/env bash
# cairn mount side by side with `cairn cat` and `restic mount`, on the same data, in one run.
#
#   scripts/mount_bench.sh             # a 2 GiB file with two versions, a 200k-file tree
#   QUICK=1 scripts/mount_bench.sh     # 128 MiB and 5k files, to check that it works
#
# Environment (all optional):
#   ROUNDS=3          rounds; the tools' order rotates every round
#   BIG_SIZE=2G       the large file (its old version, v1, is what is read)
#   FILES=200000      files of the tree `find` walks (0.5-4 KiB each)
#   READS=10000       random 4 KiB reads (the same offsets for every tool)
#   CACHE=256M        cairn mount --cache-size
#   WORK=target/mount-bench   where data, repositories and mount points go
#   KEEP=1            keep them (default: deleted at the end)
#
# What is measured (wall time, median over the rounds; peak RSS from /usr/bin/time -v):
#   seq     cat of v1's big file to /dev/null: through cairn's mount, through restic's
#           mount, and `cairn cat v1:big.bin` (no mount)
#   random  READS reads of 4 KiB at seeded offsets of that file, one process (python3)
#   find    `find MOUNT/<layer or snapshot> -type f | wc -l` on the tree
#   rss     the peak resident memory of each mount process over its round
# Every mount is started afresh for each round (its caches cold, the page cache warm: the
# repositories were just written and are read once before the first round).
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS=$REPO/scripts
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-2} BIG_SIZE=${BIG_SIZE:-128M} FILES=${FILES:-5000}
else
    ROUNDS=${ROUNDS:-3} BIG_SIZE=${BIG_SIZE:-2G} FILES=${FILES:-200000}
fi
READS=${READS:-10000}
CACHE=${CACHE:-256M}
WORK=${WORK:-$REPO/target/mount-bench}
export RESTIC_PASSWORD=cairn-bench CAIRN_AUTHOR=bench
CMDLINE="$(env | grep -E '^(QUICK|ROUNDS|BIG_SIZE|FILES|READS|CACHE)=' | sort | tr '\n' ' ' || true)scripts/mount_bench.sh"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 2; }
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

for tool in restic python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install ${tool##*/})"
done
[[ -e /dev/fuse ]] || die "FUSE is not available: apt-get install fuse3; modprobe fuse"

log "building cairn (release)"
(cd "$REPO" && cargo build --release -q)
CAIRN=$REPO/target/release/cairn

# Fresh directories: creating many files right after deleting many is slow for minutes.
RUN=$WORK/run-$$
mkdir -p "$RUN"/{logs,mnt-cairn,mnt-restic}
RESULTS=$RUN/results.tsv
MOUNT_PIDS=()
cleanup() {
    for m in "$RUN/mnt-cairn" "$RUN/mnt-restic"; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m"
    done
    for p in "${MOUNT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$RUN"
}
trap cleanup EXIT

gen() { python3 "$SCRIPTS/gen-data.py" "$@"; }

# --- data -------------------------------------------------------------------------------

log "generating $BIG_SIZE (v1), its v2, and a tree of $FILES files"
mkdir -p "$RUN/big"
gen big "$RUN/big/big.bin" --size "$BIG_SIZE" --seed 7
gen small "$RUN/tree" --files "$FILES" --dirs $((FILES / 200 + 1)) --nest 10 \
    --min 512 --max 4096 --seed 9 2>/dev/null

log "cairn and restic: v1, v2 (three 1 MiB insertions); cairn: the tree"
(cd "$RUN/big" && $CAIRN init -q && $CAIRN add -q big.bin && $CAIRN commit -q -m v1 && $CAIRN tag -q v1)
restic -r "$RUN/restic-big" init -q
restic -r "$RUN/restic-big" backup -q --tag v1 --exclude .cairn "$RUN/big"
gen insert "$RUN/big/big.bin" "$RUN/big-v2.bin" --count 3 --insert 1M --seed 8
mv "$RUN/big-v2.bin" "$RUN/big/big.bin"
(cd "$RUN/big" && $CAIRN add -q big.bin && $CAIRN commit -q -m v2)
restic -r "$RUN/restic-big" backup -q --tag v2 --exclude .cairn "$RUN/big"
RV1=$(restic -r "$RUN/restic-big" snapshots --tag v1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
V1=$(cd "$RUN/big" && $CAIRN log --format '%H' | tail -1)
(cd "$RUN/tree" && $CAIRN init -q && $CAIRN add -q -A && $CAIRN commit -q -m tree)
TREE_LAYER=$(cd "$RUN/tree" && $CAIRN log --format '%H' | head -1)

log "restic: the tree (.cairn left out)"
restic -r "$RUN/restic-tree" init -q
restic -r "$RUN/restic-tree" backup -q --exclude .cairn "$RUN/tree"
RTREE=$(restic -r "$RUN/restic-tree" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
# Read once, so every tool starts from a warm page cache.
cat "$RUN"/big/.cairn/packs/* "$RUN"/restic-big/data/*/* >/dev/null
sync

# --- mounts -----------------------------------------------------------------------------

# mount_up TOOL REPO DIR: starts TOOL's mount of REPO on DIR under /usr/bin/time -v (its
# peak RSS lands in logs/) and waits until it answers.
mount_up() {
    local tool=$1 repo=$2 dir=$3 round=$4 probe
    local logf=$RUN/logs/mount.$tool.$(basename "$repo").$round
    if [[ $tool == cairn ]]; then
        (cd "$repo" && exec /usr/bin/time -v -o "$logf.time" "$CAIRN" mount -q --cache-size "$CACHE" "$dir") \
            >"$logf.out" 2>"$logf.err" &
        probe=$dir/layers
    else
        /usr/bin/time -v -o "$logf.time" restic -r "$repo" mount "$dir" \
            >"$logf.out" 2>"$logf.err" &
        probe=$dir/ids
    fi
    MOUNT_PIDS+=($!)
    for _ in $(seq 300); do
        [[ -d $probe ]] && mountpoint -q "$dir" && return 0
        sleep 0.1
    done
    cat "$logf.err" >&2
    die "$tool mount of $repo did not come up"
}

mount_down() {
    local dir=$1
    umount "$dir" 2>/dev/null || fusermount -u "$dir" 2>/dev/null || umount -l "$dir"
    wait "${MOUNT_PIDS[-1]}" 2>/dev/null || true
    unset 'MOUNT_PIDS[-1]'
}

# timed BENCH TOOL ROUND COMMAND: records COMMAND's wall time in microseconds.
timed() {
    local bench=$1 tool=$2 round=$3 cmd=$4 t0 t1
    t0=$(date +%s%N)
    bash -c "$cmd" >"$RUN/logs/$bench.$tool.$round.out" 2>"$RUN/logs/$bench.$tool.$round.err" ||
        die "$bench ($tool) failed: $(tail -3 "$RUN/logs/$bench.$tool.$round.err")"
    t1=$(date +%s%N)
    printf '%s\t%s\t%s\t%s\n' "$bench" "$tool" "$round" $(((t1 - t0) / 1000)) >>"$RESULTS"
    log "  $bench $tool: $(awk -v u=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.3f", u / 1e6}') s"
}

rss() {
    local tool=$1 round=$2 f
    for f in "$RUN"/logs/mount.$tool.*.$round.time; do
        printf 'rss\t%s\t%s\t%s\n' "$tool" "$round" \
            "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$f")" >>"$RESULTS"
    done
}

RANDOM_READS="import os, random, sys
f = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(f).st_size
rng = random.Random(42)
for _ in range($READS):
    at = rng.randrange(0, size - 4096)
    assert len(os.pread(f, 4096, at)) == 4096"

round_of() {
    local tool=$1 r=$2
    case $tool in
    cairn-cat)
        timed seq cairn-cat "$r" "cd $RUN/big && $CAIRN cat v1:big.bin > /dev/null"
        ;;
    cairn)
        local m=$RUN/mnt-cairn
        mount_up cairn "$RUN/big" "$m" "$r"
        timed seq cairn "$r" "cat $m/layers/$V1/big.bin > /dev/null"
        timed random cairn "$r" "python3 -c '$RANDOM_READS' $m/layers/$V1/big.bin"
        mount_down "$m"
        mount_up cairn "$RUN/tree" "$m" "$r"
        timed find cairn "$r" "find $m/layers/$TREE_LAYER -type f | wc -l"
        mount_down "$m"
        rss cairn "$r"
        ;;
    restic)
        local m=$RUN/mnt-restic
        mount_up restic "$RUN/restic-big" "$m" "$r"
        local f=$m/ids/$RV1$RUN/big/big.bin
        timed seq restic "$r" "cat $f > /dev/null"
        timed random restic "$r" "python3 -c '$RANDOM_READS' $f"
        mount_down "$m"
        mount_up restic "$RUN/restic-tree" "$m" "$r"
        timed find restic "$r" "find $m/ids/$RTREE -type f | wc -l"
        mount_down "$m"
        rss restic "$r"
        ;;
    esac
}

TOOLS=(cairn cairn-cat restic)
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r"
    for ((i = 0; i < ${#TOOLS[@]}; i++)); do
        round_of "${TOOLS[$(((i + r) % ${#TOOLS[@]}))]}" "$r"
    done
done

# --- report -----------------------------------------------------------------------------

python3 - "$RESULTS" "$BIG_SIZE" "$FILES" "$READS" "$CACHE" "$CMDLINE" <<'EOF'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
big, files, reads, cache, cmd = sys.argv[2:7]
v = collections.defaultdict(list)
for bench, tool, _, x in rows:
    v[(bench, tool)].append(int(x))
med = lambda b, t: statistics.median(v[(b, t)]) if v[(b, t)] else None
secs = lambda b, t: f"{med(b, t) / 1e6:.2f} s" if med(b, t) is not None else "-"
print(f"`{cmd}` ({big} file, {files} files, {reads} random 4 KiB reads, --cache-size {cache};")
print(f"medians of {len(v[('seq', 'cairn')])} rounds, tools alternated)\n")
print("| benchmark | cairn mount | cairn cat | restic mount | cairn mount / other |")
print("|---|---|---|---|---|")
s = med("seq", "cairn")
print(f"| sequential read of v1 ({big}) | {secs('seq','cairn')} | {secs('seq','cairn-cat')} | {secs('seq','restic')} "
      f"| {med('seq','cairn-cat') / s:.0%} of cat's speed; {med('seq','restic') / s:.1f}x restic |")
print(f"| {reads} random 4 KiB reads | {secs('random','cairn')} | - | {secs('random','restic')} "
      f"| {med('random','restic') / med('random','cairn'):.1f}x faster |")
print(f"| find -type f, {files} files | {secs('find','cairn')} | - | {secs('find','restic')} "
      f"| {med('find','restic') / med('find','cairn'):.1f}x faster |")
mb = lambda t: f"{max(v[('rss', t)]) / 1024:.0f} MB" if v[('rss', t)] else "-"
print(f"| peak RSS of the mount process (largest round) | {mb('cairn')} | - | {mb('restic')} | |")
EOF
