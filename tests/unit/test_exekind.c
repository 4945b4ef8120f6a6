/* test_exekind.c - the launcher's program inspection, on ELF images built here byte by byte. */
#include "exekind.h"
#include "unit.h"

#include <elf.h>

#define GO_MAGIC "\xff Go buildinf:"

/* One file in memory; reads past its end are short, as pread's are. */
struct image {
	unsigned char b[256 * 1024];
	size_t len;
	int reads;
	size_t bytes_read;
};

static ssize_t read_image(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct image *im = ctx;
	im->reads++;
	if (off >= im->len)
		return 0;
	if (n > im->len - off)
		n = im->len - (size_t)off;
	memcpy(buf, im->b + off, n);
	im->bytes_read += n;
	return (ssize_t)n;
}

static enum exe_kind kind(struct image *im)
{
	im->reads = 0;
	im->bytes_read = 0;
	return exe_kind_of(read_image, im);
}

/* ELF64 executable: header at 0, phdrs at 64, a data segment at 0x1000 of 0x2000 bytes. */
static void elf64(struct image *im, int interp)
{
	memset(im, 0, sizeof *im);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_phoff = sizeof eh;
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 3;
	eh.e_ehsize = sizeof eh;
	memcpy(im->b, &eh, sizeof eh);
	Elf64_Phdr ph[3] = {
		{ .p_type = interp ? PT_INTERP : PT_NOTE, .p_flags = PF_R, .p_offset = 0x200, .p_filesz = 28 },
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0, .p_filesz = 0x1000 },
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x1000, .p_filesz = 0x2000 },
	};
	memcpy(im->b + sizeof eh, ph, sizeof ph);
	memcpy(im->b + 0x200, "/lib64/ld-linux-x86-64.so.2", 28);
	im->len = 0x3000;
}

/* Adds section headers at 0x3000: [0] null, [1] .shstrtab, [2] a section named name at off. */
static void sections(struct image *im, const char *name, uint64_t off, uint64_t size)
{
	static const char strtab_head[] = "\0.shstrtab";
	size_t strtab_at = 0x3100, names = sizeof strtab_head;
	memcpy(im->b + strtab_at, strtab_head, sizeof strtab_head);
	strcpy((char *)im->b + strtab_at + names, name);
	Elf64_Shdr sh[3] = {
		{ 0 },
		{ .sh_name = 1, .sh_type = SHT_STRTAB, .sh_offset = strtab_at, .sh_size = names + strlen(name) + 1 },
		{ .sh_name = (uint32_t)names, .sh_type = SHT_PROGBITS, .sh_offset = off, .sh_size = size },
	};
	memcpy(im->b + 0x3000, sh, sizeof sh);
	Elf64_Ehdr eh;
	memcpy(&eh, im->b, sizeof eh);
	eh.e_shoff = 0x3000;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shstrndx = 1;
	memcpy(im->b, &eh, sizeof eh);
	im->len = 0x3200;
}

static struct image im;

static void test_not_elf(void)
{
	memset(&im, 0, sizeof im);
	memcpy(im.b, "#!/bin/sh\n", 10);
	im.len = 10;
	CHECK_INT(kind(&im), EXE_SCRIPT);
	memcpy(im.b, "\x7f" "ELG", 4);
	CHECK_INT(kind(&im), EXE_UNKNOWN);
	im.len = 0;
	CHECK_INT(kind(&im), EXE_UNKNOWN);
	im.len = 3; /* shorter than the ELF magic */
	memcpy(im.b, ELFMAG, 3);
	CHECK_INT(kind(&im), EXE_UNKNOWN);
	im.len = 40; /* ELF magic, truncated header */
	memcpy(im.b, ELFMAG, SELFMAG);
	im.b[EI_CLASS] = ELFCLASS64;
	CHECK_INT(kind(&im), EXE_UNKNOWN);
}

static void test_dynamic_and_static(void)
{
	elf64(&im, 1);
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	elf64(&im, 0);
	CHECK_INT(kind(&im), EXE_STATIC);
	/* program headers cut off by the end of the file: what was read decides */
	elf64(&im, 1);
	im.len = 64 + 56 + 10;
	CHECK_INT(kind(&im), EXE_DYNAMIC);
}

