/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zpoolctl - steer a running zpoold over its control socket.
 *
 * Each subcommand becomes one request (common/zp-proto.h); what comes
 * back is printed for people (tables, short lines) or, with --json, as one
 * JSON object for scripts. Nothing is sent for a command line that is
 * wrong (exit 2); a daemon that cannot be reached is exit 3, an error
 * reply exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* Seconds a reply to a quick command may take. Slow ones (swapoff pages
 * everything back in; writeback may write gigabytes) wait as long as it
 * takes unless --timeout says otherwise. */
#define DEFAULT_TIMEOUT 30.0

struct opts {
	const char *socket;
	double timeout; /* < 0: the command's default */
	bool json, bytes, classes, resident, discard;
	const char *node, *priority, *wb_bytes, *idle;
	double interval;
	long count;
};

struct words;
struct out;

struct cmd {
	const char *name;  /* as typed: "volume create" */
	const char *args;  /* positional arguments, for usage */
	const char *brief; /* a few words, for the list of subcommands */
	const char *what;  /* one line */
	const char *options; /* the option lines of its help */
	unsigned int min_args, max_args;
	bool slow;
	/* A request and its reply for people, or a run of its own. */
	int (*build)(const struct opts *o, char **argv, struct words *w);
	void (*text)(const struct out *t);
	int (*run)(struct opts *o, int argc, char **argv);
};

static const struct cmd *current;

static void cmd_usage(FILE *out, const struct cmd *c)
{
	fprintf(out, "usage: zpoolctl [global options] %s%s%s\n\n%s\n", c->name,
		*c->args ? " " : "", c->args, c->what);
	if (*c->options)
		fprintf(out, "\n%s", c->options);
}

static int usage_error(const char *fmt, ...) zp_printf(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zpoolctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (current)
		cmd_usage(stderr, current);
	else
		fprintf(stderr, "Try 'zpoolctl --help'.\n");
	return ZP_EXIT_USAGE;
}

/* ---------------------------------------------------------------------------
 * Talking to the daemon
 * ------------------------------------------------------------------------ */

/* Send words, get the reply; exit codes for the ways it may fail. */
static int ask(struct opts *o, const char *const *words, size_t n,
	       struct ctl_reply *r)
{
	struct ctl_conn c;
	char err[1024];
	double timeout = o->timeout >= 0	? o->timeout
			 : current && current->slow ? 0
						     : DEFAULT_TIMEOUT;

	if (ctl_connect(&c, o->socket, timeout, err, sizeof(err))) {
		fprintf(stderr, "zpoolctl: %s\n", err);
		return ZP_EXIT_UNREACHABLE;
	}
	if (ctl_request(&c, words, n, r, err, sizeof(err))) {
		fprintf(stderr, "zpoolctl: %s\n", err);
		ctl_close(&c);
		return ZP_EXIT_UNREACHABLE;
	}
	ctl_close(&c);
	if (r->code) {
		fprintf(stderr, "zpoolctl: %s\n", r->message);
		ctl_reply_free(r);
		return ZP_EXIT_ERROR;
	}
	return ZP_EXIT_OK;
}

/* Words of a request: the command, then arguments and KEY=VALUE options. */
struct words {
	const char *w[ZP_PROTO_ARGS_MAX + 2];
	char opt[ZP_PROTO_ARGS_MAX][256];
	size_t n, nopt;
};

static void add(struct words *w, const char *word)
{
	if (w->n < ZP_ARRAY_SIZE(w->w))
		w->w[w->n++] = word;
}

static void add_opt(struct words *w, const char *key, const char *value)
{
	if (!value || w->nopt == ZP_PROTO_ARGS_MAX)
		return;
	snprintf(w->opt[w->nopt], sizeof(w->opt[0]), "%s=%s", key, value);
	add(w, w->opt[w->nopt++]);
}

/* ---------------------------------------------------------------------------
 * Subcommands: each makes its request's words (or refuses the command
 * line) and prints a reply for people; --json prints any reply the same.
 * ------------------------------------------------------------------------ */

struct out {
	const struct ctl_reply *r;
	const struct opts *o;
	char **argv; /* the subcommand's arguments */
};

