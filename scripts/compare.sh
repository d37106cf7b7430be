#!/usr/bin/env bash
# cairn side by side with git, restic and rustic, on seeded data, in one run.
#
#   scripts/compare.sh                 # full run: 20k small files, a 2 GiB file, a 200k-file tree
#   QUICK=1 scripts/compare.sh         # smaller data, to check that everything works
#
# Environment (all optional):
#   ROUNDS=3            rounds; the tools' order rotates every round (default 3, QUICK 2)
#   ROUNDS_200K=ROUNDS  rounds of the 200k-file tree
#   TREE_200K=1         0 skips the 200k-file tree (always skipped with QUICK=1)
#   HISTORY=1           0 skips `log -- PATH` over LOG_LAYERS layers of a 100k-file tree
#   SETS="small big huge history"   which sets run (a subset reruns only those)
#                       SETS=scale runs only the million-file set (never by default, not in CI):
#                       SCALE_FILES files (default 1000000) in SCALE_DIRS directories (1000):
#                       init + add, commit, one file changed, add, commit, no-op status,
#                       each beside git; its table goes between <!-- scale:begin/end -->
#   LOG_LAYERS=1000     layers of that history (default 1000, QUICK 100); made untimed, one
#                       `add FILE && commit` per layer for each tool, which takes minutes
#   RUSTIC=1            0 skips rustic (it is installed with `cargo install` when absent)
#   WORK=target/compare where data and repositories go (same disk as a real repository)
#   CAIRN_BIN=...       a cairn binary to use instead of building this checkout
#   CAIRN_REV=...       how to name that binary's revision in the report
#   CARGO_TARGET_DIR    where the release build goes (default: the repository's target/)
#   DOC=docs/BENCHMARKS.md   the file whose <!-- compare:begin/end --> block is replaced
#   NO_DOC=1            print the table only
#   KEEP=1              keep the run's data and repositories (default: delete them at the end)
#
# The "floor" rows do the same I/O with plain tools: tar of the small files into one file and
# cp of the large one, each followed by an fsync of what was written (cairn makes its packs
# durable), and tar -x / cp for the restores (no fsync, like every tool here).
#
# Every figure is warm-cache: the data is generated just before it is measured, each
# command's inputs (worktree, repository) are read just before it and `sync` runs, both
# untimed; page caches are never dropped. Wall time is taken
# around `/usr/bin/time -v`, which reports the peak RSS of the largest process.
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS=$REPO/scripts
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-2}
    SMALL_FILES=2000 SMALL_DIRS=20 BIG_SIZE=128M INSERT=1M
    SMALL_LABEL=2k BIG_LABEL="128 MiB"
    TREE_200K=0
else
    ROUNDS=${ROUNDS:-3}
    SMALL_FILES=20000 SMALL_DIRS=100 BIG_SIZE=2G INSERT=1M
    SMALL_LABEL=20k BIG_LABEL="2 GiB"
    TREE_200K=${TREE_200K:-1}
fi
# The 200k-file tree uses files of 0.5-4 KiB: 1-10 KiB would take 2.6 GB of disk per copy.
HUGE_FILES=200000 HUGE_DIRS=1000 HUGE_GROUPS=10 HUGE_MIN=512 HUGE_MAX=4096
ROUNDS_200K=${ROUNDS_200K:-$ROUNDS}
HISTORY=${HISTORY:-1}
if [[ $QUICK == 1 ]]; then LOG_LAYERS=${LOG_LAYERS:-100}; else LOG_LAYERS=${LOG_LAYERS:-1000}; fi
HISTORY_FILES=100000 HISTORY_DIRS=1000 HISTORY_GROUPS=10
SCALE_FILES=${SCALE_FILES:-1000000} SCALE_DIRS=${SCALE_DIRS:-1000}
RUSTIC=${RUSTIC:-1}
DOC=${DOC:-$REPO/docs/BENCHMARKS.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
export RESTIC_PASSWORD=cairn-bench RUSTIC_PASSWORD=cairn-bench
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export CAIRN_AUTHOR=bench
# No automatic `git gc` / maintenance: it would run detached after a commit, packing the
# loose objects while the next tool is being measured.
export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0
export GIT_CONFIG_KEY_1=maintenance.auto GIT_CONFIG_VALUE_1=false
CMDLINE="$(env | grep -E '^(QUICK|ROUNDS|ROUNDS_200K|TREE_200K|RUSTIC|HISTORY|LOG_LAYERS|SETS|SCALE_FILES|SCALE_DIRS)=' | sort | tr '\n' ' ' || true)scripts/compare.sh"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 2; }
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

