#!/usr/bin/env bash
# cairn remotes against a real distributed S3 store: a three-node Garage cluster on loopback
# (sqlite metadata, one RPC and one S3 port per node, replication factor 3).
#
#   1. push a repository of real files (cairn's own sources, plus a 40 MiB binary so packs go
#      up as multipart uploads) from one worktree through node 1;
#   2. clone it into a second worktree through node 2 and compare the trees;
#   3. stop node 3, commit and push more through node 1, pull through node 2, compare again,
#      and run `verify --data` locally and `verify --remote --data`;
#   4. two clones push to the same line at the same moment: Garage ignores If-None-Match and
#      If-Match, so only cairn's intents protect the line; exactly one push must win.
#
# Garage is installed with `cargo install garage --locked` when it is not on PATH (about 15
# minutes of CPU; 32 minutes wall clock on a busy 2-core machine). Set CAIRN_SKIP_GARAGE=1 to
# skip this script (it then exits 0 after saying so).
#
# With CAIRN_REMOTE_BENCH_MB=N (e.g. 2048), it then also times push and clone of a repository
# holding one N MiB file of random bytes, against uploading and downloading the same pack files
# with the same client crate directly (examples/s3_raw.rs), CAIRN_REMOTE_BENCH_ROUNDS times
# (default 3), and prints the medians. Each round stores 2 x N MiB on each of the two live
# nodes: mind the disk.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${CAIRN_SKIP_GARAGE:-}" == 1 ]]; then
    echo "garage-cluster-test: skipped (CAIRN_SKIP_GARAGE=1)"
    exit 0
fi

log() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'garage-cluster-test: FAILED: %s\n' "$*" >&2; exit 1; }

if ! command -v garage >/dev/null; then
    log "installing garage (cargo install garage --locked)"
    start=$(date +%s)
    cargo install garage --locked
    log "garage built in $(( $(date +%s) - start )) s"
fi
garage --version >&2

# The fail points let two pushes overlap on purpose below.
cargo build --quiet --features failpoints --bin cairn --example s3_raw
CAIRN="$PWD/target/debug/cairn"
S3RAW="$PWD/target/debug/examples/s3_raw"
if [[ -n "${CAIRN_REMOTE_BENCH_MB:-}" ]]; then
    cargo build --quiet --release --features failpoints --bin cairn --example s3_raw
    CAIRN="$PWD/target/release/cairn"
    S3RAW="$PWD/target/release/examples/s3_raw"
fi

WORK=$(mktemp -d /tmp/cairn-garage.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP:-}" == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT INT TERM

# Ports: a random base so that parallel runs do not collide.
BASE=$(( 20000 + RANDOM % 20000 ))
SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
node_conf() { echo "$WORK/n$1/garage.toml"; }
rpc_port() { echo $(( BASE + 10 * $1 + 1 )); }
s3_port() { echo $(( BASE + 10 * $1 )); }

for i in 1 2 3; do
    mkdir -p "$WORK/n$i/meta" "$WORK/n$i/data"
    cat > "$(node_conf $i)" <<EOF
metadata_dir = "$WORK/n$i/meta"
data_dir = "$WORK/n$i/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$(rpc_port $i)"
rpc_public_addr = "127.0.0.1:$(rpc_port $i)"
rpc_secret = "$SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$(s3_port $i)"
root_domain = ".s3.garage.localhost"
EOF
    chmod 600 "$(node_conf $i)"
    RUST_LOG=warn garage -c "$(node_conf $i)" server > "$WORK/n$i/log" 2>&1 &
    PIDS+=($!)
done
g() { garage -c "$(node_conf 1)" "$@"; }

log "starting three nodes (S3 ports $(s3_port 1), $(s3_port 2), $(s3_port 3))"
for i in 1 2 3; do
    for _ in $(seq 100); do
        garage -c "$(node_conf $i)" node id -q >/dev/null 2>&1 && break
        sleep 0.2
    done
done
IDS=()
for i in 1 2 3; do
    IDS+=("$(garage -c "$(node_conf $i)" node id -q)")
done
g node connect "${IDS[1]}" >/dev/null
g node connect "${IDS[2]}" >/dev/null
for i in 1 2 3; do
    g layout assign -z "dc$i" -c 1G "${IDS[$((i - 1))]%@*}" >/dev/null
