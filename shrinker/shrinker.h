/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shrinker.h - writeback of blocks to disk: the backing store, its slot
 * allocator (shrinker/slots.h), the LRU list (shrinker/lru.h) and the
 * memory pressure trigger (shrinker/psi.h).
 *
 * Errors are negative errno values; functions that can fail for reasons a
 * user must see also write a one-line message into err.
 */
#ifndef SHR_SHRINKER_H
#define SHR_SHRINKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shrinker/lru.h"
#include "shrinker/psi.h"
#include "shrinker/slots.h"

/* One block of a volume goes to one slot (a later format may pack several
 * compressed blocks into a slot; slot numbers stay in slot units). */
#define SHR_SLOT_SIZE 4096u

struct shr_backing;

/*
 * Open the backing store at path: a regular file of size bytes (rounded
 * down to whole slots), created if missing with mode 0600 and preallocated
 * with fallocate(2); an existing file is reused from scratch. Or a block
 * device: size 0 takes all of it, otherwise at most its size. Opened with
 * O_DIRECT where the file system allows it (see shr_backing_direct()).
 * 0, or -errno with a message naming path in err: the file cannot be
 * opened or created (-ENOENT, -EACCES, -EROFS, ...), the disk lacks room
 * for it (-ENOSPC; a file made here is removed again), it is neither a
 * regular file nor a block device, or it is smaller than one slot
 * (-EINVAL).
 */
int shr_backing_open(const char *path, uint64_t size,
		     struct shr_backing **out, char *err, size_t errlen);
void shr_backing_close(struct shr_backing *b);

uint64_t shr_backing_slots(const struct shr_backing *b);
/* Whether the store bypasses the page cache (false on tmpfs and the like,
 * which refuse O_DIRECT). */
bool shr_backing_direct(const struct shr_backing *b);
const char *shr_backing_path(const struct shr_backing *b);

/*
 * Write n slots starting at slot first from buf, which is aligned to
 * SHR_SLOT_SIZE. 0 or -errno (-EIO, -ENOSPC, ...): on an error some of the
 * slots may hold the new data and some not. Any thread may call it.
 */
int shr_backing_write(struct shr_backing *b, uint64_t first, const void *buf,
		      unsigned int n);

/* Read one slot into buf (aligned to SHR_SLOT_SIZE). 0 or -errno. */
int shr_backing_read(struct shr_backing *b, uint64_t slot, void *buf);

#endif /* SHR_SHRINKER_H */
