/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-lz4.c - the input is an lz4 object: it must decode to exactly one
 * page or fail with -EBADMSG, touching nothing outside the object and the
 * page.
 *
 * lz4 and lz4hc objects share one decoder, so each input is decoded once
 * with the tag of lz4's default and once with another lz4 or lz4hc tag
 * chosen from the input's length (fuzz_decompress() compares the two): the
 * tags of every level are exercised without spending input bytes on them.
 *
 * Seeds: the synthetic pages compressed with lz4 and lz4hc at a few levels,
 * and literal-only blocks of the pages lz4 would store raw (what liblz4
 * writes when nothing matches, but never makes it past the raw threshold).
 */
#include <errno.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	comp_tag_t tag = comp_spec_tag(comp_default_spec());
	const unsigned char *page;
	int ret;

	ret = fuzz_decompress(tag, fuzz_alt_tag(tag, size), data, size, &page);
	if (ret != 0 && ret != -EBADMSG)
		fuzz_fail("lz4 object of %zu bytes: result %d, not 0 or "
			  "-EBADMSG",
			  size, ret);
	return 0;
}

/*
 * One lz4 sequence holding the whole page as literals: a token of 15
 * literals, the rest of the length in 255s and a final byte, then the page.
 * 4096 - 15 = 4081 = 16 * 255 + 1.
 */
static void add_literal_block(struct fuzz_seeds *s, const unsigned char *page)
{
	unsigned char head[1 + 16 + 1];

	head[0] = 0xf0;
	memset(head + 1, 0xff, 16);
	head[17] = 1;
	fuzz_seeds_add(s, head, sizeof(head), page, COMP_PAGE_SIZE);
}

static void make_seeds(struct fuzz_seeds *s)
{
	unsigned char page[COMP_PAGE_SIZE];
	int level[3];
	size_t i;

	/* lz4 at 1, 8 and 64; lz4hc at its lowest, default and highest. */
	for (i = 0; i < 3; i++)
		fuzz_add_compressed_seeds(
			s, (struct comp_spec){ COMP_LZ4, 1 << (3 * i) }, NULL,
			0);
	fuzz_levels(COMP_LZ4HC, &level[0], &level[1], &level[2]);
	for (i = 0; i < 3; i++)
		fuzz_add_compressed_seeds(
			s, (struct comp_spec){ COMP_LZ4HC, level[i] }, NULL, 0);
	for (i = 0; i < FUZZ_PAGE_VARIANTS; i++) {
		fuzz_make_page(page, FUZZ_PAGE_RANDOM * FUZZ_PAGE_VARIANTS + i);
		add_literal_block(s, page);
	}
	fuzz_make_page(page, FUZZ_PAGE_TEXT * FUZZ_PAGE_VARIANTS);
	add_literal_block(s, page);
}

const struct fuzz_target fuzz_target = {
	.name = "lz4",
	.runs = 200000,
	.make_seeds = make_seeds,
};
