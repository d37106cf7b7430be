#!/usr/bin/env bash
# Runs cairn's whole test suite on a fresh machine that has the Rust toolchain, Python 3 and
# Debian's package manager. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
# GNU time measures a command's own peak memory (tests/it/support/memory.rs).
[[ -x /usr/bin/time ]] || need_apt+=(time)
# The mount tests mount through FUSE (tests/it/mount.rs); fuse3 brings fusermount3.
command -v fusermount3 >/dev/null || need_apt+=(fuse3)
if ((${#need_apt[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

# The crash and fault tests arm fail points, which only a build with this feature has.
cargo test --all-targets --features failpoints
