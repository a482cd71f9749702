/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lru.h - a least-recently-used list whose links live in the caller's own
 * records, for the shrinker's per-node lists of blocks.
 *
 * The list holds references: non-zero 64-bit numbers the caller chooses
 * (the daemon packs a volume and a block number into one). Each record
 * embeds a struct shr_lru_link, and the list finds it through the link()
 * function it was made with, so that a record costs no memory beyond its
 * two links and nothing is allocated when records come and go.
 *
 * The newest reference is at the head, the oldest at the tail; the
 * shrinker takes victims from the tail and gives referenced ones a second
 * chance by moving them back to the head (shr_lru_rotate()).
 *
 * Whether a record is on a list, and on which, is the caller's to track:
 * the list does not look at a record that is not on it.
 *
 * lock ordering: the list's lock is taken after any of the caller's locks
 * (the daemon's stripe locks) and nothing is taken under it. Every
 * function but shr_lru_len() needs it held (shr_lru_lock()).
 */
#ifndef SHR_LRU_H
#define SHR_LRU_H

#include <pthread.h>
#include <stdint.h>

/* Links to the neighbours; 0 at either end. protected by the list's lock */
struct shr_lru_link {
	uint64_t prev; /* towards the head (newer) */
	uint64_t next; /* towards the tail (older) */
};

struct shr_lru {
	pthread_mutex_t lock;
	uint64_t head, tail; /* protected by lock */
	uint64_t len;        /* protected by lock; read with shr_lru_len() */
	struct shr_lru_link *(*link)(void *ctx, uint64_t ref);
	void *ctx;
};

/** An empty list whose records' links link(ctx, ref) finds. */
void shr_lru_init(struct shr_lru *l,
		  struct shr_lru_link *(*link)(void *ctx, uint64_t ref),
		  void *ctx);
void shr_lru_destroy(struct shr_lru *l);

static inline void shr_lru_lock(struct shr_lru *l)
{
	pthread_mutex_lock(&l->lock);
}

static inline void shr_lru_unlock(struct shr_lru *l)
{
	pthread_mutex_unlock(&l->lock);
}

/** Add ref, which is on no list, at the head. */
void shr_lru_push(struct shr_lru *l, uint64_t ref);

/** Take ref, which is on this list, off it. */
void shr_lru_remove(struct shr_lru *l, uint64_t ref);

/** Move ref, which is on this list, to the head. */
void shr_lru_rotate(struct shr_lru *l, uint64_t ref);

/** The oldest reference, 0 when the list is empty. */
static inline uint64_t shr_lru_oldest(const struct shr_lru *l)
{
	return l->tail;
}

/** References on the list, without the lock: exact when read under it,
 * a recent value otherwise. */
static inline uint64_t shr_lru_len(const struct shr_lru *l)
{
	return __atomic_load_n(&l->len, __ATOMIC_RELAXED);
}

#endif /* SHR_LRU_H */