static void test_elf32(void)
{
	memset(&im, 0, sizeof im);
	Elf32_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_phoff = sizeof eh;
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = 1;
	memcpy(im.b, &eh, sizeof eh);
	Elf32_Phdr ph = { .p_type = PT_INTERP };
	memcpy(im.b + sizeof eh, &ph, sizeof ph);
	im.len = 0x100;
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	ph.p_type = PT_LOAD;
	memcpy(im.b + sizeof eh, &ph, sizeof ph);
	CHECK_INT(kind(&im), EXE_STATIC);
	eh.e_phentsize = 8; /* too small to be a program header */
	memcpy(im.b, &eh, sizeof eh);
	CHECK_INT(kind(&im), EXE_UNKNOWN);
}

/* No section headers: the magic must be at a 16-byte boundary in the first 64 KiB of the data segment. */
static void test_go_in_the_data_segment(void)
{
	elf64(&im, 1);
	memcpy(im.b + 0x1000, GO_MAGIC, sizeof GO_MAGIC - 1);
	CHECK_INT(kind(&im), EXE_GO);
	elf64(&im, 0);
	memcpy(im.b + 0x1000 + 0x7f0, GO_MAGIC, sizeof GO_MAGIC - 1);
	CHECK_INT(kind(&im), EXE_GO);
	elf64(&im, 1);
	memcpy(im.b + 0x1000 + 0x7f1, GO_MAGIC, sizeof GO_MAGIC - 1); /* not aligned */
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	elf64(&im, 1);
	memcpy(im.b + 0x800, GO_MAGIC, sizeof GO_MAGIC - 1); /* in the text segment */
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	elf64(&im, 1);
	memcpy(im.b + 0x1000 + 0x2000 - 8, GO_MAGIC, 8); /* cut by the segment's end */
	CHECK_INT(kind(&im), EXE_DYNAMIC);
}

static void test_go_in_its_section(void)
{
	elf64(&im, 1);
	sections(&im, ".go.buildinfo", 0x3180, 0x20);
	memcpy(im.b + 0x3180, GO_MAGIC, sizeof GO_MAGIC - 1);
	CHECK_INT(kind(&im), EXE_GO);
	/* another name: Go's rule falls back to the data segment's start, where nothing is */
	elf64(&im, 1);
	sections(&im, ".go.buildinfx", 0x3180, 0x20);
	memcpy(im.b + 0x3180, GO_MAGIC, sizeof GO_MAGIC - 1);
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	/* the section is the place to look: the magic at the data segment's start does not count then */
	elf64(&im, 1);
	sections(&im, ".go.buildinfo", 0x3180, 0x20);
	memcpy(im.b + 0x1000, GO_MAGIC, sizeof GO_MAGIC - 1);
	CHECK_INT(kind(&im), EXE_DYNAMIC);
}

static void test_reads_are_bounded(void)
{
	/* a big data segment: 64 KiB of it at most, in a handful of reads */
	elf64(&im, 1);
	Elf64_Phdr ph;
	memcpy(&ph, im.b + 64 + 2 * sizeof ph, sizeof ph);
	ph.p_filesz = sizeof im.b - 0x1000;
	memcpy(im.b + 64 + 2 * sizeof ph, &ph, sizeof ph);
	im.len = sizeof im.b;
	memcpy(im.b + 0x1000 + 64 * 1024, GO_MAGIC, sizeof GO_MAGIC - 1); /* past the search */
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	CHECK(im.bytes_read <= 64 * 1024 + 4096);
	CHECK(im.reads < 10);
	/* absurd header counts are not followed */
	elf64(&im, 1);
	Elf64_Ehdr eh;
	memcpy(&eh, im.b, sizeof eh);
	eh.e_phnum = 0xffff;
	eh.e_shnum = 0xffff;
	eh.e_shoff = 0x100;
	memcpy(im.b, &eh, sizeof eh);
	CHECK_INT(kind(&im), EXE_DYNAMIC);
	CHECK(im.reads < 200);
}

static void test_names(void)
{
	CHECK_STR(exe_kind_name(EXE_GO), "go");
	CHECK_STR(exe_kind_name(EXE_STATIC), "static");
	CHECK_STR(exe_kind_name(EXE_DYNAMIC), "dynamic");
	CHECK_STR(exe_kind_name(EXE_SCRIPT), "script");
	CHECK_STR(exe_kind_name(EXE_UNKNOWN), "unknown");
}

int main(void)
{
	test_not_elf();
	test_dynamic_and_static();
	test_elf32();
	test_go_in_the_data_segment();
	test_go_in_its_section();
	test_reads_are_bounded();
	test_names();
	return unit_report();
}
