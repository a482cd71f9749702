/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prim.c - the pool's only conversation with the kernel about memory: mmap,
 * mlock, madvise, mbind and move_pages live here and nowhere else.
 *
 * Every range the pool maps is locked on fault (mlock2 MLOCK_ONFAULT): pages
 * are locked the moment they exist, so pool memory is never swapped, and
 * ranges need not be populated up front. Pages go back to the system with
 * MADV_DONTNEED_LOCKED (Linux 5.18), which works on locked ranges without
 * splitting them; a page faulted in again later is locked again because the
 * range keeps its VM_LOCKONFAULT flag. Older kernels take a longer path that
 * ends in the same state.
 *
 * Transparent huge pages are off for pool ranges: the pool returns memory in
 * 4 KiB pages, and a huge page would keep 2 MiB resident for one live page.
 */
#include <errno.h>
#include <numaif.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "track.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int prim_map(size_t len, void **addr)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	if (mlock2(p, len, MLOCK_ONFAULT) != 0) {
		int err = -errno;

		munmap(p, len);
		/* EAGAIN from mlock means "over RLIMIT_MEMLOCK" on some kernels,
		 * ENOMEM on others; EPERM when locking is not allowed at all. */
		return err;
	}
	*addr = p;
	return 0;
}

void *prim_meta_alloc(size_t len)
{
	void *p;

	len = ZP_ALIGN_UP(len, (size_t)ZP_PAGE_SIZE);
	if (prim_map(len, &p) != 0)
		return NULL;
	if (prim_populate(p, len) != 0) {
		prim_unmap(p, len);
		return NULL;
	}
	return p;
}

void prim_meta_free(void *p, size_t len)
{
	if (p)
		prim_unmap(p, ZP_ALIGN_UP(len, (size_t)ZP_PAGE_SIZE));
}

int prim_reserve(size_t len, void **addr)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	*addr = p;
	return 0;
}

int prim_lock(void *addr, size_t len)
{
	if (mlock(addr, len) != 0)
		return -errno;
	return 0;
}

void prim_unmap(void *addr, size_t len)
{
	track_unmap(addr, len);
	if (munmap(addr, len) != 0)
		zp_panic("cannot unmap pool range %p+%zu: %s", addr, len,
			 strerror(errno));
}

/* Touch one byte per page. Pool memory is poisoned for the sanitizers while
 * no object lives in it, and this must not count as an access. */
__attribute__((no_sanitize_address)) static void touch_pages(char *p,
							       size_t len)
{
	for (size_t off = 0; off < len; off += ZP_PAGE_SIZE) {
		volatile char *c = p + off;

		*c = *c;
	}
}

int prim_populate(void *addr, size_t len)
{
	static bool no_populate;

	if (!__atomic_load_n(&no_populate, __ATOMIC_RELAXED)) {
		if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
			return 0;
		if (errno != EINVAL)
			return -ENOMEM;
		__atomic_store_n(&no_populate, true, __ATOMIC_RELAXED);
	}
	touch_pages(addr, len);
	return 0;
}

void prim_release(void *addr, size_t len)
{
	static bool no_dontneed_locked;

	if (!__atomic_load_n(&no_dontneed_locked, __ATOMIC_RELAXED)) {
		if (madvise(addr, len, MADV_DONTNEED_LOCKED) == 0)
			return;
		if (errno != EINVAL)
			zp_panic("cannot release pool pages %p+%zu: %s", addr,
				 len, strerror(errno));
		__atomic_store_n(&no_dontneed_locked, true, __ATOMIC_RELAXED);
	}
	/* Unlock, drop and lock-on-fault again: the range's flags end as they
	 * began, so the split VMAs merge back. The pages hold no data while
	 * they are briefly unlocked. */
	if (munlock(addr, len) != 0 || madvise(addr, len, MADV_DONTNEED) != 0 ||
	    mlock2(addr, len, MLOCK_ONFAULT) != 0)
		zp_panic("cannot release pool pages %p+%zu: %s", addr, len,
			 strerror(errno));
}

int prim_bind(void *addr, size_t len, int node, bool strict)
{
	unsigned long mask[ZP_MAX_NODES / (8 * sizeof(unsigned long))] = {0};
	const unsigned int bits = 8 * sizeof(unsigned long);

	if (node < 0 || node >= ZP_MAX_NODES)
		return -EINVAL;
	mask[node / bits] |= 1ul << (node % bits);
	if (mbind(addr, len, strict ? MPOL_BIND : MPOL_PREFERRED, mask,
		  ZP_MAX_NODES + 1, 0) != 0)
		return -errno;
	return 0;
}

int prim_query_nodes(void *const *pages, size_t n, int *status)
{
	if (n == 0)
		return 0;
	if (move_pages(0, n, (void **)pages, NULL, status, 0) != 0)
		return -errno;
	return 0;
}
