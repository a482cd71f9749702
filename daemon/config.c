/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.c - the configuration file, command-line overrides, and the one
 * table of keys that both obey.
 *
 * Every key is a row of keys[] below: its section, name, type, default
 * text, description and where its value lives (an offset into struct
 * zpd_config, or into struct zpd_volume_conf for [volume NAME] keys). The
 * parser, the defaults, --help-config and the dump all walk that table, so
 * the documentation cannot drift from what is accepted: the defaults are
 * made by parsing each row's default text, the help prints that same text,
 * and the allowed values in help and in error messages come from one
 * function, describe_allowed().
 *
 * Values reach a field through set_value(), which parses into a local
 * first and writes the field only on success. Parsing a file works on a
 * copy of the configuration, so a file with a bad line changes nothing;
 * a command-line override that fails takes back the volume it created.
 *
 * A key set twice in one file is an error (the second would silently win),
 * also when its section header is repeated; the command line may override
 * anything, later settings winning.
 *
 * Nothing here is shared between threads: the daemon reads its
 * configuration before it starts any.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "zp-assert.h"
#include "zp-format.h"
#include "zp-proto.h"

/* Longest line of a file, newline not counted: room for any sensible
 * setting, small enough for a buffer on the stack. */
#define CONF_LINE_MAX 4096
/* A configuration file names a few dozen settings; anything this big is
 * the wrong file. */
#define CONF_FILE_MAX (1u << 20)

#define SIZE_SYNTAX "bytes with an optional K, M, G or T suffix"
#define BOOL_SYNTAX "yes/no, true/false, on/off or 1/0"
#define NAME_CHARS                                                              \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

/* Enums and bools are stored through integers of their width. */
_Static_assert(sizeof(enum zpd_node_hint) == sizeof(int32_t), "enum width");
_Static_assert(sizeof(enum zpd_store_kind) == sizeof(int32_t), "enum width");
_Static_assert(sizeof(enum zpd_victims) == sizeof(int32_t), "enum width");
_Static_assert(sizeof(enum zp_numa_policy) == sizeof(int32_t), "enum width");
_Static_assert(sizeof(bool) == 1, "bool width");

enum section {
	SEC_NONE,
	SEC_DAEMON,
	SEC_POOL,
	SEC_WRITEBACK,
	SEC_VOLUME,
	NR_SECTIONS
};

static const char *const section_names[NR_SECTIONS] = {
	[SEC_DAEMON] = "daemon",
	[SEC_POOL] = "pool",
	[SEC_WRITEBACK] = "writeback",
	[SEC_VOLUME] = "volume",
};

enum key_type {
	T_PATH,	      /* absolute path, char[PATH_MAX] */
	T_BOOL,	      /* bool */
	T_INT,	      /* decimal integer min..max */
	T_SIZE,	      /* zpd_parse_size(), min..max, pow2, multiple */
	T_ENUM,	      /* one of names[], stored as min + index */
	T_COMPRESSOR, /* comp_spec_parse() */
	T_NODE,	      /* node id 0..ZP_MAX_NODES-1 or "none" (-1) */
	T_NAME,	      /* a name (a group's): letters, digits, '-', '_', '.' */
};

struct key {
	enum section sec;
	const char *name;
	enum key_type type;
	const char *def; /* default as a user would write it; NULL: required */
	const char *desc;
	size_t offset, width; /* of the field in its struct */
	int64_t min, max;
	bool pow2;
	uint64_t multiple;
	bool optional; /* T_PATH, T_NAME: an empty value means none */
	const char *const *names; /* T_ENUM, NULL-terminated */
};

#define CFG(f)                                    \
	.offset = offsetof(struct zpd_config, f), \
	.width = sizeof(((struct zpd_config *)0)->f)
#define VOL(f)                                         \
	.offset = offsetof(struct zpd_volume_conf, f), \
	.width = sizeof(((struct zpd_volume_conf *)0)->f)

static const char *const hint_names[] = {"volume", "requester", "worker", NULL};
/* In syslog order: the stored value is LOG_ERR + index. */
static const char *const level_names[] = {"err",  "warning", "notice",
					  "info", "debug",   NULL};
/* In enum zp_numa_policy order (the tests compare with the pool's). */
static const char *const policy_names[] = {"preferred", "strict", "local",
					   "interleave", NULL};
static const char *const store_names[] = {"pool", "null", NULL};
/* In enum zpd_victims order. */
static const char *const victims_names[] = {"lru", "zspage", NULL};

