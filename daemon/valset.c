/*
 * valset.c -- sets of distinct 64-bit values (hashes of addresses,
 * accounts, networks, queue ids) whose values are held once, in a
 * dictionary the sets share, and which hold 32-bit ids of them, in a
 * table or a bitmap.  The incident engine counts an incident's distinct
 * addresses or accounts with a set each; in a storm its incidents hold
 * the same few thousand addresses and accounts over and over
 * (storm-10m: 620k values of some 3000), so a set is a bitmap of a few
 * hundred bytes instead of a table of 8-byte values.
 *
 * The dictionary counts the sets holding each value and forgets it when
 * none does; its ids are used again.  Both are open addressing with
 * linear probing, at most three quarters full, their sizes powers of 2;
 * the dictionary removes by putting the entries of the run after again
 * where they belong, so that lookups never need tombstones.  A set
 * holds at most its max values (SET_MAX when 0) and counts on: a value
 * it does not hold is new to it.  0 is a value too, held by a flag of
 * the set.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define SET_MAX		65536		/* values a set holds at most */
#define DICT_IDS	64		/* ids at first */

/* The slot a value, or an id, starts looking from. */
static size_t
mix_slot(uint64_t v, size_t cap)
{
	v ^= v >> 31;
	v *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(v >> 32) & (cap - 1);
}

/* The slot of v in d: where its id is, or the free one it would take. */
static size_t
dict_slot(const struct sw_dict *d, uint64_t v)
{
	size_t	 i;

	for (i = mix_slot(v, d->cap); d->slot[i] != 0 &&
	    d->val[d->slot[i]] != v; i = (i + 1) & (d->cap - 1))
		continue;
	return i;
}

/* Twice the slots (16 at first), every id moved over. */
static void
dict_grow(struct sw_dict *d)
{
	uint32_t	*old = d->slot;
	size_t		 i, cap = d->cap;

	d->cap = cap == 0 ? 16 : cap * 2;
	d->slot = xcalloc(d->cap, sizeof(*d->slot));
	for (i = 0; i < cap; i++)
		if (old[i] != 0)
			d->slot[dict_slot(d, d->val[old[i]])] = old[i];
	free(old);
}

/* A new id, reused or made; ids start at 1. */
static uint32_t
dict_newid(struct sw_dict *d)
{
	uint32_t	 id;

	if (d->freeid != 0) {
		id = d->freeid;
		d->freeid = d->refs[id];
		return id;
	}
	if (d->nids == 0)
		d->nids = 1;
	if (d->nids >= d->capids) {
		d->capids = d->capids == 0 ? DICT_IDS : d->capids * 2;
		d->val = xreallocarray(d->val, d->capids, sizeof(*d->val));
		d->refs = xreallocarray(d->refs, d->capids, sizeof(*d->refs));
	}
	return d->nids++;
}

/* The id of v (not 0), 0 when no set holds it. */
uint32_t
dict_find(const struct sw_dict *d, uint64_t v)
{
	return d->cap == 0 ? 0 : d->slot[dict_slot(d, v)];
}

/* The id of v (not 0), made when new, held by no set yet. */
static uint32_t
dict_get(struct sw_dict *d, uint64_t v)
{
	uint32_t	 id;
	size_t		 i = 0;

	if (d->cap > 0 && d->slot[i = dict_slot(d, v)] != 0)
		return d->slot[i];
	if ((d->n + 1) * 4 > d->cap * 3) {
		dict_grow(d);
		i = dict_slot(d, v);
	}
	id = dict_newid(d);
	d->val[id] = v;
	d->refs[id] = 0;
	d->slot[i] = id;
	d->n++;
	return id;
}

/*
 * Forgets id, which no set holds: the ids of its run after it are put
 * again where they now belong (held_forget()'s way).
 */
static void
dict_forget(struct sw_dict *d, uint32_t id)
{
	size_t		 mask = d->cap - 1, j = dict_slot(d, d->val[id]);
	uint32_t	 w;

	d->slot[j] = 0;
	for (j = (j + 1) & mask; (w = d->slot[j]) != 0; j = (j + 1) & mask) {
		d->slot[j] = 0;
		d->slot[dict_slot(d, d->val[w])] = w;
	}
	d->refs[id] = d->freeid;
	d->freeid = id;
	if (--d->n == 0)
		dict_free(d);		/* a storm's arrays go back */
}

/* Every id and slot freed: no set may hold one. */
void
dict_free(struct sw_dict *d)
{
	free(d->val);
	free(d->refs);
	free(d->slot);
	memset(d, 0, sizeof(*d));
}

/*
 * A set is a table of ids (open addressing), or a bitmap of them when
 * that takes less room: ids are dense (used again), so a storm's sets,
 * each holding hundreds of its few thousand values, are bitmaps of a
 * few hundred bytes.  cap counts slots, or bits.
 */

/* The bytes of a table for n ids, its slots at most 3/4 full. */
static size_t
table_bytes(size_t n)
{
	size_t	 cap = 16;

	while (n * 4 > cap * 3)
		cap *= 2;
	return cap * sizeof(uint32_t);
}

