/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * render.c - replies as operators read them (tables like zramctl's,
 * aligned records) and as scripts read them (JSON).
 *
 * The JSON form is stable: one object, "version" (of the protocol) first,
 * then the records nested at the dots of their names, in the order they
 * came. Numbers are JSON numbers, other values strings. "volume.NAME.X"
 * and "class.N.X" keep NAME and N whole, dots and all.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

void ctl_human(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", bytes);
	else if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f%c", v, units[u]);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

void ctl_print_records(FILE *out, const struct ctl_reply *r)
{
	int width = 0;

	for (size_t i = 0; i < r->n; i++)
		if ((int)strlen(r->rec[i].name) > width)
			width = (int)strlen(r->rec[i].name);
	for (size_t i = 0; i < r->n; i++)
		fprintf(out, "%-*s %s\n", width, r->rec[i].name,
			r->rec[i].value);
}

/* ---------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

struct node {
	char *name;
	const char *value;      /* a leaf's */
	struct node **kids;     /* an object's, in order */
	size_t nkids, cap;
};

static struct node *child(struct node *n, const char *name, size_t len)
{
	struct node *k;

	for (size_t i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i]->name) == len &&
		    !strncmp(n->kids[i]->name, name, len))
			return n->kids[i];
	if (n->nkids == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 8;
		struct node **kids = realloc(n->kids, cap * sizeof(*kids));

		if (!kids)
			return NULL;
		n->kids = kids;
		n->cap = cap;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->name = strndup(name, len))) {
		free(k);
		return NULL;
	}
	n->kids[n->nkids++] = k;
	return k;
}

/* Where the parts of a name end: every dot, but for the two-level
 * prefixes whose middle part is a name of its own. */
static void insert(struct node *root, const char *name, const char *value)
{
	const char *p = name, *dot, *last = strrchr(name, '.');
	bool whole_middle = !strncmp(name, "volume.", 7) ||
			    !strncmp(name, "class.", 6);
	struct node *n = root;

	while (n && (dot = strchr(p, '.'))) {
		n = child(n, p, (size_t)(dot - p));
		p = dot + 1;
		if (whole_middle && n && n != root && dot != last) {
			/* The middle: up to the last dot. */
			n = child(n, p, (size_t)(last - p));
			p = last + 1;
			break;
		}
	}
	if (n && (n = child(n, p, strlen(p))) && !n->nkids)
		n->value = value;
}

static bool is_number(const char *v)
{
	if (*v == '-')
		v++;
	if (!*v || strlen(v) > 19)
		return false;
	return strspn(v, "0123456789") == strlen(v);
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_node(FILE *out, const struct node *n, int depth)
{
	if (!n->nkids) {
		if (n->value && is_number(n->value))
			fputs(n->value, out);
		else
			json_string(out, n->value ? n->value : "");
		return;
	}
	fputs("{\n", out);
	for (size_t i = 0; i < n->nkids; i++) {
		fprintf(out, "%*s", 2 * (depth + 1), "");
		json_string(out, n->kids[i]->name);
		fputs(": ", out);
		json_node(out, n->kids[i], depth + 1);
		fputs(i + 1 < n->nkids ? ",\n" : "\n", out);
	}
	fprintf(out, "%*s}", 2 * depth, "");
}

static void free_node(struct node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		free_node(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n);
}

void ctl_print_json(FILE *out, const struct ctl_reply *r)
{
	struct node *root = calloc(1, sizeof(*root));
	char version[16];

	if (!root) {
		fputs("{}\n", out);
		return;
	}
	snprintf(version, sizeof(version), "%d", ZP_PROTO_VERSION);
	insert(root, "version", version);
	for (size_t i = 0; i < r->n; i++)
		insert(root, r->rec[i].name, r->rec[i].value);
	json_node(out, root, 0);
	fputc('\n', out);
	free_node(root);
}

/* ---------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------ */

size_t ctl_volume_names(const struct ctl_reply *r, const char **names,
			size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n && n < max; i++) {
		const char *name = r->rec[i].name;
		size_t len = strlen(name);

		if (strncmp(name, "volume.", 7) || len < 13 ||
		    strcmp(name + len - 5, ".size"))
			continue;
		names[n++] = name + 7;
	}
	return n;
}

/* The value of volume.NAME.field, NAME ending at ".size" in name_size. */
static const char *vfield(const struct ctl_reply *r, const char *name_size,
			  const char *field)
{
	char key[512];
	int len = (int)(strlen(name_size) - strlen(".size"));

	snprintf(key, sizeof(key), "volume.%.*s.%s", len, name_size, field);
	return ctl_find(r, key);
}

static uint64_t vnum(const struct ctl_reply *r, const char *name_size,
		     const char *field)
{
	const char *v = vfield(r, name_size, field);

	return v ? strtoull(v, NULL, 10) : 0;
}

