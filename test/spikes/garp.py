# Spike's gratuitous ARP: run inside the program's namespace; announces argv[2] on link argv[1].
import socket, sys, fcntl, struct
dev, ip = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0x0806))
mac = s.getsockname()[4]
ipb = socket.inet_aton(ip)
bc = b'\xff' * 6
arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac + ipb + b'\x00' * 6 + ipb
s.send(bc + mac + b'\x08\x06' + arp)
