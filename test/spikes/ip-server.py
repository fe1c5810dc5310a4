# Spike's server: answers each numbered line "n" with "n ok" on one port, every client.
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 7000)); s.listen(8)
def serve(c):
    f = c.makefile('rwb', buffering=0)
    for line in f:
        f.write(line.strip() + b' ok\n')
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
