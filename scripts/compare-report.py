#!/usr/bin/env python3
"""Renders the results of scripts/compare.sh as Markdown tables, prints them, and (with
--doc) writes them into the file between <!-- compare:begin --> and <!-- compare:end -->.

results.tsv: bench, tool, round, wall microseconds, peak RSS KiB
sizes.tsv:   what, tool, round, bytes
"""
import argparse
import datetime
import os
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"
TOOLS = ["cairn", "git", "restic", "rustic", "floor"]


def rows_for(small, big, huge, scale):
    return [
        ("small_add", f"{small} small files: init + add + commit (restic, rustic: init + backup)"),
        ("small_status", f"{small} small files: no-op status"),
        ("small_readd", f"{small} small files: re-add 1% changed + commit (restic, rustic: backup)"),
        ("small_restore", f"{small} small files: restore into an empty dir"),
        ("big_add", f"{big} file: init + add + commit (restic, rustic: init + backup)"),
        ("big_v2_add", f"{big} file v2, 3 x 1 MiB inserted: add + commit (backup)"),
        ("big_restore", f"{big} file v2: restore into an empty dir"),
        ("huge_add", f"{huge} files: init + add + commit"),
        ("huge_status", f"{huge} files: no-op status"),
        ("log_path_file", "log -- FILE over the layers of a 100k-file tree"),
        ("log_path_dir", "log -- DIR over the layers of a 100k-file tree"),
        ("scale_add", f"{scale} files: init + add"),
        ("scale_commit", f"{scale} files: commit"),
        ("scale_add_one", f"{scale} files, one changed: add"),
        ("scale_commit_one", f"{scale} files, one changed: commit"),
        ("scale_status", f"{scale} files: no-op status"),
        ("scale_add_one_watch", f"{scale} files, one changed, cairn's monitor on: add"),
        ("scale_commit_one_watch", f"{scale} files, one changed, cairn's monitor on: commit"),
        ("scale_status_watch", f"{scale} files, cairn's monitor on: no-op status"),
    ]


def fmt_s(x):
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def mib(b):
    return f"{b / (1 << 20):.1f}"


def load(path, cols):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == cols:
                out.append(parts)
    return out


def timing_table(results, labels):
    wall = defaultdict(list)
    rss = defaultdict(list)
    for bench, tool, _rnd, us, kb in results:
        wall[bench, tool].append(int(us) / 1e6)
        rss[bench, tool].append(int(kb) / 1024)
    tools = [t for t in TOOLS if any(k[1] == t for k in wall)]
    peers = [t for t in tools if t != "cairn"]
    head = (["benchmark"] + [f"{t} s" for t in tools] + [f"cairn/{p}" for p in peers]
            + ["peak RSS MB (" + " / ".join(tools) + ")"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for bench, label in labels:
        if not any((bench, t) in wall for t in tools):
            continue
        med = {t: statistics.median(wall[bench, t]) for t in tools if (bench, t) in wall}
        cells = [label] + [fmt_s(med[t]) if t in med else "-" for t in tools]
        for p in peers:
            ok = "cairn" in med and p in med and med[p] > 0
            cells.append(f"{med['cairn'] / med[p]:.2f}x" if ok else "-")
        cells.append(" / ".join(f"{max(rss[bench, t]):.0f}" if (bench, t) in rss else "-"
                                for t in tools))
        lines.append("| " + " | ".join(cells) + " |")
    samples = ["| benchmark | tool | seconds, round by round |", "|---|---|---|"]
    for bench, _ in labels:
        for t in tools:
            if (bench, t) in wall:
                samples.append(f"| {bench} | {t} | "
                               + ", ".join(fmt_s(x) for x in wall[bench, t]) + " |")
    return lines, samples


def size_table(sizes, small, big):
    by = defaultdict(dict)
    for what, tool, rnd, b in sizes:
        by[what, tool][rnd] = int(b)
    tools = [t for t in TOOLS if any(k[1] == t for k in by)]
    lines = ["| repository size, MiB (median) | " + " | ".join(tools) + " |",
             "|---|" + "---|" * len(tools)]

    def med(what, t):
        v = list(by.get((what, t), {}).values())
        return statistics.median(v) if v else None

    def growth(t):
        v1, v2 = by.get(("big_v1_repo", t), {}), by.get(("big_v2_repo", t), {})
        g = [v2[r] - v1[r] for r in v1 if r in v2]
        return statistics.median(g) if g else None

    for label, f in [(f"{small} small files, first layer / snapshot", lambda t: med("small_repo", t)),
                     (f"{big} file, v1", lambda t: med("big_v1_repo", t)),
                     ("growth for v2 (3 MiB inserted)", growth)]:
        vals = [f(t) for t in tools]
        if all(v is None for v in vals):
            continue
        lines.append(f"| {label} | " + " | ".join("-" if v is None else mib(v) for v in vals) + " |")
    return lines


def splice(doc, block, begin=BEGIN, end=END):
    """Replaces what lies between the markers, or appends the markers and the block."""
    text = open(doc).read() if os.path.exists(doc) else ""
    if not block.endswith("\n"):
        block += "\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + begin + "\n" + block + end + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "# Benchmarks\n\n")
        text += begin + "\n" + block + end + "\n"
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("sizes")
    p.add_argument("--versions")
    p.add_argument("--command", default="scripts/compare.sh")
    p.add_argument("--params", default="")
    p.add_argument("--note", default="")
    p.add_argument("--load", default="")
    p.add_argument("--small", default="20k")
    p.add_argument("--big", default="2 GiB")
    p.add_argument("--huge", default="200k")
    p.add_argument("--scale", default="1000000")
    p.add_argument("--block", help="write between <!-- BLOCK:begin/end --> instead")
    p.add_argument("--doc")
    a = p.parse_args()
    results = load(a.results, 5)
    sizes = load(a.sizes, 4)
    timing, samples = timing_table(results, rows_for(a.small, a.big, a.huge, f"{int(a.scale):,}"))
    out = [f"Produced by `{a.command}` on {datetime.date.today().isoformat()} "
           f"({os.cpu_count()} cores). Medians of the rounds; the tools' order rotates every "
           "round; warm page cache (each command's inputs are read, then `sync`, just before it, "
           "untimed); cairn/peer below 1 means cairn is faster. `floor` does the same "
           "I/O with plain tools: for adds, `tar -cf` of the small files then an fsync, and "
           "`dd oflag=direct conv=fsync bs=4M` of the large one (direct I/O, then an fsync); "
           "`tar -xf` / `cp` for restores.", ""]
    if a.params:
        out += [f"Data: {a.params}.", ""]
    if a.versions and os.path.exists(a.versions):
        out += ["Versions: " + "; ".join(l.strip() for l in open(a.versions) if l.strip()) + ".", ""]
    if a.load:
        out += [f"Machine: {a.load}.", ""]
    if a.note.strip():
        out += [f"Note: {a.note.strip()}", ""]
    sizes_lines = size_table(sizes, a.small, a.big)
    out += timing + [""] + (sizes_lines + [""] if len(sizes_lines) > 2 else [])
    out += ["<details><summary>every round</summary>", ""] + samples + ["", "</details>", ""]
    block = "\n".join(out)
    print(block)
    if a.doc:
        if a.block:
            splice(a.doc, block, f"<!-- {a.block}:begin -->", f"<!-- {a.block}:end -->")
        else:
            splice(a.doc, block)
        print(f"written to {a.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