static const struct key keys[] = {
	{SEC_DAEMON, "mountpoint", T_PATH, ZPD_DEFAULT_MOUNTPOINT,
	 "where the volumes appear", CFG(mountpoint)},
	{SEC_DAEMON, "threads", T_INT, "4", "FUSE worker threads", CFG(threads),
	 .min = 1, .max = 256},
	{SEC_DAEMON, "poll_us", T_INT, "50",
	 "microseconds a worker polls /dev/fuse for the next request before "
	 "it sleeps (0: never poll)", CFG(poll_us), .min = 0, .max = 10000},
	{SEC_DAEMON, "splice", T_BOOL, "no",
	 "move request and reply data through pipes with splice(2) instead "
	 "of copying it (the store must read every byte to compress it)",
	 CFG(splice)},
	{SEC_DAEMON, "max_write", T_SIZE, "1M",
	 "largest read or write request the kernel sends", CFG(max_write),
	 .min = 4096, .max = 1 << 20, .pow2 = true},
	{SEC_DAEMON, "node_hint", T_ENUM, "volume",
	 "where the node of a write comes from: volume is the volume's node "
	 "if it has one, else as requester; requester is the node of the "
	 "CPU the requesting task last ran on; worker is the node of the "
	 "worker thread's CPU",
	 CFG(node_hint), .names = hint_names},
	{SEC_DAEMON, "node_cache_ms", T_INT, "100",
	 "how long the node of a requesting pid is trusted, in milliseconds",
	 CFG(node_cache_ms), .min = 0, .max = 10000},
	{SEC_DAEMON, "oom_score_adj", T_INT, "-1000",
	 "the daemon's oom_score_adj; -1000 keeps the OOM killer away",
	 CFG(oom_score_adj), .min = -1000, .max = 1000},
	{SEC_DAEMON, "swapoff_on_stop", T_BOOL, "no",
	 "on SIGTERM, swapoff volumes in use as swap instead of refusing to "
	 "stop",
	 CFG(swapoff_on_stop)},
	{SEC_DAEMON, "reserve", T_SIZE, "16M",
	 "pool memory kept resident and locked for the I/O path", CFG(reserve),
	 .min = 0, .max = 64ll << 30},
	{SEC_DAEMON, "log_level", T_ENUM, "info",
	 "messages up to this priority are logged", CFG(log_level),
	 .min = LOG_ERR, .names = level_names},
	{SEC_DAEMON, "control_socket", T_PATH, ZP_PROTO_DEFAULT_SOCKET,
	 "the UNIX socket zpoolctl talks to (mode 0660); empty for none",
	 CFG(control_socket), .optional = true},
	{SEC_DAEMON, "control_group", T_NAME, "",
	 "the group of the control socket, whose members may run the "
	 "read-only commands (empty: the daemon's own group)",
	 CFG(control_group), .optional = true},
	{SEC_DAEMON, "control_timeout", T_INT, "10",
	 "seconds a control client may stall (a request half sent, a reply "
	 "not read) before it is dropped",
	 CFG(control_timeout), .min = 1, .max = 3600},

	{SEC_POOL, "compressor", T_COMPRESSOR, "lz4",
	 "algorithm and level new blocks are compressed with", CFG(compressor)},
	{SEC_POOL, "policy", T_ENUM, "preferred",
	 "where pool memory comes from: preferred is the request's node "
	 "first, then the others by distance; strict is the request's node "
	 "only; local is the worker's node first; interleave spreads new "
	 "zspages over all nodes",
	 CFG(policy), .names = policy_names},
	{SEC_POOL, "max_zspage_pages", T_INT, "8", "longest zspage, in pages",
	 CFG(max_zspage_pages), .min = ZP_MIN_ZSPAGE_PAGES,
	 .max = ZP_MAX_ZSPAGE_PAGES},
	{SEC_POOL, "chunk_bytes", T_SIZE, "4M",
	 "memory mapped from the system at a time, per node", CFG(chunk_bytes),
	 .min = 64 << 10, .max = 1 << 30,
	 .multiple = ZP_MAX_ZSPAGE_PAGES * ZP_PAGE_SIZE},
	{SEC_POOL, "release_delay_ms", T_INT, "1000",
	 "how long free pool pages above the reserve stay before they go "
	 "back to the system, in milliseconds",
	 CFG(release_delay_ms), .min = 0, .max = 3600000},
	{SEC_POOL, "shards", T_INT, "0",
	 "copies of each size class, so that threads on different CPUs "
	 "rarely share a lock; 0 is one per CPU",
	 CFG(shards), .min = 0, .max = ZP_MAX_SHARDS},
	{SEC_POOL, "max_pool_percent", T_INT, "20",
	 "the pool's limit as a percentage of RAM (unless max_pool_size is "
	 "set): past it, new blocks go to the backing store, or are refused "
	 "without one",
	 CFG(max_pool_percent), .min = 1, .max = 100},
	{SEC_POOL, "max_pool_size", T_SIZE, "0",
	 "the pool's limit in bytes, instead of max_pool_percent (0: use "
	 "max_pool_percent)",
	 CFG(max_pool_size), .min = 0, .max = 1ll << 50,
	 .multiple = ZP_PAGE_SIZE},
	{SEC_POOL, "accept_threshold_percent", T_INT, "90",
	 "once the limit is hit, new blocks stay out of the pool until it "
	 "has shrunk below this percentage of the limit",
	 CFG(accept_threshold_percent), .min = 0, .max = 100},
	{SEC_POOL, "max_node_size", T_SIZE, "0",
	 "a target for each NUMA node's share of the pool: the shrinker "
	 "writes back a node's blocks while it holds more (0: none)",
	 CFG(max_node_size), .min = 0, .max = 1ll << 50,
	 .multiple = ZP_PAGE_SIZE},
	{SEC_POOL, "node_reserve", T_SIZE, "0",
	 "free memory a NUMA node keeps above its low watermark: a new "
	 "zspage goes to the next node instead (strict: the block is "
	 "refused)",
	 CFG(node_reserve), .min = 0, .max = 1ll << 50,
	 .multiple = ZP_PAGE_SIZE},

	{SEC_WRITEBACK, "file", T_PATH, "",
	 "the backing store blocks are written back to: a file (created "
	 "with mode 0600 and preallocated, its old contents discarded at "
	 "start) or a block device; empty for none",
	 CFG(wb_file), .optional = true},
	{SEC_WRITEBACK, "size", T_SIZE, "1G",
	 "size of the backing file; for a block device, 0 is all of it",
	 CFG(wb_size), .min = 0, .max = 1ll << 50, .multiple = SHR_SLOT_SIZE},
	{SEC_WRITEBACK, "batch_pages", T_INT, "256",
	 "blocks the shrinker writes back at a time (also the largest write "
	 "to the backing store, in 4 KiB slots; two batches are in memory, "
	 "one being written while the next is gathered)",
	 CFG(wb_batch_pages), .min = 1, .max = 1024},
	{SEC_WRITEBACK, "victims", T_ENUM, "lru",
	 "which blocks a batch takes: lru is the least recently used ones "
	 "(a referenced block gets a second chance), then the pool is "
	 "compacted to free their pages; zspage is the least recently used "
	 "block and all that share its zspage, which frees the zspage "
	 "without compaction but writes back younger blocks too",
	 CFG(wb_victims), .names = victims_names},
	{SEC_WRITEBACK, "idle_seconds", T_INT, "0",
	 "write back blocks not read or written for this long, even below "
	 "the limit (0: never)",
	 CFG(idle_seconds), .min = 0, .max = 30 * 86400},
	{SEC_WRITEBACK, "psi_stall_ms", T_INT, "200",
	 "memory pressure that wakes the shrinker: tasks stalled on memory "
	 "for this many milliseconds within psi_window_ms (0: off)",
	 CFG(psi_stall_ms), .min = 0, .max = 10000},
	{SEC_WRITEBACK, "psi_window_ms", T_INT, "2000",
	 "the window of psi_stall_ms, in milliseconds (without "
	 "CAP_SYS_RESOURCE the kernel takes whole multiples of 2000 only)",
	 CFG(psi_window_ms), .min = 500, .max = 10000},
	{SEC_WRITEBACK, "psi_shrink_percent", T_INT, "10",
	 "share of the pool's blocks written back on each memory pressure "
	 "event",
	 CFG(psi_shrink_percent), .min = 1, .max = 100},

	{SEC_VOLUME, "size", T_SIZE, NULL, "the volume's size", VOL(size),
	 .min = ZPD_VOLUME_MIN_SIZE, .max = ZPD_VOLUME_MAX_SIZE,
	 .multiple = ZPD_BLOCK_SIZE},
	{SEC_VOLUME, "node", T_NODE, "none",
	 "the NUMA node the volume's blocks are placed on", VOL(node)},
	{SEC_VOLUME, "store", T_ENUM, "pool",
	 "what the volume keeps: pool stores blocks compressed in the pool; "
	 "null stores nothing and reads zeros (to measure the FUSE front "
	 "end alone)",
	 VOL(store), .names = store_names},
};

