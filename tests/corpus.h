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

static inline const unsigned char *zp_corpus_page(const struct zp_corpus *c,
						  size_t i)
{
	return c->data + i * ZP_CORPUS_PAGE;
}

#endif
