/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dcfs_fixture.h - what test_dcfs, test_dcfs_share and test_conc_dcfs
 * share: the region and mount of a case, statistics, the consistency
 * check, the teardown that proves a case left nothing behind, where a pin
 * set's bytes are, and (part 2) the device page behind a file byte and the
 * reverse map of a device page.
 */
#ifndef DC_TEST_DCFS_FIXTURE_H
#define DC_TEST_DCFS_FIXTURE_H

#include "harness.h"

#define PG 4096ull

static struct dc_region *R;
static struct dc_dcfs *FS;

static inline struct dc_dcfs_statfs sfs(void)
{
	struct dc_dcfs_statfs s;

	memset(&s, 0xa5, sizeof(s));
	dc_dcfs_statfs(FS, &s);
	return s;
}

static inline void check_fs(void)
{
	int ret = dc_dcfs_check(FS);

	if (ret) {
		fprintf(stderr, "[%s] dc_dcfs_check: %d (%s)\n", t_current, ret, dc_errmsg());
		CHECK_EQ(ret, 0);
	}
}

/* Unlink every file of the namespace. */
static inline void unlink_all(void)
{
	struct dc_dcfs_dirent ents[8];
	uint64_t cur = 0;
	int n;

	while ((n = dc_dcfs_list(FS, &cur, ents, 8)) > 0)
		for (int i = 0; i < n; i++)
			CHECK_EQ(dc_dcfs_unlink(FS, ents[i].name), 0);
	CHECK_EQ(n, 0);
}

/*
 * Every case ends here: nothing open or pinned, the check passes, every
 * file unlinked gives back every block (but the bad ones: poisoned blocks
 * are never free again), nothing waits in the quarantine, unmount releases
 * the region, and the region has no reference left.
 */
static inline void dcfs_teardown(void)
{
	dc__fault_set(0);
	if (FS) {
		struct dc_dcfs_statfs s = sfs();

		CHECK_EQ(s.open, 0);
		CHECK_EQ(s.pins, 0);
		CHECK_EQ(s.pinned_pages, 0);
		check_fs();
		unlink_all();
		s = sfs();
		CHECK_EQ(s.files, 0);
		CHECK_EQ(s.orphans, 0);
		CHECK_EQ(s.blocks_quarantined, 0);
		CHECK_EQ(s.blocks_shared, 0);
		CHECK_EQ(s.blocks_free + s.blocks_bad, s.blocks); /* no leaked block */
		check_fs();
		CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
		FS = NULL;
		CHECK(dc_region_holder(R) == NULL);
	}
	t_region_teardown(&R);
}

/* The device page a pin set holds for file byte @off, and (@addr) its address. */
static inline uint64_t pin_page(const struct dc_dcfs_pinset *ps, uint64_t off, uint8_t **addr)
{
	uint64_t pos = ps->offset;

	for (unsigned i = 0; i < ps->nsegs; i++) {
		const struct dc_dcfs_seg *s = &ps->segs[i];

		if (off < pos + s->len) {
			if (addr)
				*addr = (uint8_t *)s->addr + (off - pos);
			if (s->pgoff == UINT64_MAX)
				return UINT64_MAX;
			/* A segment's pgoff is the page of its first byte. */
			return s->pgoff + ((off - pos + ((uintptr_t)s->addr & (PG - 1))) >> 12);
		}
		pos += s->len;
	}
	CHECK(!"offset outside the pin set");
	return 0;
}

/*
 * The device page backing file byte @off (UINT64_MAX: a hole), of a block
 * of the file's own or of one it shares; @type (may be NULL) says which.
 */