#define NR_KEYS ZP_ARRAY_SIZE(keys)

/* ---------------------------------------------------------------------------
 * Text helpers
 * ------------------------------------------------------------------------ */

/* Callers may pass no buffer for messages; each call starts empty. */
static size_t reset_err(char *err, size_t errlen)
{
	if (!err)
		return 0;
	if (errlen)
		err[0] = '\0';
	return errlen;
}

/* Blanks around keys and values; '\r' so that CRLF files read the same. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim(char *s)
{
	char *end;

	while (is_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* The largest exact unit: 1048576 is "1M", 12288 "12K", 1000 "1000". */
static void format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v && u < 3 && !(v & 1023)) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
}

/* The allowed values of k, for help and for errors. help adds what the
 * syntax of a size is, which errors about a size's range leave out. */
static void describe_allowed(const struct key *k, bool help, char *buf,
			     size_t len)
{
	char lo[32], hi[32], mul[32];
	size_t pos = 0;

	buf[0] = '\0';
	switch (k->type) {
	case T_PATH:
		zp_append(buf, len, &pos, "an absolute path%s",
			  k->optional ? ", or empty for none" : "");
		break;
	case T_NAME:
		zp_append(buf, len, &pos,
			  "letters, digits, '-', '_' and '.', at most %zu%s",
			  k->width - 1, k->optional ? ", or empty" : "");
		break;
	case T_BOOL:
		zp_append(buf, len, &pos, BOOL_SYNTAX);
		break;
	case T_INT:
		zp_append(buf, len, &pos, "%lld..%lld", (long long)k->min,
			  (long long)k->max);
		break;
	case T_SIZE:
		format_size((uint64_t)k->min, lo, sizeof(lo));
		format_size((uint64_t)k->max, hi, sizeof(hi));
		format_size(k->multiple, mul, sizeof(mul));
		if (k->pow2)
			zp_append(buf, len, &pos,
				  "a power of two from %s to %s", lo, hi);
		else if (k->multiple)
			zp_append(buf, len, &pos,
				  "a multiple of %s from %s to %s", mul, lo,
				  hi);
		else
			zp_append(buf, len, &pos, "%s..%s", lo, hi);
		if (help)
			zp_append(buf, len, &pos,
				  ", in bytes; K, M, G and T are "
				  "powers of 1024");
		break;
	case T_ENUM:
		for (size_t i = 0; k->names[i]; i++)
			zp_append(buf, len, &pos, "%s%s",
				  !i		    ? ""
				  : k->names[i + 1] ? ", "
						    : " or ",
				  k->names[i]);
		break;
	case T_COMPRESSOR:
		zp_append(buf, len, &pos, "NAME or NAME:LEVEL of ");
		comp_describe(pos < len ? buf + pos : NULL,
			      pos < len ? len - pos : 0);
		break;
	case T_NODE:
		zp_append(buf, len, &pos, "a node id 0..%d or none",
			  ZP_MAX_NODES - 1);
		break;
	}
}