static void size_text(uint64_t v, bool bytes, char *buf, size_t len)
{
	if (bytes)
		snprintf(buf, len, "%" PRIu64, v);
	else
		ctl_human(v, buf, len);
}

static void node_text(const char *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s", !v || *v == '-' ? "-" : v);
}

static void swap_text(const struct ctl_reply *r, const char *ns, char *buf,
		      size_t len)
{
	const char *loop = vfield(r, ns, "loop");

	if (!loop || !strcmp(loop, "-"))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s (%s)", loop,
			 vnum(r, ns, "swap") ? "swap" : "attached");
}

#define MAX_VOLUMES 64

void ctl_print_status(FILE *out, const struct ctl_reply *r, bool bytes)
{
	const char *names[MAX_VOLUMES];
	size_t n = ctl_volume_names(r, names, MAX_VOLUMES);
	int w = 4;
	char size[32], data[32], compr[32], total[32], disk[32], ratio[16];
	char node[16], swap[64];
	uint64_t limit, pages, used, slots;

	for (size_t i = 0; i < n; i++)
		if ((int)(strlen(names[i]) - 5) > w)
			w = (int)strlen(names[i]) - 5;
	fprintf(out, "%-*s %8s %8s %8s %8s %6s %8s %4s %s\n", w, "NAME",
		"SIZE", "DATA", "COMPR", "TOTAL", "RATIO", "ON-DISK", "NODE",
		"SWAP");
	for (size_t i = 0; i < n; i++) {
		const char *ns = names[i];
		uint64_t d = vnum(r, ns, "data"), t = vnum(r, ns, "total");
		uint64_t k = vnum(r, ns, "disk");

		size_text(vnum(r, ns, "size"), bytes, size, sizeof(size));
		size_text(d, bytes, data, sizeof(data));
		size_text(vnum(r, ns, "compr"), bytes, compr, sizeof(compr));
		size_text(t, bytes, total, sizeof(total));
		size_text(k, bytes, disk, sizeof(disk));
		/* Data kept in memory per byte of memory. */
		if (t)
			snprintf(ratio, sizeof(ratio), "%.2f",
				 (double)(d > k ? d - k : 0) / (double)t);
		else
			snprintf(ratio, sizeof(ratio), "-");
		node_text(vfield(r, ns, "node"), node, sizeof(node));
		swap_text(r, ns, swap, sizeof(swap));
		fprintf(out, "%-*.*s %8s %8s %8s %8s %6s %8s %4s %s\n", w,
			(int)strlen(ns) - 5, ns, size, data, compr, total,
			ratio, disk, node, swap);
	}
	pages = (uint64_t)ctl_num(r, "pool.pages");
	limit = (uint64_t)ctl_num(r, "pool.limit_pages");
	size_text(pages * 4096, bytes, data, sizeof(data));
	size_text(limit * 4096, bytes, total, sizeof(total));
	fprintf(out, "\npool: %s of %s (%.0f%% of the limit)%s\n", data, total,
		limit ? 100.0 * (double)pages / (double)limit : 0.0,
		ctl_num(r, "pool.full") ? ", full: new blocks go to disk" : "");
	used = (uint64_t)ctl_num(r, "backing.slots_used");
	slots = (uint64_t)ctl_num(r, "backing.slots_total");
	if (slots) {
		size_text(used * 4096, bytes, data, sizeof(data));
		size_text(slots * 4096, bytes, total, sizeof(total));
		fprintf(out, "backing store: %s of %s in use\n", data, total);
	} else {
		fprintf(out, "backing store: none\n");
	}
}

void ctl_print_volumes(FILE *out, const struct ctl_reply *r, bool bytes)
{
	const char *names[MAX_VOLUMES];
	size_t n = ctl_volume_names(r, names, MAX_VOLUMES);
	char size[32], node[16], swap[64];
	int w = 4;

	for (size_t i = 0; i < n; i++)
		if ((int)(strlen(names[i]) - 5) > w)
			w = (int)strlen(names[i]) - 5;
	fprintf(out, "%-*s %8s %4s %4s %s\n", w, "NAME", "SIZE", "NODE",
		"OPEN", "SWAP");
	for (size_t i = 0; i < n; i++) {
		const char *ns = names[i];

		size_text(vnum(r, ns, "size"), bytes, size, sizeof(size));
		node_text(vfield(r, ns, "node"), node, sizeof(node));
		swap_text(r, ns, swap, sizeof(swap));
		fprintf(out, "%-*.*s %8s %4s %4" PRIu64 " %s\n", w,
			(int)strlen(ns) - 5, ns, size, node,
			vnum(r, ns, "open"), swap);
	}
}
