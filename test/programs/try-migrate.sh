#!/bin/bash
# try-migrate.sh [-n HOPS] [-d DELAY] [-f FEED] PROGRAM ARGS...
#
# Checks by hand that PROGRAM migrates with CRIU under godwit's launch model, with no agent or
# orchestrator involved: it launches PROGRAM through godwit-keeper (as PID 1 = tini of new PID,
# mount and IPC namespaces) inside a fresh network namespace A, lets it run, dumps it with CRIU,
# restores it through a new keeper in a second network namespace B (fresh stdin/stdout/stderr
# pipes handed over with --inherit-fd), and repeats HOPS times (A -> B -> A ...). Then it waits for
# the program to exit and prints, on stdout, everything the program wrote to stdout in all epochs,
# followed by a summary line
#   try-migrate: PROGRAM hops=H exit=CODE signal=SIG
# Its own exit status is the program's exit status, or 125 when launching, dumping or restoring
# failed (CRIU's log is then printed on stderr).
#
#   -n HOPS   number of migrations (default 2)
#   -d DELAY  seconds each epoch runs (after its first output) before it is dumped (default 2)
#   -f FEED   for programs that read stdin (stdin_echo): send FEED lines in every epoch, wait until
#             they are echoed, and close stdin after the last epoch's lines
#   -k        keep the scratch directory (images, CRIU logs, keeper files) and print its path
#
# "{tmp}" in ARGS is replaced with a scratch directory (also the program's working directory).
# Needs root, ip(8), nsenter(1), CRIU at $CRIU (default /usr/local/sbin/criu), tini at $TINI
# (default /usr/bin/tini) and agent/keeper/godwit-keeper (built here if missing).
# Everything it creates (two network namespaces, one scratch directory) is removed at the end, and
# the only processes it stops are those it started, by PID.
set -u

HOPS=2 DELAY=2 FEED=0 KEEP=
while getopts n:d:f:k opt; do
	case $opt in
	k) KEEP=1 ;;
	n) HOPS=$OPTARG ;;
	d) DELAY=$OPTARG ;;
	f) FEED=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n HOPS] [-d DELAY] [-f FEED] PROGRAM ARGS..." >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRIU=${CRIU:-/usr/local/sbin/criu}
TINI=${TINI:-/usr/bin/tini}
KEEPER=$ROOT/agent/keeper/godwit-keeper
[ -x "$KEEPER" ] || make -s -C "$ROOT/agent/keeper" >&2 || exit 125

