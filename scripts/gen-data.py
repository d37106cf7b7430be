#!/usr/bin/env python3
"""Deterministic benchmark data for scripts/compare.sh and scripts/chunk-size.sh.

Every command takes a seed; the same arguments give the same bytes on every machine
(Python's Mersenne Twister `randbytes` is stable across 3.9+).

  gen-data.py small DIR --files N --dirs D [--nest K] [--min B --max B] [--seed S]
      N files of 1-10 KiB (or --min to --max bytes) of random bytes, spread over D
      directories (optionally grouped under K top-level directories).
  gen-data.py mutate DIR --fraction F [--seed S]
      Rewrites a fraction F of the files under DIR (every 1/F-th in sorted order) with new
      random content of a similar size.
  gen-data.py big FILE --size BYTES [--seed S]
      One file of random bytes.
  gen-data.py insert SRC DST --count C --insert BYTES [--seed S]
      DST = SRC with C blocks of random bytes inserted at evenly spread offsets
      (at 1/(C+1), 2/(C+1), ... of SRC, nudged off any round boundary).
  gen-data.py csv FILE --size BYTES [--seed S]
      A CSV dataset of about BYTES bytes: id, timestamp, sensor, floats, a label.
  gen-data.py csv-v2 SRC DST --edit F --append F [--cluster K] [--seed S]
      DST = SRC with a fraction of rows edited in place (values change, row count does not),
      picked uniformly or, with --cluster, as K contiguous runs; and a fraction of new rows
      appended.
"""
import argparse
import os
import random
import sys

BLOCK = 1 << 20


def parse_size(s):
    s = s.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    return int(s[:-1] if mult > 1 else s) * mult


def small(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    dirs = []
    for d in range(args.dirs):
        if args.nest:
            sub = os.path.join(args.dir, f"g{d % args.nest:02d}", f"d{d:04d}")
        else:
            sub = os.path.join(args.dir, f"d{d:03d}")
        os.makedirs(sub, exist_ok=True)
        dirs.append(sub)
    for i in range(args.files):
        size = rng.randint(args.min, args.max)
        path = os.path.join(dirs[i % args.dirs], f"f{i:06d}.bin")
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))


def mutate(args):
    rng = random.Random(args.seed)
    files = []
    for root, dirnames, names in os.walk(args.dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(os.path.join(root, n) for n in sorted(names))
    files.sort()
    step = max(1, round(1 / args.fraction))
    changed = files[::step]
    for path in changed:
        size = os.path.getsize(path)
        with open(path, "wb") as f:
            f.write(rng.randbytes(max(1, size + rng.randint(-512, 512))))
    print(f"changed {len(changed)} of {len(files)} files", file=sys.stderr)


def write_random(f, rng, n):
    while n > 0:
        k = min(n, BLOCK)
        f.write(rng.randbytes(k))
        n -= k


def big(args):
    rng = random.Random(args.seed)
    with open(args.file, "wb") as f:
        write_random(f, rng, parse_size(args.size))


def copy_range(src, dst, n):
    while n > 0:
        b = src.read(min(n, 8 * BLOCK))
        if not b:
            raise SystemExit("source ended early")
        dst.write(b)
        n -= len(b)


def insert(args):
    rng = random.Random(args.seed)
    total = os.path.getsize(args.src)
    ins = parse_size(args.insert)
    # Offsets at i/(C+1) of the file, plus an odd amount so they are not aligned to anything.
    offsets = [total * (i + 1) // (args.count + 1) + 12345 * (i + 1) for i in range(args.count)]
    with open(args.src, "rb") as src, open(args.dst, "wb") as dst:
        pos = 0
        for off in offsets:
            copy_range(src, dst, off - pos)
            pos = off
            write_random(dst, rng, ins)
        copy_range(src, dst, total - pos)
    print(f"inserted {args.count} x {ins} bytes at {offsets}", file=sys.stderr)


SENSORS = [f"sensor-{i:03d}" for i in range(200)]
LABELS = ["ok", "warn", "fail", "calibrating", "offline"]


def row(rng, i):
    vals = ",".join(f"{rng.gauss(20, 5):.4f}" for _ in range(6))
    ts = 1_700_000_000 + i * 7
    return f"{i},{ts},{SENSORS[i % len(SENSORS)]},{vals},{LABELS[rng.randrange(5)]}\n"


def csv(args):
    rng = random.Random(args.seed)
    target = parse_size(args.size)
    n = 0
    i = 0
    with open(args.file, "w") as f:
        f.write("id,ts,sensor,v1,v2,v3,v4,v5,v6,label\n")
        while n < target:
            r = row(rng, i)
            f.write(r)
            n += len(r)
            i += 1


def csv_v2(args):
    rng = random.Random(args.seed)
    with open(args.src) as f:
        lines = f.readlines()
    rows = len(lines) - 1
    n = int(rows * args.edit)
    if args.cluster:
        # n rows in `cluster` contiguous runs at seeded positions.
        run = max(1, n // args.cluster)
        starts = sorted(rng.sample(range(1, len(lines) - run), args.cluster))
        picked = sorted({s + j for s in starts for j in range(run)})
    else:
        picked = sorted(rng.sample(range(1, len(lines)), n))
    for k in picked:
        idx = int(lines[k].split(",", 1)[0])
        lines[k] = row(rng, idx)
    extra = int(rows * args.append)
    with open(args.dst, "w") as f:
        f.writelines(lines)
        for i in range(rows, rows + extra):
            f.write(row(rng, i))
    how = f"in {args.cluster} runs" if args.cluster else "uniformly"
    print(f"edited {len(picked)} of {rows} rows {how}, appended {extra}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("small")
    s.add_argument("dir")
    s.add_argument("--files", type=int, required=True)
    s.add_argument("--dirs", type=int, required=True)
    s.add_argument("--nest", type=int, default=0)
    s.add_argument("--min", type=int, default=1024)
    s.add_argument("--max", type=int, default=10 * 1024)
    s.set_defaults(func=small)
    s = sub.add_parser("mutate")
    s.add_argument("dir")
    s.add_argument("--fraction", type=float, required=True)
    s.set_defaults(func=mutate)
    s = sub.add_parser("big")
    s.add_argument("file")
    s.add_argument("--size", required=True)
    s.set_defaults(func=big)
    s = sub.add_parser("insert")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--count", type=int, default=3)
    s.add_argument("--insert", default="1M")
    s.set_defaults(func=insert)
    s = sub.add_parser("csv")
    s.add_argument("file")
    s.add_argument("--size", required=True)
    s.set_defaults(func=csv)
    s = sub.add_parser("csv-v2")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--edit", type=float, default=0.01)
    s.add_argument("--append", type=float, default=0.01)
    s.add_argument("--cluster", type=int, default=0, help="edit in this many runs of rows")
    s.set_defaults(func=csv_v2)
    for s in sub.choices.values():
        s.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
