/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * commands.c - what each command of the control protocol does (the list
 * and the records of each are in common/zp-proto.h).
 *
 * Quick commands run on the main loop; zpd_command_slow() names the ones
 * that may take long, which control.c runs in its job thread, one at a
 * time: so two of them never race (a swapon and a volume-remove of the
 * same volume, say). Everything a command changes goes through the same
 * functions the configuration file's settings go through: `set` parses
 * its value with the configuration's key table (same checks, same
 * messages) and then applies it to the running store.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "zp-format.h"

/* The swap area's label: what blkid and swaplabel show. */
#define SWAP_LABEL "zpoold"
/* How long volume-remove waits for the last close of a volume whose loop
 * device was just detached (the kernel closes the file after the
 * ioctl returns). */
#define REMOVE_WAIT_MS 2000

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void volume_path(const struct zpd_ctl_env *env, const char *name,
			char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", env->cfg->mountpoint, name);
}

/* The first loop device of volume name ("" for none), and whether it is
 * active swap. */
static void volume_loop(const struct zpd_ctl_env *env, const char *name,
			char *dev, size_t len, bool *swap)
{
	char path[PATH_MAX + ZPD_VOLUME_NAME_MAX + 2], loops[1024];

	volume_path(env, name, path, sizeof(path));
	dev[0] = '\0';
	*swap = false;
	if (zpd_loops_of(path, loops, sizeof(loops)) > 0) {
		snprintf(dev, len, "%.*s", (int)(len - 1), loops);
		*swap = zpd_is_swap(dev);
	}
}

/* Parse a decimal number lo..hi into *out; an error reply otherwise. */
static int parse_number(struct zpd_reply *r, const char *what,
			const char *text, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return zpd_reply_error(r, ZP_ERR_INVALID,
				       "%s: '%s' is not a number from %ld to "
				       "%ld",
				       what, text, lo, hi);
	*out = v;
	return 0;
}

static int parse_node(struct zpd_ctl_env *env, struct zpd_reply *r,
		      const char *text, int *nid)
{
	long v = -1;
	int code = parse_number(r, "node", text, 0, env->nr_nodes - 1, &v);

	*nid = (int)v;
	return code;
}

/* The error code of an -errno from the store or the system. */
static int error_code(int err)
{
	switch (-err) {
	case ENOENT:
		return ZP_ERR_NOTFOUND;
	case EEXIST:
		return ZP_ERR_EXISTS;
	case EBUSY:
		return ZP_ERR_BUSY;
	case EINVAL:
		return ZP_ERR_INVALID;
	case ENOSPC:
	case ENOMEM:
		return ZP_ERR_NOSPACE;
	case EPERM:
	case ENOTSUP:
		return ZP_ERR_NOTSUP;
	default:
		return ZP_ERR_FAILED;
	}
}

/* ---------------------------------------------------------------------------
 * Reading: version, status, stats, volume-list, get
 * ------------------------------------------------------------------------ */

static int cmd_version(struct zpd_ctl_env *env, const struct zp_request *req,
		       struct zpd_reply *r)
{
	(void)env, (void)req;
	zpd_reply_u64(r, "protocol", ZP_PROTO_VERSION);
	zpd_reply_add(r, "daemon", "%s", PACKAGE_VERSION);
	return 0;
}

