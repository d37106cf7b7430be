#!/usr/bin/env bash
# Issue 17, items 5 and 6, measured with the release build:
#
#  1. A deep history: LAYERS layers (default 10,000) over DIRS x FILES small files, each
#     layer changing one file, written through the library by `examples/deep_history`
#     (committing 10,000 times through the CLI takes half an hour here), against a fresh
#     repository of the same files in one layer. With PACKS=layer (the default) each layer
#     is written in packs of its own and small packs are merged after each, as `commit`
#     leaves them; with PACKS=one all go into one data and one metadata pack. Each command
#     runs on both, alternating, RUNS times (`add + commit` adds and commits one changed
#     file); each push and pull sends one new layer to a `file://` remote holding the rest.
#     The pack counts are printed after the layers are written, and after a `gc`.
#  2. The structural `verify` against `verify --data` on about 1 GiB (three large files and
#     SMALL small ones), right after add and commit, as users run it (add writes packs with
#     direct I/O, so nothing of them is cached), then again with the packs cached. With
#     BASE=path/to/an/older/cairn, the older binary is timed beside it on the same data.
#
#   scripts/scale_history.sh
#
# Environment: LAYERS (10000), DIRS (100), FILES (20), RUNS (5), SMALL (5000),
# BIG (320 MiB, each of the three large files), WORK (target/scale-history; emptied first),
# BASE (unset), PACKS (layer or one), ONLY (history or verify: that part alone), CAIRN_BIN
# and HISTORY_BIN (the binaries; default: this checkout's release build). Prints the
# median wall time in ms and the largest peak RSS per command.
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
LAYERS=${LAYERS:-10000}
DIRS=${DIRS:-100}
FILES=${FILES:-20}
RUNS=${RUNS:-5}
SMALL=${SMALL:-5000}
BIG=${BIG:-$((320 << 20))}
WORK=${WORK:-$REPO/target/scale-history}
PACKS=${PACKS:-layer}
ONLY=${ONLY:-}
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT

if [[ -z ${CAIRN_BIN:-} || -z ${HISTORY_BIN:-} ]]; then
    (cd "$REPO" && CARGO_INCREMENTAL=0 cargo build -q --release --bin cairn --example deep_history)
fi
CAIRN=${CAIRN_BIN:-$REPO/target/release/cairn}
BUILD=${HISTORY_BIN:-$REPO/target/release/examples/deep_history}
rm -rf "$WORK" && mkdir -p "$WORK"

# run TABLE LABEL DIR BINARY ARGS...: one timed command (its exit code ignored: a typo is
# timed too), appended to the results.
run() {
    local table=$1 label=$2 dir=$3 bin=$4
    shift 4
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$WORK/rss" "$bin" -C "$dir" "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    echo "$table|$label|$(((end - start) / 1000))|$(tail -1 "$WORK/rss")" >>"$RESULTS"
}

# pair LABEL DEEP_ARGS :: FRESH_ARGS: the command on both repositories, alternating.
pair() {
    local label=$1
    shift
    local deep=() fresh=()
    while [[ $1 != :: ]]; do deep+=("$1"); shift; done
    shift
    fresh=("$@")
    for r in $(seq 1 "$RUNS"); do
        if ((r % 2)); then
            run history "$label|deep" "$WORK/deep" "$CAIRN" "${deep[@]}"
            run history "$label|fresh" "$WORK/fresh" "$CAIRN" "${fresh[@]}"
        else
            run history "$label|fresh" "$WORK/fresh" "$CAIRN" "${fresh[@]}"
            run history "$label|deep" "$WORK/deep" "$CAIRN" "${deep[@]}"
        fi
    done
}

packs_in() { find "$1/.cairn/packs" -name '*.pack' | wc -l; }

# timed_commit LABEL DIR N: one more layer changing one file, its add and commit timed
# together (peak RSS: the larger of the two).
timed_commit() {
    local start end rss
    echo "timed change $3" >"$2/d002/f002.txt"
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$WORK/rss" "$CAIRN" -C "$2" add -q d002/f002.txt
    rss=$(tail -1 "$WORK/rss")
    /usr/bin/time -f '%M' -o "$WORK/rss" "$CAIRN" -C "$2" commit -q -m "timed change $3"
    end=$(date +%s%N)
    rss=$((rss > $(tail -1 "$WORK/rss") ? rss : $(tail -1 "$WORK/rss")))
    echo "history|$1|$(((end - start) / 1000))|$rss" >>"$RESULTS"
}

# commit_one DIR N: one more layer changing one file, untimed.
commit_one() {
    echo "change $2" >"$1/d001/f001.txt"
    "$CAIRN" -C "$1" add -q d001/f001.txt
    "$CAIRN" -C "$1" commit -q -m "change $2"
}

