# Spike's client (host namespace): one connection, a numbered request every 10 ms until told to stop
# (the file named by argv[2] appears); prints answers seen, the longest gap, and any error.
import socket, sys, time, os
addr, stopfile = sys.argv[1], sys.argv[2]
c = socket.create_connection((addr, 7000), timeout=30)
f = c.makefile('rwb', buffering=0)
n, last, gap, err = 0, time.monotonic(), 0.0, None
try:
    while not os.path.exists(stopfile):
        n += 1
        f.write(b'%d\n' % n)
        got = f.readline()
        if got != b'%d ok\n' % n:
            err = 'answer %r to %d' % (got, n); break
        now = time.monotonic(); gap = max(gap, now - last); last = now
        time.sleep(0.01)
except Exception as e:
    err = repr(e)
print('answers=%d longest_gap_ms=%.0f error=%s' % (n if not err else n - 1, gap * 1000, err), flush=True)
