/*
 * waitq.c -- see waitq.h.
 */
#include "backends/waitq.h"

void
wq_init(struct waitq *q, size_t max, uint64_t timeout_ms)
{
	q->head = q->tail = NULL;
	q->n = 0;
	wq_configure(q, max, timeout_ms);
}

void
wq_configure(struct waitq *q, size_t max, uint64_t timeout_ms)
{
	q->max = max;
	q->timeout_ms = timeout_ms;
}

int
wq_push(struct waitq *q, struct wq_node *n, uint64_t now)
{
	if (n->queued || q->n >= q->max)
		return -1;
	n->deadline_ms = now + q->timeout_ms;
	n->next = NULL;
	n->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	n->queued = true;
	q->n++;
	return 0;
}

void
wq_remove(struct waitq *q, struct wq_node *n)
{
	if (!n->queued)
		return;
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->prev = n->next = NULL;
	n->queued = false;
	q->n--;
}

struct wq_node *
wq_pop(struct waitq *q)
{
	struct wq_node *n = q->head;

	if (n != NULL)
		wq_remove(q, n);
	return n;
}

struct wq_node *
wq_pop_expired(struct waitq *q, uint64_t now)
{
	struct wq_node *n = q->head;

	if (n == NULL || n->deadline_ms > now)
		return NULL;
	wq_remove(q, n);
	return n;
}

uint64_t
wq_next_deadline(const struct waitq *q, uint64_t now)
{
	if (q->head == NULL)
		return UINT64_MAX;
	return q->head->deadline_ms > now ? q->head->deadline_ms - now : 0;
}
