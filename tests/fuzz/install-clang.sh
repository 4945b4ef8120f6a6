#!/bin/sh
# install-clang.sh CC - make sure CC can build libFuzzer targets with ASan and UBSan.
#
# Quick when it can: one tiny link, no apt. Otherwise, as root, installs Debian's
# clang and its runtime libraries (libclang-rt-*-dev holds libFuzzer and the sanitizers).
set -eu
cc=${1:-clang}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

probe() {
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; return (int)n * 0; }' >"$dir/probe.c"
	"$cc" -fsanitize=fuzzer,address,undefined -o "$dir/probe" "$dir/probe.c" >"$dir/log" 2>&1
}

probe && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "fuzz: '$cc -fsanitize=fuzzer,address,undefined' does not link, and only root can install" \
		"clang and libclang-rt-dev:" >&2
	cat "$dir/log" >&2
	exit 1
fi
echo "fuzz: installing clang and libclang-rt-dev"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# libclang-rt-dev is the unversioned name; Debian 12 resolves it to libclang-rt-14-dev.
apt-get install -y -qq clang libclang-rt-dev >/dev/null
if ! probe; then
	echo "fuzz: '$cc' still cannot link -fsanitize=fuzzer,address,undefined:" >&2
	cat "$dir/log" >&2
	exit 1
fi