/* Under volumes_lock: the volumes' records for status and volume-list. */
static void volume_records(struct zpd_ctl_env *env, struct zpd_reply *r,
			   bool status)
{
	struct zpd_store *store = env->store;
	uint64_t pool_bytes = (uint64_t)zp_pool_total_pages(store->pool) *
			      ZP_PAGE_SIZE;
	uint64_t stored = 0, data = 0, disk = 0, memory = 0;
	char name[ZPD_VOLUME_NAME_MAX + 32], dev[ZPD_DEV_MAX + 64];
	unsigned int i;
	bool swap;

	for (i = 0; i < ZPD_MAX_VOLUMES; i++) {
		struct zpd_volume *v = store->volumes[i];
		struct zpd_volume_stats vs;

		if (v && !v->removing) {
			zpd_volume_stats(v, &vs);
			stored += vs.stored_bytes;
		}
	}
	for (i = 0; i < ZPD_MAX_VOLUMES; i++) {
		struct zpd_volume *v = store->volumes[i];
		struct zpd_volume_stats vs;
		uint64_t vdata, vtotal;

		if (!v || v->removing)
			continue;
		zpd_volume_stats(v, &vs);
		volume_loop(env, v->name, dev, sizeof(dev), &swap);
#define REC(field) snprintf(name, sizeof(name), "volume.%s." field, v->name)
		REC("size");
		zpd_reply_u64(r, name, v->size);
		if (status) {
			vdata = (vs.blocks_same + vs.blocks_raw +
				 vs.blocks_compressed + vs.blocks_disk) *
				ZPD_BLOCK_SIZE;
			/* The pool's pages, shared by the volumes in
			 * proportion to the bytes of their objects. */
			vtotal = stored ? (uint64_t)((double)pool_bytes *
						     vs.stored_bytes / stored)
					: 0;
			REC("data");
			zpd_reply_u64(r, name, vdata);
			REC("compr");
			zpd_reply_u64(r, name, vs.stored_bytes);
			REC("total");
			zpd_reply_u64(r, name, vtotal);
			REC("disk");
			zpd_reply_u64(r, name, vs.blocks_disk * ZPD_BLOCK_SIZE);
			data += vdata;
			memory += vtotal;
			disk += vs.blocks_disk * ZPD_BLOCK_SIZE;
		}
		REC("node");
		zpd_reply_add(r, name, "%d", v->node);
		if (!status) {
			REC("open");
			zpd_reply_u64(r, name, atomic_load(&v->users));
		}
		REC("loop");
		zpd_reply_add(r, name, "%s", dev[0] ? dev : "-");
		REC("swap");
		zpd_reply_u64(r, name, swap);
#undef REC
	}
	if (!status)
		return;
	zpd_reply_u64(r, "total.data", data);
	zpd_reply_u64(r, "total.compr", stored);
	zpd_reply_u64(r, "total.memory", memory);
	zpd_reply_u64(r, "total.disk", disk);
}

static int cmd_status(struct zpd_ctl_env *env, const struct zp_request *req,
		      struct zpd_reply *r)
{
	struct zpd_store *store = env->store;

	(void)req;
	pthread_rwlock_rdlock(&store->volumes_lock);
	volume_records(env, r, true);
	pthread_rwlock_unlock(&store->volumes_lock);
	zpd_reply_u64(r, "pool.pages", zp_pool_total_pages(store->pool));
	zpd_reply_u64(r, "pool.limit_pages", store->limit_pages);
	zpd_reply_u64(r, "pool.full", atomic_load(&store->full));
	zpd_reply_u64(r, "backing.slots_used",
		      store->slots ? shr_slots_used(store->slots) : 0);
	zpd_reply_u64(r, "backing.slots_total",
		      store->slots ? shr_slots_total(store->slots) : 0);
	return 0;
}

static int cmd_volume_list(struct zpd_ctl_env *env,
			   const struct zp_request *req, struct zpd_reply *r)
{
	(void)req;
	pthread_rwlock_rdlock(&env->store->volumes_lock);
	volume_records(env, r, false);
	pthread_rwlock_unlock(&env->store->volumes_lock);
	return 0;
}

static void add_stat(const char *name, uint64_t value, void *arg)
{
	zpd_reply_u64(arg, name, value);
}

static int cmd_stats(struct zpd_ctl_env *env, const struct zp_request *req,
		     struct zpd_reply *r)
{
	struct zpd_store *store = env->store;
	bool classes = false, resident = false;
	char name[64], spec[64];

