/* fork.h - every lock of the library is taken before fork() and released on
 * both sides after it, so a child never inherits a lock another thread held. */
#ifndef SOCKSIFY_FORK_H
#define SOCKSIFY_FORK_H

enum fork_phase { FORK_PREPARE, FORK_PARENT, FORK_CHILD };

void fdtable_fork(enum fork_phase phase);
void direct_fork(enum fork_phase phase);
void dns_fork(enum fork_phase phase);
void handshake_fork(enum fork_phase phase); /* SOCKSIFY_ISOLATE's login: a child makes its own */

#endif
