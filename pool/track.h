/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * track.h - make the pool's slots visible to AddressSanitizer and valgrind.
 *
 * A zspage is one block of memory to the tools: without help, a read through
 * a dead handle or past an object's end lands in memory they think is fine.
 * Free slots are poisoned and allocated ones unpoisoned, so such reads show.
 * Callers hold the class lock, so a slot's state and its poison agree.
 */
#ifndef ZP_POOL_TRACK_H
#define ZP_POOL_TRACK_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ZP_TRACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZP_TRACK_ASAN 1
#endif
#endif

#if defined(ZP_TRACK_ASAN)
#include <sanitizer/asan_interface.h>
static inline void track_free(void *p, size_t size)
{
	__asan_poison_memory_region(p, size);
}
static inline void track_alloc(void *p, size_t size)
{
	__asan_unpoison_memory_region(p, size);
}
/* The range is about to be unmapped: its poison must not outlive it, or the
 * next mapping at those addresses inherits it. */
static inline void track_unmap(void *p, size_t size)
{
	__asan_unpoison_memory_region(p, size);
}
#elif defined(HAVE_VALGRIND_MEMCHECK_H)
#include <valgrind/memcheck.h>
static inline void track_free(void *p, size_t size)
{
	(void)VALGRIND_MAKE_MEM_NOACCESS(p, size);
}
static inline void track_alloc(void *p, size_t size)
{
	(void)VALGRIND_MAKE_MEM_UNDEFINED(p, size);
}
static inline void track_unmap(void *p, size_t size)
{
	(void)p; /* valgrind forgets the state of unmapped memory itself */
	(void)size;
}
#else
static inline void track_free(void *p, size_t size)
{
	(void)p;
	(void)size;
}
static inline void track_alloc(void *p, size_t size)
{
	(void)p;
	(void)size;
}
static inline void track_unmap(void *p, size_t size)
{
	(void)p;
	(void)size;
}
#endif

#endif /* ZP_POOL_TRACK_H */
