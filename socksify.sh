#!/bin/sh
# socksify.sh - run a program with its network traffic sent through a SOCKS5 proxy.
# It only finds the launcher `socksify` (built by make; installed as the socksify command)
# and execs it, forking nothing: the launcher parses the options (see --help, README.md).
# Looked for: next to $SOCKSIFY_LIB, next to this script, in build/, in ../lib/socksify;
# then the same after following this script's symlinks.
find_in() { # directory of this script, then the arguments
	here=$1
	shift
	for d in ${SOCKSIFY_LIB:+"${SOCKSIFY_LIB%/*}"} "$here" "$here/build" "$here/../lib/socksify"; do
		[ -f "$d/socksify" ] && [ -x "$d/socksify" ] && exec "$d/socksify" "$@"
	done
}
case $0 in
*/*) find_in "${0%/*}" "$@" ;;
*) find_in . "$@" ;;
esac
self=$(readlink -f -- "$0") && find_in "${self%/*}" "$@"
echo "socksify: cannot find the launcher 'socksify' next to $0 (run 'make' first?)" >&2
exit 2