static int build_status(const struct opts *o, char **argv, struct words *w)
{
	(void)o, (void)argv;
	add(w, "status");
	return -1;
}

static void text_status(const struct out *t)
{
	ctl_print_status(stdout, t->r, t->o->bytes);
}

static int build_stats(const struct opts *o, char **argv, struct words *w)
{
	(void)argv;
	add(w, "stats");
	if (o->classes)
		add(w, "classes");
	if (o->resident)
		add(w, "resident");
	return -1;
}

static void text_records(const struct out *t)
{
	ctl_print_records(stdout, t->r);
}

static int run_top(struct opts *o, int argc, char **argv)
{
	struct ctl_conn c;
	char err[1024];
	int ret;

	(void)argc, (void)argv;
	if (o->interval < 0.1 || o->interval > 3600)
		return usage_error("--interval: %g seconds (0.1 to 3600)",
				   o->interval);
	if (ctl_connect(&c, o->socket, o->timeout >= 0 ? o->timeout
						      : DEFAULT_TIMEOUT,
			err, sizeof(err))) {
		fprintf(stderr, "zpoolctl: %s\n", err);
		return ZP_EXIT_UNREACHABLE;
	}
	ret = ctl_top(&c, o->interval, o->count);
	ctl_close(&c);
	return ret;
}

static int build_version(const struct opts *o, char **argv, struct words *w)
{
	(void)o, (void)argv;
	add(w, "version");
	return -1;
}

static void text_version(const struct out *t)
{
	const char *daemon = ctl_find(t->r, "daemon");
	const char *proto = ctl_find(t->r, "protocol");

	printf("zpoolctl %s\n", PACKAGE_VERSION);
	printf("zpoold %s, protocol %s\n", daemon ? daemon : "?",
	       proto ? proto : "?");
}

static int build_volume_list(const struct opts *o, char **argv,
			     struct words *w)
{
	(void)o, (void)argv;
	add(w, "volume-list");
	return -1;
}

static void text_volume_list(const struct out *t)
{
	ctl_print_volumes(stdout, t->r, t->o->bytes);
}

static int build_volume_create(const struct opts *o, char **argv,
			       struct words *w)
{
	add(w, "volume-create");
	add(w, argv[0]);
	add(w, argv[1]);
	add_opt(w, "node", o->node);
	return -1;
}

static void text_volume_create(const struct out *t)
{
	printf("volume '%s' created, %s\n", t->argv[0], t->argv[1]);
}

static int build_volume_remove(const struct opts *o, char **argv,
			       struct words *w)
{
	(void)o;
	add(w, "volume-remove");
	add(w, argv[0]);
	return -1;
}

static void text_volume_remove(const struct out *t)
{
	printf("volume '%s' removed\n", t->argv[0]);
}

static int build_swapon(const struct opts *o, char **argv, struct words *w)
{
	add(w, "swapon");
	add(w, argv[0]);
	add_opt(w, "priority", o->priority);
	if (o->discard)
		add_opt(w, "discard", "yes");
	return -1;
}

static void text_swapon(const struct out *t)
{
	const char *loop = ctl_find(t->r, "loop");
	const char *prio = ctl_find(t->r, "priority");

	printf("%s: swap on %s, priority %s%s\n", t->argv[0],
	       loop ? loop : "?", prio ? prio : "?",
	       t->o->discard ? ", discard" : "");
}

static int build_swapoff(const struct opts *o, char **argv, struct words *w)
{
	(void)o;
	add(w, "swapoff");
	add(w, argv[0]);
	return -1;
}

static void text_swapoff(const struct out *t)
{
	for (size_t i = 0; i < t->r->n; i++)
		printf("%s: swap off, %s detached\n", t->argv[0],
		       t->r->rec[i].value);
}

static int build_get(const struct opts *o, char **argv, struct words *w)
{
	(void)o;
	add(w, "get");
	if (argv[0])
		add(w, argv[0]);
	return -1;
}

static void text_settings(const struct out *t)
{
	for (size_t i = 0; i < t->r->n; i++)
		printf("%s = %s\n", t->r->rec[i].name, t->r->rec[i].value);
}

