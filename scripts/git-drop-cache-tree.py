#!/usr/bin/env python3
"""Drops the TREE (cache-tree) extension from a git index (versions 2 and 3), so that the
next `git commit` builds every tree again, as the first commit after `git add -A` does.
Used to time git's first commit of a million files more than once on one tree
(docs/BENCHMARKS.md, issue 17). Usage: git-drop-cache-tree.py .git/index"""
import hashlib, struct, sys
p = sys.argv[1]
b = open(p, 'rb').read()
assert b[:4] == b'DIRC'
ver, n = struct.unpack('>II', b[4:12])
assert ver in (2, 3), ver
at = 12
for _ in range(n):
    flags = struct.unpack('>H', b[at+60:at+62])[0]
    hdr = 62 + (2 if ver == 3 and flags & 0x4000 else 0)
    name_end = b.index(b'\0', at + hdr)
    at = at + ((name_end - at) // 8 + 1) * 8
out = bytearray(b[:at])
end = len(b) - 20
while at < end:
    sig, size = b[at:at+4], struct.unpack('>I', b[at+4:at+8])[0]
    if sig != b'TREE':
        out += b[at:at+8+size]
    at += 8 + size
out += hashlib.sha1(out).digest()
open(p, 'wb').write(out)
