/* resolver.c - getaddrinfo() in a few worker threads, so a slow DNS server
 * never stalls the event loop. Jobs go in through a queue; finished jobs
 * come back on a second list and an eventfd wakes the loop. Workers touch
 * only the job's own fields, never the session. */
#include "socks5d.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct resolver {
	struct watch w; /* first: the eventfd's epoll data */
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct resolve_job *todo_head, *todo_tail;
	struct resolve_job *done;
	bool stopping;
	int nthreads, max_threads;
	int idle; /* workers waiting for a job */
	int queued; /* jobs in todo */
	pthread_t *threads;
};

#define RESOLVER_START_THREADS 2

void resolve_job_free(struct resolve_job *job)
{
	free(job->addrs);
	free(job);
}

static void resolve(struct resolve_job *job)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	if (job->reverse) {
		const union sockaddr_any *a = &job->reverse_addr;
		socklen_t len = a->sa.sa_family == AF_INET6 ? sizeof a->sin6 : sizeof a->sin;
		job->gai_err = getnameinfo(&a->sa, len, job->host, sizeof job->host, NULL, 0, NI_NAMEREQD);
		return;
	}
	/* No AI_ADDRCONFIG: it hides ::1 for "localhost" on hosts without a
	 * global IPv6 address; an unusable address just fails fast. */
	job->gai_err = getaddrinfo(job->host, NULL, &hints, &res);
	if (job->gai_err)
		return;
	if (addrs_from_addrinfo(res, job->port, &job->addrs, &job->naddrs) < 0)
		job->gai_err = EAI_MEMORY;
	freeaddrinfo(res);
}

static void *resolver_worker(void *arg)
{
	struct resolver *r = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		r->idle++;
		while (!r->todo_head && !r->stopping)
			pthread_cond_wait(&r->wake, &r->lock);
		r->idle--;
		if (r->stopping)
			break;
		struct resolve_job *job = r->todo_head;
		r->todo_head = job->next;
		r->queued--;
		if (!r->todo_head)
			r->todo_tail = NULL;
		pthread_mutex_unlock(&r->lock);

		resolve(job);

		pthread_mutex_lock(&r->lock);
		job->next = r->done;
		r->done = job;
		/* The counter only wakes the loop; the list carries the results. */
		if (write(r->efd, &one, sizeof one) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Called with the lock held. */
static int resolver_add_thread(struct resolver *r)
{
	if (pthread_create(&r->threads[r->nthreads], NULL, resolver_worker, r) != 0)
		return -1;
	r->nthreads++;
	return 0;
}

/* Starts a couple of workers; more are added, up to max_threads, while
 * every worker is busy, so a few slow lookups do not stall the rest. */
struct resolver *resolver_start(int max_threads, int epfd)
{
	struct resolver *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->w.kind = WATCH_RESOLVER;
	r->max_threads = max_threads;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->threads = calloc((size_t)max_threads, sizeof *r->threads);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->w };
	if (r->efd < 0 || !r->threads || epoll_ctl(epfd, EPOLL_CTL_ADD, r->efd, &ev) < 0)
		goto fail;
	pthread_mutex_lock(&r->lock);
	while (r->nthreads < max_threads && r->nthreads < RESOLVER_START_THREADS)
		if (resolver_add_thread(r) < 0)
			break;
	pthread_mutex_unlock(&r->lock);
	if (r->nthreads == 0)
		goto fail;
	return r;
fail:
	if (r->efd >= 0)
		close(r->efd);
	free(r->threads);
	free(r);
	return NULL;
}

int resolver_submit(struct resolver *r, struct resolve_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->todo_tail)
		r->todo_tail->next = job;
	else
		r->todo_head = job;
	r->todo_tail = job;
	r->queued++;
	/* Queued jobs beyond the idle workers would wait: add a worker. */
	if (r->queued > r->idle && r->nthreads < r->max_threads && resolver_add_thread(r) < 0)
		log_debug("resolver: cannot add a thread; %d running", r->nthreads);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Hands finished lookups to their owners, or drops them if the owner
 * went away meanwhile. */
void resolver_dispatch(struct server *srv, struct resolver *r)
{
	uint64_t count;
	struct resolve_job *jobs;

	if (read(r->efd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_error("resolver eventfd: %s", strerror(errno));
	pthread_mutex_lock(&r->lock);
	jobs = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->lock);

	while (jobs) {
		struct resolve_job *job = jobs;
		jobs = job->next;
		if (job->owner)
			job->on_done(srv, job);
		resolve_job_free(job);
	}
}

static void free_job_list(struct resolve_job *j)
{
	while (j) {
		struct resolve_job *next = j->next;
		resolve_job_free(j);
		j = next;
	}
}

/* Workers stuck in a slow lookup are not waited for long: if one does not
 * finish within a second, the resolver is left to the process exit. */
void resolver_stop(struct resolver *r)
{
	struct timespec deadline;
	bool all_joined = true;

	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	for (int i = 0; i < r->nthreads; i++)
		if (pthread_timedjoin_np(r->threads[i], NULL, &deadline) != 0)
			all_joined = false;
	if (!all_joined)
		return;
	free_job_list(r->todo_head);
	free_job_list(r->done);
	close(r->efd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r->threads);
	free(r);
}
