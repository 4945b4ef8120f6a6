/* exekind.h - what kind of program a file is, for the launcher's refusals (pure: reads through a callback). */
#ifndef SOCKSIFY_EXEKIND_H
#define SOCKSIFY_EXEKIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum exe_kind {
	EXE_UNKNOWN, /* not ELF, not a script, or unreadable: run it (the kernel decides) */
	EXE_SCRIPT, /* "#!": its interpreter gets the library */
	EXE_DYNAMIC, /* ELF with PT_INTERP: LD_PRELOAD reaches it */
	EXE_STATIC, /* ELF without PT_INTERP (static, static-pie): it does not */
	EXE_GO, /* a Go program: makes its own system calls even when dynamically linked */
};

/* Reads up to n bytes at off into buf; returns the count read (short at end of file) or -1. */
typedef ssize_t (*exe_read_fn)(void *ctx, void *buf, size_t n, uint64_t off);

/* Classifies the file that read() reads. Go is recognised as Go's own tools do
 * (debug/buildinfo): the "\xff Go buildinf:" header, 16-byte aligned, in the
 * section .go.buildinfo or, without that section, in the first 64 KiB of the
 * first writable, non-executable PT_LOAD segment. Reads the headers (one read
 * each for the first 4 KiB, the section table and its names) and 64 KiB at most
 * besides: never the whole file. */
enum exe_kind exe_kind_of(exe_read_fn read, void *ctx);

const char *exe_kind_name(enum exe_kind k);

#endif