	for (unsigned int i = 0; i < req->argc; i++) {
		if (!strcmp(req->argv[i], "classes"))
			classes = true;
		else if (!strcmp(req->argv[i], "resident"))
			resident = true;
		else
			return zpd_reply_error(r, ZP_ERR_USAGE,
					       "stats: unknown word '%.40s' "
					       "(classes or resident)",
					       req->argv[i]);
	}
	zpd_stats_walk(store, add_stat, r);
	comp_spec_format(zpd_store_compressor(store), spec, sizeof(spec));
	zpd_reply_add(r, "compressor.algorithm", "%s", spec);
	zpd_reply_add(r, "pool.policy", "%s",
		      zp_numa_policy_name(zp_pool_policy(store->pool)));
	if (resident) {
		uint64_t pages[ZP_MAX_NODES] = { 0 }, elsewhere = 0;
		int ret = zp_pool_node_resident(store->pool, pages,
						&elsewhere);

		if (ret)
			return zpd_reply_error(r, ZP_ERR_FAILED,
					       "cannot ask the kernel where "
					       "the pool's pages are: %s",
					       strerror(-ret));
		for (int nid = 0; nid < store->nr_nodes; nid++) {
			snprintf(name, sizeof(name), "node%d.resident_pages",
				 nid);
			zpd_reply_u64(r, name, pages[nid]);
		}
		zpd_reply_u64(r, "pool.resident_elsewhere", elsewhere);
	}
	if (classes) {
		unsigned int n = zp_pool_nr_classes(store->pool);

		for (unsigned int id = 0; id < n; id++) {
			struct zp_class_stats cs;

			if (zp_pool_class_stats(store->pool, id, &cs))
				break;
			for (size_t k = 0; k < zp_class_nr_stat_desc; k++) {
				const struct zp_stat_desc *d =
					&zp_class_stat_desc[k];

				snprintf(name, sizeof(name), "class.%u.%s", id,
					 d->name);
				zpd_reply_u64(r, name,
					      *(const uint64_t *)((const char *)&cs +
								  d->offset));
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Tunables: get and set
 * ------------------------------------------------------------------------ */

struct tunable {
	const char *key; /* "section.key" in the configuration */
	void (*apply)(struct zpd_ctl_env *env, const struct zpd_config *cfg);
	/* Refuse a value this running daemon cannot take (NULL: any the
	 * configuration takes); 0 or an error reply. */
	int (*check)(struct zpd_ctl_env *env, const struct zpd_config *cfg,
		     struct zpd_reply *r);
};

static void apply_compressor(struct zpd_ctl_env *env,
			     const struct zpd_config *cfg)
{
	zpd_store_set_compressor(env->store, cfg->compressor);
}

static int check_policy(struct zpd_ctl_env *env, const struct zpd_config *cfg,
			struct zpd_reply *r)
{
	enum zp_numa_policy cur = zp_pool_policy(env->store->pool);

	if (cfg->policy != cur &&
	    (cfg->policy == ZP_NUMA_STRICT || cur == ZP_NUMA_STRICT))
		return zpd_reply_error(
			r, ZP_ERR_NOTSUP,
			"policy: %s to %s needs a restart (a strict pool's "
			"memory is bound to its nodes from the start); set "
			"it in the configuration file",
			zp_numa_policy_name(cur),
			zp_numa_policy_name(cfg->policy));
	return 0;
}

static void apply_policy(struct zpd_ctl_env *env, const struct zpd_config *cfg)
{
	zp_pool_set_policy(env->store->pool, cfg->policy);
}

static void apply_limits(struct zpd_ctl_env *env, const struct zpd_config *cfg)
{
	zpd_wb_set_limits(env->store, cfg);
}

static int check_backing(struct zpd_ctl_env *env,
			 const struct zpd_config *cfg, struct zpd_reply *r)
{
	if (!env->store->backing && cfg->idle_seconds)
		return zpd_reply_error(r, ZP_ERR_NOTSUP,
				       "idle_seconds: there is no backing "
				       "store to write idle blocks to "
				       "([writeback] file)");
	return 0;
}

static void apply_idle(struct zpd_ctl_env *env, const struct zpd_config *cfg)
{
	zpd_wb_set_idle(env->store, cfg->idle_seconds);
}

static void apply_node_hint(struct zpd_ctl_env *env,
			    const struct zpd_config *cfg)
{
	__atomic_store_n(&env->store->node_hint, cfg->node_hint,
			 __ATOMIC_RELAXED);
}

static void apply_log_level(struct zpd_ctl_env *env,
			    const struct zpd_config *cfg)
{
	(void)env;
	zpd_log_set_level(cfg->log_level);
}

static const struct tunable tunables[] = {
	{ "pool.compressor", apply_compressor, NULL },
	{ "pool.policy", apply_policy, check_policy },
	{ "pool.max_pool_percent", apply_limits, NULL },
	{ "pool.max_pool_size", apply_limits, NULL },
	{ "pool.accept_threshold_percent", apply_limits, NULL },
	{ "pool.max_node_size", apply_limits, NULL },
	{ "writeback.idle_seconds", apply_idle, check_backing },
	{ "daemon.node_hint", apply_node_hint, NULL },
	{ "daemon.log_level", apply_log_level, NULL },
};

/* The tunable named key ("max_pool_percent" or "pool.max_pool_percent"). */
static const struct tunable *find_tunable(const char *key)
{
	for (size_t i = 0; i < ZP_ARRAY_SIZE(tunables); i++) {
		const char *full = tunables[i].key;

		if (!strcmp(key, full) || !strcmp(key, strchr(full, '.') + 1))
			return &tunables[i];
	}
	return NULL;
}

static int unknown_tunable(struct zpd_reply *r, const char *key)
{
	char list[512];
	size_t pos = 0;

	list[0] = '\0';
	for (size_t i = 0; i < ZP_ARRAY_SIZE(tunables); i++)
		zp_append(list, sizeof(list), &pos, "%s%s", i ? ", " : "",
			  strchr(tunables[i].key, '.') + 1);
	return zpd_reply_error(r, ZP_ERR_NOTFOUND,
			       "no run-time setting '%.40s' (there are: %s)",
			       key, list);
}

static void add_tunable(struct zpd_ctl_env *env, const struct tunable *t,
			struct zpd_reply *r)
{
	char value[PATH_MAX];

	zpd_config_get(env->cfg, t->key, value, sizeof(value));
	zpd_reply_add(r, strchr(t->key, '.') + 1, "%s", value);
}

static int cmd_get(struct zpd_ctl_env *env, const struct zp_request *req,
		   struct zpd_reply *r)
{
	const struct tunable *t;

	if (!req->argc) {
		for (size_t i = 0; i < ZP_ARRAY_SIZE(tunables); i++)
			add_tunable(env, &tunables[i], r);
		return 0;
	}
	t = find_tunable(req->argv[0]);
	if (!t)
		return unknown_tunable(r, req->argv[0]);
	add_tunable(env, t, r);
	return 0;
}

static int cmd_set(struct zpd_ctl_env *env, const struct zp_request *req,
		   struct zpd_reply *r)
{
	char assignment[ZP_PROTO_REQUEST_MAX], origin[ZP_PROTO_REQUEST_MAX + 8];
	const struct tunable *t;
	struct zpd_config *copy;
	int code = 0;

	if (req->nopts != 1)
		return zpd_reply_error(r, ZP_ERR_USAGE,
				       "usage: set KEY=VALUE (one at a time)");
	t = find_tunable(req->opt_key[0]);
	if (!t)
		return unknown_tunable(r, req->opt_key[0]);
	/* The configuration's own parser and checks, on a copy: the
	 * running one changes only once the value is known to be good. */
	copy = malloc(sizeof(*copy));
	if (!copy)
		return zpd_reply_error(r, ZP_ERR_FAILED, "out of memory");
	*copy = *env->cfg;
	snprintf(assignment, sizeof(assignment), "%s=%s", t->key,
		 req->opt_val[0]);
	snprintf(origin, sizeof(origin), "set %s=%s", req->opt_key[0],
		 req->opt_val[0]);
	if (zpd_config_assign(copy, assignment, origin, r->msg,
			      sizeof(r->msg)) ||
	    zpd_config_check(copy, env->nr_nodes, r->msg, sizeof(r->msg))) {
		code = ZP_ERR_INVALID;
		goto out;
	}
	if (t->check) {
		code = t->check(env, copy, r);
		if (code)
			goto out;
	}
	t->apply(env, copy);
	zpd_config_assign(env->cfg, assignment, origin, NULL, 0);
	add_tunable(env, t, r);
	zpd_log(LOG_NOTICE, "control: %s", origin);
out:
	free(copy);
	return code;
}

/* ---------------------------------------------------------------------------
 * Volumes
 * ------------------------------------------------------------------------ */

static int cmd_volume_create(struct zpd_ctl_env *env,
			     const struct zp_request *req, struct zpd_reply *r)
{
	const char *node = zp_proto_option(req, "node");
	char assignment[ZP_PROTO_REQUEST_MAX];
	struct zpd_config *scratch;
	struct zpd_volume *v;
	int ret, code = 0;

	/* The checks of a [volume] section, on a configuration of its own. */
	scratch = malloc(sizeof(*scratch));
	if (!scratch)
		return zpd_reply_error(r, ZP_ERR_FAILED, "out of memory");
	zpd_config_defaults(scratch);
	snprintf(assignment, sizeof(assignment), "volume.%s.size=%s",
		 req->argv[0], req->argv[1]);
	ret = zpd_config_assign(scratch, assignment, "volume create", r->msg,
				sizeof(r->msg));
	if (!ret && node) {
		snprintf(assignment, sizeof(assignment), "volume.%s.node=%s",
			 req->argv[0], node);
		ret = zpd_config_assign(scratch, assignment, "volume create",
					r->msg, sizeof(r->msg));
	}
	if (!ret)
		ret = zpd_config_check(scratch, env->nr_nodes, r->msg,
				       sizeof(r->msg));
	if (ret) {
		code = ZP_ERR_INVALID;
		goto out;
	}
	ret = zpd_store_add_volume(env->store, &scratch->volumes[0], &v,
				   r->msg, sizeof(r->msg));
	if (ret) {
		code = error_code(ret);
		goto out;
	}
	/* A lookup of the name before it existed may be in the kernel's
	 * cache. */
	if (env->fuse)
		zpd_fuse_forget(env->fuse, scratch->volumes[0].name);
	zpd_log(LOG_NOTICE, "control: volume '%s' created (%llu bytes)",
		scratch->volumes[0].name,
		(unsigned long long)scratch->volumes[0].size);
	/* From the configuration, not v: the job thread may be removing
	 * it already. */
	snprintf(assignment, sizeof(assignment), "volume.%s.size",
		 scratch->volumes[0].name);
	zpd_reply_u64(r, assignment, scratch->volumes[0].size);
	snprintf(assignment, sizeof(assignment), "volume.%s.node",
		 scratch->volumes[0].name);
	zpd_reply_add(r, assignment, "%d", scratch->volumes[0].node);
out:
	free(scratch);
	return code;
}

static int cmd_volume_remove(struct zpd_ctl_env *env,
			     const struct zp_request *req, struct zpd_reply *r)
{
	const char *name = req->argv[0];
	char dev[ZPD_DEV_MAX + 64];
	bool swap;
	int ret, waited = 0;

	volume_loop(env, name, dev, sizeof(dev), &swap);
	if (dev[0])
		return zpd_reply_error(r, ZP_ERR_BUSY,
				       "volume '%s' is attached to %s%s; "
				       "detach it first (zpoolctl swapoff %s)",
				       name, dev, swap ? " as swap" : "",
				       name);
	for (;;) {
		ret = zpd_store_remove_volume(env->store, name, r->msg,
					      sizeof(r->msg));
		/* A loop device detached a moment ago closes its file
		 * after the fact. */
		if (ret != -EBUSY || waited >= REMOVE_WAIT_MS)
			break;
		usleep(50 * 1000);
		waited += 50;
	}
	if (ret)
		return error_code(ret);
	if (env->fuse)
		zpd_fuse_forget(env->fuse, name);
	zpd_log(LOG_NOTICE, "control: volume '%s' removed", name);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Swap
 * ------------------------------------------------------------------------ */

/* Make volume name a fresh swap area: its blocks dropped, a header in the
 * first. Refused while it is open. */
static int format_swap(struct zpd_ctl_env *env, const char *name,
		       struct zpd_reply *r)
{
	struct zpd_store *store = env->store;
	struct zpd_worker *w = zpd_worker_get(store);
	unsigned char page[ZPD_BLOCK_SIZE];
	struct zpd_volume *v;
	ssize_t n;
	int ret, code = 0;

	if (!w)
		return zpd_reply_error(r, ZP_ERR_FAILED,
				       "no worker left for the control "
				       "thread");
	pthread_rwlock_rdlock(&store->volumes_lock);
	v = zpd_store_volume(store, name);
	if (!v) {
		code = zpd_reply_error(r, ZP_ERR_NOTFOUND,
				       "no volume named '%s'", name);
	} else if (v->kind != ZPD_STORE_POOL) {
		code = zpd_reply_error(r, ZP_ERR_INVALID,
				       "volume '%s' keeps nothing (store = "
				       "null): swap on it would lose every "
				       "page",
				       name);
	} else if (atomic_load(&v->users)) {
		code = zpd_reply_error(r, ZP_ERR_BUSY,
				       "volume '%s' is open; close it before "
				       "making it swap",
				       name);
	} else {
		/* Opening it takes the read lock: nobody can while this
		 * thread, the only remover, formats it. */
		atomic_fetch_add(&v->users, 1);
	}
	pthread_rwlock_unlock(&store->volumes_lock);
	if (code)
		return code;
	ret = zpd_swap_header(page, v->size, SWAP_LABEL, r->msg,
			      sizeof(r->msg));
	if (ret) {
		code = error_code(ret);
		goto out;
	}
	zpd_volume_drop_all(v);
	ret = zpd_volume_lock_index(v, r->msg, sizeof(r->msg));
	if (ret) {
		code = error_code(ret);
		goto out;
	}
	n = zpd_volume_write(v, w, page, sizeof(page), 0,
			     v->node >= 0 ? v->node : 0);
	if (n != (ssize_t)sizeof(page))
		code = zpd_reply_error(r, ZP_ERR_NOSPACE,
				       "cannot write the swap header of volume "
				       "'%s': %s",
				       name,
				       strerror(n < 0 ? (int)-n : ENOSPC));
out:
	atomic_fetch_sub(&v->users, 1);
	return code;
}

static int cmd_swapon(struct zpd_ctl_env *env, const struct zp_request *req,
		      struct zpd_reply *r)
{
	const char *name = req->argv[0];
	const char *prio = zp_proto_option(req, "priority");
	const char *discard = zp_proto_option(req, "discard");
	char path[PATH_MAX + ZPD_VOLUME_NAME_MAX + 2], dev[ZPD_DEV_MAX + 64];
	char msg[sizeof(r->msg)];
	long priority = -1;
	bool swap, want_discard = false;
	int ret, code;

	if (prio) {
		code = parse_number(r, "priority", prio, 0, 32767, &priority);
		if (code)
			return code;
	}
	if (discard && strcmp(discard, "yes") && strcmp(discard, "no"))
		return zpd_reply_error(r, ZP_ERR_INVALID,
				       "discard: '%.40s' is not yes or no",
				       discard);
	want_discard = discard && !strcmp(discard, "yes");
	volume_loop(env, name, dev, sizeof(dev), &swap);
	if (dev[0])
		return zpd_reply_error(r, ZP_ERR_BUSY,
				       "volume '%s' is attached to %s%s "
				       "already",
				       name, dev, swap ? " as swap" : "");
	code = format_swap(env, name, r);
	if (code)
		return code;
	volume_path(env, name, path, sizeof(path));
	/* Loop direct I/O: the faster mode for the swap workload (see the
	 * README), and no page cache between the loop device and the
	 * volume either way. */
	ret = zpd_loopdev_attach(path, true, dev, r->msg, sizeof(r->msg));
	if (ret)
		return error_code(ret);
	ret = zpd_swap_on(dev, (int)priority, want_discard, r->msg,
			  sizeof(r->msg));
	if (ret) {
		code = error_code(ret);
		if (zpd_loopdev_detach(dev, msg, sizeof(msg)))
			zpd_log(LOG_WARNING, "control: %s", msg);
		return code;
	}
	zpd_log(LOG_NOTICE, "control: volume '%s' is swap on %s", name, dev);
	zpd_reply_add(r, "loop", "%s", dev);
	zpd_reply_add(r, "priority", "%d", zpd_swap_priority(dev));
	zpd_reply_add(r, "discard", "%s", want_discard ? "yes" : "no");
	return 0;
}

static int cmd_swapoff(struct zpd_ctl_env *env, const struct zp_request *req,
		       struct zpd_reply *r)
{
	const char *name = req->argv[0];
	char path[PATH_MAX + ZPD_VOLUME_NAME_MAX + 2], loops[1024];
	const char *dev;
	int n, ret;

	pthread_rwlock_rdlock(&env->store->volumes_lock);
	n = zpd_store_volume(env->store, name) != NULL;
	pthread_rwlock_unlock(&env->store->volumes_lock);
	if (!n)
		return zpd_reply_error(r, ZP_ERR_NOTFOUND,
				       "no volume named '%s'", name);
	volume_path(env, name, path, sizeof(path));
	n = zpd_loops_of(path, loops, sizeof(loops));
	if (n <= 0)
		return zpd_reply_error(r, ZP_ERR_NOTFOUND,
				       "volume '%s' is not attached to a loop "
				       "device",
				       name);
	for (dev = loops; n > 0; n--, dev += strlen(dev) + 1) {
		if (zpd_is_swap(dev)) {
			ret = zpd_swap_off(dev, r->msg, sizeof(r->msg));
			if (ret)
				return error_code(ret);
		}
		ret = zpd_loopdev_detach(dev, r->msg, sizeof(r->msg));
		if (ret)
			return error_code(ret);
		zpd_log(LOG_NOTICE, "control: volume '%s' off %s", name, dev);
		zpd_reply_add(r, "loop", "%s", dev);
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * The pool: compact, writeback, reset-stats
 * ------------------------------------------------------------------------ */

static int cmd_compact(struct zpd_ctl_env *env, const struct zp_request *req,
		       struct zpd_reply *r)
{
	const char *node = zp_proto_option(req, "node");
	int nid = -1, code;
	size_t freed;

	if (node) {
		code = parse_node(env, r, node, &nid);
		if (code)
			return code;
	}
	freed = zp_pool_compact(env->store->pool, nid);
	zp_pool_trim(env->store->pool);
	zpd_reply_u64(r, "pages_freed", freed);
	return 0;
}

static int cmd_writeback(struct zpd_ctl_env *env, const struct zp_request *req,
			 unsigned int stage, struct zpd_reply *r)
{
	const char *bytes = zp_proto_option(req, "bytes");
	const char *idle = zp_proto_option(req, "idle");
	const char *node = zp_proto_option(req, "node");
	uint64_t pages = UINT64_MAX, size;
	long seconds = 0, done;
	int nid = -1, code;

	if (!env->store->backing)
		return zpd_reply_error(r, ZP_ERR_NOTSUP,
				       "there is no backing store to write "
				       "back to ([writeback] file)");
	if (bytes && idle)
		return zpd_reply_error(r, ZP_ERR_USAGE,
				       "writeback: bytes and idle exclude "
				       "each other");
	if (node) {
		code = parse_node(env, r, node, &nid);
		if (code)
			return code;
	}
	if (bytes) {
		if (zpd_parse_size(bytes, &size) || !size)
			return zpd_reply_error(r, ZP_ERR_INVALID,
					       "bytes: '%.40s' is not a size "
					       "above 0 (bytes with an "
					       "optional K, M, G or T suffix)",
					       bytes);
		pages = (size + ZPD_BLOCK_SIZE - 1) >> ZPD_BLOCK_SHIFT;
	}
	if (idle) {
		code = parse_number(r, "idle", idle, 1, 30 * 86400, &seconds);
		if (code)
			return code;
		if (stage == 0) {
			/* Mark now; what is still marked then was not
			 * touched for that long. */
			zpd_wb_mark(env->store);
			r->later = (double)seconds;
			return ZPD_CMD_LATER;
		}
	}
	done = zpd_writeback(env->store, nid, pages,
			     idle ? ZPD_WB_MARKED : ZPD_WB_LRU);
	if (done < 0)
		return zpd_reply_error(r, done == -ENOSPC ? ZP_ERR_NOSPACE
							  : ZP_ERR_FAILED,
				       "writeback failed: %s%s",
				       strerror((int)-done),
				       done == -ENOSPC
					       ? " (the backing store is full)"
					       : "");
	zpd_reply_u64(r, "written_back", (uint64_t)done);
	return 0;
}

static int cmd_reset_stats(struct zpd_ctl_env *env,
			   const struct zp_request *req, struct zpd_reply *r)
{
	(void)req, (void)r;
	zpd_stats_reset(env->store);
	zpd_log(LOG_NOTICE, "control: statistics reset");
	return 0;
}

/* ---------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(struct zpd_ctl_env *env, const struct zp_request *req,
		   struct zpd_reply *r);
	bool slow;
} commands[] = {
	{ "version", cmd_version, false },
	{ "status", cmd_status, false },
	{ "stats", cmd_stats, false },
	{ "volume-list", cmd_volume_list, false },
	{ "get", cmd_get, false },
	{ "set", cmd_set, false },
	{ "volume-create", cmd_volume_create, false },
	{ "volume-remove", cmd_volume_remove, true },
	{ "swapon", cmd_swapon, true },
	{ "swapoff", cmd_swapoff, true },
	{ "compact", cmd_compact, true },
	{ "writeback", NULL, true },
	{ "reset-stats", cmd_reset_stats, false },
};

bool zpd_command_slow(const struct zp_request *req)
{
	for (size_t i = 0; i < ZP_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, req->cmd->name))
			return commands[i].slow;
	return false;
}

int zpd_command_run(struct zpd_ctl_env *env, const struct zp_request *req,
		    unsigned int stage, struct zpd_reply *r)
{
	if (!strcmp(req->cmd->name, "writeback"))
		return cmd_writeback(env, req, stage, r);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, req->cmd->name))
			return commands[i].run(env, req, r);
	return zpd_reply_error(r, ZP_ERR_USAGE, "command '%s' is not served",
			       req->cmd->name);
}
