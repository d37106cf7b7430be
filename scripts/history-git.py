#!/usr/bin/env python3
"""The git side of benches/history.rs: the same tree and the same 1,000 edits, written as a
`git fast-import` stream, so `git log -- PATH` can be timed beside `cairn log -- PATH`.

  scripts/history-git.py | (cd DIR && git init -q && git fast-import --quiet)

Layout: 100 top directories g000-g099 of 100 directories d000-d099 of 10 files f0-f9.bin;
layer 0 holds the whole tree; layer n edits g042/d007/f3.bin when n % 10 == 0, else a file picked by the bench's
linear congruential step.
"""
import sys

TOP, MID, FILES, LAYERS = 100, 100, 10, 1000
FOLLOWED = (42, 7, 3)


def path(g, d, f):
    return f"g{g:03}/d{d:03}/f{f}.bin"


def blob(out, text):
    data = text.encode()
    out.write(b"data %d\n" % len(data))
    out.write(data)
    out.write(b"\n")


def commit(out, n, edits):
    t = 1_767_225_600 + n * 60
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer bench <bench@example.com> %d +0000\n" % t)
    blob(out, f"layer {n}")
    for p, content in edits:
        out.write(b"M 100644 inline %s\n" % p.encode())
        blob(out, content)


def main():
    out = sys.stdout.buffer
    files = {
        path(g, d, f): f"{(g * MID + d) * FILES + f}"
        for g in range(TOP)
        for d in range(MID)
        for f in range(FILES)
    }
    seed = 0x5EED
    mask = (1 << 64) - 1
    for n in range(LAYERS):
        if n % 10 == 0:
            g, d, f = FOLLOWED
        else:
            seed = (seed * 6_364_136_223_846_793_005 + 1) & mask
            x = seed >> 33
            g, d, f = x % TOP, (x // TOP) % MID, (x // TOP // MID) % FILES
        p = path(g, d, f)
        files[p] = f"edit {n}"
        # The first layer holds the whole tree, as the bench's does.
        commit(out, n, files.items() if n == 0 else [(p, files[p])])

main()
