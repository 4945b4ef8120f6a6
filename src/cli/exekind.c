/* exekind.c - ELF inspection for the launcher: dynamic, static or Go (pure: no I/O of its own). */
#include "exekind.h"

#include <elf.h>
#include <string.h>

#define GO_MAGIC "\xff Go buildinf:"
#define GO_MAGIC_LEN (sizeof GO_MAGIC - 1)
#define GO_ALIGN 16
#define GO_SEARCH (64 * 1024) /* as debug/buildinfo reads */
#define HEAD_READ 4096 /* the ELF header and, almost always, the program headers */
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

/* Reads a table of n entries of size entsize at off, in one read (from head when it
 * holds it: the program headers follow the ELF header). Returns how many entries came. */
static unsigned read_table(exe_read_fn rd, void *ctx, const unsigned char *head, size_t headlen, uint64_t off,
			   unsigned entsize, unsigned n, unsigned char *buf, size_t cap)
{
	if (entsize == 0)
		return 0;
	if ((uint64_t)n * entsize > cap)
		n = (unsigned)(cap / entsize);
	size_t want = (size_t)n * entsize;
	if (off <= headlen && want <= headlen - off) {
		memcpy(buf, head + off, want);
		return n;
	}
	ssize_t got = rd(ctx, buf, want, off);
	return got > 0 ? (unsigned)((size_t)got / entsize) : 0;
}

/* Program header i of the table in t as (type, flags, file span). */
static void phdr_at(const struct elf_info *e, const unsigned char *t, unsigned i, uint32_t *type, uint32_t *flags,
		    struct span *s)
{
	if (e->is64) {
		Elf64_Phdr p;
		memcpy(&p, t + (size_t)i * e->phentsize, sizeof p);
		*type = p.p_type, *flags = p.p_flags, *s = (struct span){ p.p_offset, p.p_filesz };
	} else {
		Elf32_Phdr p;
		memcpy(&p, t + (size_t)i * e->phentsize, sizeof p);
		*type = p.p_type, *flags = p.p_flags, *s = (struct span){ p.p_offset, p.p_filesz };
	}
}

/* Section header i of the table in t as (name offset, type, file span). */
static void shdr_at(const struct elf_info *e, const unsigned char *t, unsigned i, uint32_t *name, uint32_t *type,
		    struct span *s)
{
	if (e->is64) {
		Elf64_Shdr sh;
		memcpy(&sh, t + (size_t)i * e->shentsize, sizeof sh);
		*name = sh.sh_name, *type = sh.sh_type, *s = (struct span){ sh.sh_offset, sh.sh_size };
	} else {
		Elf32_Shdr sh;
		memcpy(&sh, t + (size_t)i * e->shentsize, sizeof sh);
		*name = sh.sh_name, *type = sh.sh_type, *s = (struct span){ sh.sh_offset, sh.sh_size };
	}
}

/* The section named .go.buildinfo: 1 and its span, 0 if there is none, -1 if the table is unreadable. */
static int find_go_section(exe_read_fn rd, void *ctx, const struct elf_info *e, struct span *out)
{
	static const char want[] = ".go.buildinfo";
	unsigned char table[MAX_SHDRS * sizeof(Elf64_Shdr)];
	char names[MAX_SHSTRTAB];
	uint32_t name, type;
	struct span strtab, s;
	size_t shsize = e->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	if (e->shnum == 0 || e->shnum > MAX_SHDRS || e->shstrndx >= e->shnum || e->shentsize < shsize)
		return -1;
	unsigned n = read_table(rd, ctx, NULL, 0, e->shoff, e->shentsize, e->shnum, table, sizeof table);
	if (n <= e->shstrndx)
		return -1;
	shdr_at(e, table, e->shstrndx, &name, &type, &strtab);
	if (type != SHT_STRTAB)
		return -1;
	ssize_t got = rd(ctx, names, strtab.size < sizeof names ? (size_t)strtab.size : sizeof names, strtab.off);
	if (got <= 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		shdr_at(e, table, i, &name, &type, &s);
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
	unsigned char head[HEAD_READ], phdrs[MAX_PHDRS * sizeof(Elf64_Phdr)];
	ssize_t len = rd(ctx, head, sizeof head, 0);
	struct elf_info e;
	if (len >= 2 && head[0] == '#' && head[1] == '!')
		return EXE_SCRIPT;
	if (len < SELFMAG || memcmp(head, ELFMAG, SELFMAG) != 0 || elf_header(head, (size_t)len, &e) < 0)
		return EXE_UNKNOWN;
	unsigned n = read_table(rd, ctx, head, (size_t)len, e.phoff, e.phentsize, e.phnum, phdrs, sizeof phdrs);
	int interp = 0, have_data = 0;
	struct span data = { 0, 0 }, s;
	for (unsigned i = 0; i < n; i++) {
		uint32_t type, flags;
		phdr_at(&e, phdrs, i, &type, &flags, &s);
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
