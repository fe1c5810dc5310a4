#!/usr/bin/env bash
# Spike (issue 21): can CRIU move a program that has a network namespace of its own, with a macvlan
# on its node's cluster-side link, from one node's namespace to another's, keeping the address and
# an established TCP connection to a client in the host's namespace?
# Builds its own small network (bridge mip85b, nodes mip85n0/1 at 10.185.0.10/11, program at .100),
# removes all of it on exit. Run as root from anywhere: bash test/spikes/moveip-spike.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=$(python3 -c 'import sys; print(sys.executable)')
work=$(mktemp -d /var/tmp/moveip-spike.XXXXXX)
B=mip85b N0=mip85n0 N1=mip85n1 P=10.185.0.100
cleanup() {
  [ -n "${client:-}" ] && kill "$client" 2>/dev/null
  for pid in $(cat "$work/pids" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns delete $N0 2>/dev/null; ip netns delete $N1 2>/dev/null; ip netns delete mip85p 2>/dev/null
  ip link delete $B 2>/dev/null
  nft list tables 2>/dev/null | grep -q CRIU && echo "LEFT: a CRIU nft table in the host"
  rm -rf "$work"
}
trap cleanup EXIT
ip link add $B type bridge && ip addr add 10.185.0.1/24 dev $B && ip link set $B up
for i in 0 1; do
  ip netns add mip85n$i
  ip link add mip85v$i type veth peer name mip85q$i
  ip link set mip85q$i netns mip85n$i && ip -n mip85n$i link set mip85q$i name eth0
  ip link set mip85v$i master $B up
  ip -n mip85n$i addr add 10.185.0.1$i/24 dev eth0 && ip -n mip85n$i link set eth0 up && ip -n mip85n$i link set lo up
done
# the program's namespace: a macvlan on node0's eth0, its own address, loopback, default route
ip netns add mip85p
ip -n $N0 link add link eth0 name mv0 type macvlan mode bridge
ip -n $N0 link set mv0 netns mip85p && ip -n mip85p link set mv0 name eth0
ip -n mip85p addr add $P/24 dev eth0 && ip -n mip85p link set eth0 up && ip -n mip85p link set lo up
ip -n mip85p route add default via 10.185.0.1
mac0=$(ip -n mip85p -br link show eth0 | awk '{print $3}')
# start the program in it: own pid, ipc, mount namespaces as godwit's keeper does; the name is
# unmounted (its mount ns is private) so no nsfs mount is inside the program's mount namespace
nsenter --net=/run/netns/mip85p unshare --pid --ipc --mount --mount-proc --fork setsid \
  bash -c 'for fd in $(ls /proc/$$/fd); do [ $fd -gt 2 ] && eval "exec $fd>&-"; done; for m in $(awk "\$5 ~ \"^/run/netns/.\" {print \$5}" /proc/self/mountinfo); do umount $m; done; umount /run/netns 2>/dev/null; exec </dev/null >/dev/null 2>/dev/null; exec tini -s -- '"$PY $here/ip-server.py" \
  </dev/null >"$work/server.out" 2>&1 &
echo $! >>"$work/pids"
for _ in $(seq 100); do sleep 0.1; root=$(pgrep -P $! -x tini 2>/dev/null || true); [ -n "$root" ] && break; sleep 0.1; done
[ -n "$root" ] || { echo "no tini under $!:"; cat "$work/server.out"; ps -o pid,ppid,comm --ppid $! ; exit 1; }
echo "program tree root (tini): $root"
# the init of the program's PID namespace: killing it ends the whole tree (unshare, recorded
# above, is only its parent, and a dump that fails leaves the program running)
echo "$root" >>"$work/pids"
ip netns delete mip85p   # the namespace lives on with the program
for _ in $(seq 100); do (echo 0 | timeout 1 bash -c "exec 3<>/dev/tcp/$P/7000 && echo 0 >&3 && head -1 <&3" ) >/dev/null 2>&1 && break; sleep 0.2; done
"$PY" "$here/ip-client.py" $P "$work/stop" >"$work/client.out" 2>&1 &
client=$!
sleep 1
mkdir "$work/img"
t0=$(date +%s%N)
nsenter --net=/run/netns/$N0 criu dump -t "$root" -D "$work/img" -o dump.log --tcp-established \
  --network-lock nftables --file-locks --link-remap --external 'macvlan[eth0]:eth0' \
  && echo "DUMP ok" || { echo "DUMP failed:"; grep -E 'Error|err' "$work/img/dump.log" | tail -15; exit 1; }
t1=$(date +%s%N)
nsenter --net=/run/netns/$N1 criu restore -d -D "$work/img" -o restore.log --tcp-established \
  --network-lock nftables --file-locks --link-remap --root / --external 'macvlan[eth0]:eth0' \
  --pidfile "$work/restored.pid" \
  && echo "RESTORE ok" || { echo "RESTORE failed:"; grep -E 'Error|err' "$work/img/restore.log" | tail -15; exit 1; }
t2=$(date +%s%N)
new=$(cat "$work/restored.pid"); echo "$new" >>"$work/pids"
echo "restored root PID $new; in node1's netns: $( [ "$(readlink /proc/$new/ns/net)" != "$(readlink /run/netns/$N1 2>/dev/null)" ] && echo own-ns)"
mac1=$(nsenter --net=/proc/$new/ns/net ip -br link show eth0 | awk '{print $3}')
echo "node1 eth0 index: $(ip -n $N1 -o link show eth0 | cut -d: -f1)"
echo "program's link before: $mac0 after: $mac1; parent now: $(nsenter --net=/proc/$new/ns/net ip -d link show eth0 | grep -o 'macvlan mode [a-z]*')"
nsenter --net=/proc/$new/ns/net ip -br addr show eth0
[ "${GARP:-1}" = 1 ] && nsenter --net=/proc/$new/ns/net "$PY" "$here/garp.py" eth0 $P && echo "gratuitous ARP sent"
t3=$(date +%s%N)
echo "dump $(( (t1-t0)/1000000 )) ms, restore $(( (t2-t1)/1000000 )) ms, announce $(( (t3-t2)/1000000 )) ms"
sleep 2
# a second client connecting after the move
echo "second client: $(timeout 5 bash -c "exec 3<>/dev/tcp/$P/7000 && echo 42 >&3 && head -1 <&3")"
touch "$work/stop"; wait $client; echo "client: $(cat "$work/client.out")"
nft list tables | grep CRIU && echo "CRIU nft table left in host"
nsenter --net=/run/netns/$N1 nft list tables | grep CRIU && echo "CRIU nft table left in node1"
true
