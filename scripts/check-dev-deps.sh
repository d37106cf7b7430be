#!/usr/bin/env bash
# Fails when a crate in Cargo.toml's [dev-dependencies] is named by no test, bench, example
# or source file: an unused dev-dependency still costs every test build its compile time.
# A crate counts as used when some file names a path or macro in it (`name::`, `name!`),
# its `-` read as `_`, as Rust spells it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The names in [dev-dependencies], up to the next section.
dev_deps() {
    sed -n '/^\[dev-dependencies\]/,/^\[/p' Cargo.toml |
        grep -E '^[A-Za-z0-9_-]+ *=' |
        sed -E 's/^([A-Za-z0-9_-]+).*/\1/'
}

unused=()
for name in $(dev_deps); do
    crate=${name//-/_}
    if ! grep -rqE "(^|[^A-Za-z0-9_])${crate}(::|!)" tests benches src examples; then
        unused+=("$name")
    fi
done

if ((${#unused[@]})); then
    echo "unused dev-dependencies in Cargo.toml: ${unused[*]}" >&2
    exit 1
fi
