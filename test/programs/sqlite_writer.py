#!/usr/bin/env python3
"""sqlite_writer.py DB [ROWS]: writes ROWS rows (default 100) into the SQLite database DB in WAL mode,
one row every 100 ms, each in its own transaction, printing "insert I" after each commit. At the end
it counts the rows and sums them with SQL and prints
    result=rows=<ROWS> sum=<ROWS*(ROWS+1)*(2*ROWS+1)/6>
exiting 0 only if both match. Any existing DB (and its -wal/-shm files) is replaced at the start.

The open connection holds POSIX locks on the database and a MAP_SHARED mapping of DB-shm:
checkpoint it with --file-locks.
"""
import os
import sqlite3
import sys
import time


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: sqlite_writer.py DB [ROWS]", file=sys.stderr)
        return 2
    db = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    if rows < 1:
        print("sqlite_writer: ROWS must be at least 1", file=sys.stderr)
        return 2
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    con = sqlite3.connect(db, isolation_level=None)
    mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        print(f"sqlite_writer: journal_mode is {mode}, not wal", flush=True)
        return 1
    con.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, sq INTEGER NOT NULL, note TEXT NOT NULL)")
    print(f"sqlite_writer: {db}, {rows} rows, journal_mode={mode}", flush=True)
    for i in range(1, rows + 1):
        con.execute("BEGIN")
        con.execute("INSERT INTO t (i, sq, note) VALUES (?, ?, ?)", (i, i * i, f"row {i} " + "x" * 100))
        con.execute("COMMIT")
        print(f"insert {i}", flush=True)
        time.sleep(0.1)
    count, total = con.execute("SELECT count(*), sum(sq) FROM t").fetchone()
    check = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    want = rows * (rows + 1) * (2 * rows + 1) // 6
    if count != rows or total != want or check != "ok":
        print(f"sqlite_writer: FAILED count={count} sum={total} integrity={check}; "
              f"expected count={rows} sum={want}", flush=True)
        return 1
    print(f"result=rows={count} sum={total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
