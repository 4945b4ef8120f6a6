/* socksify-check - the wrapper's helper: validates proxy URLs and inspects programs.
 *
 *   socksify-check --url URL       exit 0 if URL is a usable proxy URL, else one line on stderr, exit 2
 *   socksify-check --inspect PATH  prints dynamic | static | go | script | unknown, and "setuid" if set
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxyurl.h"

static int check_url(const char *s)
{
	struct proxy_url u;
	char err[200];
	if (proxy_url_parse(s, &u, err, sizeof err) < 0) {
		fprintf(stderr, "socksify: bad proxy URL '%s': %s\n", s, err);
		return 2;
	}
	return 0;
}

/* 1 if the ELF image has a PT_INTERP program header (it is dynamically linked). */
static int elf_has_interp(const unsigned char *p, size_t len)
{
	if (len >= sizeof(Elf64_Ehdr) && p[EI_CLASS] == ELFCLASS64) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
		for (size_t i = 0; i < eh->e_phnum; i++) {
			size_t off = eh->e_phoff + i * eh->e_phentsize;
			if (eh->e_phentsize < sizeof(Elf64_Phdr) || off + sizeof(Elf64_Phdr) > len)
				return 0;
			if (((const Elf64_Phdr *)(p + off))->p_type == PT_INTERP)
				return 1;
		}
	} else if (len >= sizeof(Elf32_Ehdr) && p[EI_CLASS] == ELFCLASS32) {
		const Elf32_Ehdr *eh = (const Elf32_Ehdr *)p;
		for (size_t i = 0; i < eh->e_phnum; i++) {
			size_t off = eh->e_phoff + i * eh->e_phentsize;
			if (eh->e_phentsize < sizeof(Elf32_Phdr) || off + sizeof(Elf32_Phdr) > len)
				return 0;
			if (((const Elf32_Phdr *)(p + off))->p_type == PT_INTERP)
				return 1;
		}
	}
	return 0;
}

static const char *kind_of(const unsigned char *p, size_t len)
{
	static const char go_magic[] = "\xff Go buildinf:";
	if (len >= 2 && p[0] == '#' && p[1] == '!')
		return "script";
	if (len < SELFMAG || memcmp(p, ELFMAG, SELFMAG) != 0)
		return "unknown";
	/* Go's net package makes its own system calls, even when dynamically linked. */
	if (memmem(p, len, go_magic, sizeof go_magic - 1))
		return "go";
	return elf_has_interp(p, len) ? "dynamic" : "static";
}

static int inspect(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return 1;
	}
	const char *kind = "unknown";
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			kind = kind_of(p, (size_t)st.st_size);
			munmap(p, (size_t)st.st_size);
		}
	}
	close(fd);
	printf("%s%s\n", kind, (st.st_mode & (S_ISUID | S_ISGID)) ? " setuid" : "");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--url") == 0)
		return check_url(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--inspect") == 0)
		return inspect(argv[2]);
	fprintf(stderr, "usage: socksify-check --url URL | --inspect PATH\n");
	return 2;
}