# --- tools -------------------------------------------------------------------------------

apt_updated=0
apt_install() {
    if [[ $apt_updated == 0 ]]; then
        log "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_tools() {
    command -v git >/dev/null || apt_install git
    command -v restic >/dev/null || apt_install restic
    [[ -x /usr/bin/time ]] || apt_install time
    command -v python3 >/dev/null || apt_install python3
    if [[ $RUSTIC == 1 ]]; then
        export PATH=$HOME/.cargo/bin:$PATH
        if ! command -v rustic >/dev/null; then
            log "cargo install rustic-rs --locked (once; cached in ~/.cargo/bin)"
            cargo install rustic-rs --locked
        fi
    fi
    if [[ -n ${CAIRN_BIN:-} ]]; then
        CAIRN=$CAIRN_BIN
    else
        log "building cairn (release) into $CARGO_TARGET_DIR"
        (cd "$REPO" && cargo build --release --quiet)
        CAIRN=$CARGO_TARGET_DIR/release/cairn
    fi
    [[ -x $CAIRN ]] || die "no cairn binary at $CAIRN"
    if "$CAIRN" restore --help >/dev/null 2>&1; then
        HAVE_RESTORE=1
    else
        HAVE_RESTORE=0
        log "note: this cairn has no 'restore' command; cairn's restore rows are skipped"
    fi
    TOOLS=(cairn git restic)
    BACKUP_TOOLS=(cairn restic)
    if [[ $RUSTIC == 1 ]]; then
        TOOLS+=(rustic)
        BACKUP_TOOLS+=(rustic)
    fi
}

versions() {
    if [[ -n ${CAIRN_BIN:-} ]]; then
        echo "$("$CAIRN" --version) (${CAIRN_REV:-$CAIRN_BIN})"
    else
        echo "$("$CAIRN" --version) ($(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "unknown revision"))"
    fi
    git --version
    restic version | head -1
    if [[ $RUSTIC == 1 ]]; then rustic --version | head -1; fi
}

# --- measuring ---------------------------------------------------------------------------

# Reads every file under the paths, so the command that follows finds them in the page cache.
# (Some machines page out anything idle for a minute, e.g. with DAMON reclaim.)
warm() {
    [[ $# -gt 0 ]] || return 0
    find "$@" -type f -print0 2>/dev/null | xargs -0 -r cat >/dev/null 2>&1 || true
}

# measure BENCH TOOL ROUND DIR SCRIPT [WARM...]: reads the WARM paths, syncs, then runs SCRIPT
# with bash in DIR under /usr/bin/time -v and appends "bench tool round micros rss_kb" to the
# results.
measure() {
    local bench=$1 tool=$2 round=$3 dir=$4 script=$5
    shift 5
    local logf=$RUN/logs/$bench.$tool.$round
    warm "$@"
    sync
    local t0 t1
    t0=$(date +%s%N)
    if ! (cd "$dir" && /usr/bin/time -v -o "$logf.time" bash -c "$script" >"$logf.out" 2>"$logf.err"); then
        tail -n 20 "$logf.err" >&2
        die "$bench ($tool, round $round) failed: $script"
    fi
    t1=$(date +%s%N)
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$logf.time")
    printf '%s\t%s\t%s\t%s\t%s\n' "$bench" "$tool" "$round" $(((t1 - t0) / 1000)) "$rss" >>"$RESULTS"
    log "  $bench $tool: $(awk -v u=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.3f", u / 1e6}') s, $((rss / 1024)) MB"
}

# size BENCH TOOL ROUND PATH: records the bytes under PATH.
size() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(du -sb "$4" | cut -f1)" >>"$SIZES"
}

