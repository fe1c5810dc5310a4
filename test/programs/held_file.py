#!/usr/bin/env python3
"""held_file.py PATH MIB keep|deleted LINES

Writes MIB MiB of a known pattern to PATH and keeps the file open (`deleted`: removes PATH at
once, so it lives on only through the open descriptor), prints `held N` every 100 ms for LINES
lines, then reads the whole file back through its descriptor and prints
`result=MIB MiB intact`, or `result=bad at OFFSET` where the content is not what it wrote.
"""
import os
import sys
import time

MiB = 1 << 20


def block(k: int) -> bytes:
    """the k-th MiB: a pattern that differs from block to block, so a misplaced block shows"""
    return bytes((i * 7 + k) % 256 for i in range(256)) * (MiB // 256)


def main() -> int:
    path, mib, how, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    for k in range(mib):
        os.write(fd, block(k))
    os.fsync(fd)
    if how == 'deleted':
        os.unlink(path)
    for n in range(1, lines + 1):
        print(f'held {n}', flush=True)
        time.sleep(0.1)
    for k in range(mib):
        if os.pread(fd, MiB, k * MiB) != block(k):
            print(f'result=bad at {k * MiB}', flush=True)
            return 1
    print(f'result={mib} MiB intact', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
