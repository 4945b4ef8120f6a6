/* fakedns.c - the shared table of names behind fake addresses. */
#include "fakedns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnstable.h"
#include "fakenames.h"
#include "fdtable.h"
#include "log.h"
#include "real.h"

#define MAGIC "sfydns3" /* 3: the slots moved behind the lock (struct fakenames_table) */
#define ENV_NAME DNSTABLE_ENV
#define HIGH_FD DNSTABLE_HIGH_FD
#define SETUP_WAIT_MS 2000 /* another process is setting the table up: microseconds, normally */

/* Created empty (all zero) by the launcher or by table_create; the first process
 * to map it sizes it and sets it up (table_setup). */
struct fake_table {
	char magic[8]; /* written last by table_setup */
	_Atomic uint32_t state; /* TABLE_FRESH, TABLE_SETTING_UP, TABLE_READY */
	pthread_mutex_t lock; /* process-shared, robust: a process may die holding it */
	struct fakenames_table names;
};

enum { TABLE_FRESH, TABLE_SETTING_UP, TABLE_READY };

/* Set once (pthread_once), then read-only: the mapping is shared after fork. */
static struct fake_table *table;
static pthread_once_t attach_once = PTHREAD_ONCE_INIT;

/* The first mapper sets the table up; the others wait until it is ready. */
static int table_setup(struct fake_table *t)
{
	uint32_t fresh = TABLE_FRESH;
	if (atomic_compare_exchange_strong(&t->state, &fresh, TABLE_SETTING_UP)) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&t->lock, &a);
		pthread_mutexattr_destroy(&a);
		memcpy(t->magic, MAGIC, sizeof MAGIC);
		atomic_store(&t->state, TABLE_READY);
		return 0;
	}
	struct timespec pause = { 0, 100 * 1000 };
	for (int i = 0; i < SETUP_WAIT_MS * 10 && atomic_load(&t->state) == TABLE_SETTING_UP; i++)
		nanosleep(&pause, NULL);
	return atomic_load(&t->state) == TABLE_READY && memcmp(t->magic, MAGIC, sizeof MAGIC) == 0 ? 0 : -1;
}

/* Maps the table behind fd if it is the one named inode ino, sizing a fresh one. */
static struct fake_table *map_if_ours(int fd, unsigned long ino)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (unsigned long)st.st_ino != ino)
		return NULL;
	if (st.st_size == 0 && ftruncate(fd, sizeof(struct fake_table)) < 0) /* several may: same size */
		return NULL;
	if (st.st_size != 0 && st.st_size != sizeof(struct fake_table))
		return NULL;
	void *p = mmap(NULL, sizeof(struct fake_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (table_setup(p) < 0) {
		munmap(p, sizeof(struct fake_table));
		return NULL;
	}
	return p;
}

/* No run's table in the environment: make one, as the launcher does, and use it. */
static int table_create(void)
{
	int fd = memfd_create(DNSTABLE_MEMFD_NAME, 0); /* inherited on exec, on purpose */
	if (fd < 0)
		return -1;
	int high = REAL(fcntl)(fd, F_DUPFD, HIGH_FD);
	if (high >= 0) {
		REAL(close)(fd);
		fd = high;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !(table = map_if_ours(fd, (unsigned long)st.st_ino))) {
		REAL(close)(fd);
		return -1;
	}
	char env[64];
	snprintf(env, sizeof env, DNSTABLE_ENV_FORMAT, (int)getpid(), fd, (unsigned long)st.st_ino);
	setenv(ENV_NAME, env, 1);
	fdtable_set_internal(fd, NULL);
	return 0;
}

/* Opens the table through another process's /proc entry: at fd if it is still
 * there, else wherever that process holds it now (it moves if the program
 * dup2()s over it). Returns an fd (close-on-exec) or -1. */
static int open_from_process(int pid, int fd, unsigned long ino)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
	if (stat(path, &st) == 0 && (unsigned long)st.st_ino == ino)
		return open(path, O_RDWR | O_CLOEXEC);
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int found = -1;
	while (d && found < 0 && (de = readdir(d))) {
		char entry[300];
		snprintf(entry, sizeof entry, "/proc/%d/fd/%s", pid, de->d_name);
		if (de->d_name[0] != '.' && stat(entry, &st) == 0 && (unsigned long)st.st_ino == ino &&
		    (st.st_size == 0 || st.st_size == sizeof(struct fake_table)))
			found = open(entry, O_RDWR | O_CLOEXEC);
	}
	if (d)
		closedir(d);
	return found;
}