# The tools in a different order every round, so no tool always runs first or last.
rotate() {
    local r=$1
    shift
    local a=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + r) % n))]}"; done
}

gen() { python3 "$SCRIPTS/gen-data.py" "$@"; }

cairn_cmd() { printf '%q --no-progress -q' "$CAIRN"; }

# --- the 20k small files -----------------------------------------------------------------

small_round() {
    local r=$1 R=$RUN/r$1 t
    log "round $r: $SMALL_FILES small files"
    for t in cairn git backup; do
        gen small "$R/small-$t" --files "$SMALL_FILES" --dirs "$SMALL_DIRS" --seed 20
    done
    mkdir -p "$R/restore"
    local cairn
    cairn=$(cairn_cmd)
    for t in $(rotate "$r" "${TOOLS[@]}" floor); do
        case $t in
        floor) measure small_add floor "$r" "$R/small-backup" "tar -cf $R/floor-small.tar . && sync $R/floor-small.tar" "$R/small-backup" ;;
        cairn) measure small_add cairn "$r" "$R/small-cairn" "$cairn init && $cairn add -A && $cairn commit -m x" "$R/small-cairn" ;;
        git) measure small_add git "$r" "$R/small-git" "git init -q && git add -A && git commit -qm x" "$R/small-git" ;;
        restic) measure small_add restic "$r" "$R/small-backup" "restic -r $R/restic-small init -q && restic -r $R/restic-small backup -q $R/small-backup" "$R/small-backup" ;;
        rustic) measure small_add rustic "$r" "$R/small-backup" "rustic -r $R/rustic-small init --no-progress && rustic -r $R/rustic-small backup --no-progress $R/small-backup" "$R/small-backup" ;;
        esac
    done
    size small_repo cairn "$r" "$R/small-cairn/.cairn"
    size small_repo git "$r" "$R/small-git/.git"
    size small_repo restic "$r" "$R/restic-small"
    if [[ $RUSTIC == 1 ]]; then size small_repo rustic "$r" "$R/rustic-small"; fi
    for t in $(rotate "$r" cairn git); do
        case $t in
        cairn) measure small_status cairn "$r" "$R/small-cairn" "$cairn status" "$R/small-cairn/.cairn" ;;
        git) measure small_status git "$r" "$R/small-git" "git status >/dev/null" "$R/small-git/.git/index" ;;
        esac
    done
    for t in cairn git backup; do
        gen mutate "$R/small-$t" --fraction 0.01 --seed $((30 + r)) 2>/dev/null
    done
    for t in $(rotate "$r" "${TOOLS[@]}"); do
        case $t in
        cairn) measure small_readd cairn "$r" "$R/small-cairn" "$cairn add -A && $cairn commit -m y" "$R/small-cairn" ;;
        git) measure small_readd git "$r" "$R/small-git" "git add -A && git commit -qm y" "$R/small-git" ;;
        restic) measure small_readd restic "$r" "$R/small-backup" "restic -r $R/restic-small backup -q $R/small-backup" "$R/small-backup" "$R/restic-small" ;;
        rustic) measure small_readd rustic "$r" "$R/small-backup" "rustic -r $R/rustic-small backup --no-progress $R/small-backup" "$R/small-backup" "$R/rustic-small" ;;
        esac
    done
    for t in $(rotate "$r" "${TOOLS[@]}" floor); do
        local dest=$R/restore/small-$t
        case $t in
        floor) measure small_restore floor "$r" "$R" "mkdir $dest && tar -xf $R/floor-small.tar -C $dest" "$R/floor-small.tar" ;;
        cairn)
            if [[ $HAVE_RESTORE == 1 ]]; then
                measure small_restore cairn "$r" "$R/small-cairn" "$cairn restore HEAD --to $dest" "$R/small-cairn/.cairn"
            fi
            ;;
        git) measure small_restore git "$r" "$R/small-git" \
            "mkdir $dest && GIT_INDEX_FILE=$R/restore/git-index git --work-tree=$dest checkout -f HEAD -- ." "$R/small-git/.git" ;;
        restic) measure small_restore restic "$r" "$R" "restic -r $R/restic-small restore latest -q --target $dest" "$R/restic-small" ;;
        rustic) measure small_restore rustic "$r" "$R" "rustic -r $R/rustic-small restore --no-progress latest $dest" "$R/rustic-small" ;;
        esac
    done
}

