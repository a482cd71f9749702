/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-decompress.c - comp_decompress() with any tag: the first two bytes
 * of the input are the tag (little endian), the rest the object.
 *
 * Every 16-bit value is a tag someone could hand the daemon from a corrupt
 * block index, so besides the decoders this reaches the raw copy and the
 * rejection of unknown backends and of levels out of range. Expected:
 *   -ENOTSUP  exactly when comp_tag_spec() rejects the tag or names a
 *             backend this build lacks
 *   raw tag   0 exactly when the object is one page long, and then the page
 *             is the object; -EBADMSG otherwise
 *   others    0 or -EBADMSG
 */
#include <errno.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

static bool tag_supported(comp_tag_t tag, int *backend)
{
	struct comp_spec spec;

	if (comp_tag_spec(tag, &spec))
		return false;
	*backend = spec.backend;
	/* raw is not selectable, but every build decodes it. */
	return spec.backend == COMP_RAW || comp_backend_available(spec.backend);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *page;
	int ret, backend = -1;
	comp_tag_t tag;

	if (size < sizeof(tag))
		return 0;
	tag = (comp_tag_t)(data[0] | data[1] << 8);
	data += sizeof(tag);
	size -= sizeof(tag);

	ret = fuzz_decompress(tag, tag, data, size, &page);
	if (!tag_supported(tag, &backend)) {
		if (ret != -ENOTSUP)
			fuzz_fail("%s: result %d, not -ENOTSUP",
				  fuzz_tag_name(tag), ret);
		return 0;
	}
	if (ret == -ENOTSUP)
		fuzz_fail("%s: -ENOTSUP for a tag this build decodes",
			  fuzz_tag_name(tag));
	if (backend == COMP_RAW) {
		if (ret != (size == COMP_PAGE_SIZE ? 0 : -EBADMSG))
			fuzz_fail("raw object of %zu bytes: result %d", size,
				  ret);
		if (!ret && memcmp(page, data, COMP_PAGE_SIZE))
			fuzz_fail("raw object: the page is not the object");
	}
	return 0;
}

static void add(struct fuzz_seeds *s, comp_tag_t tag, const void *obj,
		size_t len)
{
	const unsigned char head[2] = { tag & 0xff, tag >> 8 };

	fuzz_seeds_add(s, head, sizeof(head), obj, len);
}

static void make_seeds(struct fuzz_seeds *s)
{
	/* Specs this build lacks add no seeds. */
	static const struct comp_spec specs[] = {
		{ COMP_LZ4, 1 },   { COMP_LZ4, 4096 }, { COMP_LZ4HC, 4 },
		{ COMP_LZ4HC, 9 }, { COMP_ZSTD, -7 },  { COMP_ZSTD, 3 },
		{ COMP_ZSTD, 22 },
	};
	const comp_tag_t raw = COMP_RAW << COMP_TAG_LEVEL_BITS;
	unsigned char page[COMP_PAGE_SIZE], head[2];
	int min, def, max;
	comp_tag_t tag;
	size_t i;

	for (i = 0; i < ZP_ARRAY_SIZE(specs); i++) {
		if (!comp_spec_valid(specs[i]))
			continue;
		tag = comp_spec_tag(specs[i]);
		head[0] = tag & 0xff;
		head[1] = tag >> 8;
		fuzz_add_compressed_seeds(s, specs[i], head, sizeof(head));
	}
	fuzz_make_page(page, FUZZ_PAGE_RANDOM * FUZZ_PAGE_VARIANTS);
	add(s, raw, page, COMP_PAGE_SIZE);
	add(s, raw, page, COMP_PAGE_SIZE - 1);
	fuzz_make_page(page, FUZZ_PAGE_TEXT * FUZZ_PAGE_VARIANTS);
	add(s, raw, page, COMP_PAGE_SIZE);
	add(s, raw | 1, page, COMP_PAGE_SIZE); /* raw has one level */
	add(s, raw, NULL, 0);
	/* A zstd tag even where zstd is not built: -ENOTSUP then. */
	add(s, COMP_ZSTD << COMP_TAG_LEVEL_BITS, page, 64);
	/* Backends no build has, the level after lz4hc's last, lz4's last
	 * level. */
	add(s, NR_COMP_BACKENDS << COMP_TAG_LEVEL_BITS, page, 64);
	add(s, 0xffff, page, 64);
	fuzz_levels(COMP_LZ4HC, &min, &def, &max);
	add(s, COMP_LZ4HC << COMP_TAG_LEVEL_BITS | (unsigned)(max - min + 1),
	    page, 64);
	add(s, COMP_LZ4 << COMP_TAG_LEVEL_BITS | 0xfff, page, 64);
}

const struct fuzz_target fuzz_target = {
	.name = "decompress",
	.runs = 200000,
	.make_seeds = make_seeds,
};
