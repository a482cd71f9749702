/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slots.c - the slot allocator of the backing store (slots.h).
 *
 * Layout: two bitmaps of 64-bit words.
 *
 *   map   one bit per slot, set while the slot is allocated. The bits of the
 *         last word past the last slot are set for good, so that a free bit
 *         is always a real slot and the last word turns full, like any
 *         other, once its slots are all allocated. They are not counted in
 *         used.
 *   full  one bit per word of map, set while that word is all ones, so that
 *         a search for a free slot crosses an allocated stretch of the file
 *         4096 slots per word it reads. Its bits past the last word of map
 *         are set for good: a search never stops in them.
 *
 * Policy: next-fit. The cursor is the slot after the end of the last run
 * handed out, so a file that has room fills front to back and the blocks
 * of a batch land next to each other, and a freed run is not reused at
 * once. From the cursor, an allocation reads the window of SCAN_WINDOW
 * slots ahead (wrapping past the last slot to slot 0), or of SCAN_RUNS free
 * runs if those end sooner, and takes the first free run of the full length
 * it meets. When there is none, it takes the longest free run that starts
 * in the window: a batch then goes out in as few writes as the window
 * allows. When the window is all allocated, it takes the first free slot
 * after it, wrapping around: used says that one exists, and the full map
 * finds it within nr_slots / 4096 word reads. A run never wraps: slots
 * nr_slots-1 and 0 are not consecutive in the file.
 *
 * lock ordering: s->lock is a leaf. It covers the contents of both bitmaps,
 * used and cursor; nr_slots and the array sizes never change after
 * shr_slots_create(). Frees come from any I/O thread, so the shrinker
 * thread's allocations must hold it too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "shrinker/slots.h"
#include "zp-assert.h"
#include "zp-compiler.h"

#define WORD_BITS 64u

/* How far ahead of the cursor an allocation looks for a run of the full
 * length before it settles for a shorter one: 1024 words of map, about a
 * microsecond of reading, little beside the 4 KiB writes it serves, and
 * 256 MiB of backing file, room for the holes that the frees of many
 * batches open up. */
#define SCAN_WINDOW (1024ull * WORD_BITS)
/* A window riddled with short holes costs a few reads per hole rather than
 * per word: the search also stops after this many free runs, which keeps
 * an allocation in a fragmented file to some microseconds. */
#define SCAN_RUNS 256u

/* A slot's byte offset must fit in an off_t: files have at most 2^63 bytes,
 * 2^51 slots of 4 KiB. Keeping below it also leaves the sums of slot
 * numbers and lengths here far from overflowing. */
#define MAX_SLOTS (1ull << 51)

struct shr_slots {
	pthread_mutex_t lock;
	/* Fixed at creation. */
	uint64_t nr_slots;
	uint64_t nr_words;	/* of map */
	uint64_t nr_full_words; /* of full */
	/* The arrays' contents and the fields below: protected by lock. */
	uint64_t *map;
	uint64_t *full;
	uint64_t used;	 /* allocated slots, the tail's padding not counted */
	uint64_t cursor; /* where the next search starts, below nr_slots */
};

/* A free or allocated run of slots. */
struct run {
	uint64_t first;
	uint64_t len;
};

/* Bits lo..hi-1 of a word; lo < hi <= 64. */
static inline uint64_t bit_range(unsigned int lo, unsigned int hi)
{
	return (~0ull >> (WORD_BITS - (hi - lo))) << lo;
}

/* The bits of the last word past the first n bits of a bitmap: 0 when n
 * fills it. */
static inline uint64_t tail_padding(uint64_t n)
{
	return n % WORD_BITS ? ~0ull << (n % WORD_BITS) : 0;
}

/* Locking changes nothing a caller can see, so the accessors that take a
 * const allocator lock it through this cast. */
static pthread_mutex_t *lock_of(const struct shr_slots *s)
{
	return (pthread_mutex_t *)&s->lock;
}

/* ------------------------------------------------------------------------ */
/* Searching; the caller holds s->lock                                      */
/* ------------------------------------------------------------------------ */

/* The first word of map at or after w with a free slot, or nr_words. */
static uint64_t next_open_word(const struct shr_slots *s, uint64_t w)
{
	uint64_t i = w / WORD_BITS;
	uint64_t open;

	if (w >= s->nr_words)
		return s->nr_words;
	open = ~s->full[i] & (~0ull << (w % WORD_BITS));
	while (!open) {
		if (++i == s->nr_full_words)
			return s->nr_words;
		open = ~s->full[i];
	}
	/* The padding of full is set, so this is below nr_words. */
	return i * WORD_BITS + (uint64_t)__builtin_ctzll(open);
}