static int build_set(const struct opts *o, char **argv, struct words *w)
{
	(void)o;
	if (!strchr(argv[0], '=') || argv[0][0] == '=')
		return usage_error("'%s' is not KEY=VALUE", argv[0]);
	add(w, "set");
	add(w, argv[0]);
	return -1;
}

static int build_compact(const struct opts *o, char **argv, struct words *w)
{
	(void)argv;
	add(w, "compact");
	add_opt(w, "node", o->node);
	return -1;
}

static void text_compact(const struct out *t)
{
	printf("compacted: %lld pages freed\n",
	       (long long)ctl_num(t->r, "pages_freed"));
}

static int build_writeback(const struct opts *o, char **argv,
			   struct words *w)
{
	(void)argv;
	if (o->bytes && !o->wb_bytes)
		return usage_error("%s needs a size", "--bytes");
	if (o->wb_bytes && o->idle)
		return usage_error("%s exclude each other", "--bytes and --idle");
	add(w, "writeback");
	add_opt(w, "bytes", o->wb_bytes);
	add_opt(w, "idle", o->idle);
	add_opt(w, "node", o->node);
	if (o->idle && !o->json) {
		printf("marking the blocks in the pool; writing back those "
		       "untouched in %s s\n",
		       o->idle);
		fflush(stdout);
	}
	return -1;
}

static void text_writeback(const struct out *t)
{
	int64_t n = ctl_num(t->r, "written_back");
	char size[32];

	ctl_human((uint64_t)n * 4096, size, sizeof(size));
	printf("written back: %lld blocks (%s)\n", (long long)n, size);
}

static int build_reset_stats(const struct opts *o, char **argv,
			     struct words *w)
{
	(void)o, (void)argv;
	add(w, "reset-stats");
	return -1;
}

static void text_reset_stats(const struct out *t)
{
	(void)t;
	printf("statistics reset\n");
}

#define OPT_JSON "  -j, --json             print the reply as one JSON object\n"
#define OPT_BYTES "      --bytes            sizes in bytes\n"
#define OPT_NODE(what) "      --node N           " what "\n"

static const struct cmd cmds[] = {
	{ "status", "", "volumes and the pool at a glance",
	  "Each volume (size, data held, compressed, memory, ratio, on disk, "
	  "node, swap) and the pool.",
	  OPT_JSON OPT_BYTES, 0, 0, false, build_status, text_status, NULL },
	{ "stats", "", "every counter",
	  "Every counter: the store and shrinker, the pool (per class with "
	  "--classes), each node, the compressors, the FUSE front end, each "
	  "volume.",
	  OPT_JSON
	  "      --classes          add each size class of the pool\n"
	  "      --resident         add where the kernel says the pool's pages "
	  "are, per node\n",
	  0, 0, false, build_stats, text_records, NULL },
	{ "top", "", "a live view",
	  "A live view, refreshed every interval: pool, ratio, rates, nodes, "
	  "volumes (q quits).",
	  "      --interval SECONDS between refreshes (default 1)\n"
	  "      --count N          stop after N refreshes\n",
	  0, 0, false, NULL, NULL, run_top },
	{ "volume create", "NAME SIZE", "add a volume",
	  "Add a volume (SIZE with K, M, G or T) while the daemon runs; it "
	  "lasts until the daemon stops.",
	  OPT_NODE("place its blocks on NUMA node N"), 2, 2, false,
	  build_volume_create, text_volume_create, NULL },
	{ "volume remove", "NAME", "remove a volume",
	  "Remove a volume and free its blocks; refused while it is open or "
	  "attached.",
	  "", 1, 1, true, build_volume_remove, text_volume_remove, NULL },
	{ "volume list", "", "the volumes",
	  "The volumes: size, node, open files, loop device.",
	  OPT_JSON OPT_BYTES, 0, 0, false, build_volume_list, text_volume_list,
	  NULL },
	{ "swapon", "NAME", "make a volume active swap",
	  "Make a volume a fresh swap area on a free loop device (direct I/O) "
	  "and swap on it.",
	  "      --priority P       swap priority 0..32767 (default: the "
	  "kernel's)\n"
	  "      --discard          discard freed swap pages (frees their "
	  "memory)\n",
	  1, 1, true, build_swapon, text_swapon, NULL },
	{ "swapoff", "NAME", "swap off a volume and detach it",
	  "Swap off a volume and detach its loop device.",
	  "", 1, 1, true, build_swapoff, text_swapoff, NULL },
	{ "set", "KEY=VALUE", "change a run-time setting",
	  "Change a run-time setting: compressor, policy, max_pool_percent, "
	  "max_pool_size, accept_threshold_percent, max_node_size, "
	  "idle_seconds, node_hint, log_level.",
	  "", 1, 1, false, build_set, text_settings, NULL },
	{ "get", "[KEY]", "show run-time settings",
	  "Show one run-time setting, or all.", OPT_JSON, 0, 1, false,
	  build_get, text_settings, NULL },
	{ "compact", "", "compact the pool",
	  "Compact the pool and return its free pages.",
	  OPT_NODE("only node N"), 0, 0, true, build_compact, text_compact,
	  NULL },
	{ "writeback", "", "write blocks back to the backing store",
	  "Write blocks back to the backing store: all of them, --bytes N of "
	  "the oldest, or those untouched for --idle SECONDS.",
	  "      --bytes N          this much (K, M, G, T), oldest first\n"
	  "      --idle SECONDS     the blocks not read or written for that "
	  "long (waits that long)\n" OPT_NODE("only from node N's blocks"),
	  0, 0, true, build_writeback, text_writeback, NULL },
	{ "reset-stats", "", "zero the counters",
	  "Zero the counters (what is held stays).", "", 0, 0, false,
	  build_reset_stats, text_reset_stats, NULL },
	{ "version", "", "versions of both ends and the protocol",
	  "The versions of zpoolctl, zpoold and the protocol.",
	  OPT_JSON, 0, 0, false, build_version, text_version, NULL },
};

