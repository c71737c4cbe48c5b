#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
"""Writes the snapshot JSON of bench_push.sh's repository to stdout (what `clsync backup` would
write for the packed chunks): objects.txt lines "key hash object_sha256 object_size", VOLUME the
directory the keys are relative to. Format: core/repo/snapshot.cpp (clsync-snapshot, version 1)."""
import hashlib
import os
import socket
import sys
import time


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(chunk):
    files, dirs = [], []
    for root, dnames, fnames in os.walk(chunk):
        rel = os.path.relpath(root, chunk)
        rel = "" if rel == "." else rel
        st = os.lstat(root)
        dirs.append({"path": rel, "mode": st.st_mode & 0o7777, "uid": st.st_uid,
                     "gid": st.st_gid, "mtime_ns": st.st_mtime_ns})
        for n in fnames:
            p = os.path.join(root, n)
            st = os.lstat(p)
            files.append({"path": os.path.join(rel, n) if rel else n, "size": st.st_size,
                          "mtime_ns": st.st_mtime_ns, "mode": st.st_mode & 0o7777,
                          "uid": st.st_uid, "gid": st.st_gid, "sha256": sha256_file(p)})
    files.sort(key=lambda f: f["path"])
    dirs.sort(key=lambda d: d["path"], reverse=True)  # children first, the chunk's own last
    return files, dirs


def main():
    objects, volume = sys.argv[1], sys.argv[2]
    chunks = []
    for line in open(objects):
        key, obj, sha, size = line.split()
        parts = key.split("/")
        files, dirs = manifest(os.path.join(volume, key))
        chunks.append({"key": key, "db": parts[0], "table": parts[-1],
                       "partition": parts[1:-1], "files": files, "directories": dirs,
                       "object": obj, "object_sha256": sha, "object_size": int(size)})
    chunks.sort(key=lambda c: c["key"])
    now = time.gmtime()
    snap = {"format": "clsync-snapshot", "version": 1,
            "id": time.strftime("%Y%m%dT%H%M%SZ", now) + "-" + os.urandom(4).hex(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", now), "cluster": "demo-a",
            "host": socket.gethostname(), "tag": "bench",
            "filters": {"dbs": [], "tables": [], "partitions": [], "where": [], "chunks": [],
                        "columns": [], "utc": False},
            "chunks": chunks}
    import json
    json.dump(snap, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
