/* dnstable.h - how the processes of one run find their shared table of fake names.
 * The launcher creates the table's memfd empty, before the program starts, so that
 * every process of the run (forked, spawned or exec'd) inherits the same one; the
 * library sizes and sets it up on first use (preload/fakedns.c). */
#ifndef SOCKSIFY_DNSTABLE_H
#define SOCKSIFY_DNSTABLE_H

#define DNSTABLE_ENV "SOCKSIFY_DNS_SHM" /* "pid:fd:inode" of a process that holds the table */
#define DNSTABLE_ENV_FORMAT "%d:%d:%lu"
#define DNSTABLE_MEMFD_NAME "socksify-dns"
#define DNSTABLE_HIGH_FD 900 /* the fd is moved up here, out of the way of programs' own low fds */

#endif