/* Keys of a section, "a, b or c": what an unknown key could have been. */
static void describe_keys(enum section sec, char *buf, size_t len)
{
	size_t pos = 0, n = 0, i, total = 0;

	buf[0] = '\0';
	for (i = 0; i < NR_KEYS; i++)
		total += keys[i].sec == sec;
	for (i = 0; i < NR_KEYS; i++) {
		if (keys[i].sec != sec)
			continue;
		n++;
		zp_append(buf, len, &pos, "%s%s",
			  n == 1       ? ""
			  : n == total ? " or "
				       : ", ",
			  keys[i].name);
	}
}

static const struct key *find_key(enum section sec, const char *name)
{
	for (size_t i = 0; i < NR_KEYS; i++)
		if (keys[i].sec == sec && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

/* Integer fields are bools (1 byte), ints, unsigned ints and enums (4
 * bytes) or uint64_t sizes (8 bytes); every value fits the signed type of
 * its width, so one pair of functions serves them all. */
static void store_int(void *field, size_t width, int64_t v)
{
	bool b = v != 0;
	int32_t i = (int32_t)v;

	zp_assert(width == 1 || width == 4 || width == 8);
	memcpy(field,
	       width == 1   ? (void *)&b
	       : width == 4 ? (void *)&i
			    : &v,
	       width);
}

static int64_t load_int(const void *field, size_t width)
{
	bool b = false;
	int32_t i;
	int64_t v;

	memcpy(width == 1   ? (void *)&b
	       : width == 4 ? (void *)&i
			    : &v,
	       field, width);
	return width == 1 ? b : width == 4 ? i : v;
}

/* A whole decimal integer, optional minus sign; strtoll alone would take
 * blanks, a plus sign and trailing junk. */
static int parse_int(const char *s, int64_t *out)
{
	const char *digits = *s == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

int zpd_parse_size(const char *text, uint64_t *out)
{
	static const char *const suffixes[] = {"", "k", "m", "g", "t"};
	const char *s = text;
	uint64_t v = 0;
	int shift = -1;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	/* "", "B", "K", "KiB" and so on, any case; not "KB", which some
	 * read as 1000. */
	if (!*s || !strcasecmp(s, "b")) {
		shift = 0;
	} else {
		for (int i = 1; i < 5; i++) {
			if (tolower((unsigned char)s[0]) == suffixes[i][0] &&
			    (!s[1] || !strcasecmp(s + 1, "ib")))
				shift = 10 * i;
		}
	}
	if (shift < 0 || (shift && v > UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* Parse value for k into its field at base; on error write "<what is
 * wrong> '<value>' (<what is allowed>)" into msg. The field changes only
 * on success. */
static int set_value(const struct key *k, void *base, const char *value,
		     char *msg, size_t msglen)
{
	char buf[1024];
	const char *what = NULL, *allowed = buf;
	void *field = (char *)base + k->offset;
	struct comp_spec spec;
	uint64_t u;
	int64_t v = 0;
	bool b = false;

	describe_allowed(k, false, buf, sizeof(buf));
	if (!*value && k->optional) {
		memset(field, 0, k->width);
		return 0;
	}
	if (!*value) {
		snprintf(msg, msglen, "empty value (%s)", allowed);
		return -EINVAL;
	}
	switch (k->type) {
	case T_PATH:
		if (strlen(value) >= k->width) {
			snprintf(msg, msglen,
				 "path too long (at most %zu bytes)",
				 k->width - 1);
			return -EINVAL;
		}
		if (value[0] != '/')
			what = "relative path";
		for (const char *c = value; *c && !what; c++)
			if (iscntrl((unsigned char)*c))
				what = "control character in path";
		if (what)
			break;
		/* Zero the tail too, so that equal settings compare equal. */
		memset(field, 0, k->width);
		memcpy(field, value, strlen(value));
		return 0;
	case T_NAME:
		if (strlen(value) >= k->width ||
		    strspn(value, NAME_CHARS) != strlen(value)) {
			what = "bad name";
			break;
		}
		memset(field, 0, k->width);
		memcpy(field, value, strlen(value));
		return 0;
	case T_BOOL:
		if (parse_bool(value, &b))
			what = "bad boolean";
		v = b;
		break;
	case T_INT:
		if (parse_int(value, &v))
			what = "bad number";
		else if (v < k->min || v > k->max)
			what = "number out of range";
		break;
	case T_SIZE:
		if (zpd_parse_size(value, &u)) {
			what = "bad size";
			allowed = SIZE_SYNTAX;
		} else if (u < (uint64_t)k->min || u > (uint64_t)k->max) {
			what = "size out of range";
		} else if (k->pow2 && (u & (u - 1))) {
			what = "size not a power of two";
		} else if (k->multiple && u % k->multiple) {
			what = "size not aligned";
		}
		v = (int64_t)u;
		break;
	case T_ENUM:
		what = "unknown value";
		for (int64_t i = 0; k->names[i] && what; i++)
			if (!strcasecmp(value, k->names[i])) {
				what = NULL;
				v = k->min + i;
			}
		break;
	case T_COMPRESSOR:
		/* Its message already reads "<what> (<allowed>)". */
		if (comp_spec_parse(value, &spec, msg, msglen))
			return -EINVAL;
		memcpy(field, &spec, sizeof(spec));
		return 0;
	case T_NODE:
		v = -1;
		if (strcasecmp(value, "none") &&
		    (parse_int(value, &v) || v < 0 || v >= ZP_MAX_NODES))
			what = "bad node";
		break;
	}
	if (what) {
		snprintf(msg, msglen, "%s '%s' (%s)", what, value, allowed);
		return -EINVAL;
	}
	store_int(field, k->width, v);
	return 0;
}

/* The value of k at base as the file format writes it. */
static void format_value(const struct key *k, const void *base, char *buf,
			 size_t len)
{
	const void *field = (const char *)base + k->offset;
	int64_t v = k->type == T_PATH || k->type == T_NAME ||
				    k->type == T_COMPRESSOR
			    ? 0
			    : load_int(field, k->width);
	struct comp_spec spec;
	const char *s;
	size_t pos = 0;
	bool plain = true;

	switch (k->type) {
	case T_PATH:
		/* Quote anything that is not plainly a path, escaping what
		 * the quoted form escapes. */
		s = field;
		for (const char *c = s; *c; c++)
			plain &= isalnum((unsigned char)*c) ||
				 strchr("/._-+,:@%=", *c);
		if (plain && *s) {
			snprintf(buf, len, "%s", s);
			break;
		}
		zp_append(buf, len, &pos, "\"");
		for (const char *c = s; *c; c++)
			zp_append(buf, len, &pos, "%s%c",
				  *c == '"' || *c == '\\' ? "\\" : "", *c);
		zp_append(buf, len, &pos, "\"");
		break;
	case T_NAME:
		snprintf(buf, len, "%s", *(const char *)field ? (const char *)field : "\"\"");
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", v ? "yes" : "no");
		break;
	case T_INT:
		snprintf(buf, len, "%lld", (long long)v);
		break;
	case T_SIZE:
		format_size((uint64_t)v, buf, len);
		break;
	case T_ENUM:
		zp_assert(v >= k->min);
		for (int64_t i = k->min; i <= v; i++)
			zp_assert(k->names[i - k->min]);
		snprintf(buf, len, "%s", k->names[v - k->min]);
		break;
	case T_COMPRESSOR:
		memcpy(&spec, field, sizeof(spec));
		comp_spec_format(spec, buf, len);
		break;
	case T_NODE:
		if (v < 0)
			snprintf(buf, len, "none");
		else
			snprintf(buf, len, "%lld", (long long)v);
		break;
	}
}

/* ---------------------------------------------------------------------------
 * Volumes
 * ------------------------------------------------------------------------ */

#define VOLUME_NAME_RULE                                                   \
	"letters, digits, '-', '_' and '.', not starting with '.', 1..63 " \
	"characters"

static bool volume_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > ZPD_VOLUME_NAME_MAX || name[0] == '.')
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
			return false;
	return true;
}

static struct zpd_volume_conf *find_volume(struct zpd_config *cfg,
					   const char *name)
{
	for (unsigned int i = 0; i < cfg->nr_volumes; i++)
		if (!strcmp(cfg->volumes[i].name, name))
			return &cfg->volumes[i];
	return NULL;
}

/* Append a volume with the defaults of its keys; the caller checked the
 * name and that there is room. */
static struct zpd_volume_conf *add_volume(struct zpd_config *cfg,
					  const char *name, const char *origin)
{
	struct zpd_volume_conf *vol = &cfg->volumes[cfg->nr_volumes++];
	char msg[256];

	memset(vol, 0, sizeof(*vol));
	memcpy(vol->name, name, strlen(name));
	snprintf(vol->origin, sizeof(vol->origin), "%s", origin);
	for (size_t i = 0; i < NR_KEYS; i++) {
		if (keys[i].sec != SEC_VOLUME || !keys[i].def)
			continue;
		if (set_value(&keys[i], vol, keys[i].def, msg, sizeof(msg)))
			zp_panic("default of [volume] %s: %s", keys[i].name,
				 msg);
	}
	return vol;
}

/* ---------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

struct parser {
	struct zpd_config *cfg;
	const char *origin; /* file name, or "command line: -o ..." */
	unsigned int line;  /* 0 on the command line */
	enum section sec;
	struct zpd_volume_conf *vol; /* of the current [volume] section */
	/* "[section] key" a message is about; files only, since the
	 * command-line origin already quotes the assignment. */
	char label[ZPD_VOLUME_NAME_MAX + 64];
	/* Line each key was set on: row 0 for the sections without a name, row
	 * 1 + i for volume i. */
	unsigned int set_on[ZPD_MAX_VOLUMES + 1][NR_KEYS];
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) zp_printf(2, 3);

/* Write "origin:line: [section] key: <message>" and return -EINVAL. */
static int fail(struct parser *p, const char *fmt, ...)
{
	size_t pos = 0;
	va_list ap;

	if (!p->errlen)
		return -EINVAL;
	if (p->line)
		zp_append(p->err, p->errlen, &pos, "%s:%u: ", p->origin,
			  p->line);
	else
		zp_append(p->err, p->errlen, &pos, "%s: ", p->origin);
	if (p->line && p->label[0])
		zp_append(p->err, p->errlen, &pos, "%s: ", p->label);
	if (pos < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + pos, p->errlen - pos, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Find or make volume name and make it the current section. A file may
 * not name a volume twice; the command line adds to the one it names. */
static int open_volume(struct parser *p, const char *name)
{
	char origin[sizeof(p->cfg->volumes[0].origin)];
	struct zpd_volume_conf *vol;

	if (!volume_name_ok(name))
		return fail(p, "bad volume name '%s' (" VOLUME_NAME_RULE ")",
			    name);
	snprintf(p->label, sizeof(p->label), "[volume %s]", name);
	vol = find_volume(p->cfg, name);
	if (vol && p->line)
		return fail(p, "volume defined twice (first at %s)",
			    vol->origin);
	if (!vol) {
		if (p->cfg->nr_volumes >= ZPD_MAX_VOLUMES)
			return fail(p, "too many volumes (at most %d)",
				    ZPD_MAX_VOLUMES);
		if (p->line)
			snprintf(origin, sizeof(origin), "%s:%u", p->origin,
				 p->line);
		else
			snprintf(origin, sizeof(origin), "%s", p->origin);
		vol = add_volume(p->cfg, name, origin);
	}
	p->sec = SEC_VOLUME;
	p->vol = vol;
	return 0;
}

/* Messages from here on are about "[section]" or "[section] key". */
static void set_label(struct parser *p, const char *key)
{
	if (p->sec == SEC_VOLUME)
		snprintf(p->label, sizeof(p->label), "[volume %s]%s%s",
			 p->vol->name, key ? " " : "", key ? key : "");
	else
		snprintf(p->label, sizeof(p->label), "[%s]%s%s",
			 section_names[p->sec], key ? " " : "", key ? key : "");
}

/* Set key name of the current section to value, which is unquoted. */
static int set_key(struct parser *p, const char *name, const char *value)
{
	char msg[CONF_LINE_MAX + 1024];
	const struct key *k = find_key(p->sec, name);
	unsigned int *set_on;
	size_t row = 0;
	void *base = p->cfg;

	set_label(p, name);
	if (p->sec == SEC_VOLUME) {
		row = 1 + (size_t)(p->vol - p->cfg->volumes);
		base = p->vol;
	}
	if (!k) {
		describe_keys(p->sec, msg, sizeof(msg));
		if (p->line)
			return fail(p, "unknown key (%s)", msg);
		return fail(p, "unknown key '%s' in section %s (%s)", name,
			    section_names[p->sec], msg);
	}
	set_on = &p->set_on[row][k - keys];
	if (p->line && *set_on)
		return fail(p, "duplicate key (first set on line %u)", *set_on);
	if (set_value(k, base, value, msg, sizeof(msg)))
		return fail(p, "%s", msg);
	*set_on = p->line;
	return 0;
}

static int parse_header(struct parser *p, char *s)
{
	char *close = strchr(s, ']'), *inner, *rest;

	p->label[0] = '\0';
	p->sec = SEC_NONE;
	if (!close)
		return fail(p,
			    "unterminated section header '%s' ([daemon], "
			    "[pool], [writeback] or [volume NAME])",
			    s);
	rest = trim(close + 1);
	if (*rest && *rest != '#' && *rest != ';')
		return fail(p, "junk after section header '%s'", rest);
	*close = '\0';
	inner = trim(s + 1);
	if (!strcmp(inner, "daemon")) {
		p->sec = SEC_DAEMON;
	} else if (!strcmp(inner, "pool")) {
		p->sec = SEC_POOL;
	} else if (!strcmp(inner, "writeback")) {
		p->sec = SEC_WRITEBACK;
	} else if (!strncmp(inner, "volume", 6) &&
		   (!inner[6] || is_blank(inner[6]))) {
		if (!*trim(inner + 6))
			return fail(p, "missing volume name ([volume NAME])");
		return open_volume(p, trim(inner + 6));
	} else {
		return fail(p,
			    "unknown section '[%s]' ([daemon], [pool], "
			    "[writeback] or [volume NAME])",
			    inner);
	}
	return 0;
}

/* Turn the text after '=' into the value: trim, drop a trailing comment
 * (a '#' after a blank) of an unquoted value, and undo "..." quoting (only
 * \" and \\ are escapes). A quoted value may be followed by a comment. */
static int unquote_value(struct parser *p, char *raw, char **value)
{
	char *s = raw + strspn(raw, " \t\r\v\f"), *out, *rest, *tail;

	if (*s != '"') {
		for (char *c = s; *c; c++) {
			if (*c == '#' && c > raw && is_blank(c[-1])) {
				*c = '\0';
				break;
			}
		}
		*value = trim(raw);
		return 0;
	}
	*value = s;
	for (out = s++; *s != '"'; s++) {
		if (!*s || (*s == '\\' && !s[1]))
			return fail(p, "unterminated quoted value");
		if (*s == '\\') {
			if (s[1] != '"' && s[1] != '\\')
				return fail(p,
					    "bad escape '\\%c' in quoted "
					    "value (only \\\" and \\\\)",
					    s[1]);
			s++;
		}
		*out++ = *s;
	}
	*out = '\0';
	rest = s + 1;
	tail = trim(rest);
	if (*tail && !(*tail == '#' && tail > rest))
		return fail(p, "junk after quoted value '%s'", tail);
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *s = trim(line), *eq, *name, *value;
	int ret;

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return parse_header(p, s);
	eq = strchr(s, '=');
	if (eq)
		*eq = '\0';
	name = trim(s);
	if (p->sec == SEC_NONE) {
		p->label[0] = '\0';
		return fail(p,
			    "key '%s' before any section ([daemon], [pool] "
			    "or [volume NAME])",
			    name);
	}
	set_label(p, NULL);
	if (!eq)
		return fail(p, "missing '=' in '%s' (key = value)", name);
	if (!*name)
		return fail(p, "missing key before '=' (key = value)");
	set_label(p, name);
	ret = unquote_value(p, eq + 1, &value);
	if (ret)
		return ret;
	return set_key(p, name, value);
}

/* Parse len bytes of text into p->cfg, line by line. */
static int parse_text(struct parser *p, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	char line[CONF_LINE_MAX + 1];
	int ret;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = (size_t)((nl ? nl : end) - s);

		p->line++;
		p->label[0] = '\0';
		if (n > CONF_LINE_MAX)
			return fail(p, "line too long (at most %d bytes)",
				    CONF_LINE_MAX);
		if (memchr(s, '\0', n))
			return fail(p,
				    "NUL byte in line (a config file is text)");
		memcpy(line, s, n);
		line[n] = '\0';
		ret = parse_line(p, line);
		if (ret)
			return ret;
		s = nl ? nl + 1 : end;
	}
	return 0;
}

/* Parse into a copy, so that a bad line leaves cfg as it was. */
static int parse_into(struct zpd_config *cfg, const char *text, size_t len,
		      const char *origin, char *err, size_t errlen)
{
	struct parser p = {.origin = origin, .err = err};
	int ret;

	p.errlen = reset_err(err, errlen);
	p.cfg = malloc(sizeof(*cfg));
	if (!p.cfg) {
		snprintf(err, p.errlen, "%s: out of memory", origin);
		return -ENOMEM;
	}
	memcpy(p.cfg, cfg, sizeof(*cfg));
	ret = parse_text(&p, text, len);
	if (!ret)
		memcpy(cfg, p.cfg, sizeof(*cfg));
	free(p.cfg);
	return ret;
}

int zpd_config_parse(struct zpd_config *cfg, const char *text,
		     const char *origin, char *err, size_t errlen)
{
	return parse_into(cfg, text, strlen(text), origin, err, errlen);
}

/* The whole of fd into a buffer to free(): 0 or -errno. Read to the end
 * rather than trust st_size, which pipes and /proc files do not have. */
static int read_all(int fd, char **out, size_t *len)
{
	char *buf = malloc(CONF_FILE_MAX + 1);
	ssize_t n;

	*len = 0;
	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf + *len, CONF_FILE_MAX + 1 - *len))) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || *len + (size_t)n > CONF_FILE_MAX) {
			n = n < 0 ? -errno : -EFBIG;
			free(buf);
			return (int)n;
		}
		*len += (size_t)n;
	}
	*out = buf;
	return 0;
}