/* The inherited fd if the program left it alone, else the first process's fd through /proc. */
static void table_attach(void)
{
	const char *env = getenv(ENV_NAME);
	int pid, fd;
	unsigned long ino;
	if (env && sscanf(env, "%d:%d:%lu", &pid, &fd, &ino) == 3) {
		table = map_if_ours(fd, ino);
		if (!table) {
			int pfd = open_from_process(pid, fd, ino);
			if (pfd >= 0) {
				table = map_if_ours(pfd, ino);
				REAL(close)(pfd);
			}
		}
		if (table)
			return;
		log_warn("the name table of this socksify run is gone; names resolved by other processes will not connect here");
	}
	if (table_create() < 0)
		log_error("cannot create the fake-address table: %s", strerror(errno));
}

/* In a child of the run: hold the table's fd (inherited, or reopened through
 * the parent's /proc entry if the program closed it) and name this process
 * in the environment, so that our own children find it even after the
 * processes before us have exited. The mapping itself waits for first use. */
static void table_adopt(const char *env)
{
	int pid, fd;
	unsigned long ino;
	struct stat st;
	if (sscanf(env, "%d:%d:%lu", &pid, &fd, &ino) != 3)
		return;
	if (pid == getpid()) { /* exec'd in place: the fd is still ours */
		if (fstat(fd, &st) == 0 && (unsigned long)st.st_ino == ino)
			fdtable_set_internal(fd, NULL);
		return;
	}
	if (fstat(fd, &st) < 0 || (unsigned long)st.st_ino != ino) {
		int pfd = open_from_process(pid, fd, ino);
		if (pfd < 0)
			return; /* table_attach will say so, if this process ever needs a name */
		fd = REAL(fcntl)(pfd, F_DUPFD, HIGH_FD); /* inheritable, like the first process's */
		REAL(close)(pfd);
		if (fd < 0 || fstat(fd, &st) < 0 || (unsigned long)st.st_ino != ino)
			return;
	}
	char mine[64];
	snprintf(mine, sizeof mine, DNSTABLE_ENV_FORMAT, (int)getpid(), fd, ino);
	setenv(ENV_NAME, mine, 1);
	fdtable_set_internal(fd, NULL);
}

/* Set by the constructor, then only read: this process started no run's table. */
static int table_pending;

void fakedns_init_early(void)
{
	const char *dns = getenv("SOCKSIFY_DNS");
	const char *env = getenv(ENV_NAME);
	if (dns && strcmp(dns, "local") == 0)
		return;
	if (env)
		table_adopt(env);
	else
		table_pending = 1; /* preloaded without the launcher: made on first use, or before a fork */
}

void fakedns_before_fork(void)
{
	/* A forked child must share the table with its parent, so it has to exist first. */
	if (table_pending)
		pthread_once(&attach_once, table_attach);
}

static struct fake_table *table_get(void)
{
	pthread_once(&attach_once, table_attach);
	return table;
}

static void table_lock(struct fake_table *t)
{
	if (pthread_mutex_lock(&t->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&t->lock);
}

int fakedns_resolve(const char *name, struct in_addr *v4, struct in6_addr *v6)
{
	const struct config *c = config_get();
	struct fake_table *t = table_get();
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--; /* "example.com." is example.com: proxies' resolvers may not take the dot */
	if (!t || len == 0 || len > FAKE_SLOT_NAME_MAX)
		return -1;
	table_lock(t);
	uint32_t i = fakenames_find_or_add(&t->names, name, len);
	uint32_t gen = t->names.slot[i].gen;
	pthread_mutex_unlock(&t->lock);
	fakenames_address(&c->fake4, i, gen, (uint8_t *)v4);
	fakenames_address(&c->fake6, i, gen, (uint8_t *)v6);
	return 0;
}

int fakedns_lookup(const struct socks5_addr *a, char name[256])
{
	const struct config *c = config_get();
	const struct netlist_entry *r;
	const uint8_t *addr;
	if (a->atyp == SOCKS5_ATYP_IPV4 && fakenames_in_range(&c->fake4, a->u.ipv4)) {
		r = &c->fake4;
		addr = a->u.ipv4;
	} else if (a->atyp == SOCKS5_ATYP_IPV6 && fakenames_in_range(&c->fake6, a->u.ipv6)) {
		r = &c->fake6;
		addr = a->u.ipv6;
	} else {
		return 0;
	}
	uint32_t slot, gen;
	if (fakenames_slot_of(r, addr, &slot, &gen) < 0)
		return -1;
	struct fake_table *t = table_get();
	if (!t)
		return -1;
	table_lock(t);
	int found = fakenames_name_at(&t->names, r, slot, gen, name);
	pthread_mutex_unlock(&t->lock);
	return found;
}

int fakedns_is_fake_sockaddr(const struct sockaddr *sa)
{
	const struct config *c = config_get();
	if (sa->sa_family == AF_INET)
		return fakenames_in_range(&c->fake4, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return 0;
	const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a6))
		return fakenames_in_range(&c->fake4, a6 + 12);
	return fakenames_in_range(&c->fake6, a6);
}