/* A subcommand that is one request: build it, send it, print the reply. */
static int request(struct opts *o, const struct cmd *c, char **argv)
{
	struct words w = { 0 };
	struct ctl_reply r;
	int ret = c->build(o, argv, &w);

	if (ret >= 0)
		return ret;
	ret = ask(o, w.w, w.n, &r);
	if (ret)
		return ret;
	if (o->json) {
		ctl_print_json(stdout, &r);
	} else {
		struct out t = { .r = &r, .o = o, .argv = argv };

		c->text(&t);
	}
	ctl_reply_free(&r);
	return ZP_EXIT_OK;
}

/* "volume create NAME SIZE": the subcommand and its arguments. */
static const char *sub_synopsis(const struct cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->name, *c->args ? " " : "", c->args);
	return buf;
}

/* The whole help, or with a group ("volume") the subcommands in it. */
static void usage(FILE *out, const char *group)
{
	size_t glen = group ? strlen(group) : 0;
	char syn[64];

	if (group) {
		fprintf(out, "usage: zpoolctl [global options] %s SUBCOMMAND "
			     "[options] [ARGS]\n\nSubcommands:\n", group);
		for (size_t i = 0; i < ZP_ARRAY_SIZE(cmds); i++)
			if (!strncmp(cmds[i].name, group, glen) &&
			    cmds[i].name[glen] == ' ')
				fprintf(out, "  %-24s %s\n",
					sub_synopsis(&cmds[i], syn, sizeof(syn)),
					cmds[i].brief);
		fprintf(out, "\nzpoolctl %s SUBCOMMAND --help for one.\n",
			group);
		return;
	}
	fprintf(out,
		"usage: zpoolctl [global options] SUBCOMMAND [options] [ARGS]\n"
		"\n"
		"Steer a running zpoold over its control socket; see zpoolctl(8).\n"
		"\n"
		"Subcommands:\n");
	for (size_t i = 0; i < ZP_ARRAY_SIZE(cmds); i++)
		fprintf(out, "  %-24s %s\n",
			sub_synopsis(&cmds[i], syn, sizeof(syn)), cmds[i].brief);
	fprintf(out,
		"  %-24s %s\n"
		"\n"
		"Global options:\n"
		"  -s, --socket PATH      the control socket (default $ZPOOLD_SOCKET,\n"
		"                         else %s)\n"
		"      --timeout SECONDS  wait this long for a reply (0: forever; default\n"
		"                         %.0f, and forever for swapon, swapoff, volume\n"
		"                         remove, compact and writeback)\n"
		"  -j, --json             print replies as JSON (read-only subcommands)\n"
		"  -h, --help             show this help; SUBCOMMAND --help for one\n"
		"  -V, --version          show zpoolctl's version\n"
		"\n"
		"Exit status: 0 done, 1 the daemon replied with an error, 2 a wrong\n"
		"command line (nothing sent), 3 the daemon cannot be reached.\n",
		"help [SUBCOMMAND]", "this help, or a subcommand's",
		ZP_PROTO_DEFAULT_SOCKET, DEFAULT_TIMEOUT);
}