int zpd_config_load(struct zpd_config *cfg, const char *path, char *err,
		    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	int fd, ret;

	errlen = reset_err(err, errlen);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open config file '%s': %s", path,
			 strerror(-ret));
		return ret;
	}
	/* open() takes a directory; say so as it would have. */
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot open config file '%s': %s", path,
			 strerror(EISDIR));
		close(fd);
		return -EISDIR;
	}
	ret = read_all(fd, &buf, &len);
	close(fd);
	if (ret == -EFBIG) {
		snprintf(err, errlen,
			 "cannot read config file '%s': larger "
			 "than %u bytes",
			 path, CONF_FILE_MAX);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "cannot read config file '%s': %s", path,
			 strerror(-ret));
		return ret;
	}
	ret = parse_into(cfg, buf, len, path, err, errlen);
	free(buf);
	return ret;
}

int zpd_config_assign(struct zpd_config *cfg, const char *assignment,
		      const char *from, char *err, size_t errlen)
{
	char origin[sizeof(cfg->volumes[0].origin)];
	struct parser parser = {.cfg = cfg, .origin = origin, .err = err},
		      *p = &parser;
	char *copy = strdup(assignment), *eq, *left, *value, *dot, *last;
	unsigned int nr_volumes = cfg->nr_volumes;
	int ret;

	p->errlen = reset_err(err, errlen);
	snprintf(origin, sizeof(origin), "%s", from);
	if (!copy) {
		snprintf(err, p->errlen, "%s: out of memory", origin);
		return -ENOMEM;
	}
	eq = strchr(copy, '=');
	if (!eq) {
		ret = fail(p, "missing '=' (section.key=value)");
		goto out;
	}
	*eq = '\0';
	left = trim(copy);
	value = trim(eq + 1);
	dot = strchr(left, '.');
	last = strrchr(left, '.');
	if (!dot) {
		ret = fail(p, "missing section (section.key=value)");
		goto out;
	}
	*dot = '\0';
	if (!strcmp(left, "daemon") || !strcmp(left, "pool") ||
	    !strcmp(left, "writeback")) {
		p->sec = !strcmp(left, "daemon") ? SEC_DAEMON
			 : !strcmp(left, "pool") ? SEC_POOL
						 : SEC_WRITEBACK;
		ret = set_key(p, dot + 1, value);
	} else if (!strcmp(left, "volume")) {
		if (last == dot) {
			ret = fail(p, "missing volume name "
				      "(volume.NAME.key=value)");
			goto out;
		}
		*last = '\0';
		ret = open_volume(p, dot + 1);
		if (!ret)
			ret = set_key(p, last + 1, value);
	} else {
		ret = fail(p, "unknown section '%s' (daemon, pool, writeback or volume)",
			   left);
	}
	/* Take back a volume this failed assignment made; unused slots stay
	 * zero, so that equal configurations compare equal. */
	if (ret && cfg->nr_volumes > nr_volumes) {
		cfg->nr_volumes = nr_volumes;
		memset(&cfg->volumes[nr_volumes], 0, sizeof(cfg->volumes[0]));
	}
out:
	free(copy);
	return ret;
}

