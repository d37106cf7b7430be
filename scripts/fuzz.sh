#!/usr/bin/env bash
# Runs cairn's fuzz targets (fuzz/, cargo-fuzz with libFuzzer and AddressSanitizer) for a
# bounded time each, seeded from fixtures/corpus/, fixtures/proofs/ and, for the whole-
# repository target `repo`, fixtures/repo-v1/ and fixtures/repo-seeds/. CI runs it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 10 seconds, every target
#
# On a fresh machine with the Rust toolchain, Python 3 and Debian's package manager it
# installs what it needs: a C++ compiler (libFuzzer is C++, built by libfuzzer-sys) and
# cargo-fuzz (into ~/.cargo/bin). cargo-fuzz needs a nightly compiler for its sanitizer
# flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
#
# The instrumented build and the corpus the fuzzer grows live outside the checkout, in
# ${XDG_CACHE_HOME:-~/.cache}/cairn/ (or $CAIRN_FUZZ_CACHE): fuzz-target/ so that a fresh
# clone rebuilds only cairn itself and the targets, fuzz-corpus/<target>/ so that each run
# starts from what earlier runs found (cut back to a minimal set past FUZZ_CORPUS_MAX
# inputs, default 4000). The seeds are read from fixtures/ every time.
# Targets run $FUZZ_JOBS at a time (default: one per core).
#
# Failures: a panic, an ASan report, an input running over 30 s, or an allocation over
# FUZZ_MALLOC_LIMIT_MB (default 256; every decoder input here is small, so a large
# allocation means a length was trusted). The script then fails, prints the end of the
# fuzzer's log and the input in base64, and leaves the input in fuzz/artifacts/<target>/:
# turn it into a regression test in the decoder's module.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-10}"
shift || true
all=(tree layer file_object pack_index midx layer_graph pack staging_index config proof repo reflog resume watch_state)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi

seeds_of() {
    case "$1" in
        tree) echo fixtures/corpus/tree ;;
        layer) echo fixtures/corpus/layer ;;
        file_object) echo fixtures/corpus/file ;;
        pack_index) echo fixtures/corpus/pack-index ;;
        midx) echo fixtures/corpus/midx ;;
        layer_graph) echo fixtures/corpus/layer-graph ;;
        pack) echo fixtures/corpus/pack ;;
        staging_index) echo fixtures/corpus/staging-index ;;
        config) echo fixtures/corpus/config ;;
        reflog) echo fixtures/corpus/reflog ;;
        resume) echo fixtures/corpus/resume ;;
        watch_state) echo fixtures/corpus/watch-state ;;
        proof) echo fixtures/proofs ;;
        repo) echo fixtures/repo-seeds ;;
        *) return 1 ;;
    esac
}
for t in "${targets[@]}"; do
    seeds_of "$t" >/dev/null || { echo "unknown fuzz target $t" >&2; exit 2; }
done

