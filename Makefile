# socksify - build, test, demo.  See README.md.
#   make                 build everything into build/
#   make check           unit tests + pytest integration suite (installs test deps as root)
#   make check SANITIZE=1  the same, built with AddressSanitizer + UBSan into build/asan/
#   make demo            start socks5d on loopback and fetch a page through socksify.sh
#   make compare         socksify.sh next to proxychains4, torsocks, dante's socksify, tsocks (root)
#   make install         socksify, socks5d, their man pages, a systemd unit (PREFIX, DESTDIR; see below)

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= /usr/bin/python3
PYTEST_ARGS ?=

ifeq ($(SANITIZE),1)
BUILD ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -fPIC -Iinclude $(CFLAGS) $(SANFLAGS)
LDLIBS_ALL := -pthread

CORE_SRC := $(wildcard src/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
PRELOAD_SRC := $(wildcard preload/*.c)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_SRC := $(wildcard src/socks5d/*.c)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIB := $(BUILD)/libsocksify.so
SERVER := $(BUILD)/socks5d
EXPORTS := $(BUILD)/exports.map
LAUNCHER := $(BUILD)/socksify

.PHONY: all check unit pytest demo clean install uninstall deps
all: $(LIB) $(SERVER) $(LAUNCHER) $(UNIT_BIN)

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h) $(wildcard preload/*.h preload/*.def src/socks5d/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The library's only exported symbols are the hooks named in preload/hooks.def.
$(EXPORTS): preload/hooks.def
	@mkdir -p $(dir $@)
	{ echo '{ global:'; sed -n 's/^HOOK([^,]*, *\([A-Za-z0-9_]*\),.*/  \1;/p' $<; echo '  local: *; };'; } > $@

$(BUILD)/obj/preload/%.o: ALL_CFLAGS += -fvisibility=hidden
$(BUILD)/obj/src/%.o: ALL_CFLAGS += -fvisibility=hidden

$(LIB): $(PRELOAD_OBJ) $(CORE_OBJ) $(EXPORTS)
	$(CC) -shared $(SANFLAGS) -Wl,--version-script=$(EXPORTS) -Wl,-z,now -o $@ $(PRELOAD_OBJ) $(CORE_OBJ) -ldl $(LDLIBS_ALL)

$(SERVER): $(SERVER_OBJ) $(CORE_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The launcher (socksify.sh execs it; installed as `socksify`) costs about one exec: linked
# statically with musl where musl-gcc is installed (decided when it is built, so that `make check`
# can install it first), since glibc's own start-up costs ~1 ms on a VM (its CPU feature probing
# traps to the hypervisor). Built from its sources directly, as it may use another libc than the
# objects; with the sanitizers, with glibc and ASan.
LAUNCHER_SRC := $(CLI_SRC) src/proxyurl.c src/parse_error.c src/socks5.c src/socks5_addr.c src/routelist.c src/netlist.c \
	src/namelist.c
LAUNCHER_FLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude -Isrc/cli $(CFLAGS) -o $@ $(LAUNCHER_SRC)

$(LAUNCHER): $(LAUNCHER_SRC) $(wildcard src/cli/*.h) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	@if [ "$(SANITIZE)" != 1 ] && command -v musl-gcc >/dev/null 2>&1; then \
		echo "musl-gcc -static $(LAUNCHER_FLAGS)"; musl-gcc -static $(LAUNCHER_FLAGS); \
	else \
		echo "$(CC) $(SANFLAGS) $(LAUNCHER_FLAGS)"; $(CC) $(SANFLAGS) $(LAUNCHER_FLAGS); \
	fi

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc/cli -o $@ $< $(CORE_OBJ) $(UNIT_EXTRA) $(LDLIBS_ALL)

# Unit tests of the launcher's pure parts.
$(BUILD)/tests/test_exekind: $(BUILD)/obj/src/cli/exekind.o
$(BUILD)/tests/test_exekind: UNIT_EXTRA := $(BUILD)/obj/src/cli/exekind.o
$(BUILD)/tests/test_check: $(BUILD)/obj/src/cli/check.o
$(BUILD)/tests/test_check: UNIT_EXTRA := $(BUILD)/obj/src/cli/check.o

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

deps:
	@sh tests/install-deps.sh

pytest: all
	SOCKSIFY_BUILD=$(abspath $(BUILD)) SOCKSIFY_SANITIZE=$(SANITIZE) $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

check: deps all unit pytest

demo: $(LIB) $(SERVER) $(LAUNCHER) $(BUILD)/socksify-supervise
	@sh tests/demo.sh $(BUILD)

# ---- install (issue 8) -------------------------------------------------------
#   make install   [PREFIX=/usr/local] [DESTDIR=] [SYSTEMD=1] [SYSTEMDUNITDIR=$(PREFIX)/lib/systemd/system]
#     $(PREFIX)/bin/socksify                   socksify.sh: execs ../lib/socksify/socksify (no fork);
#                                              a script so that '. socksify on' can source it
#     $(PREFIX)/lib/socksify/socksify          the launcher; finds the library next to itself
#     $(PREFIX)/lib/socksify/libsocksify.so
#     $(PREFIX)/lib/socksify/socksify-supervise  the launcher runs static and Go programs under it
#     $(PREFIX)/bin/socks5d
#     $(PREFIX)/share/man/man1/socksify.1, man8/socks5d.8
#     $(SYSTEMDUNITDIR)/socks5d.service                    unless SYSTEMD=0 (not enabled)
#   make uninstall (same variables) removes exactly those files, and lib/socksify/ if it is empty.
# The man pages and the unit name the installed paths: @PREFIX@, @BINDIR@, @UNITDIR@ are filled in.
SYSTEMD ?= 1
BINDIR := $(PREFIX)/bin
PKGLIBDIR := $(PREFIX)/lib/socksify
MANDIR := $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SUBST := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@UNITDIR@|$(SYSTEMDUNITDIR)|g'
STAGE := $(BUILD)/install

install: $(LIB) $(SERVER) $(LAUNCHER) $(BUILD)/socksify-supervise
	@mkdir -p $(STAGE)
	$(SUBST) src/man/socksify.1 > $(STAGE)/socksify.1
	$(SUBST) src/man/socks5d.8 > $(STAGE)/socks5d.8
	$(SUBST) src/systemd/socks5d.service > $(STAGE)/socks5d.service
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(LAUNCHER) $(DESTDIR)$(PKGLIBDIR)/socksify
	install -m 0644 $(LIB) $(DESTDIR)$(PKGLIBDIR)/libsocksify.so
	install -m 0755 $(BUILD)/socksify-supervise $(DESTDIR)$(PKGLIBDIR)/socksify-supervise
	rm -f $(DESTDIR)$(BINDIR)/socksify
	install -m 0755 socksify.sh $(DESTDIR)$(BINDIR)/socksify
	install -m 0755 $(SERVER) $(DESTDIR)$(BINDIR)/socks5d
	install -m 0644 $(STAGE)/socksify.1 $(DESTDIR)$(MANDIR)/man1/socksify.1
	install -m 0644 $(STAGE)/socks5d.8 $(DESTDIR)$(MANDIR)/man8/socks5d.8
	@if [ "$(SYSTEMD)" != 0 ]; then \
		echo "install -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)"; install -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR); \
		echo "install -m 0644 $(STAGE)/socks5d.service $(DESTDIR)$(SYSTEMDUNITDIR)/socks5d.service"; \
		install -m 0644 $(STAGE)/socks5d.service $(DESTDIR)$(SYSTEMDUNITDIR)/socks5d.service; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/socksify $(DESTDIR)$(BINDIR)/socks5d
	rm -f $(DESTDIR)$(PKGLIBDIR)/socksify $(DESTDIR)$(PKGLIBDIR)/libsocksify.so $(DESTDIR)$(PKGLIBDIR)/socksify-supervise
	rm -f $(DESTDIR)$(MANDIR)/man1/socksify.1 $(DESTDIR)$(MANDIR)/man8/socks5d.8
	@if [ "$(SYSTEMD)" != 0 ]; then \
		echo "rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/socks5d.service"; rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/socks5d.service; \
	fi
	-rmdir $(DESTDIR)$(PKGLIBDIR) 2>/dev/null
# ---- end of install ----------------------------------------------------------

clean:
	rm -rf build

# ---- fuzzing (issue 6) -------------------------------------------------------
#   make fuzz                  build the libFuzzer targets tests/fuzz/fuzz_*.c and run each
#                              for FUZZ_SECONDS (default 60) on a copy of its seed corpus
#   make fuzz FUZZ_SECONDS=5   a quick run
# Needs clang with its runtime libraries (Debian: clang, libclang-rt-14-dev).
# Everything goes to build/fuzz/; the checked-in corpus under tests/fuzz/corpus/ is never grown.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_DIR := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude -Ipreload $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_CORE_OBJ := $(CORE_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
# The client target drives the preload library's handshake machine over a fake socket.
FUZZ_HANDSHAKE_OBJ := $(FUZZ_DIR)/obj/preload/handshake.o

.PHONY: fuzz fuzz-clang
.SECONDARY: $(FUZZ_CORE_OBJ) $(FUZZ_HANDSHAKE_OBJ)
fuzz-clang:
	@sh tests/fuzz/install-clang.sh $(FUZZ_CC)

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard include/*.h preload/*.h preload/*.def) | fuzz-clang
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_CORE_OBJ) | fuzz-clang
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE_OBJ) $(FUZZ_EXTRA_OBJ)

$(FUZZ_DIR)/fuzz_client_reply: $(FUZZ_HANDSHAKE_OBJ)
$(FUZZ_DIR)/fuzz_client_reply: FUZZ_EXTRA_OBJ := $(FUZZ_HANDSHAKE_OBJ)

fuzz: $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_BIN)
# ---- end of fuzzing ----------------------------------------------------------

# ---- bench: (issue 7) --------------------------------------------------------
#   make bench                 socksify and socks5d side by side with microsocks, danted and
#                              proxychains4 on loopback: ratios on stdout, raw numbers in
#                              build/bench/results.json, a chart in build/bench/bench.png (< 10 min)
#   make bench BENCH_QUICK=1   a smoke run of the same (< 1 min)
BENCH_QUICK ?=
BENCH_DIR := $(BUILD)/bench

.PHONY: bench
$(BENCH_DIR)/benchtool: tests/bench/benchtool.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

bench: $(LIB) $(SERVER) $(LAUNCHER) $(BENCH_DIR)/benchtool
	sh tests/install-deps.sh bench
	BENCH_QUICK=$(BENCH_QUICK) BUILD=$(BUILD) /usr/bin/python3 tests/bench/bench.py

# the reference relay of the bulk and connect sections (a second prerequisite line of bench)
bench: $(BENCH_DIR)/splicerelay
$(BENCH_DIR)/splicerelay: tests/bench/splicerelay.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<
# ---- end of bench ------------------------------------------------------------

# ---- compare -----------------------------------------------------------------
#   make compare   socksify.sh, proxychains4, torsocks, dante's socksify and tsocks, each running the
#                  same programs in a client network namespace through one socks5d: proxied, leaked,
#                  refused, failed or hang per scenario; a table on stdout, build/compare/results.json
#                  (root: namespaces and nftables; about a minute)
.PHONY: compare
compare: $(LIB) $(SERVER) $(LAUNCHER) $(BUILD)/socksify-supervise
	sh tests/install-deps.sh bench
	BUILD=$(BUILD) /usr/bin/python3 tests/bench/compare.py
# ---- end of compare ----------------------------------------------------------

# ---- supervisor (issue 9) ----------------------------------------------------
#   build/socksify-supervise   runs static and Go programs under a seccomp user-notification
#                              filter (src/supervise/; see README, "Static and Go programs")
SUPERVISE := $(BUILD)/socksify-supervise
SUPERVISE_SRC := $(wildcard src/supervise/*.c)
SUPERVISE_OBJ := $(SUPERVISE_SRC:%.c=$(BUILD)/obj/%.o)
# The library's proxy client (the hop machine) and settings parser, the very objects the
# library links: the supervisor's real.c gives them libc's functions as their real_* ones.
SUPERVISE_LIB_OBJ := $(addprefix $(BUILD)/obj/preload/,handshake.o config.o direct.o route.o resolve.o)
all: $(SUPERVISE)
$(BUILD)/obj/src/supervise/%.o: ALL_CFLAGS += -Isrc/supervise -Ipreload
$(SUPERVISE_OBJ): $(wildcard src/supervise/*.h)
$(SUPERVISE): $(SUPERVISE_OBJ) $(SUPERVISE_LIB_OBJ) $(CORE_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ -ldl $(LDLIBS_ALL)
# the pure parts' unit tests
$(BUILD)/tests/test_dnsmsg: $(BUILD)/obj/src/supervise/dnsmsg.o
$(BUILD)/tests/test_dnsmsg: UNIT_EXTRA := $(BUILD)/obj/src/supervise/dnsmsg.o
$(FUZZ_DIR)/fuzz_dns_query: $(FUZZ_DIR)/obj/src/supervise/dnsmsg.o
$(FUZZ_DIR)/fuzz_dns_query: FUZZ_EXTRA_OBJ := $(FUZZ_DIR)/obj/src/supervise/dnsmsg.o
# ---- end of supervisor -------------------------------------------------------

# ---- bench-supervise (issue 9): part of make bench ----------------------------------------------
#   make bench-supervise   connect cost of socksify-supervise next to LD_PRELOAD and direct, and
#                          what its filter costs other system calls (build/bench/supervise.json)
.PHONY: bench-supervise
$(BENCH_DIR)/supbench: tests/bench/supbench.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<
bench-supervise: $(LIB) $(SERVER) $(SUPERVISE) $(BENCH_DIR)/benchtool $(BENCH_DIR)/supbench
	BENCH_QUICK=$(BENCH_QUICK) BUILD=$(BUILD) /usr/bin/python3 tests/bench/supervise_bench.py
bench: bench-supervise
# ---- end of bench-supervise ---------------------------------------------------------------------
# the filter's decisions, on a BPF interpreter in the test
$(BUILD)/tests/test_filter: $(BUILD)/obj/src/supervise/filter.o
$(BUILD)/tests/test_filter: UNIT_EXTRA := $(BUILD)/obj/src/supervise/filter.o
$(BUILD)/tests/test_filter: ALL_CFLAGS += -Isrc/supervise
