// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * extent.c - a file's extent map: file pages -> device pages, as a sorted
 * array of non-overlapping intervals.  A 1 GiB file of one extent is one
 * record; lookups are a binary search; an append (the common growth) is
 * O(1) amortised, an insert in the middle moves the records after it.
 * Neighbours whose file and device ranges both continue are merged.
 *
 * The caller holds the inode's ext_lock.  dcfs_ext_reserve() lets a caller
 * that must not fail half-way (collapse, insert, a split by punch) get the
 * memory first: remove and shift then never allocate.
 */
#include "dcfs/dcfs_int.h"

void dcfs_ext_init(struct dcfs_extmap *x)
{
	x->v = NULL;
	x->n = x->cap = 0;
}

void dcfs_ext_free(struct dcfs_extmap *x)
{
	free(x->v);
	dcfs_ext_init(x);
}

/*
 * The array @v of @n used elements of @size bytes (capacity *@cap), grown
 * to hold at least @want (doubling from @first): @v itself if it does,
 * else a new one with the elements moved and @v freed.  NULL on -ENOMEM
 * (dc_errmsg() names @what; @v and *@cap unchanged).  The extent map and
 * the reverse map grow this way.
 */
void *dcfs_array_grow(void *v, size_t n, size_t *cap, size_t want, size_t size, size_t first,
		      const char *what)
{
	size_t ncap = *cap ? *cap : first;
	void *nv;

	if (want <= *cap)
		return v;
	while (ncap < want)
		ncap *= 2;
	nv = dc__malloc(ncap * size);
	if (!nv) {
		dc__fail(-ENOMEM, "dcfs: no memory for %zu %s", ncap, what);
		return NULL;
	}
	if (n)
		memcpy(nv, v, n * size);
	free(v);
	*cap = ncap;
	return nv;
}

int dcfs_ext_reserve(struct dcfs_extmap *x, size_t more)
{
	struct dcfs_ext *v = dcfs_array_grow(x->v, x->n, &x->cap, x->n + more, sizeof(*v), 4,
					     "extents");

	if (!v)
		return -ENOMEM;
	x->v = v;
	return 0;
}

/* The first record that ends after @fpage (x->n if none). */
static size_t search(const struct dcfs_extmap *x, uint64_t fpage)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].fpage + x->v[mid].len <= fpage)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * What backs @fpage: true with *@out the part of its extent from @fpage on;
 * false for a hole, with *@hole the pages to the next extent (UINT64_MAX if
 * none follows).
 */
bool dcfs_ext_lookup(const struct dcfs_extmap *x, uint64_t fpage, struct dcfs_ext *out,
		     uint64_t *hole)
{
	size_t i = search(x, fpage);

	if (i < x->n && x->v[i].fpage <= fpage) {
		uint64_t d = fpage - x->v[i].fpage;

		out->fpage = fpage;
		out->pgoff = x->v[i].pgoff + d;
		out->len = x->v[i].len - d;
		return true;
	}
	*hole = i < x->n ? x->v[i].fpage - fpage : UINT64_MAX;
	return false;
}

static bool continues(const struct dcfs_ext *a, const struct dcfs_ext *b)
{
	return a->fpage + a->len == b->fpage && a->pgoff + a->len == b->pgoff;
}

/* Merge record @i with its successor while they continue each other. */
static void merge_at(struct dcfs_extmap *x, size_t i)
{
	if (i + 1 >= x->n || !continues(&x->v[i], &x->v[i + 1]))
		return;
	x->v[i].len += x->v[i + 1].len;
	memmove(&x->v[i + 1], &x->v[i + 2], (x->n - i - 2) * sizeof(x->v[0]));
	x->n--;
}