# --- the 2 GiB file ----------------------------------------------------------------------

big_data() {
    log "generating the $BIG_SIZE file and its v2 ($INSERT inserted three times)"
    mkdir -p "$RUN/data"
    gen big "$RUN/data/big-v1.bin" --size "$BIG_SIZE" --seed 7
    gen insert "$RUN/data/big-v1.bin" "$RUN/data/big-v2.bin" --count 3 --insert "$INSERT" --seed 8
    sync
}

big_round() {
    local r=$1 R=$RUN/r$1 t cairn
    cairn=$(cairn_cmd)
    log "round $r: the $BIG_SIZE file"
    for t in cairn backup; do
        mkdir -p "$R/big-$t"
        ln -f "$RUN/data/big-v1.bin" "$R/big-$t/big.bin"
    done
    cat "$RUN/data/big-v1.bin" "$RUN/data/big-v2.bin" >/dev/null # warm the page cache
    for t in $(rotate "$r" "${BACKUP_TOOLS[@]}" floor); do
        case $t in
        # The fastest durable copy measured here: direct I/O in 4 MiB blocks (through the
        # page cache, cp or dd plus an fsync took 5 to 8 s); plain cp where direct I/O is refused.
        floor) measure big_add floor "$r" "$R" "dd if=$RUN/data/big-v1.bin of=$R/floor-big.bin bs=4M oflag=direct conv=fsync status=none 2>/dev/null || { rm -f $R/floor-big.bin; cp $RUN/data/big-v1.bin $R/floor-big.bin && sync $R/floor-big.bin; }" "$RUN/data/big-v1.bin" ;;
        cairn) measure big_add cairn "$r" "$R/big-cairn" "$cairn init && $cairn add -A && $cairn commit -m v1" "$R/big-cairn" ;;
        restic) measure big_add restic "$r" "$R/big-backup" "restic -r $R/restic-big init -q && restic -r $R/restic-big backup -q $R/big-backup" "$R/big-backup" ;;
        rustic) measure big_add rustic "$r" "$R/big-backup" "rustic -r $R/rustic-big init --no-progress && rustic -r $R/rustic-big backup --no-progress $R/big-backup" "$R/big-backup" ;;
        esac
    done
    size big_v1_repo cairn "$r" "$R/big-cairn/.cairn"
    size big_v1_repo restic "$r" "$R/restic-big"
    if [[ $RUSTIC == 1 ]]; then size big_v1_repo rustic "$r" "$R/rustic-big"; fi
    for t in cairn backup; do
        ln -f "$RUN/data/big-v2.bin" "$R/big-$t/big.bin"
    done
    for t in $(rotate "$r" "${BACKUP_TOOLS[@]}"); do
        case $t in
        cairn) measure big_v2_add cairn "$r" "$R/big-cairn" "$cairn add -A && $cairn commit -m v2" "$R/big-cairn/big.bin" "$R/big-cairn/.cairn/index" ;;
        restic) measure big_v2_add restic "$r" "$R/big-backup" "restic -r $R/restic-big backup -q $R/big-backup" "$R/big-backup" ;;
        rustic) measure big_v2_add rustic "$r" "$R/big-backup" "rustic -r $R/rustic-big backup --no-progress $R/big-backup" "$R/big-backup" ;;
        esac
    done
    size big_v2_repo cairn "$r" "$R/big-cairn/.cairn"
    size big_v2_repo restic "$r" "$R/restic-big"
    if [[ $RUSTIC == 1 ]]; then size big_v2_repo rustic "$r" "$R/rustic-big"; fi
    mkdir -p "$R/restore"
    rm -f "$R/floor-big.bin"
    for t in $(rotate "$r" "${BACKUP_TOOLS[@]}" floor); do
        local dest=$R/restore/big-$t
        case $t in
        floor) measure big_restore floor "$r" "$R" "mkdir $dest && cp $RUN/data/big-v2.bin $dest/big.bin" "$RUN/data/big-v2.bin" ;;
        cairn)
            if [[ $HAVE_RESTORE == 1 ]]; then
                measure big_restore cairn "$r" "$R/big-cairn" "$cairn restore HEAD --to $dest" "$R/big-cairn/.cairn"
            fi
            ;;
        restic) measure big_restore restic "$r" "$R" "restic -r $R/restic-big restore latest -q --target $dest" "$R/restic-big" ;;
        rustic) measure big_restore rustic "$r" "$R" "rustic -r $R/rustic-big restore --no-progress latest $dest" "$R/rustic-big" ;;
        esac
        rm -rf "$dest" # one large file: cheap to delete, and it frees the page cache
    done
    # The round's repositories hold few, large files: cheap to delete, and 6 GiB of disk.
    rm -rf "$R/big-cairn/.cairn" "$R/restic-big" "$R/rustic-big"
}

