#!/usr/bin/env bash
# cairn's streams in and out, measured in one run with what each is held against:
#   add --stdin of a large file    against  add of the same bytes as a file
#   export of a layer to /dev/null against  restore of the same layer
#   import of a tar of small files against  tar -x followed by add -A
#   add resumed after a kill at 90% of the bytes  against  the full add (of 64 files, and of the
#                                            large file alone)
# Each pair alternates, in fresh directories, ROUNDS times; medians and same-run ratios
# are printed, with peak RSS from GNU time.
#
#   scripts/streams.sh             # a 2 GiB file and 20,000 small files
#   QUICK=1 scripts/streams.sh     # 256 MiB and 2,000 files, to check that it works
#   ONLY=resume scripts/streams.sh # the resumed adds alone
#
# Environment: ROUNDS (default 3), WORK (default target/streams), CAIRN_BIN (default: a
# release build of this checkout).
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-3}
if [[ $QUICK == 1 ]]; then BIG=256M FILES=2000 DIRS=20; else BIG=2G FILES=20000 DIRS=100; fi
WORK=${WORK:-$REPO/target/streams}
if [[ -z ${CAIRN_BIN:-} ]]; then
    cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
    CAIRN_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/cairn
fi
export CAIRN_AUTHOR=bench
C=$CAIRN_BIN
rm -rf "$WORK"; mkdir -p "$WORK"
gen() { python3 "$REPO/scripts/gen-data.py" "$@"; }
gen big "$WORK/big.bin" --size "$BIG" --seed 1
if [[ ${ONLY:-} != resume ]]; then
    gen small "$WORK/small" --files "$FILES" --dirs "$DIRS" --seed 2
    tar -cf "$WORK/small.tar" -C "$WORK/small" .
fi

# measure NAME CMD...: wall seconds and peak RSS (KiB) of CMD, appended to $WORK/NAME.
measure() {
    local name=$1; shift
    sync
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f %M -o "$WORK/rss.tmp" "$@" > /dev/null
    t1=$(date +%s.%N)
    echo "$(echo "$t1 - $t0" | bc) $(tail -1 "$WORK/rss.tmp")" >> "$WORK/$name.txt"
}
fresh() { rm -rf "$WORK/r"; mkdir -p "$WORK/r"; (cd "$WORK/r" && "$C" init -q); }

