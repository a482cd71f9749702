/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse.c - the FUSE low-level front end: a flat directory of volumes.
 *
 * The root (inode 1) lists one regular file per volume (inode 2 + its slot
 * + ZPD_MAX_VOLUMES times the slot's generation), mode 0600, owned by
 * root, of the volume's fixed size. Files are
 * opened with direct_io, so the page cache never holds a second copy of
 * what the pool holds, and every read and write reaches the store as it
 * was issued. Nothing else may change: creating, removing, renaming,
 * linking, changing modes or owners, or resizing fail with EPERM; setting
 * times and "resizing" to the same size are accepted and ignored.
 *
 * Volumes come and go while the file system is mounted (zpoolctl volume
 * create and remove): requests that find a volume by name or inode hold
 * the store's volumes_lock for reading; an open file holds its volume in
 * fi->fh and counts as a user, which keeps it from being removed, so
 * reads and writes take no lock. An early write counts as a user until it
 * is stored, since the writer may close the file once it has its reply.
 *
 * Requests are served by the daemon's own loop (loop.c); each worker
 * thread takes a struct zpd_worker (compression context, page and reply
 * buffer) made before the mount, so a request allocates nothing. Its
 * counters (struct zpd_fuse_stats) count what the thread served.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/internal.h"

/* Sizes never change, and a removed volume's name is invalidated in the
 * kernel's cache (zpd_fuse_forget()), so what it caches stays true for
 * long. */
#define ATTR_TIMEOUT 3600.0

/* Count n in field of worker w (may be NULL: none left). The data path
 * has its worker at hand; other requests look the thread's up. */
#define worker_count(w, field, n)                                               \
	do {                                                                    \
		struct zpd_worker *w_ = (w);                                    \
		if (w_)                                                         \
			__atomic_fetch_add(&w_->fuse.field, (uint64_t)(n),      \
					   __ATOMIC_RELAXED);                   \
	} while (0)
#define fuse_count(f, field, n)                                                 \
	worker_count(zpd_worker_get((f)->store), field, n)

struct zpd_fuse {
	struct zpd_store *store;
	const struct zpd_config *cfg;
	struct fuse_session *se;
	struct zpd_loop *loop;
	struct timespec started; /* times of every file */
};

static struct zpd_fuse *fuse_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Every error reply goes through here, to be counted. */
static void reply_err(fuse_req_t req, int err)
{
	if (err)
		fuse_count(fuse_of(req), errors, 1);
	fuse_reply_err(req, err);
}

/* The live volume of inode ino. Caller holds volumes_lock. */
static struct zpd_volume *volume_of(struct zpd_fuse *f, fuse_ino_t ino)
{
	struct zpd_volume *v;

	if (ino < 2)
		return NULL;
	v = f->store->volumes[(ino - 2) % ZPD_MAX_VOLUMES];
	return v && v->ino == ino && !v->removing ? v : NULL;
}

static void volumes_read_lock(struct zpd_fuse *f)
{
	pthread_rwlock_rdlock(&f->store->volumes_lock);
}

static void volumes_unlock(struct zpd_fuse *f)
{
	pthread_rwlock_unlock(&f->store->volumes_lock);
}

/* Caller holds volumes_lock. */
static void fill_attr(struct zpd_fuse *f, fuse_ino_t ino, struct stat *st)
{
	struct zpd_volume *v = volume_of(f, ino);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_atim = st->st_mtim = st->st_ctim = f->started;
	st->st_blksize = ZPD_BLOCK_SIZE;
	if (!v) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = 1;
	st->st_size = (off_t)v->size;
	/* What the volume really costs, pool bytes and disk slots, in
	 * 512-byte units as du expects. */
	st->st_blocks = (blkcnt_t)((__atomic_load_n(&v->stats.stored_bytes,
						    __ATOMIC_RELAXED) +
				    __atomic_load_n(&v->stats.blocks_disk,
						    __ATOMIC_RELAXED) *
					    SHR_SLOT_SIZE) /
				   512);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct zpd_fuse *f = userdata;

	conn->max_write = f->cfg->max_write;
	/* Direct I/O only: no readahead is ever wanted. */
	conn->max_readahead = 0;
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (f->cfg->splice)
		conn->want |= conn->capable & (FUSE_CAP_SPLICE_READ |
					       FUSE_CAP_SPLICE_WRITE |
					       FUSE_CAP_SPLICE_MOVE);
	else
		conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ |
					  FUSE_CAP_SPLICE_WRITE |
					  FUSE_CAP_SPLICE_MOVE);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zpd_fuse *f = fuse_of(req);
	struct fuse_entry_param e = { 0 };
	struct zpd_volume *v;

	fuse_count(f, lookups, 1);
	if (parent != FUSE_ROOT_ID) {
		reply_err(req, ENOTDIR);
		return;
	}
	volumes_read_lock(f);
	v = zpd_store_volume(f->store, name);
	if (v) {
		e.ino = v->ino;
		fill_attr(f, v->ino, &e.attr);
	}
	volumes_unlock(f);
	if (!v) {
		reply_err(req, ENOENT);
		return;
	}
	e.attr_timeout = ATTR_TIMEOUT;
	e.entry_timeout = ATTR_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* Caller holds volumes_lock. */
static bool ino_exists(struct zpd_fuse *f, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID || volume_of(f, ino);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct stat st;
	bool found;

	(void)fi;
	fuse_count(f, getattrs, 1);
	volumes_read_lock(f);
	found = ino_exists(f, ino);
	if (found)
		fill_attr(f, ino, &st);
	volumes_unlock(f);
	if (!found) {
		reply_err(req, ENOENT);
		return;
	}
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	static const int ignored = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW |
				   FUSE_SET_ATTR_MTIME_NOW |
				   FUSE_SET_ATTR_CTIME;
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_volume *v;
	struct stat st;
	int err = 0;

	(void)fi;
	fuse_count(f, getattrs, 1);
	volumes_read_lock(f);
	v = volume_of(f, ino);
	if (!ino_exists(f, ino)) {
		err = ENOENT;
	} else if ((to_set & FUSE_SET_ATTR_SIZE) &&
		   (!v || (uint64_t)attr->st_size != v->size)) {
		/* A volume's size is its configuration's. Truncating to
		 * the same size (open with O_TRUNC by a careless tool
		 * would not be) changes nothing. */
		err = EPERM;
	} else if (to_set & ~FUSE_SET_ATTR_SIZE & ~ignored) {
		err = EPERM;
	} else {
		fill_attr(f, ino, &st);
	}
	volumes_unlock(f);
	if (err) {
		reply_err(req, err);
		return;
	}
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_worker *w = zpd_worker_get(f->store);
	size_t used = 0;
	off_t i;

	(void)fi;
	fuse_count(f, readdirs, 1);
	if (ino != FUSE_ROOT_ID) {
		reply_err(req, ENOTDIR);
		return;
	}
	if (!w) {
		reply_err(req, EAGAIN);
		return;
	}
	size = ZP_MIN(size, w->buf_size);
	/* Entry i: 0 ".", 1 "..", 2.. the volumes' slots (free ones
	 * skipped); off is the next one. */
	volumes_read_lock(f);
	for (i = off; i < (off_t)ZPD_MAX_VOLUMES + 2; i++) {
		struct zpd_volume *v = i < 2 ? NULL : f->store->volumes[i - 2];
		struct stat st = { 0 };
		const char *name;
		size_t n;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			st.st_ino = FUSE_ROOT_ID;
			st.st_mode = S_IFDIR;
		} else if (v && !v->removing) {
			name = v->name;
			st.st_ino = v->ino;
			st.st_mode = S_IFREG;
		} else {
			continue;
		}
		n = fuse_add_direntry(req, (char *)w->buf + used, size - used,
				      name, &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	volumes_unlock(f);
	fuse_reply_buf(req, (char *)w->buf, used);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_volume *v = NULL;
	int err = 0;

	fuse_count(f, opens, 1);
	volumes_read_lock(f);
	if (ino == FUSE_ROOT_ID)
		err = EISDIR;
	else if (!(v = volume_of(f, ino)))
		err = ENOENT;
	/* With atomic O_TRUNC (libfuse asks for it) the truncation comes
	 * here rather than as a setattr; a volume's size is fixed. */
	else if (fi->flags & O_TRUNC)
		err = EPERM;
	else
		atomic_fetch_add(&v->users, 1);
	volumes_unlock(f);
	if (err) {
		reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)v;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The opener was interrupted: no release will come. */
		atomic_fetch_sub(&v->users, 1);
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct zpd_volume *v = (struct zpd_volume *)(uintptr_t)fi->fh;

	(void)ino;
	fuse_count(fuse_of(req), releases, 1);
	if (v)
		atomic_fetch_sub(&v->users, 1);
	fuse_reply_err(req, 0);
}

/*
 * What every request on a volume's data needs: the volume, this thread's
 * worker and a sane range. On failure the error is replied and NULL
 * returned.
 */
static struct zpd_volume *start_io(fuse_req_t req, fuse_ino_t ino, off_t off,
				   off_t len, struct fuse_file_info *fi,
				   struct zpd_worker **w)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_volume *v = fi ? (struct zpd_volume *)(uintptr_t)fi->fh
				  : NULL;
	int err = 0;

	*w = NULL;
	if (!v)
		err = ino == FUSE_ROOT_ID ? EISDIR : EBADF;
	else if (off < 0 || len <= 0)
		err = EINVAL;
	else if (!(*w = zpd_worker_get(f->store)))
		err = EAGAIN;
	if (err) {
		reply_err(req, err);
		return NULL;
	}
	return v;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_worker *w;
	struct zpd_volume *v = start_io(req, ino, off, 1, fi, &w);
	ssize_t n;

	/* A request refused here counts as an error only. */
	if (!v)
		return;
	worker_count(w, reads, 1);
	n = zpd_volume_read(v, w, w->buf, ZP_MIN(size, w->buf_size),
			    (uint64_t)off);
	if (n > 0)
		worker_count(w, read_bytes, n);
	if (n < 0) {
		reply_err(req, (int)-n);
	} else if (f->cfg->splice) {
		/* libfuse splices only what goes through fuse_reply_data. */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);

		bv.buf[0].mem = w->buf;
		fuse_reply_data(req, &bv, 0);
	} else {
		fuse_reply_buf(req, (char *)w->buf, (size_t)n);
	}
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_worker *w;
	struct zpd_volume *v = start_io(req, ino, off, 1, fi, &w);
	struct zpd_early_write ew;
	ssize_t n;
	int nid;

	if (!v)
		return;
	worker_count(w, writes, 1);
	nid = zpd_request_node(f->store, w, v, fuse_req_ctx(req)->pid);
	if (zpd_volume_write_early(v, (uint64_t)off, size, nid, &ew)) {
		/* The writer may close the file once it has the reply:
		 * the volume stays in use until the block is stored. */
		atomic_fetch_add(&v->users, 1);
		/* buf stays this thread's until it takes the next request. */
		fuse_reply_write(req, size);
		zpd_volume_write_finish(&ew, w, buf);
		atomic_fetch_sub(&v->users, 1);
		worker_count(w, early_writes, 1);
		worker_count(w, write_bytes, size);
		return;
	}
	n = zpd_volume_write(v, w, buf, size, (uint64_t)off, nid);
	if (n > 0)
		worker_count(w, write_bytes, n);
	if (n < 0)
		reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_worker *w;
	struct zpd_volume *v = start_io(req, ino, offset, length, fi, &w);
	int nid, ret;

	if (!v)
		return;
	worker_count(w, fallocates, 1);
	switch (mode) {
	case 0:
	case FALLOC_FL_KEEP_SIZE:
		/* Every block of a volume can always be written: allocating
		 * inside it is a no-op, growing it is not possible. */
		ret = (uint64_t)offset + (uint64_t)length > v->size && !mode
			      ? -EFBIG
			      : 0;
		break;
	case FALLOC_FL_ZERO_RANGE:
		/* Without KEEP_SIZE, zeroing past the end would grow the
		 * file: refused like allocating there. */
		if ((uint64_t)offset + (uint64_t)length > v->size) {
			ret = -EFBIG;
			break;
		}
		/* fall through */
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
		nid = zpd_request_node(f->store, w, v,
				       fuse_req_ctx(req)->pid);
		ret = zpd_volume_discard(v, w, (uint64_t)offset,
					 (uint64_t)length, nid);
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	reply_err(req, -ret);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct zpd_fuse *f = fuse_of(req);
	struct zpd_store *store = f->store;
	struct statvfs sv = { 0 };
	/* The pool up to its limit, and the backing store. */
	uint64_t capacity = store->limit_pages, used;

	(void)ino;
	fuse_count(f, getattrs, 1);
	used = ZP_MIN((uint64_t)zp_pool_total_pages(store->pool), capacity);
	if (store->slots) {
		capacity += shr_slots_total(store->slots);
		used += shr_slots_used(store->slots);
	}
	sv.f_bsize = ZPD_BLOCK_SIZE;
	sv.f_frsize = ZPD_BLOCK_SIZE;
	sv.f_blocks = capacity;
	sv.f_bfree = sv.f_bavail = capacity > used ? capacity - used : 0;
	sv.f_files = store->nr_volumes + 1;
	sv.f_ffree = 0;
	sv.f_namemax = ZPD_VOLUME_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	/* Every write is in the pool when it is answered. */
	(void)datasync;
	op_ok(req, ino, fi);
}

/* Everything that would change the set of files. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	reply_err(req, EPERM);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	reply_err(req, EPERM);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	reply_err(req, EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	reply_err(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	reply_err(req, EPERM);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops zpd_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_ok,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.statfs = op_statfs,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.rename = op_rename,
	.link = op_link,
	.symlink = op_symlink,
	.create = op_create,
};

int zpd_fuse_start(struct zpd_store *store, const struct zpd_config *cfg,
		   struct zpd_fuse **out, char *err, size_t errlen)
{
	char *argv[] = { "zpoold", "-o",
			 "fsname=zpoold,subtype=zpoold,allow_other,"
			 "default_permissions",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct zpd_fuse *f;
	int ret;

	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "cannot start the file system: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	f->store = store;
	f->cfg = cfg;
	clock_gettime(CLOCK_REALTIME, &f->started);

	f->se = fuse_session_new(&args, &zpd_fuse_ops, sizeof(zpd_fuse_ops), f);
	fuse_opt_free_args(&args);
	if (!f->se) {
		snprintf(err, errlen, "cannot start the file system "
				      "(fuse_session_new failed)");
		free(f);
		return -EIO;
	}
	if (fuse_session_mount(f->se, cfg->mountpoint)) {
		snprintf(err, errlen, "cannot mount volumes at '%s' "
				      "(see the message above)",
			 cfg->mountpoint);
		fuse_session_destroy(f->se);
		free(f);
		return -EIO;
	}
	ret = zpd_loop_new(f->se, cfg->threads, cfg->poll_us, &f->loop);
	if (ret) {
		snprintf(err, errlen, "cannot start the file system: %s",
			 strerror(-ret));
		zpd_fuse_destroy(f);
		return ret;
	}
	*out = f;
	return 0;
}

int zpd_fuse_run(struct zpd_fuse *f)
{
	return zpd_loop_run(f->loop);
}

void zpd_fuse_stop(struct zpd_fuse *f)
{
	zpd_loop_stop(f->loop);
}

void zpd_fuse_forget(struct zpd_fuse *f, const char *name)
{
	int ret = fuse_lowlevel_notify_inval_entry(f->se, FUSE_ROOT_ID, name,
						   strlen(name));

	/* -ENOENT: the kernel had nothing cached under that name. */
	if (ret && ret != -ENOENT)
		zpd_log(LOG_WARNING,
			"cannot drop '%s' from the kernel's cache of %s: %s",
			name, f->cfg->mountpoint, strerror(-ret));
}

void zpd_fuse_destroy(struct zpd_fuse *f)
{
	if (!f)
		return;
	zpd_loop_free(f->loop);
	if (f->se) {
		fuse_session_unmount(f->se);
		fuse_session_destroy(f->se);
	}
	free(f);
}