# --- the 200k-file tree ------------------------------------------------------------------

huge_round() {
    local r=$1 R=$RUN/r$1 t cairn
    cairn=$(cairn_cmd)
    log "round $r: $HUGE_FILES files"
    for t in cairn git; do
        gen small "$R/huge-$t" --files "$HUGE_FILES" --dirs "$HUGE_DIRS" --nest "$HUGE_GROUPS" \
            --min "$HUGE_MIN" --max "$HUGE_MAX" --seed 200
    done
    for t in $(rotate "$r" cairn git); do
        case $t in
        cairn) measure huge_add cairn "$r" "$R/huge-cairn" "$cairn init && $cairn add -A && $cairn commit -m x" "$R/huge-cairn" ;;
        git) measure huge_add git "$r" "$R/huge-git" "git init -q && git add -A && git commit -qm x" "$R/huge-git" ;;
        esac
    done
    for t in $(rotate "$r" cairn git); do
        case $t in
        cairn) measure huge_status cairn "$r" "$R/huge-cairn" "$cairn status" "$R/huge-cairn/.cairn" ;;
        git) measure huge_status git "$r" "$R/huge-git" "git status >/dev/null" "$R/huge-git/.git/index" ;;
        esac
    done
}

# --- a million small files ----------------------------------------------------------------

# One file changed in both trees, then add, commit and a no-op status with each tool, timed
# as scale_{add_one,commit_one,status}SUFFIX.
scale_one_change() {
    local r=$1 R=$2 one=$3 suffix=$4 t cairn
    cairn=$(cairn_cmd)
    for t in cairn git; do printf 'change %s\n' "$suffix" >>"$R/scale-$t/$one"; done
    for t in $(rotate "$r" cairn git); do
        local dir=$R/scale-$t index add commit status
        case $t in
        cairn) index=$dir/.cairn/index add="$cairn add -A" commit="$cairn commit -m y$suffix" status="$cairn status" ;;
        git) index=$dir/.git/index add="git add -A" commit="git commit -qm y$suffix" status="git status >/dev/null" ;;
        esac
        measure "scale_add_one$suffix" "$t" "$r" "$dir" "$add" "$index"
        measure "scale_commit_one$suffix" "$t" "$r" "$dir" "$commit" "$index"
        measure "scale_status$suffix" "$t" "$r" "$dir" "$status" "$index"
    done
}

