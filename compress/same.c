/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * same.c - same-filled pages: every 8-byte word equal. Zero pages are most
 * of them (freshly touched heap, cleared buffers); they cost a word in the
 * block index and no pool memory.
 *
 * The check reads the last word first, since most pages that are not
 * same-filled differ there already, then folds eight words at a time so
 * the loop branches once per cache line. Words are loaded with memcpy:
 * pages from FUSE need not be 8-byte aligned.
 */
#include <string.h>

#include "compress/internal.h"

#define PAGE_WORDS (COMP_PAGE_SIZE / sizeof(uint64_t))
/* A cache line of words per step. */
#define STEP_WORDS 8

static inline uint64_t load_word(const unsigned char *p, size_t i)
{
	uint64_t w;

	memcpy(&w, p + i * sizeof(w), sizeof(w));
	return w;
}

bool comp_page_same_filled(const void *page, uint64_t *word)
{
	const unsigned char *p = page;
	uint64_t v = load_word(p, 0);
	size_t i, j;

	if (load_word(p, PAGE_WORDS - 1) != v)
		return false;
	for (i = 0; i < PAGE_WORDS; i += STEP_WORDS) {
		uint64_t diff = 0;

		for (j = 0; j < STEP_WORDS; j++)
			diff |= load_word(p, i + j) ^ v;
		if (diff)
			return false;
	}
	*word = v;
	return true;
}

void comp_page_fill(void *page, uint64_t word)
{
	unsigned char *p = page;
	size_t i;

	/* One repeated byte (zero above all) is what memset is fastest at. */
	if (word == (word & 0xff) * 0x0101010101010101ull) {
		memset(page, (int)(word & 0xff), COMP_PAGE_SIZE);
		return;
	}
	for (i = 0; i < PAGE_WORDS; i++)
		memcpy(p + i * sizeof(word), &word, sizeof(word));
}