/* Whether WORD is the first word of subcommands ("volume"). */
static bool is_group(const char *word)
{
	size_t len = strlen(word);

	for (size_t i = 0; i < ZP_ARRAY_SIZE(cmds); i++)
		if (!strncmp(cmds[i].name, word, len) &&
		    cmds[i].name[len] == ' ')
			return true;
	return false;
}

static const struct cmd *find_cmd(int argc, char **argv, int *used)
{
	char two[64];

	if (argc >= 2) {
		snprintf(two, sizeof(two), "%s %s", argv[0], argv[1]);
		for (size_t i = 0; i < ZP_ARRAY_SIZE(cmds); i++)
			if (!strcmp(cmds[i].name, two)) {
				*used = 2;
				return &cmds[i];
			}
	}
	for (size_t i = 0; i < ZP_ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, argv[0])) {
			*used = 1;
			return &cmds[i];
		}
	return NULL;
}

/* Whether the subcommand's help lists the option (so that only those are
 * taken). */
static bool takes(const struct cmd *c, const char *opt)
{
	char want[40];

	snprintf(want, sizeof(want), "--%s", opt);
	return strstr(c->options, want) != NULL;
}

enum {
	O_TIMEOUT = 256, O_BYTES, O_CLASSES, O_RESIDENT, O_NODE, O_PRIORITY,
	O_DISCARD, O_IDLE, O_INTERVAL, O_COUNT,
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "bytes", optional_argument, NULL, O_BYTES },
	{ "classes", no_argument, NULL, O_CLASSES },
	{ "resident", no_argument, NULL, O_RESIDENT },
	{ "node", required_argument, NULL, O_NODE },
	{ "priority", required_argument, NULL, O_PRIORITY },
	{ "discard", no_argument, NULL, O_DISCARD },
	{ "idle", required_argument, NULL, O_IDLE },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "count", required_argument, NULL, O_COUNT },
	{ NULL, 0, NULL, 0 },
};

static bool parse_double(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return end != s && !*end;
}

/* Parse options anywhere on the command line (before or after the
 * subcommand). Returns an exit code, or -1 to go on. */
static int parse(int argc, char **argv, struct opts *o, char **pos, int *npos)
{
	const char *name;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "-s:jhV", long_opts, NULL)) != -1) {
		name = optind > 1 ? argv[optind - 1] : "";
		switch (c) {
		case 1:
			pos[(*npos)++] = optarg;
			continue;
		case 's':
			o->socket = optarg;
			continue;
		case O_TIMEOUT:
			if (!parse_double(optarg, &o->timeout) || o->timeout < 0)
				return usage_error("--timeout: '%s' is not a "
						   "number of seconds",
						   optarg);
			continue;
		case 'j':
			o->json = true;
			continue;
		case 'h':
			return -2;
		case 'V':
			printf("zpoolctl %s (protocol %d)\n", PACKAGE_VERSION,
			       ZP_PROTO_VERSION);
			return ZP_EXIT_OK;
		case '?':
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		case ':':
			return usage_error("'%s' needs an argument", name);
		}
		/* A subcommand's own option: only where it belongs. */
		o->classes |= c == O_CLASSES;
		o->resident |= c == O_RESIDENT;
		o->discard |= c == O_DISCARD;
		switch (c) {
		case O_BYTES:
			/* status and volume list: sizes in bytes; writeback:
			 * --bytes N, which starts with a digit. */
			if (optarg)
				o->wb_bytes = optarg;
			else if (optind < argc && argv[optind][0] >= '0' &&
				 argv[optind][0] <= '9')
				o->wb_bytes = argv[optind++];
			else
				o->bytes = true;
			break;
		case O_NODE:
			o->node = optarg;
			break;
		case O_PRIORITY:
			o->priority = optarg;
			break;
		case O_IDLE:
			o->idle = optarg;
			break;
		case O_INTERVAL:
			if (!parse_double(optarg, &o->interval))
				return usage_error("--interval: '%s' is not a "
						   "number of seconds",
						   optarg);
			break;
		case O_COUNT:
			o->count = strtol(optarg, NULL, 10);
			if (o->count <= 0)
				return usage_error("--count: '%s' is not a "
						   "positive number",
						   optarg);
			break;
		}
	}
	return -1;
}