prog=$1
shift
if [[ $prog != /* ]]; then
	if [ -e "$prog" ]; then prog=$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog")
	elif [ -e "$ROOT/$prog" ]; then prog=$ROOT/$prog
	elif [ -e "$HERE/$prog" ]; then prog=$HERE/$prog
	elif [ -e "$HERE/bin/$prog" ]; then prog=$HERE/bin/$prog
	fi
fi
[ -x "$prog" ] || { echo "try-migrate: $prog is not an executable (run make in $HERE?)" >&2; exit 2; }
name=$(basename "$prog")

W=$(mktemp -d /tmp/gwtp.XXXXXX)
D=$W/p
T=$W/tmp
mkdir -p "$D" "$T"
mkfifo "$D/stdin"
args=()
for a in "$@"; do args+=("${a//\{tmp\}/$T}"); done

NS=(gwtp$$a gwtp$$b)
keepers=()  # PIDs of the keepers we started
roots=()    # host PIDs of the program's root (tini) in every epoch

say() { echo "try-migrate: $*" >&2; }

cleanup() {
	local p
	for p in "${roots[@]}" "${keepers[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	for p in "${keepers[@]}"; do wait "$p" 2>/dev/null; done
	for n in "${NS[@]}"; do
		if ip netns list | grep -qw "^$n"; then
			local left
			left=$(ip netns exec "$n" nft list tables 2>/dev/null)
			[ -n "$left" ] && say "nftables left behind in $n: $left"
			ip netns del "$n"
		fi
	done
	if [ -n "$KEEP" ]; then say "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in "${NS[@]}"; do
	ip netns add "$n" && ip -n "$n" link set lo up || exit 125
done

# frames OUT TYPES: the payloads of the frames whose type is in TYPES of an epoch's output
# (its keeper's segments OUT.START, in order), concatenated
frames() {
	python3 - "$1" "$2" <<'EOF'
import glob, struct, sys
segments = [(int(p.rsplit('.', 1)[1]), p) for p in glob.glob(glob.escape(sys.argv[1]) + '.*') if p.rsplit('.', 1)[1].isdigit()]
data = b''.join(open(p, 'rb').read() for _, p in sorted(segments))
out, i = sys.stdout.buffer, 0
while i + 5 <= len(data):
    t, n = data[i:i + 1].decode(), struct.unpack('<I', data[i + 1:i + 5])[0]
    if t in sys.argv[2]:
        try:
            out.write(data[i + 5:i + 5 + n])
            out.flush()
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(0)
    i += 5 + n
EOF
}

# event EPOCH NAME: the last status.EPOCH line with "ev":"NAME"
event() { grep "\"ev\":\"$2\"" "$D/status.$1" 2>/dev/null | tail -1; }
field() { sed -n "s/.*\"$2\":\([0-9-]*\).*/\1/p" <<<"$1"; }

# send_input TEXT | send_close: frames for the keeper's stdin FIFO
send_input() {
	python3 -c 'import struct,sys; d=sys.argv[1].encode(); sys.stdout.buffer.write(b"d"+struct.pack("<I",len(d))+d)' "$1" >"$D/stdin"
}
send_close() { printf 'c\0\0\0\0' >"$D/stdin"; }

now_ms() { date +%s%3N; }

# wait_started EPOCH TIMEOUT_S: sets root, in, out, err
wait_started() {
	local e=$1 deadline=$(($(date +%s) + $2)) ev
	while :; do
		ev=$(event "$e" started)
		[ -n "$ev" ] && break
		if [ -n "$(event "$e" restore-failed)" ] || ! kill -0 "${keepers[$e]}" 2>/dev/null; then
			say "epoch $e did not start: $(cat "$D/status.$e" 2>/dev/null) $(cat "$W/k$e.log" 2>/dev/null)"
			return 1
		fi
		[ "$(date +%s)" -lt "$deadline" ] || { say "epoch $e: no start after $2 s"; return 1; }
		sleep 0.05
	done
	root=$(field "$ev" pid) in=$(field "$ev" in) out=$(field "$ev" out) err=$(field "$ev" err)
	roots[$e]=$root
}

# echoed: how many "N: ..." lines the program has printed so far
echoed() {
	local e c=0
	for ((e = 0; e <= $1; e++)); do
		c=$((c + $(frames "$D/out.$e" o | grep -c '^[0-9]*: ')))
	done
	echo "$c"
}

fail() {
	say "$name: $*"
	exit 125
}

# --- epoch 0: launch in namespace A ---
nsenter --net=/run/netns/${NS[0]} setsid "$KEEPER" "$D" 0 launch "$T" -- "$TINI" -s -- "$prog" "${args[@]}" \
	</dev/null >"$W/k0.log" 2>&1 &
keepers[0]=$!
wait_started 0 10 || fail "launch failed"
say "$name: launched, root pid ${roots[0]} in ${NS[0]}"

declare -a dump_ms restore_ms
for ((h = 1; h <= HOPS; h++)); do
	e=$((h - 1))
	src=${NS[$((e % 2))]} dst=${NS[$((h % 2))]}
	# let it run: wait for output from this epoch (or, feeding stdin, for the echoes), then DELAY s
	for ((i = 0; i < 200 && FEED == 0; i++)); do
		[ -n "$(frames "$D/out.$e" o | head -c1)" ] && break
		sleep 0.05
	done
	[ "$FEED" -gt 0 ] || [ -n "$(frames "$D/out.$e" o | head -c1)" ] || fail "epoch $e printed nothing in 10 s"
	if [ "$FEED" -gt 0 ]; then
		for ((k = 1; k <= FEED; k++)); do send_input "line $k of epoch $e"$'\n'; done
		want=$((FEED * h))
		for ((i = 0; i < 200; i++)); do
			[ "$(echoed "$e")" -ge "$want" ] && break
			sleep 0.05
		done
		[ "$(echoed "$e")" -ge "$want" ] || fail "epoch $e echoed $(echoed "$e") of $want lines"
	fi
	sleep "$DELAY"
	[ -z "$(event "$e" exited)" ] || fail "program exited before hop $h; give it a longer run"

	img=$W/img$h
	mkdir -p "$img"
	t0=$(now_ms)
	if ! nsenter --net=/run/netns/$src "$CRIU" dump -t "$root" -D "$img" -o dump.log \
		--file-locks --tcp-established --network-lock nftables --link-remap; then
		grep -E 'Error|Warn' "$img/dump.log" | tail -20 >&2
		fail "hop $h: criu dump failed (log above)"
	fi
	dump_ms[$h]=$(($(now_ms) - t0))
	# the old keeper sees its program's pipes close and exits by itself
	for ((i = 0; i < 200; i++)); do
		kill -0 "${keepers[$e]}" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "${keepers[$e]}" 2>/dev/null && fail "keeper of epoch $e still running after the dump"
	wait "${keepers[$e]}" 2>/dev/null

	t0=$(now_ms)
	nsenter --net=/run/netns/$dst setsid "$KEEPER" "$D" "$h" restore "$img/restore.pid" -- \
		"$CRIU" restore -d -D "$img" -o restore.log --pidfile "$img/restore.pid" --root / \
		--manage-cgroups=ignore --file-locks --tcp-established --link-remap --network-lock nftables \
		--inherit-fd "fd[3]:pipe:[$in]" --inherit-fd "fd[4]:pipe:[$out]" --inherit-fd "fd[5]:pipe:[$err]" \
		</dev/null >"$W/k$h.log" 2>&1 &
	keepers[$h]=$!
	if ! wait_started "$h" 30; then
		grep -E 'Error|Warn' "$img/restore.log" | tail -20 >&2
		fail "hop $h: criu restore failed (log above)"
	fi
	restore_ms[$h]=$(($(now_ms) - t0))
	say "$name: hop $h ${src} -> ${dst}: dump ${dump_ms[$h]} ms, restore ${restore_ms[$h]} ms, root pid ${roots[$h]}"
	# CRIU's network lock table stays in the source namespace: the restore ran elsewhere and could
	# not remove it. Whoever moves a program must delete it from the source after a good restore.
	for t in $(ip netns exec "$src" nft list tables 2>/dev/null | sed -n 's/^table inet \(CRIU-[^ ]*\)$/\1/p'); do
		say "hop $h: removing CRIU's lock table $t left in $src"
		ip netns exec "$src" nft delete table inet "$t"
	done
done

last=$HOPS
if [ "$FEED" -gt 0 ]; then
	for ((k = 1; k <= FEED; k++)); do send_input "line $k of epoch $last"$'\n'; done
	send_close
fi
# --- wait for the end ---
for ((i = 0; i < 6000; i++)); do
	[ -n "$(event "$last" exited)" ] && break
	kill -0 "${keepers[$last]}" 2>/dev/null || break
	sleep 0.1
done
ev=$(event "$last" exited)
[ -n "$ev" ] || fail "no exit recorded for epoch $last after 600 s"
wait "${keepers[$last]}" 2>/dev/null

for ((e = 0; e <= last; e++)); do frames "$D/out.$e" o; done
for ((e = 0; e <= last; e++)); do
	errs=$(frames "$D/out.$e" e)
	[ -z "$errs" ] || { echo "--- stderr of epoch $e:"; echo "$errs"; } >&2
	if [ "$e" -lt "$last" ]; then
		x=$(frames "$D/out.$e" x)
		[ "$x" = '{"code":-1,"signal":9}' ] || say "epoch $e ended with $x (expected CRIU's SIGKILL after the dump)"
	fi
done
code=$(field "$ev" code) sig=$(field "$ev" signal)
echo "try-migrate: $name hops=$HOPS exit=$code signal=$sig"
[ "$sig" = 0 ] || exit 125
exit "$code"
