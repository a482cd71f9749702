/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slots.h - the slot allocator of the backing store: which 4 KiB slots of
 * the backing file hold a written-back block and which are free.
 *
 * Slots are numbered 0 .. total-1. An allocation hands out a run of
 * consecutive slots so that a batch of victims goes to disk in few large
 * writes; a run never wraps from the last slot to slot 0. Allocation is
 * next-fit: it goes on from where the previous one ended, so that runs
 * freed out of order are not reused at once and the file fills
 * sequentially.
 *
 * Every function is safe to call from several threads at once: an
 * internal mutex, a leaf lock, serialises them (allocations come from the
 * shrinker thread, frees from any I/O thread). Nothing here allocates
 * memory after shr_slots_create().
 *
 * lock ordering: the allocator's lock is a leaf. Callers may hold any of
 * their own locks across these calls; nothing here calls out while holding
 * it.
 */
#ifndef SHR_SLOTS_H
#define SHR_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

struct shr_slots;

/**
 * shr_slots_create() - an allocator of nr_slots slots, all free, with its
 * cursor at slot 0.
 * Returns 0 and the allocator in *out; -EINVAL for nr_slots 0, or for more
 * than 2^51, the most 4 KiB slots a file offset (off_t) can address; or
 * -ENOMEM (the bitmap takes nr_slots / 8 bytes). *out is left alone on an
 * error.
 */
int shr_slots_create(uint64_t nr_slots, struct shr_slots **out);

/** Free the allocator, whatever slots are still allocated. NULL is fine. */
void shr_slots_destroy(struct shr_slots *s);

/**
 * shr_slots_alloc() - allocate a run of consecutive free slots, as long as
 * possible up to want.
 * @want:  slots wanted, at least 1
 * @first: the run's first slot
 * @got:   the run's length, 1..want
 *
 * The search starts at the cursor, the slot after the end of the previous
 * run, and wraps around to slot 0. In a window ahead of the cursor (tens
 * of thousands of slots or a few hundred free runs, see slots.c) the first
 * run of the full want length is taken in preference to any shorter one;
 * failing that, the longest run that starts in the window; failing that,
 * the first free slot after the window, with as many free slots after it
 * as want allows. So a free slot is always found if there is one.
 *
 * Returns 0 with *first and *got set, -EINVAL when want is 0, or -ENOSPC
 * when every slot is allocated; *first and *got are left alone on an error.
 */
int shr_slots_alloc(struct shr_slots *s, unsigned int want, uint64_t *first,
		    unsigned int *got);

/**
 * shr_slots_free() - give back n slots from first on. They need not be
 * one run of a single allocation: any allocated slots may be freed, alone
 * or together. n 0 does nothing. The cursor stays where it is.
 * Freeing a slot that is not allocated, or one at or past the total, is a
 * broken invariant (a block freed twice, a corrupt slot number): it
 * aborts with zp_assert.
 */
void shr_slots_free(struct shr_slots *s, uint64_t first, unsigned int n);

/** Slots allocated now. Exact. */
uint64_t shr_slots_used(const struct shr_slots *s);

/** Slots in all, as created. */
uint64_t shr_slots_total(const struct shr_slots *s);

/**
 * shr_slots_is_used() - whether slot is allocated, for tests and
 * validators. slot must be below the total (zp_assert).
 */
bool shr_slots_is_used(const struct shr_slots *s, uint64_t slot);

#endif /* SHR_SLOTS_H */