static inline uint64_t dev_page(int fd, uint64_t off, enum dc_dcfs_iomap_type *type)
{
	struct dc_dcfs_iomap m;

	CHECK_EQ(dc_dcfs_iomap(FS, fd, off, PG, 0, &m), 0);
	if (type)
		*type = m.type;
	if (m.type == DC_DCFS_IOMAP_HOLE)
		return UINT64_MAX;
	CHECK(m.type == DC_DCFS_IOMAP_MAPPED || m.type == DC_DCFS_IOMAP_SHARED);
	CHECK(m.offset <= off && off < m.offset + m.length);
	/* @pgoff is the device page of the mapping's first byte (m.offset). */
	return m.pgoff + ((off >> 12) - (m.offset >> 12));
}

/* The reverse map of one device page: the block, and up to RMAP_MAX owners. */
#define RMAP_MAX 64 /* the reflink stress may map one block at every page of two files */
struct rmap_view {
	struct dc_dcfs_block blk;
	int n; /* owners (all of them: never more than RMAP_MAX in these tests) */
	struct dc_dcfs_owner o[RMAP_MAX];
};

static inline struct rmap_view rmap_of(uint64_t pgoff)
{
	struct rmap_view v;

	memset(&v, 0xa5, sizeof(v));
	v.n = dc_dcfs_rmap(FS, pgoff, &v.blk, v.o, RMAP_MAX);
	if (v.n < 0)
		fprintf(stderr, "[%s] dc_dcfs_rmap(%llu): %d (%s)\n", t_current,
			(unsigned long long)pgoff, v.n, dc_errmsg());
	CHECK(v.n >= 0);
	CHECK(v.n <= RMAP_MAX);
	return v;
}

/* Whether (ino, offset) is one of the owners in @v. */
static inline bool rmap_has(const struct rmap_view *v, uint64_t ino, uint64_t offset)
{
	for (int i = 0; i < v->n; i++)
		if (v->o[i].ino == ino && v->o[i].offset == offset)
			return true;
	return false;
}


/* ---- calls that must succeed, and file contents (shared by the dcfs tests) ---- */

static inline int xcreate(const char *name)
{
	int fd = dc_dcfs_create(FS, name);

	if (fd < 0)
		fprintf(stderr, "[%s] create %s: %d\n", t_current, name, fd);
	CHECK(fd >= 0);
	return fd;
}

static inline int xopen(const char *name, unsigned flags)
{
	int fd = dc_dcfs_open(FS, name, flags);

	CHECK(fd >= 0);
	return fd;
}

static inline void xclose(int fd)
{
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
}

static inline void xwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, len, off), (int64_t)len);
}

static inline void xwrite_byte(int fd, int c, size_t len, uint64_t off)
{
	uint8_t *b = malloc(len);

	CHECK(b);
	memset(b, c, len);
	xwrite(fd, b, len, off);
	free(b);
}

static inline struct dc_dcfs_stat xstat(int fd)
{
	struct dc_dcfs_stat st;

	memset(&st, 0xa5, sizeof(st));
	CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
	return st;
}

static inline uint64_t fsize(int fd)
{
	return xstat(fd).size;
}

/* Fill @buf with bytes that depend on @seed and the position. */
static inline void pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0)
			t_rand(&s);
		buf[i] = (uint8_t)(s >> ((i & 7) * 8)) | 1; /* never 0 */
	}
}

/* The whole file equals @model (of @len bytes): pread, and size. */
static inline void check_contents(int fd, const uint8_t *model, uint64_t len)
{
	uint8_t *got = malloc(len + PG);

	CHECK(got);
	CHECK_EQ(fsize(fd), len);
	memset(got, 0x5c, len + PG);
	CHECK_EQ(dc_dcfs_pread(FS, fd, got, len + PG, 0), (int64_t)len);
	for (uint64_t i = 0; i < len; i++)
		if (got[i] != model[i]) {
			fprintf(stderr, "[%s] byte %llu: 0x%02x, expected 0x%02x\n", t_current,
				(unsigned long long)i, got[i], model[i]);
			CHECK(got[i] == model[i]);
		}
	free(got);
}

static inline bool all_bytes(const void *p, int c, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)c)
			return false;
	return true;
}

#endif
