/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-zstd.c - the input is a zstd object (a magicless frame, see
 * compress/zstd.c): it must decode to exactly one page or fail with
 * -EBADMSG, touching nothing outside the object and the page.
 *
 * The level in a zstd tag does not change decoding, so each input is
 * decoded once with the default level's tag and once with another level's,
 * chosen from the input's length.
 *
 * Seeds: the synthetic pages compressed at levels from -100 to 22, and
 * frames built by hand for what the compressor rarely or never writes for
 * one page: raw and RLE blocks, two blocks, two frames, a frame that states
 * its content size.
 */
#include <errno.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	comp_tag_t tag;
	const unsigned char *page;
	int ret;

	if (!comp_backend_available(COMP_ZSTD))
		fuzz_fail("built without zstd");
	tag = fuzz_tag(COMP_ZSTD, 3); /* the level does not matter */
	ret = fuzz_decompress(tag, fuzz_alt_tag(tag, size), data, size, &page);
	if (ret != 0 && ret != -EBADMSG)
		fuzz_fail("zstd object of %zu bytes: result %d, not 0 or "
			  "-EBADMSG",
			  size, ret);
	return 0;
}

/* Frame header without magic: descriptor 0 (no content size, not single
 * segment, no checksum, no dictionary), window 4 KiB (exponent 2). */
#define FRAME_HEAD 0x00, 0x10

/* Block header: last flag, type (0 raw, 1 RLE, 2 compressed), size; 24
 * bits little endian. */
#define BLOCK(last, type, size)                                       \
	(unsigned char)((last) | (type) << 1 | ((size) << 3 & 0xff)), \
		(unsigned char)((size) >> 5 & 0xff),                  \
		(unsigned char)((size) >> 13 & 0xff)

/* Into buf: head1, the first half of page, head2, the second half. Returns
 * the length. */
static size_t split_page(unsigned char *buf, const unsigned char *page,
			 const unsigned char *head1, size_t len1,
			 const unsigned char *head2, size_t len2)
{
	const unsigned half = COMP_PAGE_SIZE / 2;
	size_t n = 0;

	memcpy(buf + n, head1, len1);
	n += len1;
	memcpy(buf + n, page, half);
	n += half;
	memcpy(buf + n, head2, len2);
	n += len2;
	memcpy(buf + n, page + half, half);
	n += half;
	return n;
}

static void add_frames(struct fuzz_seeds *s, const unsigned char *page)
{
	const unsigned half = COMP_PAGE_SIZE / 2;
	const unsigned char raw[] = { FRAME_HEAD, BLOCK(1, 0, COMP_PAGE_SIZE) };
	const unsigned char rle[] = { FRAME_HEAD, BLOCK(1, 1, COMP_PAGE_SIZE),
				      page[0] };
	/* Single segment, 2-byte content size (stored minus 256). */
	const unsigned char sized[] = { 0x60, (COMP_PAGE_SIZE - 256) & 0xff,
					(COMP_PAGE_SIZE - 256) >> 8,
					BLOCK(1, 0, COMP_PAGE_SIZE) };
	unsigned char buf[2 * (2 + 3) + COMP_PAGE_SIZE];
	const unsigned char first[] = { FRAME_HEAD, BLOCK(0, 0, half) };
	const unsigned char second[] = { BLOCK(1, 0, half) };
	const unsigned char frame[] = { FRAME_HEAD, BLOCK(1, 0, half) };
	size_t n;

	fuzz_seeds_add(s, raw, sizeof(raw), page, COMP_PAGE_SIZE);
	fuzz_seeds_add(s, rle, sizeof(rle), NULL, 0);
	fuzz_seeds_add(s, sized, sizeof(sized), page, COMP_PAGE_SIZE);

	/* Two raw blocks of half a page. */
	n = split_page(buf, page, first, sizeof(first), second, sizeof(second));
	fuzz_seeds_add(s, buf, n, NULL, 0);

	/* Two frames of half a page: the decoder goes on to a second frame
	 * when input remains. */
	n = split_page(buf, page, frame, sizeof(frame), frame, sizeof(frame));
	fuzz_seeds_add(s, buf, n, NULL, 0);
}

static void make_seeds(struct fuzz_seeds *s)
{
	/* Besides the lowest and the highest: the fast levels, the default,
	 * lazy matching and the optimal parsers. */
	static const int levels[] = { -5, 1, 3, 9, 19 };
	unsigned char page[COMP_PAGE_SIZE];
	int min, def, max;
	size_t i;

	fuzz_levels(COMP_ZSTD, &min, &def, &max);
	fuzz_add_compressed_seeds(s, (struct comp_spec){ COMP_ZSTD, min },
				  NULL, 0);
	for (i = 0; i < ZP_ARRAY_SIZE(levels); i++)
		fuzz_add_compressed_seeds(
			s, (struct comp_spec){ COMP_ZSTD, levels[i] }, NULL, 0);
	fuzz_add_compressed_seeds(s, (struct comp_spec){ COMP_ZSTD, max },
				  NULL, 0);
	fuzz_make_page(page, FUZZ_PAGE_RANDOM * FUZZ_PAGE_VARIANTS);
	add_frames(s, page);
	fuzz_make_page(page, FUZZ_PAGE_TEXT * FUZZ_PAGE_VARIANTS + 1);
	add_frames(s, page);
}

const struct fuzz_target fuzz_target = {
	.name = "zstd",
	.runs = 200000,
	.make_seeds = make_seeds,
};