need_apt=()
command -v "${CXX:-c++}" >/dev/null || need_apt+=(g++)
if ((${#need_apt[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

cache="${CAIRN_FUZZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn}"
target_dir="$cache/fuzz-target"
mkdir -p "$target_dir" "$cache/fuzz-corpus"
# One run at a time per cache: the build, the pruning below and the corpus are shared.
exec 9>"$cache/fuzz.lock"
flock 9

# Release build with debug assertions: overflow checks are on, as in the test suite.
build_opts=(-O --debug-assertions --target-dir "$target_dir")

# A new compiler or cargo-fuzz rebuilds everything under new names: start afresh then,
# and whenever the directory has grown past what one build takes (about 2.5 GB).
stamp="$(rustc -vV; cargo fuzz --version; echo "${build_opts[*]}")"
if [ "$(cat "$target_dir/cairn-stamp" 2>/dev/null)" != "$stamp" ] ||
    [ "$(du -sm "$target_dir" | cut -f1)" -gt 6000 ]; then
    rm -rf "$target_dir"
    mkdir -p "$target_dir"
    echo "$stamp" >"$target_dir/cairn-stamp"
fi

# Per-run scratch: the seeds as each target takes them, logs, and the directory the
# targets that read files write each input to (see their scratch()).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    run_dir=$(mktemp -d /dev/shm/cairn-fuzz-run.XXXXXX)
else
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-fuzz-run.XXXXXX")
fi
trap 'rm -rf "$run_dir"' EXIT
export CAIRN_FUZZ_SCRATCH="$run_dir/scratch"
mkdir -p "$CAIRN_FUZZ_SCRATCH"

bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

# cargo hashes the checkout's path into the names of cairn's and the targets' artifacts,
# so each fresh clone would add about 1 GB of them: keep only this checkout's (the targets
# of another are relinked anyway, against this checkout's cairn).
here=$(pwd -P)
prune() {
    local deps="$bin_dir/deps" f h t keep mine=""
    for f in "$deps"/cairn-*.d; do
        [ -f "$f" ] || continue
        if grep -qF " $here/src/lib.rs " "$f"; then
            mine=1
            continue
        fi
        h=${f##*/cairn-}
        h=${h%.d}
        rm -rf "$f" "$deps/libcairn-$h.rlib" "$deps/libcairn-$h.rmeta" \
            "$bin_dir/.fingerprint/cairn-$h"
    done
    for t in "${all[@]}"; do
        keep=""
        if [ -n "$mine" ] && [ -f "$bin_dir/$t" ]; then
            keep=$(find "$deps" -maxdepth 1 -samefile "$bin_dir/$t")
        fi
        [ -n "$keep" ] || rm -f "$bin_dir/$t" "$bin_dir/$t.d"
        rm -f "$deps/$t"-*.o
        for f in "$deps/$t"-????????????????; do
            [ -f "$f" ] && [ "$f" != "$keep" ] || continue
            h=${f##*-}
            rm -rf "$f" "$f.d" "$bin_dir/.fingerprint/cairn-fuzz-$h"
        done
    done
    for f in "$bin_dir/.fingerprint"/cairn-fuzz-*; do
        h=${f##*-}
        compgen -G "$deps/*-$h" >/dev/null || rm -rf "$f"
    done
}

prune
start=$(date +%s)
if ! cargo fuzz build "${build_opts[@]}" >"$run_dir/build.log" 2>&1; then
    tail -n 40 "$run_dir/build.log" >&2
    echo "fuzz build failed" >&2
    exit 1
fi
echo "fuzz build: $(($(date +%s) - start)) s (target dir $target_dir)"
prune

# Targets that take a mode byte before the bytes (see their sources) get seeds with it.
prefixed() {
    case "$1" in
        pack_index | staging_index) return 0 ;;
        *) return 1 ;;
    esac
}

# The `repo` target takes a whole `.cairn/` as one input: `path NUL length(u32 LE) bytes`
# for each file (fuzz/fuzz_targets/repo.rs). The lock and the empty tmp/ are left out.
# Its seeds: repo-v1 and each repository in fixtures/repo-seeds/ (make-repo-seed.sh).
pack_repo() {
    python3 - "$1" "$2" <<'PY'
import os, struct, sys
src, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as w:
    for d, dirs, files in sorted(os.walk(src)):
        dirs.sort()
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(d, f), src)
            if rel == "lock":
                continue
            data = open(os.path.join(d, f), "rb").read()
            w.write(rel.encode() + b"\0" + struct.pack("<I", len(data)) + data)
PY
}

make_seeds() {
    local t="$1" out="$2" f name
    mkdir -p "$out"
    if [ "$t" = repo ]; then
        pack_repo fixtures/repo-v1/.cairn "$out/seed-repo-v1"
        for f in "$(seeds_of "$t")"/*/; do
            pack_repo "$f" "$out/seed-$(basename "$f")"
        done
        return
    fi
    for f in "$(seeds_of "$t")"/*; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        if prefixed "$t"; then
            { printf '\000'; cat "$f"; } >"$out/seed-0-$name"
            # Mode 1 fixes up lengths and checksums: the payload alone is the seed.
            if [ "$t" = staging_index ]; then
                { printf '\001'; tail -c +21 "$f" | head -c -32; } >"$out/seed-1-$name"
            else
                { printf '\001'; cat "$f"; } >"$out/seed-1-$name"
            fi
        else
            cp "$f" "$out/seed-$name"
        fi
    done
}

# One target: new inputs go to the cached corpus (the first directory), crashes to
# fuzz/artifacts/<target>/. Its exit status is written next to its log.
run_target() {
    local t="$1" rc=0
    local corpus="$cache/fuzz-corpus/$t" seeds="$run_dir/seeds/$t"
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    make_seeds "$t" "$seeds"
    # Past FUZZ_CORPUS_MAX inputs, the corpus is cut to a set with the same coverage.
    if [ "$(find "$corpus" -type f | wc -l)" -gt "${FUZZ_CORPUS_MAX:-4000}" ]; then
        rm -rf "$corpus.merge"
        mkdir "$corpus.merge"
        if "$bin_dir/$t" -merge=1 "$corpus.merge" "$corpus" >"$run_dir/$t.merge.log" 2>&1; then
            rm -rf "$corpus"
            mv "$corpus.merge" "$corpus"
        else
            rm -rf "$corpus.merge"
        fi
    fi
    "$bin_dir/$t" "$corpus" "$seeds" \
        -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time="$secs" \
        -timeout=30 \
        -malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-256}" \
        -rss_limit_mb=2048 \
        -print_final_stats=1 >"$run_dir/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$run_dir/$t.rc"
}

jobs_max="${FUZZ_JOBS:-$(nproc)}"
touch "$run_dir/stamp"
start=$(date +%s)
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n || true
    done
    run_target "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
    log="$run_dir/$t.log"
    rc=$(cat "$run_dir/$t.rc" 2>/dev/null || echo missing)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    echo "$t: ${runs:-?} runs, corpus ${corp:-?}, peak rss ${rss:-?} MB, exit $rc"
    if [ "$rc" != 0 ]; then
        failed+=("$t")
        {
            echo "---- fuzz target $t failed; the end of its log:"
            tail -n 60 "$log"
            find "fuzz/artifacts/$t" -type f -newer "$run_dir/stamp" | while read -r a; do
                echo "---- input $a (base64):"
                base64 -w 0 "$a"
                echo
            done
            echo "---- reproduce: $bin_dir/$t <input>"
        } >&2
    fi
done
echo "fuzzing: $(($(date +%s) - start)) s for ${#targets[@]} targets, $secs s each, $jobs_max at a time"
if ((${#failed[@]})); then
    echo "fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
