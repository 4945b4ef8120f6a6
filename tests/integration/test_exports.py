"""The library exports exactly the functions named HOOK(...) in preload/hooks.def."""

import os
import re

import support

# Linker-defined symbols that may appear in any shared object's dynamic table.
LINKER_SYMBOLS = {"_init", "_fini", "__bss_start", "_edata", "_end", "__end__", "_DYNAMIC", "_GLOBAL_OFFSET_TABLE_"}


def hooks_in_def():
    names = []
    with open(os.path.join(support.ROOT, "preload", "hooks.def")) as f:
        for line in f:
            m = re.match(r"\s*HOOK\(\s*[^,]+,\s*([A-Za-z_][A-Za-z0-9_]*)\s*,", line)
            if m:
                names.append(m.group(1))
    return names


def test_hooks_def_is_parsed():
    names = hooks_in_def()
    assert {"connect", "getpeername", "close"} <= set(names), names
    assert len(names) == len(set(names)), "a hook is named twice: %r" % names


def test_exported_symbols_are_exactly_the_hooks(built):
    r = support.run(["nm", "-D", "--defined-only", support.LIB])
    assert r.rc == 0, r
    exported, other = set(), []
    for line in r.out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1].split("@")[0]
        if name in LINKER_SYMBOLS:
            continue
        if kind in ("T", "W", "i"):
            exported.add(name)
        else:
            other.append(line)  # data or anything else exported is a leak of internals
    assert not other, "non-function symbols exported: %r" % other
    assert exported == set(hooks_in_def()), "exported but not in hooks.def: %s; in hooks.def but not exported: %s" % (
        sorted(exported - set(hooks_in_def())), sorted(set(hooks_in_def()) - exported))

