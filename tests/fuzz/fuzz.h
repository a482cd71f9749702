/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz.h - what the fuzz harnesses share.
 *
 * A harness is one file tests/fuzz/fuzz-<name>.c that defines
 * LLVMFuzzerTestOneInput() and a struct fuzz_target. It is linked with one
 * of two drivers:
 *   libFuzzer  ./configure CC=clang --enable-fuzzing, run by tools/fuzz
 *   replay.c   every other build: `make check` runs the harness on its seeds
 *              and on a fixed stream of mutations of them, and replays files
 *              given on the command line (a crash libFuzzer saved)
 * Both call LLVMFuzzerInitialize() first, which handles --write-seeds DIR:
 * so the libFuzzer binary makes its own seed corpus and needs no other build.
 *
 * Any broken expectation calls fuzz_fail(), which aborts: libFuzzer saves
 * the input as a crash, replay.c saves it and reports "not ok". Inputs
 * that once failed belong in tests/fuzz/regress/<name>/, which both drivers
 * run before anything else.
 *
 * Where the bytes live: the decoders under test are system libraries that no
 * sanitizer instruments, so ASan alone would miss most of their stray
 * accesses. Every object is therefore copied next to an inaccessible page
 * (once ending at it, once starting after it) so that reading past either
 * end faults at once, and decoded twice: into a page that sits between two
 * inaccessible pages, and into a page inside a larger malloc'd buffer whose
 * guard bytes are checked after the call. The two pages start out different,
 * so a decoder that reports success without writing every byte shows too.
 */
#ifndef ZP_TESTS_FUZZ_H
#define ZP_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/compress.h"
#include "zp-compiler.h"

/* libFuzzer's entry points (replay.c calls them the same way). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---------------------------------------------------------------------------
 * Seeds
 * ------------------------------------------------------------------------ */

struct fuzz_input {
	unsigned char *data;
	size_t len;
};

struct fuzz_seeds {
	struct fuzz_input *v;
	size_t nr, cap;
};

/* Append head followed by body as one seed (either may be empty). Aborts
 * on ENOMEM: a harness without its seeds tests nothing. */
void fuzz_seeds_add(struct fuzz_seeds *s, const void *head, size_t head_len,
		    const void *body, size_t body_len);
void fuzz_seeds_free(struct fuzz_seeds *s);

/* The harness's seeds (fuzz_target.make_seeds), same on every run. */
void fuzz_make_seeds(struct fuzz_seeds *s);

/* Write the seeds into dir, one file each, creating dir if needed: 0 or
 * -errno, with a message on stderr. */
int fuzz_write_seeds(const char *dir);

/*
 * Synthetic swap-like pages, the raw material of every seed. Each kind
 * comes in FUZZ_PAGE_VARIANTS variants, told apart by the variant number.
 */
enum fuzz_page_kind {
	/* All zero: same-filled. */
	FUZZ_PAGE_ZERO,
	/* One repeated non-zero word: same-filled. */
	FUZZ_PAGE_SAME,
	/* Zero but for one byte: tiny when compressed. */
	FUZZ_PAGE_NEAR_SAME,
	/* Words and numbers, like a log or a heap of strings. */
	FUZZ_PAGE_TEXT,
	/* An array of structs: ids, pointers, names, padding. */
	FUZZ_PAGE_RECORDS,
	/* 8-byte pointers into one heap, small integers. */
	FUZZ_PAGE_POINTERS,
	/* Mostly zero, with islands of random bytes. */
	FUZZ_PAGE_SPARSE,
	/* Random over 2 to 16 letters: entropy coding, few matches. */
	FUZZ_PAGE_SKEWED,
	/* 1, 2 or 3 KiB random, then zeros: sizes near the thresholds. */
	FUZZ_PAGE_PART_RANDOM,
	/* Incompressible: stored raw. */
	FUZZ_PAGE_RANDOM,
	NR_FUZZ_PAGE_KINDS
};
#define FUZZ_PAGE_VARIANTS 3
#define FUZZ_NR_PAGES	   (NR_FUZZ_PAGE_KINDS * FUZZ_PAGE_VARIANTS)

