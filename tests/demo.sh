#!/bin/sh
# demo.sh BUILD_DIR - start socks5d and a web server on loopback, fetch a page
# through socksify.sh with curl, and show socks5d's log line for that session.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

wait_for_line() { # file pattern
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 500 ] || { echo "demo: timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1; }
		sleep 0.01
	done
}

echo "Hello from behind the proxy ($(date -u +%H:%M:%S))" > "$tmp/index.html"
"$root/$build/socks5d" -l 127.0.0.1:0 > "$tmp/socks5d.out" 2> "$tmp/socks5d.log" &
pids="$pids $!"
(cd "$tmp" && exec /usr/bin/python3 -u -m http.server --bind 127.0.0.1 0 > "$tmp/http.out" 2>&1) &
pids="$pids $!"
wait_for_line "$tmp/socks5d.out" "listening on"
wait_for_line "$tmp/http.out" "Serving HTTP"
proxy=$(sed -n 's/.*listening on //p' "$tmp/socks5d.out" | head -1)
port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/http.out" | head -1)

echo "socks5d listening on $proxy; web server on 127.0.0.1:$port"
echo "\$ ./socksify.sh -v -n '' -x socks5://$proxy curl -s http://127.0.0.1:$port/index.html"
# -n '' proxies loopback too (by default loopback goes direct).
"$root/socksify.sh" -v -n '' -x "socks5://$proxy" curl -s "http://127.0.0.1:$port/index.html"
wait_for_line "$tmp/socks5d.log" "session "
echo "socks5d's log for that session:"
grep "session " "$tmp/socks5d.log"
