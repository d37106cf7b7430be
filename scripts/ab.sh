#!/usr/bin/env bash
# Two cairn binaries side by side on the same seeded data, alternating, in one run: for
# checking that a change of structure costs no speed (compare.sh measures cairn against the
# other tools; this measures cairn against itself).
#
#   scripts/ab.sh OLD_BINARY NEW_BINARY
#
# Environment: ROUNDS (default 3), FILES (small files, default 20000), BIG (bytes of the large
# file, default 1 GiB), WORK (default target/ab; fresh directories each round).
# Prints, per task, the median wall time and peak RSS of each binary and the ratio new/old.
set -Eeuo pipefail

OLD=$(realpath "$1")
NEW=$(realpath "$2")
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
FILES=${FILES:-20000}
BIG=${BIG:-$((1 << 30))}
WORK=${WORK:-$REPO/target/ab}
RESULTS=$(mktemp)
gen() { python3 "$REPO/scripts/gen-data.py" "$@" >/dev/null; }

# run LABEL TASK DIR BINARY ARGS...: one timed command, appended to the results.
run() {
    local label=$1 task=$2 dir=$3 bin=$4
    shift 4
    sync
    local start end rss
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$WORK/rss" "$bin" -C "$dir" "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    rss=$(tail -1 "$WORK/rss")
    echo "$task $label $(awk "BEGIN { print $end - $start }") $rss" >>"$RESULTS"
}

round() {
    local r=$1 order=(old new)
    ((r % 2)) && order=(new old)
    local base="$WORK/r$r"
    rm -rf "$base" && mkdir -p "$base/data"
    gen small "$base/data/small" --files "$FILES" --dirs 100 --seed "$r"
    gen big "$base/data/big.bin" --size "$BIG" --seed "$r"
    for who in "${order[@]}"; do
        local bin=$OLD
        [[ $who == new ]] && bin=$NEW
        local w="$base/$who"
        mkdir -p "$w" && cp -r "$base/data/small" "$w/small"
        "$bin" -C "$w" init -q
        run "$who" "add-small" "$w" "$bin" add -A -q
        run "$who" "commit-small" "$w" "$bin" commit -q -m small
        run "$who" "status-noop" "$w" "$bin" status --short
        cp "$base/data/big.bin" "$w/big.bin"
        run "$who" "add-big" "$w" "$bin" add big.bin -q
        "$bin" -C "$w" commit -q -m big
        run "$who" "verify" "$w" "$bin" verify
        run "$who" "verify-data" "$w" "$bin" verify --data
        run "$who" "restore" "$w" "$bin" restore HEAD --to "$base/$who-restored"
        run "$who" "gc-noop" "$w" "$bin" gc
        rm -rf "$base/$who-restored"
    done
    rm -rf "$base"
}

mkdir -p "$WORK"
for r in $(seq 1 "$ROUNDS"); do
    round "$r"
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    task, who, secs, rss = line.split()
    rows.setdefault(task, {}).setdefault(who, []).append((float(secs), int(rss)))
print(f"{'task':14} {'old s':>8} {'new s':>8} {'new/old':>8} {'old MB':>8} {'new MB':>8}")
for task, by in rows.items():
    o = statistics.median(s for s, _ in by["old"])
    n = statistics.median(s for s, _ in by["new"])
    om = max(m for _, m in by["old"]) / 1024
    nm = max(m for _, m in by["new"]) / 1024
    print(f"{task:14} {o:8.3f} {n:8.3f} {n / o:8.2f} {om:8.0f} {nm:8.0f}")
EOF
rm -f "$RESULTS"