/* bits rounded up to whole words. */
static size_t
bits_round(size_t bits)
{
	return (bits + 31) & ~(size_t)31;
}

/* The slot of id in s: where it is, or the free one it would take. */
static size_t
set_slot(const struct sw_set *s, uint32_t id)
{
	size_t	 i;

	for (i = mix_slot(id, s->cap); s->v[i] != 0 && s->v[i] != id;
	    i = (i + 1) & (s->cap - 1))
		continue;
	return i;
}

/* The next id of s from *pos on (0: none left). */
uint32_t
set_next(const struct sw_set *s, size_t *pos)
{
	size_t	 i;

	while ((i = (*pos)++) < s->cap) {
		if (!s->bits) {
			if (s->v[i] != 0)
				return s->v[i];
		} else if (s->v[i / 32] == 0)
			*pos = (i | 31) + 1;	/* a word of none */
		else if (s->v[i / 32] >> (i % 32) & 1)
			return (uint32_t)i;
	}
	return 0;
}

/* s made again as a bitmap of bits bits, or a table of cap slots. */
static void
set_remake(struct sw_set *s, int bits, size_t cap)
{
	struct sw_set	 old = *s;
	size_t		 pos = 0;
	uint32_t	 id;

	s->bits = bits;
	s->cap = cap;
	s->v = xcalloc(bits ? cap / 32 : cap, sizeof(*s->v));
	while ((id = set_next(&old, &pos)) != 0)
		if (bits)
			s->v[id / 32] |= 1u << (id % 32);
		else
			s->v[set_slot(s, id)] = id;
	free(old.v);
}

/*
 * Room in s for id, one more: when a table must grow or a bitmap does
 * not reach id, s is made again as whichever is smaller of a table of
 * twice the slots and a bitmap of every id the dictionary has made,
 * and a quarter more (or twice the bits, so that a bitmap growing with
 * the dictionary is not made again at each new id).
 */
static void
set_room(const struct sw_dict *d, struct sw_set *s, uint32_t id)
{
	size_t	 want, table;

	if (!s->bits && (s->n + 1) * 4 <= s->cap * 3)
		return;
	if (s->bits && id < s->cap)
		return;
	want = bits_round((size_t)d->nids + d->nids / 4);
	table = table_bytes(s->n + 1);
	if (s->bits && want < 2 * s->cap)
		want = 2 * s->cap;
	if (want / 8 <= table)
		set_remake(s, 1, want);
	else
		set_remake(s, 0, table / sizeof(uint32_t));
}

/* 1 when s holds the value of id. */
static int
set_has_id(const struct sw_set *s, uint32_t id)
{
	if (id == 0 || s->cap == 0)
		return 0;
	if (s->bits)
		return id < s->cap && s->v[id / 32] >> (id % 32) & 1;
	return s->v[set_slot(s, id)] == id;
}

/* 1 when s holds v. */
int
set_has(const struct sw_dict *d, const struct sw_set *s, uint64_t v)
{
	if (v == 0)
		return s->zero;
	return set_has_id(s, dict_find(d, v));
}

/* Adds the value of id (in d) to s: 1 when new to s. */
static int
set_add_id(struct sw_dict *d, struct sw_set *s, uint32_t id)
{
	if (set_has_id(s, id))
		return 0;
	if (s->n >= (s->max > 0 ? s->max : SET_MAX)) {
		if (d->refs[id] == 0)
			dict_forget(d, id);
		return 1;
	}
	set_room(d, s, id);
	if (s->bits)
		s->v[id / 32] |= 1u << (id % 32);
	else
		s->v[set_slot(s, id)] = id;
	s->n++;
	d->refs[id]++;
	return 1;
}

/*
 * 1 when v is new to s; held unless s holds its max already (a full
 * set counts on: what it does not hold is new to it).
 */
int
set_add(struct sw_dict *d, struct sw_set *s, uint64_t v)
{
	if (v == 0) {
		if (s->zero)
			return 0;
		s->zero = 1;
		return 1;
	}
	return set_add_id(d, s, dict_get(d, v));
}

/* Empties s (its max too), the values no other set holds forgotten. */
void
set_free(struct sw_dict *d, struct sw_set *s)
{
	size_t		 pos = 0;
	uint32_t	 id;

	while ((id = set_next(s, &pos)) != 0)
		if (--d->refs[id] == 0)
			dict_forget(d, id);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The distinct values in s, as far as it holds them. */
size_t
set_count(const struct sw_set *s)
{
	return s->n + (s->zero ? 1 : 0);
}

/* Adds every value of from to s. */
void
set_merge(struct sw_dict *d, struct sw_set *s, const struct sw_set *from)
{
	size_t		 pos = 0;
	uint32_t	 id;

	if (from->zero)
		(void)set_add(d, s, 0);
	while ((id = set_next(from, &pos)) != 0)
		(void)set_add_id(d, s, id);
}
