/* exekind.c - ELF inspection for the launcher: dynamic, static or Go (pure: no I/O of its own). */
#include "exekind.h"

#include <elf.h>
#include <string.h>

#define GO_MAGIC "\xff Go buildinf:"
#define GO_MAGIC_LEN (sizeof GO_MAGIC - 1)
#define GO_ALIGN 16
#define GO_SEARCH (64 * 1024) /* as debug/buildinfo reads */
#define MAX_PHDRS 128
#define MAX_SHDRS 1024
#define MAX_SHSTRTAB (64 * 1024)

/* What exe_kind_of needs from the headers, in one shape for ELF32 and ELF64. */
struct elf_info {
	int is64;
	uint64_t phoff, shoff;
	unsigned phnum, phentsize, shnum, shentsize, shstrndx;
};

struct span {
	uint64_t off, size;
};

static int read_exact(exe_read_fn rd, void *ctx, void *buf, size_t n, uint64_t off)
{
	return rd(ctx, buf, n, off) == (ssize_t)n ? 0 : -1;
}

static int elf_header(const unsigned char *h, size_t len, struct elf_info *e)
{
	memset(e, 0, sizeof *e);
	if (len >= sizeof(Elf64_Ehdr) && h[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;
		memcpy(&eh, h, sizeof eh);
		*e = (struct elf_info){ 1, eh.e_phoff, eh.e_shoff, eh.e_phnum, eh.e_phentsize, eh.e_shnum,
					eh.e_shentsize, eh.e_shstrndx };
		return e->phentsize >= sizeof(Elf64_Phdr) ? 0 : -1;
	}
	if (len >= sizeof(Elf32_Ehdr) && h[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;
		memcpy(&eh, h, sizeof eh);
		*e = (struct elf_info){ 0, eh.e_phoff, eh.e_shoff, eh.e_phnum, eh.e_phentsize, eh.e_shnum,
					eh.e_shentsize, eh.e_shstrndx };
		return e->phentsize >= sizeof(Elf32_Phdr) ? 0 : -1;
	}
	return -1;
}

/* Program header i as (type, flags, file offset, file size). */
static int read_phdr(exe_read_fn rd, void *ctx, const struct elf_info *e, unsigned i, uint32_t *type,
		     uint32_t *flags, struct span *s)
{
	uint64_t off = e->phoff + (uint64_t)i * e->phentsize;
	if (e->is64) {
		Elf64_Phdr p;
		if (read_exact(rd, ctx, &p, sizeof p, off) < 0)
			return -1;
		*type = p.p_type, *flags = p.p_flags, *s = (struct span){ p.p_offset, p.p_filesz };
	} else {
		Elf32_Phdr p;
		if (read_exact(rd, ctx, &p, sizeof p, off) < 0)
			return -1;
		*type = p.p_type, *flags = p.p_flags, *s = (struct span){ p.p_offset, p.p_filesz };
	}
	return 0;
}

/* Section header i as (name offset, type, file offset, size). */
static int read_shdr(exe_read_fn rd, void *ctx, const struct elf_info *e, unsigned i, uint32_t *name,
		     uint32_t *type, struct span *s)
{
	uint64_t off = e->shoff + (uint64_t)i * e->shentsize;
	if (e->is64) {
		Elf64_Shdr sh;
		if (e->shentsize < sizeof sh || read_exact(rd, ctx, &sh, sizeof sh, off) < 0)
			return -1;
		*name = sh.sh_name, *type = sh.sh_type, *s = (struct span){ sh.sh_offset, sh.sh_size };
	} else {
		Elf32_Shdr sh;
		if (e->shentsize < sizeof sh || read_exact(rd, ctx, &sh, sizeof sh, off) < 0)
			return -1;
		*name = sh.sh_name, *type = sh.sh_type, *s = (struct span){ sh.sh_offset, sh.sh_size };
	}
	return 0;
}

/* The section named .go.buildinfo: 1 and its span, 0 if there is none, -1 if the table is unreadable. */
static int find_go_section(exe_read_fn rd, void *ctx, const struct elf_info *e, struct span *out)
{
	char names[MAX_SHSTRTAB];
	uint32_t name, type;
	struct span strtab, s;
	if (e->shnum == 0 || e->shnum > MAX_SHDRS || e->shstrndx >= e->shnum)
		return -1;
	if (read_shdr(rd, ctx, e, e->shstrndx, &name, &type, &strtab) < 0 || type != SHT_STRTAB)
		return -1;
	size_t n = strtab.size < sizeof names ? (size_t)strtab.size : sizeof names;
	ssize_t got = rd(ctx, names, n, strtab.off);
	if (got <= 0)
		return -1;
	for (unsigned i = 0; i < e->shnum; i++) {
		if (read_shdr(rd, ctx, e, i, &name, &type, &s) < 0)
			return -1;
		static const char want[] = ".go.buildinfo";
		if (type != SHT_NOBITS && name < (uint64_t)got && (size_t)got - name >= sizeof want &&
		    memcmp(names + name, want, sizeof want) == 0) {
			*out = s;
			return 1;
		}
	}
	return 0;
}

static int has_go_magic(exe_read_fn rd, void *ctx, struct span where)
{
	unsigned char buf[GO_SEARCH];
	size_t n = where.size < sizeof buf ? (size_t)where.size : sizeof buf;
	ssize_t got = rd(ctx, buf, n, where.off);
	/* where.off is congruent to the address modulo the page size, so alignment carries over. */
	size_t skew = (GO_ALIGN - where.off % GO_ALIGN) % GO_ALIGN;
	for (size_t i = skew; got > 0 && i + GO_MAGIC_LEN <= (size_t)got; i += GO_ALIGN)
		if (memcmp(buf + i, GO_MAGIC, GO_MAGIC_LEN) == 0)
			return 1;
	return 0;
}

enum exe_kind exe_kind_of(exe_read_fn rd, void *ctx)
{
	unsigned char h[sizeof(Elf64_Ehdr)];
	ssize_t len = rd(ctx, h, sizeof h, 0);
	struct elf_info e;
	if (len >= 2 && h[0] == '#' && h[1] == '!')
		return EXE_SCRIPT;
	if (len < SELFMAG || memcmp(h, ELFMAG, SELFMAG) != 0 || elf_header(h, (size_t)len, &e) < 0)
		return EXE_UNKNOWN;
	int interp = 0, have_data = 0;
	struct span data = { 0, 0 }, s;
	for (unsigned i = 0; i < e.phnum && i < MAX_PHDRS; i++) {
		uint32_t type, flags;
		if (read_phdr(rd, ctx, &e, i, &type, &flags, &s) < 0)
			break;
		if (type == PT_INTERP)
			interp = 1;
		if (type == PT_LOAD && (flags & (PF_X | PF_W)) == PF_W && !have_data) {
			data = s;
			have_data = 1;
		}
	}
	int go = find_go_section(rd, ctx, &e, &s);
	if (go == 1 ? has_go_magic(rd, ctx, s) : have_data && has_go_magic(rd, ctx, data))
		return EXE_GO;
	return interp ? EXE_DYNAMIC : EXE_STATIC;
}

const char *exe_kind_name(enum exe_kind k)
{
	switch (k) {
	case EXE_SCRIPT: return "script";
	case EXE_DYNAMIC: return "dynamic";
	case EXE_STATIC: return "static";
	case EXE_GO: return "go";
	default: return "unknown";
	}
}