done
g layout apply --version 1 >/dev/null
KEYINFO=$(g key create cairn-test)
export AWS_ACCESS_KEY_ID=$(awk '/Key ID/ {print $NF}' <<<"$KEYINFO")
export AWS_SECRET_ACCESS_KEY=$(awk '/Secret key/ {print $NF}' <<<"$KEYINFO")
[[ -n "$AWS_ACCESS_KEY_ID" && -n "$AWS_SECRET_ACCESS_KEY" ]] || fail "no key in: $KEYINFO"
g bucket create cairn >/dev/null
g bucket allow --read --write --owner cairn --key cairn-test >/dev/null
export AWS_REGION=garage
unset AWS_ENDPOINT_URL AWS_ENDPOINT AWS_SESSION_TOKEN
for _ in $(seq 50); do
    g status 2>/dev/null | grep -q "HEALTHY NODES" && break
    sleep 0.2
done
g status >&2
EP1="http://127.0.0.1:$(s3_port 1)"
EP2="http://127.0.0.1:$(s3_port 2)"
URL="s3://cairn/cluster-test"

# Compares two worktrees, .cairn excluded: contents, symlinks, and modes.
same_trees() {
    diff -r --no-dereference -x .cairn "$1" "$2" >/dev/null || fail "trees differ: $1 $2"
    (cd "$1" && find . -path ./.cairn -prune -o -printf '%P %y %m\n' | sort) > "$WORK/modes1"
    (cd "$2" && find . -path ./.cairn -prune -o -printf '%P %y %m\n' | sort) > "$WORK/modes2"
    cmp -s "$WORK/modes1" "$WORK/modes2" || fail "modes differ: $1 $2"
}

log "what Garage does with conditional writes"
AWS_ENDPOINT_URL=$EP1 "$S3RAW" probe s3://cairn/probe >&2

log "pushing a repository of real files through node 1"
A="$WORK/a"
mkdir -p "$A"
cp -r src docs Cargo.toml "$A/"
ln -s docs/REMOTES.md "$A/remotes-doc"
head -c $((40 << 20)) /dev/urandom > "$A/blob.bin"
(
    cd "$A"
    "$CAIRN" init -q
    "$CAIRN" add -A -q
    "$CAIRN" commit -q -m "sources and a blob"
    echo "second layer" >> docs/ARCHITECTURE.md
    rm -r src/cli
    "$CAIRN" add -A -q
    "$CAIRN" commit -q -m "edit and delete"
    "$CAIRN" tag v1
    "$CAIRN" remote add origin "$URL" --endpoint "$EP1"
    "$CAIRN" push
    "$CAIRN" push origin v1
)

log "cloning through node 2"
B="$WORK/b"
"$CAIRN" clone "$URL" "$B" --endpoint "$EP2"
same_trees "$A" "$B"
[[ "$("$CAIRN" -C "$A" log --oneline)" == "$("$CAIRN" -C "$B" log --oneline)" ]] || fail "logs differ"

log "stopping node 3; push and pull with two of three nodes"
kill "${PIDS[2]}"
wait "${PIDS[2]}" 2>/dev/null || true
(
    cd "$A"
    head -c $((3 << 20)) /dev/urandom > more.bin
    echo "third layer" > docs/NOTE.txt
    "$CAIRN" add -A -q
    "$CAIRN" commit -q -m "with one node down"
    "$CAIRN" push
)
"$CAIRN" -C "$B" pull
same_trees "$A" "$B"
"$CAIRN" -C "$B" verify --data
"$CAIRN" -C "$B" verify --remote origin --data

log "two pushes to the same line at once"
C="$WORK/c"
D="$WORK/d"
"$CAIRN" clone -q "$URL" "$C" --endpoint "$EP1"
"$CAIRN" clone -q "$URL" "$D" --endpoint "$EP2"
for w in "$C" "$D"; do
    echo "$w" > "$w/who.txt"
    "$CAIRN" -C "$w" add -A -q
    "$CAIRN" -C "$w" commit -q -m "from $w"
