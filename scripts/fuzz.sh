#!/usr/bin/env bash
# Runs cairn's fuzz targets (fuzz/, cargo-fuzz with libFuzzer) for a bounded time each,
# seeded from fixtures/corpus/ and fixtures/proofs/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 10 seconds, every target
#
# cargo-fuzz needs a nightly compiler for its sanitizer flags; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. cargo-fuzz is installed when missing. Inputs the fuzzer
# finds go to fuzz/corpus/<target> (not tracked); a crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script fail: turn it into a regression test in
# the decoder's module.
#
# Besides panics, an allocation over FUZZ_MALLOC_LIMIT_MB (default 256) is a failure:
# every decoder input here is small, so a large allocation means a length was trusted.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-10}"
shift || true
all=(tree layer file_object pack_index pack staging_index config proof)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

seeds_of() {
    case "$1" in
        tree) echo fixtures/corpus/tree ;;
        layer) echo fixtures/corpus/layer ;;
        file_object) echo fixtures/corpus/file ;;
        pack_index) echo fixtures/corpus/pack-index ;;
        pack) echo fixtures/corpus/pack ;;
        staging_index) echo fixtures/corpus/staging-index ;;
        config) echo fixtures/corpus/config ;;
        proof) echo fixtures/proofs ;;
        *) echo "unknown fuzz target $1" >&2; exit 2 ;;
    esac
}

# Targets that take a mode byte before the bytes (see their sources) get seeds with it.
prefixed() {
    case "$1" in
        pack_index | staging_index) return 0 ;;
        *) return 1 ;;
    esac
}

# The targets that read files write each input to a scratch directory of their own.
trap 'rm -rf /dev/shm/cairn-fuzz-* "${TMPDIR:-/tmp}"/cairn-fuzz-*' EXIT

start=$(date +%s)
cargo fuzz build -O 2>&1 | tail -n 3
echo "fuzz build: $(($(date +%s) - start)) s"

for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus"
    seeds=$(seeds_of "$t")
    for f in "$seeds"/*; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        if prefixed "$t"; then
            { printf '\000'; cat "$f"; } >"$corpus/seed-0-$name"
            # Mode 1 fixes up lengths and checksums: the payload alone is the seed.
            if [ "$t" = staging_index ]; then
                { printf '\001'; tail -c +21 "$f" | head -c -32; } >"$corpus/seed-1-$name"
            else
                { printf '\001'; cat "$f"; } >"$corpus/seed-1-$name"
            fi
        else
            cp "$f" "$corpus/seed-$name"
        fi
    done
    echo "== $t: $secs s"
    cargo fuzz run -O "$t" "$corpus" -- \
        -max_total_time="$secs" \
        -malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-256}" \
        -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|.*panicked)" || true
    if [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz target $t found a crash: fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