int zpd_config_set(struct zpd_config *cfg, const char *assignment, char *err,
		   size_t errlen)
{
	char origin[PATH_MAX];

	snprintf(origin, sizeof(origin), "command line: -o %s", assignment);
	return zpd_config_assign(cfg, assignment, origin, err, errlen);
}

int zpd_config_get(const struct zpd_config *cfg, const char *name, char *buf,
		   size_t len)
{
	const char *dot = strchr(name, '.');

	for (size_t i = 0; dot && i < NR_KEYS; i++) {
		const struct key *k = &keys[i];
		size_t n = (size_t)(dot - name);

		if (k->sec == SEC_VOLUME || strcmp(k->name, dot + 1) ||
		    strlen(section_names[k->sec]) != n ||
		    strncmp(section_names[k->sec], name, n))
			continue;
		format_value(k, cfg, buf, len);
		return 0;
	}
	return -ENOENT;
}

/* ---------------------------------------------------------------------------
 * Whole configurations
 * ------------------------------------------------------------------------ */

void zpd_config_defaults(struct zpd_config *cfg)
{
	char msg[1024];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NR_KEYS; i++) {
		if (keys[i].sec == SEC_VOLUME)
			continue;
		/* A default the parser refuses is a bug in the table. */
		if (set_value(&keys[i], cfg, keys[i].def, msg, sizeof(msg)))
			zp_panic("default of [%s] %s: %s",
				 section_names[keys[i].sec], keys[i].name, msg);
	}
}

