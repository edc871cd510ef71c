#!/usr/bin/env python3
"""Write a gzip'd newc cpio archive (an initramfs) from a directory tree.

  mkinitramfs.py SRC_DIR OUT.cpio.gz

Regular files, directories and symlinks; everything owned by root, modes kept,
mtimes zeroed (the archive depends only on the content). The kernel accepts
several such archives concatenated, so a common part and a per-kernel part
(modules) are built separately and joined with cat.
"""
import gzip
import os
import stat
import sys


def entry(out, name, mode, data=b"", ino=[1000]):
    ino[0] += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join(
        "%08x" % v
        for v in (ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0)
    )
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(dst, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=3, mtime=0) as out:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            if rel != ".":
                entry(out, rel, stat.S_IFDIR | 0o755)
            for f in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
                p = os.path.join(root, f)
                name = os.path.normpath(os.path.join(rel, f))
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    entry(out, name, stat.S_IFLNK | 0o777, os.readlink(p).encode())
                elif stat.S_ISREG(st.st_mode):
                    entry(out, name, stat.S_IFREG | (st.st_mode & 0o777), open(p, "rb").read())
        entry(out, "TRAILER!!!", 0)


if __name__ == "__main__":
    main()
