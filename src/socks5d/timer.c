/* timer.c - deadline queues. One queue per timeout kind, all entries of a
 * queue share one duration, so a doubly linked FIFO is already sorted:
 * arm, cancel and expiry are O(1), no heap needed. */
#include "socks5d.h"

#include <time.h>

int64_t clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void timerq_init(struct timerq *q, int64_t duration_ms)
{
	q->head.prev = q->head.next = &q->head;
	q->duration_ms = duration_ms;
}

void timer_cancel(struct timer *t)
{
	if (!t->next)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

void timer_arm(struct timerq *q, struct timer *t, int64_t now_ms)
{
	timer_cancel(t);
	t->deadline_ms = now_ms + q->duration_ms;
	t->prev = q->head.prev;
	t->next = &q->head;
	q->head.prev->next = t;
	q->head.prev = t;
}

struct timer *timerq_pop_expired(struct timerq *q, int64_t now_ms)
{
	struct timer *t = q->head.next;
	if (t == &q->head || t->deadline_ms > now_ms)
		return NULL;
	timer_cancel(t);
	return t;
}

int64_t timerq_next_deadline(const struct timerq *q)
{
	if (q->head.next == &q->head)
		return INT64_MAX;
	return q->head.next->deadline_ms;
}