/* Whether path is dir or below it ("/a/b" is under "/a", not "/ab"). */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1)
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

int zpd_config_check(const struct zpd_config *cfg, int nr_nodes, char *err,
		     size_t errlen)
{
	char allowed[256];

	errlen = reset_err(err, errlen);
	/* Without NUMA the machine still has node 0. */
	if (nr_nodes < 1)
		nr_nodes = 1;
	if (cfg->mountpoint[0] != '/') {
		snprintf(err, errlen,
			 "[daemon] mountpoint: relative path '%s' (an absolute "
			 "path)",
			 cfg->mountpoint);
		return -EINVAL;
	}
	if (cfg->control_socket[0] &&
	    path_under(cfg->control_socket, cfg->mountpoint)) {
		snprintf(err, errlen,
			 "[daemon] control_socket: '%s' is under the mount "
			 "point '%s', which would hide it",
			 cfg->control_socket, cfg->mountpoint);
		return -EINVAL;
	}
	if (cfg->psi_stall_ms > cfg->psi_window_ms) {
		snprintf(err, errlen,
			 "[writeback] psi_stall_ms: %u is longer than "
			 "psi_window_ms (%u)",
			 cfg->psi_stall_ms, cfg->psi_window_ms);
		return -EINVAL;
	}
	if (cfg->nr_volumes > ZPD_MAX_VOLUMES) {
		snprintf(err, errlen, "too many volumes (at most %d)",
			 ZPD_MAX_VOLUMES);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		const struct zpd_volume_conf *v = &cfg->volumes[i];

		if (!v->size) {
			describe_allowed(find_key(SEC_VOLUME, "size"), false,
					 allowed, sizeof(allowed));
			snprintf(err, errlen, "[volume %s] (%s): no size (%s)",
				 v->name, v->origin, allowed);
			return -EINVAL;
		}
		if (v->node >= nr_nodes) {
			snprintf(err, errlen,
				 "[volume %s] (%s): node %d does not exist "
				 "(this machine has nodes 0..%d)",
				 v->name, v->origin, v->node, nr_nodes - 1);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (strcmp(cfg->volumes[j].name, v->name))
				continue;
			snprintf(
				err, errlen,
				"[volume %s] (%s): volume defined twice (first "
				"at %s)",
				v->name, v->origin, cfg->volumes[j].origin);
			return -EINVAL;
		}
	}
	return 0;
}