/* Options given that the command does not take. */
static int check_options(const struct cmd *c, const struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} set[] = {
		{ "classes", offsetof(struct opts, classes) },
		{ "resident", offsetof(struct opts, resident) },
		{ "discard", offsetof(struct opts, discard) },
		{ "bytes", offsetof(struct opts, bytes) },
	};
	static const struct {
		const char *name;
		size_t off;
	} given[] = {
		{ "node", offsetof(struct opts, node) },
		{ "priority", offsetof(struct opts, priority) },
		{ "bytes", offsetof(struct opts, wb_bytes) },
		{ "idle", offsetof(struct opts, idle) },
	};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(set); i++)
		if (*(const bool *)((const char *)o + set[i].off) &&
		    !takes(c, set[i].name))
			return usage_error("%s takes no such option",
					   c->name);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(given); i++)
		if (*(const char *const *)((const char *)o + given[i].off) &&
		    !takes(c, given[i].name))
			return usage_error("%s takes no such option", c->name);
	if (o->json && !takes(c, "json"))
		return usage_error("%s has no JSON output", c->name);
	return -1;
}

/* Everything after reading the command line: an exit code. */
static int dispatch(struct opts *o, int ret, char **pos, int npos)
{
	const struct cmd *c;
	const char *group = NULL;
	int used = 0;

	c = npos ? find_cmd(npos, pos, &used) : NULL;
	if (npos && !c && is_group(pos[0]))
		group = pos[0];
	if (npos && !strcmp(pos[0], "help")) {
		c = npos > 1 ? find_cmd(npos - 1, pos + 1, &used) : NULL;
		group = npos > 1 && !c && is_group(pos[1]) ? pos[1] : NULL;
		if (npos > 1 && !c && !group)
			return usage_error("no subcommand '%s'", pos[1]);
		ret = -2;
	}
	current = c;
	if (ret == -2) {
		if (c)
			cmd_usage(stdout, c);
		else
			usage(stdout, group);
		return ZP_EXIT_OK;
	}
	if (ret >= 0)
		return ret;
	if (!npos)
		return usage_error("%s", "no subcommand");
	if (!c && group && npos == 1) {
		fprintf(stderr, "zpoolctl: %s needs a subcommand\n", group);
		usage(stderr, group);
		return ZP_EXIT_USAGE;
	}
	if (!c && group)
		return usage_error("no subcommand '%s %s'", group, pos[1]);
	if (!c)
		return usage_error("no subcommand '%s'", pos[0]);
	ret = check_options(c, o);
	if (ret >= 0)
		return ret;
	npos -= used;
	if ((unsigned int)npos < c->min_args)
		return usage_error("%s: missing arguments", c->name);
	if ((unsigned int)npos > c->max_args)
		return usage_error("unexpected argument '%s'",
				   pos[used + (int)c->max_args]);
	return c->run ? c->run(o, npos, pos + used) : request(o, c, pos + used);
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout = -1, .interval = 1.0 };
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int npos = 0, ret;

	if (!pos)
		return ZP_EXIT_ERROR;
	o.socket = getenv("ZPOOLD_SOCKET");
	if (!o.socket || !*o.socket)
		o.socket = ZP_PROTO_DEFAULT_SOCKET;
	ret = parse(argc, argv, &o, pos, &npos);
	ret = dispatch(&o, ret, pos, npos);
	free(pos);
	return ret;
}
