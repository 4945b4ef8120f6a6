#!/bin/sh
# install-deps.sh - install what the tests need (Debian 12), only if something is missing.
#
# As root: one 'apt-get update', then one 'apt-get install' of the missing packages.
# Not root: print what is missing and carry on (the tests that need it are skipped).
# Quick when everything is present: no apt at all.
set -eu

# package:how-to-tell-it-is-installed (a command on PATH/sbin, a file, or a python module).
# The last four are for the remote-DNS and UDP tests (dig, git over HTTP, a DNS server
# in python, a Java client); musl-tools builds the launcher static and small (faster start),
# strace shows that the wrapper forks nothing; man-db and groff-base render the man pages;
# tinyproxy is the HTTP CONNECT hop of the chain tests.
# pyftpdlib is the FTP server of the BIND tests (active mode).
# golang-go builds the Go program that test_supervise.py runs under socksify-supervise.
checks='
python3:cmd:/usr/bin/python3
python3-pytest:py:pytest
curl:cmd:curl
wget:cmd:wget
nodejs:cmd:node
microsocks:cmd:microsocks
dante-server:cmd:danted
iproute2:cmd:ip
nftables:cmd:nft
procps:cmd:ps
socat:cmd:socat
gcc:cmd:gcc
libc6-dev:file:/usr/include/stdio.h
make:cmd:make
binutils:cmd:nm
bind9-dnsutils:cmd:dig
git:cmd:git
python3-dnslib:py:dnslib
default-jdk-headless:cmd:javac
musl-tools:cmd:musl-gcc
strace:cmd:strace
man-db:cmd:man
groff-base:cmd:groff
tinyproxy:cmd:tinyproxy
python3-pyftpdlib:py:pyftpdlib
golang-go:cmd:go
'
# make bench and make compare also run the peers users compare us with (bench draws a chart).
if [ "${1:-}" = bench ]; then
	checks="$checks
proxychains4:cmd:proxychains4
dante-client:file:/usr/bin/socksify
torsocks:cmd:torsocks
tsocks:cmd:tsocks
python3-matplotlib:py:matplotlib
"
fi

PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

present() { # kind what
	case $1 in
	cmd) command -v "$2" >/dev/null 2>&1 ;;
	file) [ -e "$2" ] ;;
	py) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $2" >/dev/null 2>&1 ;;
	esac
}

missing=
for c in $checks; do
	pkg=${c%%:*} rest=${c#*:}
	present "${rest%%:*}" "${rest#*:}" || missing="$missing $pkg"
done

[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing:$missing" >&2
	echo "install-deps: not root, not installing; the tests that need them will be skipped" >&2
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing:$missing, and no apt-get to install them" >&2
	exit 0
fi

echo "install-deps: installing:$missing"

# Packaged daemons (danted, microsocks, tinyproxy) must not start as services on their default
# ports: a policy-rc.d that denies every start, for the duration of the install only.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=1
fi
cleanup() { [ -z "$made_policy" ] || rm -f "$policy"; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

# On a host with systemd the units were enabled (not started): keep them from starting at boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	case " $missing " in *" dante-server "*) systemctl disable --now danted >/dev/null 2>&1 || true ;; esac
	case " $missing " in *" microsocks "*) systemctl disable --now microsocks >/dev/null 2>&1 || true ;; esac
	case " $missing " in *" tinyproxy "*) systemctl disable --now tinyproxy >/dev/null 2>&1 || true ;; esac
fi