/* The first free slot in pos..end-1, or end; end <= nr_slots. */
static uint64_t find_free(const struct shr_slots *s, uint64_t pos, uint64_t end)
{
	uint64_t w = pos / WORD_BITS;
	uint64_t free_bits;

	if (pos >= end)
		return end;
	free_bits = ~s->map[w] & (~0ull << (pos % WORD_BITS));
	while (!free_bits) {
		w = next_open_word(s, w + 1);
		if (w * WORD_BITS >= end)
			return end;
		free_bits = ~s->map[w];
	}
	return ZP_MIN(w * WORD_BITS + (uint64_t)__builtin_ctzll(free_bits),
		      end);
}

/* The first allocated slot in pos..end-1, or end; pos < end <= nr_slots.
 * Free words are skipped whole, so a long run costs len / 64 reads. */
static uint64_t find_used(const struct shr_slots *s, uint64_t pos, uint64_t end)
{
	uint64_t w = pos / WORD_BITS;
	uint64_t used_bits = s->map[w] & (~0ull << (pos % WORD_BITS));

	while (!used_bits) {
		if (++w * WORD_BITS >= end)
			return end;
		used_bits = s->map[w];
	}
	return ZP_MIN(w * WORD_BITS + (uint64_t)__builtin_ctzll(used_bits),
		      end);
}

/*
 * Walk the free runs that start in from..to-1, each cut at want slots and
 * at the last slot, at most *runs_left of them (counted down). Returns true
 * with the first run of the full want length in *best; otherwise false,
 * with *best the longest run seen if it is longer than the one *best held
 * (the earlier one wins a tie, so a short run stays close to the cursor).
 */
static bool scan_runs(const struct shr_slots *s, uint64_t from, uint64_t to,
		      uint64_t want, struct run *best, unsigned int *runs_left)
{
	uint64_t pos = from;

	for (;;) {
		uint64_t start;
		uint64_t end;

		if (!*runs_left)
			return false;
		start = find_free(s, pos, to);
		if (start >= to)
			return false;
		(*runs_left)--;
		end = find_used(s, start, ZP_MIN(start + want, s->nr_slots));
		if (end - start > best->len) {
			best->first = start;
			best->len = end - start;
		}
		if (best->len == want)
			return true;
		pos = end;
	}
}

/* Where the policy (top of file) puts a run of up to want slots. At least
 * one slot must be free. */
static struct run pick_run(const struct shr_slots *s, uint64_t want)
{
	uint64_t nr = s->nr_slots;
	uint64_t from = s->cursor;
	uint64_t stop = from + ZP_MIN(SCAN_WINDOW, nr);
	unsigned int runs_left = SCAN_RUNS;
	struct run best = {0, 0};
	uint64_t after, pos;

	if (scan_runs(s, from, ZP_MIN(stop, nr), want, &best, &runs_left))
		return best;
	if (stop > nr && scan_runs(s, 0, stop - nr, want, &best, &runs_left))
		return best;
	if (best.len)
		return best;

	/* Not one free slot in the window: the first one after it. */
	after = stop < nr ? stop : stop - nr;
	pos = find_free(s, after, nr);
	if (pos == nr) {
		pos = find_free(s, 0, after);
		/* The caller counted a free slot, so the window cannot have
		 * been the whole file. */
		zp_assert(pos < after);
	}
	best.first = pos;
	best.len = find_used(s, pos, ZP_MIN(pos + want, nr)) - pos;
	return best;
}

/* ------------------------------------------------------------------------ */
/* Changing the bitmaps; the caller holds s->lock                           */
/* ------------------------------------------------------------------------ */

/* Mark n slots from first on allocated (used) or free, word by word. */
static void mark(struct shr_slots *s, uint64_t first, uint64_t n, bool used)
{
	uint64_t end = first + n;

	while (first < end) {
		uint64_t w = first / WORD_BITS;
		uint64_t stop = ZP_MIN(end, (w + 1) * WORD_BITS);
		uint64_t mask = bit_range(first % WORD_BITS,
					  (unsigned int)(stop - w * WORD_BITS));
		uint64_t *full = &s->full[w / WORD_BITS];
		uint64_t word_bit = 1ull << (w % WORD_BITS);

		if (used) {
			zp_assert_internal(!(s->map[w] & mask));
			s->map[w] |= mask;
			if (s->map[w] == ~0ull)
				*full |= word_bit;
		} else {
			/* A free slot freed again: the caller's bookkeeping
			 * of its blocks is broken, and the slot may be handed
			 * out already, so that two blocks would share it. */
			zp_assert((s->map[w] & mask) == mask);
			s->map[w] &= ~mask;
			*full &= ~word_bit;
		}
		first = stop;
	}
	if (used)
		s->used += n;
	else
		s->used -= n;
}