done
set +e
CAIRN_FAILPOINT=push:before-publish=sleep1500 "$CAIRN" -C "$C" push 2> "$WORK/c.err" &
pc=$!
CAIRN_FAILPOINT=push:before-publish=sleep1500 "$CAIRN" -C "$D" push 2> "$WORK/d.err" &
pd=$!
wait $pc; rc=$?
wait $pd; rd=$?
set -e
cat "$WORK/c.err" "$WORK/d.err" >&2
(( (rc == 0) + (rd == 0) == 1 )) || fail "exactly one concurrent push must win (exit codes $rc, $rd)"
"$CAIRN" -C "$B" verify --remote origin
# Both layers are on the remote: the winner's on main, the loser's on its conflict line.
"$CAIRN" clone -q "$URL" "$WORK/e" --endpoint "$EP2"
for w in "$C" "$D"; do
    id=$("$CAIRN" -C "$w" log -n 1 --oneline | cut -d' ' -f1)
    found=no
    for line in $(ls "$WORK/e/.cairn/refs/lines"); do
        "$CAIRN" -C "$WORK/e" show "$line" | grep -q "$id" && found=yes
    done
    [[ $found == yes ]] || fail "layer $id of $w is not on the remote"
done

log "garage cluster test passed"

if [[ -n "${CAIRN_REMOTE_BENCH_MB:-}" ]]; then
    MB=$CAIRN_REMOTE_BENCH_MB
    ROUNDS=${CAIRN_REMOTE_BENCH_ROUNDS:-3}
    log "benchmark: one ${MB} MiB file of random bytes, $ROUNDS rounds (two of three nodes up)"
    E="$WORK/bench"
    mkdir -p "$E"
    head -c $((MB << 20)) /dev/urandom > "$E/big.bin"
    "$CAIRN" -C "$E" init -q
    "$CAIRN" -C "$E" add -A -q
    "$CAIRN" -C "$E" commit -q -m big
    PACKBYTES=$(du -cb "$E"/.cairn/packs/* | tail -1 | cut -f1)
    secs() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
    P=(); RP=(); CL=(); CO=(); RG=(); RS=()
    for r in $(seq "$ROUNDS"); do
        "$CAIRN" -C "$E" remote add "b$r" "s3://cairn/bench-$r" --endpoint "$EP1" >/dev/null
        P+=("$(secs "$CAIRN" -C "$E" push -q "b$r")")
        RP+=("$(AWS_ENDPOINT_URL=$EP1 secs "$S3RAW" put "$E/.cairn/packs" "s3://cairn/raw-$r")")
        CL+=("$(secs "$CAIRN" clone -q "s3://cairn/bench-$r" "$WORK/clone-$r" --endpoint "$EP1")")
        # What the checkout inside clone costs: the same layer written out again.
        CO+=("$(secs "$CAIRN" -C "$WORK/clone-$r" restore HEAD --to "$WORK/restore-$r" -q)")
        rm -rf "$WORK/clone-$r" "$WORK/restore-$r"
        RG+=("$(AWS_ENDPOINT_URL=$EP1 secs "$S3RAW" get "s3://cairn/raw-$r" "$WORK/raw-$r")")
        rm -rf "$WORK/raw-$r"
        RS+=("$(AWS_ENDPOINT_URL=$EP1 secs "$S3RAW" get "s3://cairn/raw-$r" "$WORK/raw-$r" --sync)")
        rm -rf "$WORK/raw-$r"
    done
    rate() { echo "scale=1; $PACKBYTES / 1048576 / $1" | bc; }
    row() {
        local m
        m=$(median "${@:2}")
        printf '%-26s %8.2f %8s   (%s)\n' "$1" "$m" "$(rate "$m")" "${*:2}"
    }
    echo "packs: $PACKBYTES bytes; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-26s %8s %8s   %s\n' step "median s" "MiB/s" "(all rounds, s)"
    row "cairn push" "${P[@]}"
    row "object_store raw upload" "${RP[@]}"
    row "cairn clone" "${CL[@]}"
    row "  of which checkout" "${CO[@]}"
    row "object_store raw download" "${RG[@]}"
    row "  same, fsync each file" "${RS[@]}"
    echo "push at $(echo "100 * $(median "${RP[@]}") / $(median "${P[@]}")" | bc)% of raw" \
        "upload, clone at $(echo "100 * $(median "${RG[@]}") / $(median "${CL[@]}")" | bc)% of raw download"
fi