# Each step of a nightly dataset's life, timed beside git on the same tree, with its peak RSS:
# the cost of a commit should follow the change, not the repository. The worktrees are not
# read before each step (1M files would take minutes): they were just written, and each
# tool's previous step read them. One round by default: 1M files take 4 GiB of disk a copy.
scale_round() {
    local r=$1 R=$RUN/r$1 t cairn one
    cairn=$(cairn_cmd)
    log "round $r: $SCALE_FILES files in $SCALE_DIRS directories"
    for t in cairn git; do
        gen small "$R/scale-$t" --files "$SCALE_FILES" --dirs "$SCALE_DIRS" --min 64 --max 512 --seed 1000
    done
    one=$(cd "$R/scale-git" && find . -type f -name '*.bin' -print -quit)
    for t in $(rotate "$r" cairn git); do
        case $t in
        cairn)
            measure scale_add cairn "$r" "$R/scale-cairn" "$cairn init && $cairn add -A"
            measure scale_commit cairn "$r" "$R/scale-cairn" "$cairn commit -m x" "$R/scale-cairn/.cairn/index"
            ;;
        git)
            measure scale_add git "$r" "$R/scale-git" "git init -q && git add -A"
            measure scale_commit git "$r" "$R/scale-git" "git commit -qm x" "$R/scale-git/.git/index"
            ;;
        esac
    done
    scale_one_change "$r" "$R" "$one" ""
    # The same steps with cairn's file-system monitor on (`cairn watch start`, opt-in), beside
    # git's again, after a second change. The first status after the start checks every file
    # and is not timed.
    (cd "$R/scale-cairn" && eval "$cairn watch start" && eval "$cairn status" >/dev/null)
    one=$(dirname "$one")/$(ls "$R/scale-git/$(dirname "$one")" | sed -n 2p)
    scale_one_change "$r" "$R" "$one" _watch
    (cd "$R/scale-cairn" && eval "$cairn watch stop")
    rm -rf "$R"/scale-*
}

# --- log -- PATH over a long history ------------------------------------------------------