void zpd_config_help(FILE *out)
{
	char allowed[1024];

	for (size_t i = 0; i < NR_KEYS; i++) {
		const struct key *k = &keys[i];

		describe_allowed(k, true, allowed, sizeof(allowed));
		fprintf(out, "[%s%s] %s = %s\n    %s (%s)\n",
			section_names[k->sec],
			k->sec == SEC_VOLUME ? " NAME" : "", k->name,
			!k->def ? "(required)" : *k->def ? k->def : "\"\"",
			k->desc, allowed);
	}
}

static void dump_section(enum section sec, const void *base, FILE *out)
{
	char value[2 * PATH_MAX + 3];

	for (size_t i = 0; i < NR_KEYS; i++) {
		const struct key *k = &keys[i];

		if (k->sec != sec)
			continue;
		/* A required key not set yet: a valid file leaves it out,
		 * and zpd_config_check() complains as it would have. */
		if (!k->def &&
		    !load_int((const char *)base + k->offset, k->width)) {
			fprintf(out, "# %s is not set\n", k->name);
			continue;
		}
		format_value(k, base, value, sizeof(value));
		fprintf(out, "%s = %s\n", k->name, value);
	}
}

void zpd_config_dump(const struct zpd_config *cfg, FILE *out)
{
	fprintf(out, "[daemon]\n");
	dump_section(SEC_DAEMON, cfg, out);
	fprintf(out, "\n[pool]\n");
	dump_section(SEC_POOL, cfg, out);
	fprintf(out, "\n[writeback]\n");
	dump_section(SEC_WRITEBACK, cfg, out);
	for (unsigned int i = 0; i < cfg->nr_volumes; i++) {
		fprintf(out, "\n[volume %s]\n", cfg->volumes[i].name);
		dump_section(SEC_VOLUME, &cfg->volumes[i], out);
	}
}
