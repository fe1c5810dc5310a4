#!/usr/bin/env python3
"""Moves itself through its control directory ($GODWIT_CONTROL), as a MOSIX program would
through /proc/self: locks itself (lock 1), declares memory it needs (needmem 64M), checkpoints
itself (checkpoint 1: the write returns once it is taken; one read gives its number), asks for a node that does not
exist (refused, it runs on), then migrates itself to each TARGET in turn
(a node name or home), reading back whereami and nmigs after each. Prints `tick N` every
100 ms throughout; exits with status 3.

usage: selfmigrate.py TARGET..."""
import os
import sys
import time

TICK_S = 0.1
ANSWER_TIMEOUT_S = 60
tick = 0


def ticking(seconds):
    global tick
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick += 1
        print(f"tick {tick}", flush=True)
        time.sleep(TICK_S)


def read(name):
    # open, read, close: nothing of the control directory is held open across a move
    with open(os.path.join(os.environ["GODWIT_CONTROL"], name)) as f:
        return f.read().strip()


def ask(name, value):
    """Writes a request and ticks until the file holds its answer: `ok ...` or `error: ...`."""
    with open(os.path.join(os.environ["GODWIT_CONTROL"], name), "w") as f:
        f.write(value + "\n")
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        now = read(name)
        if now != value and (now.startswith("ok ") or now.startswith("error:")):
            return now
        ticking(TICK_S)
    print(f"result=no answer to {name} {value}", flush=True)
    sys.exit(1)


def checkpoint():
    """As on MOSIX: the write returns once the checkpoint is taken, and one read gives its number."""
    with open(os.path.join(os.environ["GODWIT_CONTROL"], "checkpoint"), "w") as f:
        f.write("1\n")
    return read("checkpoint")


def main():
    print(f"start whereami={read('whereami')} nmigs={read('nmigs')} lock={read('lock')}", flush=True)
    ticking(0.5)
    print(f"lock -> {ask('lock', '1')}", flush=True)
    print(f"needmem -> {ask('needmem', '64M')}", flush=True)
    print(f"checkpoint -> {checkpoint()}", flush=True)
    print(f"refused -> {ask('migrate', 'nosuchnode')}", flush=True)
    for target in sys.argv[1:]:
        ticking(0.5)
        print(f"migrate {target} -> {ask('migrate', target)}", flush=True)
        where, moves = read("whereami"), read("nmigs")
        print(f"whereami={where} nmigs={moves}", flush=True)
        ticking(2)
    print(f"result=at {read('whereami')} after {read('nmigs')} move(s)", flush=True)
    sys.exit(3)


main()
