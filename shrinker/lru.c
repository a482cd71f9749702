/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lru.c - a doubly linked list of references with its links in the
 * caller's records (lru.h).
 *
 * lock ordering: l->lock is a leaf; callers hold it around every call.
 */
#include "shrinker/lru.h"
#include "zp-assert.h"

void shr_lru_init(struct shr_lru *l,
		  struct shr_lru_link *(*link)(void *ctx, uint64_t ref),
		  void *ctx)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head = l->tail = 0;
	l->len = 0;
	l->link = link;
	l->ctx = ctx;
}

void shr_lru_destroy(struct shr_lru *l)
{
	pthread_mutex_destroy(&l->lock);
}

static struct shr_lru_link *link_of(struct shr_lru *l, uint64_t ref)
{
	zp_assert(ref != 0);
	return l->link(l->ctx, ref);
}

static void set_len(struct shr_lru *l, uint64_t len)
{
	__atomic_store_n(&l->len, len, __ATOMIC_RELAXED);
}

void shr_lru_push(struct shr_lru *l, uint64_t ref)
{
	struct shr_lru_link *k = link_of(l, ref);

	k->prev = 0;
	k->next = l->head;
	if (l->head)
		link_of(l, l->head)->prev = ref;
	else
		l->tail = ref;
	l->head = ref;
	set_len(l, l->len + 1);
}

void shr_lru_remove(struct shr_lru *l, uint64_t ref)
{
	struct shr_lru_link *k = link_of(l, ref);

	zp_assert_internal(l->len > 0);
	if (k->prev)
		link_of(l, k->prev)->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		link_of(l, k->next)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = 0;
	set_len(l, l->len - 1);
}

void shr_lru_rotate(struct shr_lru *l, uint64_t ref)
{
	if (l->head == ref)
		return;
	shr_lru_remove(l, ref);
	shr_lru_push(l, ref);
}