# The history is made once, untimed: a 100k-file tree committed, then LOG_LAYERS layers of
# one edited file each, every tenth layer editing the file that `log -- PATH` follows. Each
# round then times `log -- FILE` and `log -- DIR` with both tools.
history_data() {
    local H=$RUN/history t i f n cairn
    cairn=$(cairn_cmd)
    log "history: $HISTORY_FILES files, $LOG_LAYERS layers (made untimed)"
    for t in cairn git; do
        gen small "$H/$t" --files "$HISTORY_FILES" --dirs "$HISTORY_DIRS" --nest "$HISTORY_GROUPS" \
            --min 64 --max 512 --seed 300
    done
    (cd "$H/cairn" && eval "$cairn init && $cairn add -A && $cairn commit -m layer-0")
    (cd "$H/git" && git init -q && git add -A && git commit -qm layer-0)
    # The files of the tree in name order; the followed one is the first.
    # awk reads to the end: `head` would close the pipe on git, which pipefail counts as failure.
    mapfile -t HISTORY_PATHS < <(cd "$H/git" && git ls-files | awk 'NR <= 5000')
    n=${#HISTORY_PATHS[@]}
    for ((i = 1; i < LOG_LAYERS; i++)); do
        if ((i % 10 == 0)); then f=${HISTORY_PATHS[0]}; else f=${HISTORY_PATHS[$(((i * 7919) % n))]}; fi
        for t in cairn git; do printf 'layer %d\n' "$i" >>"$H/$t/$f"; done
        (cd "$H/cairn" && eval "$cairn add \"\$f\" && $cairn commit -m layer-$i")
        (cd "$H/git" && git add "$f" && git commit -qm "layer-$i")
    done
    HISTORY_FILE=${HISTORY_PATHS[0]}
    HISTORY_DIR=${HISTORY_FILE%%/*}
}

history_round() {
    local r=$1 H=$RUN/history t cairn
    cairn=$(cairn_cmd)
    log "round $r: log -- PATH over $LOG_LAYERS layers"
    for t in $(rotate "$r" cairn git); do
        case $t in
        cairn)
            measure log_path_file cairn "$r" "$H/cairn" "$cairn log --oneline -- $HISTORY_FILE >/dev/null" "$H/cairn/.cairn"
            measure log_path_dir cairn "$r" "$H/cairn" "$cairn log --oneline -- $HISTORY_DIR >/dev/null" "$H/cairn/.cairn"
            ;;
        git)
            measure log_path_file git "$r" "$H/git" "git log --oneline -- $HISTORY_FILE >/dev/null" "$H/git/.git"
            measure log_path_dir git "$r" "$H/git" "git log --oneline -- $HISTORY_DIR >/dev/null" "$H/git/.git"
            ;;
        esac
    done
}

# --- main --------------------------------------------------------------------------------

main() {
    install_tools
    local base=${WORK:-$REPO/target/compare}
    RUN=$base/run-$(date +%Y%m%d-%H%M%S)-$$
    mkdir -p "$RUN/logs"
    RESULTS=$RUN/results.tsv SIZES=$RUN/sizes.tsv
    : >"$RESULTS"
    : >"$SIZES"
    log "run directory: $RUN"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    versions | tee "$RUN/versions.txt" >&2
    local r sets=" ${SETS:-small big huge history} "
    if [[ $sets == *" scale "* ]]; then
        for ((r = 1; r <= ${ROUNDS_SCALE:-1}; r++)); do scale_round "$r"; done
    fi
    if [[ $sets == *" small "* ]]; then
        for ((r = 1; r <= ROUNDS; r++)); do small_round "$r"; done
    fi
    if [[ $sets == *" big "* ]]; then
        big_data
        for ((r = 1; r <= ROUNDS; r++)); do big_round "$r"; done
        rm -f "$RUN"/data/big-*.bin "$RUN"/r*/big-*/big.bin
    fi
    if [[ $TREE_200K == 1 && $sets == *" huge "* ]]; then
        for ((r = 1; r <= ROUNDS_200K; r++)); do huge_round "$r"; done
    fi
    if [[ $HISTORY == 1 && $sets == *" history "* ]]; then
        history_data
        for ((r = 1; r <= ROUNDS; r++)); do history_round "$r"; done
        rm -rf "$RUN/history"
    fi
    local doc_args=()
    [[ ${NO_DOC:-0} == 1 ]] || doc_args=(--doc "$DOC")
    # The million-file set alone fills its own block, leaving the main comparison as it was.
    local params="small: $SMALL_FILES files of 1-10 KiB in $SMALL_DIRS dirs; big: $BIG_SIZE random, v2 = 3 x $INSERT inserted; 200k tree: $([[ $TREE_200K == 1 ]] && echo "$HUGE_FILES files of 0.5-4 KiB in $HUGE_DIRS dirs, $ROUNDS_200K rounds" || echo skipped); $ROUNDS rounds"
    if [[ $sets == " scale " ]]; then
        doc_args+=(--block scale)
        params="scale: $SCALE_FILES files of 64-512 bytes in $SCALE_DIRS dirs, worktrees not read before each step; ${ROUNDS_SCALE:-1} round(s)"
    fi
    python3 "$SCRIPTS/compare-report.py" "$RESULTS" "$SIZES" \
        --versions "$RUN/versions.txt" --command "$CMDLINE" \
        --small "$SMALL_LABEL" --big "$BIG_LABEL" --huge 200k --scale "$SCALE_FILES" \
        --load "load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end" \
        --note "$( ((HAVE_RESTORE)) || echo "cairn restore is not available in this build: its rows are missing.")" \
        --params "$params" \
        "${doc_args[@]}"
    if [[ ${KEEP:-0} == 1 ]]; then
        log "kept $RUN"
    else
        cp "$RESULTS" "$SIZES" "$RUN/versions.txt" "$base/" 2>/dev/null || true
        log "deleting $RUN (KEEP=1 keeps it; raw results copied to $base/)"
        rm -rf "$RUN"
    fi
}

main "$@"
