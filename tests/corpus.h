/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * corpus.h - the shared swap-like test corpus (anon-96m.bin.zst), loaded into
 * memory for tests and benchmarks.
 *
 * Where it is looked for, first match wins:
 *   $ZPOOLD_CORPUS (a .zst or an already decompressed file),
 *   $top_srcdir/../shared/corpus/anon-96m.bin.zst,
 *   <directory of the running program>/../../shared/corpus/anon-96m.bin.zst
 *   (and one and two levels further up),
 *   /work/shared/corpus/anon-96m.bin.zst.
 */
#ifndef ZP_TESTS_CORPUS_H
#define ZP_TESTS_CORPUS_H

#include <stddef.h>

#define ZP_CORPUS_PAGE 4096u
#define ZP_CORPUS_BYTES 100663296u /* 24,576 pages */

struct zp_corpus {
	unsigned char *data; /* nr_pages * 4096 bytes */
	size_t nr_pages;
	char path[4096];     /* where it was found */
};

/**
 * zp_corpus_load() - find, decompress (zstd -dc) and check the corpus.
 * On failure returns -errno and writes a one-line reason into err.
 */
int zp_corpus_load(struct zp_corpus *corpus, char *err, size_t errlen);
void zp_corpus_free(struct zp_corpus *corpus);

/**
 * zp_corpus_setup() - zp_corpus_load() for a cmocka group setup, which
 * passes its state: *state is set to corpus for zp_corpus_teardown(). On
 * failure prints "# cannot load the corpus: <reason>" to stdout, a TAP
 * comment as cmocka's print_message() writes it, and returns -1, which
 * fails the group; 0 when loaded. A test that takes the first *nr_pages
 * pages passes nr_pages, which is lowered to the corpus's size; others pass
 * NULL.
 */
int zp_corpus_setup(void **state, struct zp_corpus *corpus, size_t *nr_pages);

/**
 * zp_corpus_teardown() - a cmocka group teardown: frees the corpus that
 * zp_corpus_setup() put in *state. Returns 0.
 */
int zp_corpus_teardown(void **state);

static inline const unsigned char *zp_corpus_page(const struct zp_corpus *c,
						  size_t i)
{
	return c->data + i * ZP_CORPUS_PAGE;
}

#endif