# resumed NAME: in $WORK/r (data in place, repository fresh), a full add timed into
# NAME-full, then a new repository, an add killed (SIGKILL) once it has read 90% of the
# bytes, and the add run again, measured into NAME.
resumed() {
    local name=$1
    measure "$name-full" bash -c "cd '$WORK/r' && '$C' --no-progress add -A -q"
    rm -rf "$WORK/r/.cairn"; (cd "$WORK/r" && "$C" init -q)
    python3 - "$C" "$WORK/r" "$WORK/$name-killed-at.txt" <<'PY'
import json, os, signal, subprocess, sys, time
# The add's own count of bytes read (rchar in /proc/PID/io), polled every millisecond, so
# the kill falls at 90% of the bytes rather than at the next progress event.
add = subprocess.Popen([sys.argv[1], "--progress", "json", "add", "-A", "-q"],
                       cwd=sys.argv[2], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
total = next(e["bytes"] for e in map(json.loads, add.stderr) if e["phase"] == "adding")
def read_so_far():
    with open(f"/proc/{add.pid}/io") as io:
        return next(int(l.split()[1]) for l in io if l.startswith("rchar:"))
done = 0
while add.poll() is None and done < 0.9 * total:
    done = read_so_far()
    time.sleep(0.001)
if add.poll() is not None:
    sys.exit("the add ended before it read 90% of the bytes")
os.kill(add.pid, signal.SIGKILL)
add.wait()
with open(sys.argv[3], "a") as out:
    print(f"{done / total:.3f} 0", file=out)
PY
    measure "$name" bash -c "cd '$WORK/r' && '$C' --no-progress add -A -q"
}

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round" >&2
    if [[ ${ONLY:-} != resume ]]; then    # add of the file, then add --stdin of the same bytes.
    fresh; cp "$WORK/big.bin" "$WORK/r/big.bin"; cat "$WORK/r/big.bin" > /dev/null
    measure add-file bash -c "cd '$WORK/r' && '$C' --no-progress add big.bin"
    fresh; cat "$WORK/big.bin" > /dev/null
    measure add-stdin bash -c "cd '$WORK/r' && '$C' --no-progress add --stdin big.bin < '$WORK/big.bin'"
    # restore and export of one layer of the big file and the small files.
    fresh; cp "$WORK/big.bin" "$WORK/r/"; cp -r "$WORK/small" "$WORK/r/small"
    (cd "$WORK/r" && "$C" --no-progress add -A -q && "$C" commit -qm all > /dev/null)
    rm -rf "$WORK/out"
    measure restore bash -c "cd '$WORK/r' && '$C' --no-progress restore HEAD --to '$WORK/out'"
    rm -rf "$WORK/out"
    measure export bash -c "cd '$WORK/r' && '$C' --no-progress export HEAD > /dev/null"
    # tar -x then add -A, against import of the tar.
    fresh; cat "$WORK/small.tar" > /dev/null
    measure tarx-add bash -c "cd '$WORK/r' && tar -xf '$WORK/small.tar' && '$C' --no-progress add -A -q"
    fresh
    measure import bash -c "cd '$WORK/r' && '$C' --no-progress import '$WORK/small.tar'"
    fi
    # A full add of a dataset of 64 files, then one killed at about 90% and resumed.
    fresh; mkdir -p "$WORK/r/d"
    python3 - "$WORK/big.bin" "$WORK/r/d" <<'PY'
import sys, os
src, dst = sys.argv[1], sys.argv[2]
size = os.path.getsize(src) // 64
with open(src, 'rb') as f:
    for i in range(64):
        with open(os.path.join(dst, f"part{i:02}"), 'wb') as o:
            o.write(f.read(size))
PY
    resumed add-resumed
    # The large file alone: the kill falls inside it.
    fresh; cp "$WORK/big.bin" "$WORK/r/big.bin"
    resumed add-resumed-1
done

median() { [[ -s $WORK/$1.txt ]] || { echo "- 0"; return; }; sort -n "$WORK/$1.txt" | awk '{a[NR]=$1; m[NR]=$2} END {i=int((NR+1)/2); printf "%.2f %d", a[i], m[i]/1024}'; }
ratio() {
    local a b
    a=$(median "$1" | cut -d' ' -f1) b=$(median "$2" | cut -d' ' -f1)
    if [[ $a == - || $b == - ]]; then echo -; else echo "scale=2; $a / $b" | bc; fi
}
printf '| measure | median s | peak MiB |\n|---|---|---|\n'
for m in add-file add-stdin restore export tarx-add import add-resumed-full add-resumed \
    add-resumed-1-full add-resumed-1; do
    read -r s mb <<< "$(median $m)"; printf '| %s | %s | %s |\n' "$m" "$s" "$mb"
done
echo
echo "add --stdin / add of the file: $(ratio add-stdin add-file)"
echo "export / restore: $(ratio export restore)"
echo "import / (tar -x + add -A): $(ratio import tarx-add)"
echo "resumed add / full add, 64 files: $(ratio add-resumed add-resumed-full)"
echo "resumed add / full add, one file: $(ratio add-resumed-1 add-resumed-1-full)"
if [[ -s $WORK/add-resumed-killed-at.txt ]]; then
    echo "killed at (share of the bytes read, median): 64 files $(median add-resumed-killed-at | cut -d' ' -f1)," \
        "one file $(median add-resumed-1-killed-at | cut -d' ' -f1)"
fi