/* Both bitmaps against each other and against used (debug level 3, after
 * every change). */
static void validate(const struct shr_slots *s)
{
	uint64_t map_pad = tail_padding(s->nr_slots);
	uint64_t full_pad = tail_padding(s->nr_words);
	uint64_t bits = 0;

	zp_assert(s->cursor < s->nr_slots);
	for (uint64_t w = 0; w < s->nr_words; w++) {
		bool full = s->full[w / WORD_BITS] >> (w % WORD_BITS) & 1;

		zp_assert(full == (s->map[w] == ~0ull));
		bits += (uint64_t)__builtin_popcountll(s->map[w]);
	}
	zp_assert((s->map[s->nr_words - 1] & map_pad) == map_pad);
	zp_assert((s->full[s->nr_full_words - 1] & full_pad) == full_pad);
	zp_assert(bits - (uint64_t)__builtin_popcountll(map_pad) == s->used);
}

/* ------------------------------------------------------------------------ */
/* Public functions                                                         */
/* ------------------------------------------------------------------------ */

int shr_slots_create(uint64_t nr_slots, struct shr_slots **out)
{
	struct shr_slots *s;
	int ret;

	if (!nr_slots || nr_slots > MAX_SLOTS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nr_slots = nr_slots;
	s->nr_words = ZP_DIV_ROUND_UP(nr_slots, WORD_BITS);
	s->nr_full_words = ZP_DIV_ROUND_UP(s->nr_words, WORD_BITS);
	/* With a 32-bit size_t the bitmap's size may not fit in one. */
	if (s->nr_words > SIZE_MAX / sizeof(uint64_t)) {
		ret = -ENOMEM;
		goto err_free;
	}
	s->map = calloc((size_t)s->nr_words, sizeof(uint64_t));
	if (!s->map) {
		ret = -ENOMEM;
		goto err_free;
	}
	s->full = calloc((size_t)s->nr_full_words, sizeof(uint64_t));
	if (!s->full) {
		ret = -ENOMEM;
		goto err_free_map;
	}
	s->map[s->nr_words - 1] = tail_padding(nr_slots);
	s->full[s->nr_full_words - 1] = tail_padding(s->nr_words);
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		goto err_free_full;
	*out = s;
	return 0;

err_free_full:
	free(s->full);
err_free_map:
	free(s->map);
err_free:
	free(s);
	return ret;
}

void shr_slots_destroy(struct shr_slots *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->full);
	free(s->map);
	free(s);
}

int shr_slots_alloc(struct shr_slots *s, unsigned int want, uint64_t *first,
		    unsigned int *got)
{
	struct run run;

	if (!want)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->used == s->nr_slots) {
		pthread_mutex_unlock(&s->lock);
		return -ENOSPC;
	}
	run = pick_run(s, want);
	zp_assert(run.len >= 1 && run.len <= want &&
		  run.first + run.len <= s->nr_slots);
	mark(s, run.first, run.len, true);
	s->cursor = run.first + run.len;
	if (s->cursor == s->nr_slots)
		s->cursor = 0;
	if (ZP_DEBUG >= 3)
		validate(s);
	pthread_mutex_unlock(&s->lock);

	*first = run.first;
	*got = (unsigned int)run.len;
	return 0;
}

void shr_slots_free(struct shr_slots *s, uint64_t first, unsigned int n)
{
	if (!n)
		return;
	zp_assert(first < s->nr_slots && n <= s->nr_slots - first);
	pthread_mutex_lock(&s->lock);
	mark(s, first, n, false);
	if (ZP_DEBUG >= 3)
		validate(s);
	pthread_mutex_unlock(&s->lock);
}

uint64_t shr_slots_used(const struct shr_slots *s)
{
	uint64_t used;

	pthread_mutex_lock(lock_of(s));
	used = s->used;
	pthread_mutex_unlock(lock_of(s));
	return used;
}

uint64_t shr_slots_total(const struct shr_slots *s)
{
	return s->nr_slots;
}

bool shr_slots_is_used(const struct shr_slots *s, uint64_t slot)
{
	bool used;

	zp_assert(slot < s->nr_slots);
	pthread_mutex_lock(lock_of(s));
	used = s->map[slot / WORD_BITS] >> (slot % WORD_BITS) & 1;
	pthread_mutex_unlock(lock_of(s));
	return used;
}
