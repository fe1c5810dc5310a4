#!/usr/bin/env python3
"""sigcatch.py [TICKS]: prints "sigcatch: ready", then "tick N" every 200 ms (TICKS times, default
3000), and "got SIGNAME" for each SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT and SIGQUIT
it receives; then "result=ticks N" and exits 0. SIGINT, SIGTERM and SIGTSTP keep their default
actions (it ends, or stops), so a test sees them act as on a local program."""
import signal
import sys
import time

CAUGHT = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGWINCH", "SIGCONT", "SIGQUIT"]


def caught(num, _frame):
    print(f"got {signal.Signals(num).name}", flush=True)


for name in CAUGHT:
    signal.signal(getattr(signal, name), caught)
# Python turns SIGINT into an exception; here it ends the program as it ends a C program
signal.signal(signal.SIGINT, signal.SIG_DFL)

ticks = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
print("sigcatch: ready", flush=True)
for i in range(1, ticks + 1):
    print(f"tick {i}", flush=True)
    time.sleep(0.2)
print(f"result=ticks {ticks}", flush=True)
