/* SPDX-License-Identifier: GPL-2.0-or-later */
/* zp-list.h - circular doubly linked lists with a head, as in the kernel */
#ifndef ZP_LIST_H
#define ZP_LIST_H

#include <stdbool.h>
#include "zp-compiler.h"

struct zp_list {
	struct zp_list *next, *prev;
};

#define ZP_LIST_INIT(name) { &(name), &(name) }

static inline void zp_list_init(struct zp_list *l)
{
	l->next = l;
	l->prev = l;
}

static inline bool zp_list_empty(const struct zp_list *l)
{
	return l->next == l;
}

static inline void zp_list_insert(struct zp_list *prev, struct zp_list *next,
				  struct zp_list *n)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

static inline void zp_list_add(struct zp_list *head, struct zp_list *n)
{
	zp_list_insert(head, head->next, n);
}

static inline void zp_list_add_tail(struct zp_list *head, struct zp_list *n)
{
	zp_list_insert(head->prev, head, n);
}

static inline void zp_list_del(struct zp_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

#define zp_list_entry(ptr, type, member) zp_container_of(ptr, type, member)
#define zp_list_first(head, type, member)                                       \
	(zp_list_empty(head) ? NULL : zp_list_entry((head)->next, type, member))
#define zp_list_for_each(pos, head)                                             \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define zp_list_for_each_safe(pos, tmp, head)                                   \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);        \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif /* ZP_LIST_H */
