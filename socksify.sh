#!/usr/bin/env bash
# socksify.sh - run a program with its network traffic sent through a SOCKS5 proxy.
# See --help, and README.md for the details.
set -u

SOCKSIFY_VERSION=0.1.0
prog=socksify

usage() {
	cat <<'USAGE'
Usage: socksify.sh [OPTIONS] [--] COMMAND [ARGS...]

Run COMMAND with its TCP connections sent through a SOCKS5 proxy (LD_PRELOAD).
Nothing goes direct: if the proxy is unusable, connections fail.

Options:
  -x, --proxy URL       proxy, socks5://[user:pass@]host[:port] (socks5h:// is the same;
                        IPv6 as socks5://[::1]:1080). Default: $SOCKSIFY_PROXY
  -t, --timeout SECS    deadline for reaching the proxy and its answer (default 10)
  -n, --no-proxy LIST   addresses/CIDRs that go direct, comma separated
                        (default 127.0.0.0/8,::1; "" sends everything to the proxy)
  -v, --verbose         log each proxied connection (-vv: debug)
  -q, --quiet           log nothing, not even errors
      --log-file FILE   append log lines to FILE instead of stderr
      --force           run COMMAND even if it is static, setuid or Go (it will NOT be proxied)
  -h, --help            show this help
  -V, --version         show the version

Environment: SOCKSIFY_PROXY, SOCKSIFY_TIMEOUT, SOCKSIFY_NO_PROXY, SOCKSIFY_LOG
(none|error|warn|info|debug), SOCKSIFY_LOG_FILE, SOCKSIFY_LIB (library to preload).
Options win over the environment.

Examples:
  socksify.sh -x socks5://127.0.0.1:1080 curl http://example.com/
  SOCKSIFY_PROXY=socks5://alice:secret@proxy:1080 socksify.sh git fetch
USAGE
}

die() { # status, message
	echo "$prog: $2" >&2
	exit "$1"
}

need_arg() { [ $# -ge 2 ] || die 2 "option $1 needs a value (see --help)"; }

# Find our files next to this script, following symlinks (installed or in the source tree).
self=$(readlink -f -- "${BASH_SOURCE[0]}")
here=${self%/*}
find_file() {
	local name=$1 d
	for d in ${SOCKSIFY_LIB:+"${SOCKSIFY_LIB%/*}"} "$here" "$here/build" "$here/../lib/socksify"; do
		[ -e "$d/$name" ] && { echo "$d/$name"; return 0; }
	done
	return 1
}

force=0 verbose=0
while [ $# -gt 0 ]; do
	case $1 in
	-x | --proxy) need_arg "$@"; export SOCKSIFY_PROXY=$2; shift 2 ;;
	--proxy=*) export SOCKSIFY_PROXY=${1#*=}; shift ;;
	-t | --timeout) need_arg "$@"; export SOCKSIFY_TIMEOUT=$2; shift 2 ;;
	--timeout=*) export SOCKSIFY_TIMEOUT=${1#*=}; shift ;;
	-n | --no-proxy) need_arg "$@"; export SOCKSIFY_NO_PROXY=$2; shift 2 ;;
	--no-proxy=*) export SOCKSIFY_NO_PROXY=${1#*=}; shift ;;
	--log-file) need_arg "$@"; export SOCKSIFY_LOG_FILE=$2; shift 2 ;;
	--log-file=*) export SOCKSIFY_LOG_FILE=${1#*=}; shift ;;
	-v | --verbose) verbose=$((verbose + 1)); shift ;;
	-vv) verbose=$((verbose + 2)); shift ;;
	-q | --quiet) export SOCKSIFY_LOG=none; shift ;;
	--force) force=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-V | --version) echo "socksify $SOCKSIFY_VERSION"; exit 0 ;;
	--) shift; break ;;
	-*) die 2 "unknown option '$1' (see --help)" ;;
	*) break ;;
	esac
done
[ "$verbose" -ge 2 ] && export SOCKSIFY_LOG=debug
[ "$verbose" -eq 1 ] && export SOCKSIFY_LOG=info

[ $# -gt 0 ] || die 2 "no command given (see --help)"
[ -n "${SOCKSIFY_PROXY:-}" ] || die 2 "no proxy given: use -x socks5://host:port or set SOCKSIFY_PROXY"

lib=${SOCKSIFY_LIB:-$(find_file libsocksify.so)} || die 2 "cannot find libsocksify.so next to $self (run 'make' first?)"
[ -r "$lib" ] || die 2 "cannot read the library '$lib'"
checker=$(find_file socksify-check) || die 2 "cannot find socksify-check next to $self (run 'make' first?)"
"$checker" --url "$SOCKSIFY_PROXY" || exit 2

# LD_PRELOAD cannot reach static, setuid or Go programs: say so instead of leaking.
cmd=$(type -P -- "$1") || die 127 "$1: command not found"
kind=$("$checker" --inspect "$cmd" 2>/dev/null)
why=
case $kind in
*setuid*) why="is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it" ;;
static*) why="is statically linked: LD_PRELOAD cannot reach it" ;;
go*) why="is a Go program: it makes its own system calls, which LD_PRELOAD cannot see" ;;
esac
if [ -n "$why" ]; then
	[ "$force" = 1 ] || die 126 "refusing to run $cmd: it $why, so its traffic would NOT go through the proxy (use --force to run it anyway)"
	echo "$prog: warning: $cmd $why; its traffic will NOT go through the proxy" >&2
fi

export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
exec "$@"
