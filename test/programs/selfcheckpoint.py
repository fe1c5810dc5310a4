#!/usr/bin/env python3
"""Checkpoints itself COUNT times through $GODWIT_CONTROL/checkpoint, as a MOSIX program does
through /proc/self/checkpoint: each write returns once the checkpoint is taken (or refused),
and one read then gives its number (or the reason). Prints `checkpoint K -> ANSWER at NODE`
after each, then `result=done`; exits 0.

usage: selfcheckpoint.py COUNT"""
import os
import sys


def path(name):
    return os.path.join(os.environ["GODWIT_CONTROL"], name)


def read(name):
    with open(path(name)) as f:
        return f.read().strip()


for k in range(1, int(sys.argv[1]) + 1):
    with open(path("checkpoint"), "w") as f:
        f.write("1\n")
    print(f"checkpoint {k} -> {read('checkpoint')} at {read('whereami')}", flush=True)
print("result=done", flush=True)