history() {
    local per_layer=()
    [[ $PACKS == layer ]] && per_layer=(per-layer)
    "$BUILD" "$WORK/deep" "$LAYERS" "$DIRS" "$FILES" "${per_layer[@]}" >/dev/null
    echo "deep: $LAYERS layers written, $(packs_in "$WORK/deep") packs"
    "$CAIRN" -C "$WORK/deep" reset -q --hard HEAD
    mkdir -p "$WORK/fresh"
    cp -r "$WORK"/deep/d[0-9]* "$WORK/fresh/"
    "$CAIRN" -C "$WORK/fresh" init -q
    "$CAIRN" -C "$WORK/fresh" add -A -q
    "$CAIRN" -C "$WORK/fresh" commit -q -m "the same files in one layer"
    local half=$((LAYERS / 2)) deep_id fresh_id
    deep_id=$("$CAIRN" -C "$WORK/deep" log -n 1 --format %H "HEAD~$half")
    fresh_id=$("$CAIRN" -C "$WORK/fresh" log -n 1 --format %H)
    pair "log" log :: log
    pair "log -n 10" log -n 10 :: log -n 10
    pair "log -- FILE" log -- d000/f000.txt :: log -- d000/f000.txt
    pair "cat HEAD~$half:FILE" cat "HEAD~$half:d000/f000.txt" :: cat HEAD:d000/f000.txt
    pair "log -n 1 HEAD~$half" log -n 1 "HEAD~$half" :: log -n 1 HEAD
    pair "log -n 1 HEAD@{$half}" log -n 1 "HEAD@{$half}" :: log -n 1 "HEAD@{0}"
    pair "log -n 1 PREFIX" log -n 1 "${deep_id:0:10}" :: log -n 1 "${fresh_id:0:10}"
    pair "log -n 1 mian (typo)" log -n 1 mian :: log -n 1 mian
    pair "status" status :: status
    pair "show" show :: show
    pair "verify" verify :: verify
    for r in $(seq 1 "$RUNS"); do
        timed_commit "add + commit|deep" "$WORK/deep" "$r"
        timed_commit "add + commit|fresh" "$WORK/fresh" "$r"
    done
    echo "deep: $(packs_in "$WORK/deep") packs after $RUNS more commits"
    local start=$(date +%s%N)
    "$CAIRN" -C "$WORK/deep" gc -q
    echo "deep: $(packs_in "$WORK/deep") packs after gc ($((($(date +%s%N) - start) / 1000000)) ms)"
    for side in deep fresh; do
        mkdir -p "$WORK/remote-$side"
        "$CAIRN" -C "$WORK/$side" remote add origin "file://$WORK/remote-$side"
        "$CAIRN" -C "$WORK/$side" push -q
        "$CAIRN" clone -q "file://$WORK/remote-$side" "$WORK/clone-$side"
    done
    for r in $(seq 1 "$RUNS"); do
        for side in deep fresh; do
            commit_one "$WORK/$side" "$r"
            run history "push one layer|$side" "$WORK/$side" "$CAIRN" push
            run history "pull one layer|$side" "$WORK/clone-$side" "$CAIRN" pull
        done
    done
}

# evict DIR: drops the repository's packs from the page cache (clean pages only, no root).
evict() {
    python3 - "$1" <<'EOF'
import glob, os, sys
for p in glob.glob(os.path.join(sys.argv[1], ".cairn/packs/*")):
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
EOF
}

verify_levels() {
    local data=$WORK/data bins=(new)
    [[ -n ${BASE:-} ]] && bins+=(base)
    python3 "$REPO/scripts/gen-data.py" small "$data/small" --files "$SMALL" --dirs 50 --seed 1 >/dev/null
    for i in 1 2 3; do
        python3 "$REPO/scripts/gen-data.py" big "$data/large$i.bin" --size "$BIG" --seed "$i" >/dev/null
    done
    for r in $(seq 1 "$RUNS"); do
        local w=$WORK/verify-$r
        cp -r "$data" "$w"
        "$CAIRN" -C "$w" init -q
        "$CAIRN" -C "$w" add -A -q
        "$CAIRN" -C "$w" commit -q -m data
        for who in "${bins[@]}"; do
            local bin=$CAIRN
            [[ $who == base ]] && bin=$BASE
            evict "$w"
            run verify "verify, cold|$who" "$w" "$bin" verify
            run verify "verify --data after it|$who" "$w" "$bin" verify --data
            evict "$w"
            run verify "verify --data, cold|$who" "$w" "$bin" verify --data
            run verify "verify, cached|$who" "$w" "$bin" verify
            run verify "verify --data, cached|$who" "$w" "$bin" verify --data
        done
        rm -rf "$w"
    done
    rm -rf "$data"
}

if [[ $ONLY != verify ]]; then
    history
    rm -rf "$WORK"/deep "$WORK"/fresh "$WORK"/remote-* "$WORK"/clone-*
fi
if [[ $ONLY != history ]]; then
    verify_levels
fi

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    table, label, side, us, rss = line.rstrip("\n").split("|")
    rows.setdefault(table, {}).setdefault(label, {}).setdefault(side, []).append((int(us), int(rss)))
for table, labels in rows.items():
    sides = sorted({s for by in labels.values() for s in by})
    print(f"\n{table}: median ms (peak RSS MB)")
    print(f"{'command':28}" + "".join(f"{s:>20}" for s in sides))
    for label, by in labels.items():
        cells = ""
        for s in sides:
            runs = by.get(s, [])
            if runs:
                ms = statistics.median(u for u, _ in runs) / 1000
                mb = max(m for _, m in runs) / 1024
                cells += f"{ms:12.1f} ({mb:4.0f})"
            else:
                cells += " " * 20
        print(f"{label:28}{cells}")
EOF
rm -rf "$WORK"