/* Add [fpage, fpage + len) -> pgoff: the range must be a hole. */
int dcfs_ext_insert(struct dcfs_extmap *x, uint64_t fpage, uint64_t pgoff, uint64_t len)
{
	size_t i = search(x, fpage);
	int ret;

	DC_BUG_ON(!len || (i < x->n && x->v[i].fpage < fpage + len));
	/* Appending to the record before: no new record. */
	if (i > 0 && continues(&x->v[i - 1], &(struct dcfs_ext){ fpage, pgoff, len })) {
		x->v[i - 1].len += len;
		merge_at(x, i - 1);
		return 0;
	}
	ret = dcfs_ext_reserve(x, 1);
	if (ret)
		return ret;
	memmove(&x->v[i + 1], &x->v[i], (x->n - i) * sizeof(x->v[0]));
	x->v[i] = (struct dcfs_ext){ fpage, pgoff, len };
	x->n++;
	merge_at(x, i);
	return 0;
}

/*
 * Remove file pages [first, first + len) (len UINT64_MAX: to the end),
 * calling @fn for each device range removed.  Splitting one record in two
 * needs one more record: reserve it first where failure is not an option
 * (-ENOMEM otherwise, before anything changed).
 */
int dcfs_ext_remove(struct dcfs_extmap *x, uint64_t first, uint64_t len, dcfs_ext_fn fn,
		    void *arg)
{
	uint64_t end = len > UINT64_MAX - first ? UINT64_MAX : first + len;
	size_t i = search(x, first);

	if (i < x->n && x->v[i].fpage < first && x->v[i].fpage + x->v[i].len > end) {
		/* One record covers the range with pages on both sides: split. */
		struct dcfs_ext *e;
		uint64_t cut = end - x->v[i].fpage;
		int ret = dcfs_ext_reserve(x, 1);

		if (ret)
			return ret;
		e = &x->v[i];
		memmove(e + 1, e, (x->n - i) * sizeof(*e));
		x->n++;
		e[1].fpage = end;
		e[1].pgoff = e->pgoff + cut;
		e[1].len = e->len - cut;
		e->len = first - e->fpage;
		if (fn)
			fn(arg, first, e->pgoff + e->len, end - first);
		return 0;
	}
	while (i < x->n && x->v[i].fpage < end) {
		struct dcfs_ext *e = &x->v[i];
		uint64_t s = e->fpage > first ? e->fpage : first;
		uint64_t t = e->fpage + e->len < end ? e->fpage + e->len : end;

		if (fn)
			fn(arg, s, e->pgoff + (s - e->fpage), t - s);
		if (s > e->fpage) { /* keep the head */
			e->len = s - e->fpage;
			i++;
		} else if (t < e->fpage + e->len) { /* keep the tail */
			e->pgoff += t - e->fpage;
			e->len -= t - e->fpage;
			e->fpage = t;
			i++;
		} else { /* all of it */
			memmove(e, e + 1, (x->n - i - 1) * sizeof(*e));
			x->n--;
		}
	}
	return 0;
}

/*
 * Move every record at or after file page @from by @delta pages, up
 * (insert range) or down (collapse range: the pages [from - delta, from)
 * must be a hole already).  No record may straddle @from.
 */
void dcfs_ext_shift(struct dcfs_extmap *x, uint64_t from, uint64_t delta, bool up)
{
	size_t i = search(x, from);

	DC_BUG_ON(i < x->n && x->v[i].fpage < from);
	for (size_t k = i; k < x->n; k++)
		x->v[k].fpage = up ? x->v[k].fpage + delta : x->v[k].fpage - delta;
	if (!up && i > 0)
		merge_at(x, i - 1);
}

uint64_t dcfs_ext_pages(const struct dcfs_extmap *x)
{
	uint64_t n = 0;

	for (size_t i = 0; i < x->n; i++)
		n += x->v[i].len;
	return n;
}

/*
 * The dirty set: add device pages [start, start + len), whatever part of
 * them is in it already (records there map each page to itself).
 */
int dcfs_set_add(struct dcfs_extmap *x, uint64_t start, uint64_t len)
{
	int ret = dcfs_ext_reserve(x, 2);

	if (ret)
		return ret;
	(void)dcfs_ext_remove(x, start, len, NULL, NULL); /* reserved: cannot fail */
	return dcfs_ext_insert(x, start, start, len);
}