/* Page number i (0..FUZZ_NR_PAGES-1) of the set: kind i / VARIANTS. */
void fuzz_make_page(unsigned char *page, unsigned i);

/* For every page of the set that spec compresses (neither same-filled nor
 * raw), add head followed by the compressed object. A spec this build
 * cannot compress with adds nothing. */
void fuzz_add_compressed_seeds(struct fuzz_seeds *s, struct comp_spec spec,
			       const void *head, size_t head_len);

/* ---------------------------------------------------------------------------
 * Harness helpers
 * ------------------------------------------------------------------------ */

/* What a harness tells the drivers about itself. */
struct fuzz_target {
	const char *name; /* "lz4": the program is fuzz-lz4 */
	/* replay.c's default number of mutated inputs, chosen so that a plain
	 * build replays them in a few seconds. */
	uint64_t runs;
	void (*make_seeds)(struct fuzz_seeds *s);
};
extern const struct fuzz_target fuzz_target;

/* Print "fuzz-<name>: <message>" to stderr, run the driver's hook (which
 * saves the input) and abort. */
zp_noreturn zp_printf(1, 2) void fuzz_fail(const char *fmt, ...);

/* Called by fuzz_fail() before it aborts; replay.c sets it. */
extern void (*fuzz_fail_hook)(void);

/* A context with the given raw threshold (0 means a page), made on first
 * use and kept; a few are cached. Aborts when it cannot be made. */
struct comp_ctx *fuzz_ctx(unsigned raw_threshold);

/* A copy of src[0, len) that ends right before an inaccessible page
 * (at_end) or starts right after one. Valid until the next call; len may
 * be up to FUZZ_MAX_INPUT, else src itself is returned. */
#define FUZZ_MAX_INPUT (64u * 1024)
const unsigned char *fuzz_fenced_copy(const void *src, size_t len, bool at_end);

/* The page between guard bytes, filled with 0xa5; fuzz_check_guards()
 * aborts, naming what, if anything wrote to the guards. */
unsigned char *fuzz_guarded_page(void);
void fuzz_check_guards(const char *what);

/* Tag of spec, for a spec valid in this build. */
comp_tag_t fuzz_tag(int backend, int level);

/* The lowest, default and highest level of a backend of this build. */
void fuzz_levels(int backend, int *min, int *def, int *max);

/* A different tag that the same decoder serves (an lz4 or lz4hc tag for
 * lz4 output, another level for zstd), picked by salt; tag itself when
 * there is none. */
comp_tag_t fuzz_alt_tag(comp_tag_t tag, uint64_t salt);

/*
 * Decode len bytes of src twice, with tag from a copy ending at an
 * inaccessible page into the guarded page, and with alt_tag from a copy
 * starting after one into the fenced page. Aborts unless both calls return
 * the same 0, -EBADMSG or -ENOTSUP, give the same page when 0, leave the
 * guards alone and count one (failed) decompression each. Returns the
 * result; *page is the decoded page.
 */
int fuzz_decompress(comp_tag_t tag, comp_tag_t alt_tag, const void *src,
		    size_t len, const unsigned char **page);

/*
 * The decoders are system libraries built without coverage instrumentation,
 * so libFuzzer cannot see how far into them an input got: every object would
 * look the same to it, and it would keep one tiny input of all its seeds.
 * fuzz_feature() marks what an input did, as libFuzzer's extra counters,
 * which it takes for coverage: fuzz_decompress() marks the backend, the
 * result and how many bytes of the page the decoder wrote before it
 * stopped, in steps of 64; fuzz-roundtrip marks the spec, the form and the
 * compressed size. Replay builds count them and ignore them.
 */
#define FUZZ_NR_FEATURES 1024
/* Where each user's features start. */
#define FUZZ_FEATURES_DECODE  0
#define FUZZ_FEATURES_HARNESS 512
void fuzz_feature(unsigned feature);

/* "lz4:1" and the like, for messages: one of a few static buffers, so
 * that a message may name two tags. */
const char *fuzz_tag_name(comp_tag_t tag);

#endif /* ZP_TESTS_FUZZ_H */
