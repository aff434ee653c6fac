/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region - region specs (good and bad), backends, geometry, sparse
 * metadata, the holder claim, the read-side lock and removal.  One case per
 * behaviour (test_region --list); each case's region is the fixture's, and
 * teardown checks it has nothing busy and removes it within a deadline.
 */
#include "harness.h"

#include <fcntl.h>

/* ---- fixture: the case's region and its backing file, if any ------------ */

static struct dc_region *R;
static char tmp_path[64];
static int tmp_fd = -1;

/* The case's region (one at a time). */
static struct dc_region *region(const char *spec)
{
	CHECK(R == NULL);
	CHECK_EQ(dc_region_create(spec, &R), 0);
	return R;
}

/* Remove it now (what the case tests): waits without a deadline, as before. */
static void region_remove(void)
{
	CHECK_EQ(dc_region_remove(R, NULL), 0);
	R = NULL;
}

/* A file of @size bytes for file: specs; its fd stays open for the case. */
static int tmp_file(off_t size)
{
	CHECK(tmp_fd < 0);
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/daxcore-test-XXXXXX");
	tmp_fd = mkstemp(tmp_path);
	CHECK(tmp_fd >= 0);
	CHECK_EQ(ftruncate(tmp_fd, size), 0);
	return tmp_fd;
}

static int notified, notified_flags;
static uint64_t notified_nr;
static int h1, h2;

static void setup(void)
{
	t_watchdog_total(120);
	notified = notified_flags = 0;
	notified_nr = 0;
}

static void teardown(void)
{
	t_region_teardown(&R);
	if (tmp_fd >= 0) {
		close(tmp_fd);
		unlink(tmp_path);
		tmp_fd = -1;
	}
	dc_quiesce();
}

/* ---- specs ----------------------------------------------------------------- */

static void expect_bad(const char *spec, int err, const char *msg_part)
{
	struct dc_region *r = (struct dc_region *)0x1;
	int ret = dc_region_create(spec, &r);

	if (ret != err || r != NULL || !strstr(dc_errmsg(), msg_part)) {
		fprintf(stderr, "spec '%s': got %d (%s) '%s', expected %d with '%s'\n", spec, ret,
			dc_strerror(ret), dc_errmsg(), err, msg_part);
		exit(T_FAIL);
	}
}

/* Sizes: zero, empty, not a multiple of 4 KiB or of the folio, bad numbers. */
TEST(bad_spec_size)
{
	expect_bad("mem:0", -EINVAL, "zero");
	expect_bad("mem:", -EINVAL, "empty size");
	expect_bad("mem:100", -EINVAL, "multiple of 4 KiB");
	expect_bad("mem:4097", -EINVAL, "multiple of 4 KiB");
	expect_bad("mem:1M,order=9", -EINVAL, "folio size");
	expect_bad("mem:1536M,order=18", -EINVAL, "folio size");
	expect_bad("mem:12X", -EINVAL, "unknown suffix");
	expect_bad("mem:12MB", -EINVAL, "junk");
	expect_bad("mem:M", -EINVAL, "number");
	expect_bad("mem:99999999999999999999", -EINVAL, "overflows");
	expect_bad("mem:99999999999T", -EINVAL, "overflows");
	expect_bad("mem:4096T", -EINVAL, "limit is 2^40 pages: 4 PiB");
}

/* Options: unknown, out of range, or for another backend. */
TEST(bad_spec_options)
{
	expect_bad("mem:1M,order=7", -EINVAL, "order");
	expect_bad("mem:1M,type=weird", -EINVAL, "type");
	expect_bad("mem:1M,bogus", -EINVAL, "unknown option");
	expect_bad("mem:1M,size=1M", -EINVAL, "only for file");
	expect_bad("mem:4M,huge,order=0", -EINVAL, "order must be 9");
	expect_bad("file:/tmp,huge", -EINVAL, "only for mem");
}

/* Backends and paths: unknown, missing, not a device; no out pointer. */
TEST(bad_spec_backend)
{
	expect_bad("nvme:1M", -EINVAL, "unknown backend");
	expect_bad("1M", -EINVAL, "expected mem:SIZE");
	expect_bad("file:", -EINVAL, "path");
	expect_bad("file:/nonexistent/daxcore-test", -ENOENT, "No such file");
	expect_bad("devdax:/dev/null", -ENODEV, "not a device-dax device");
	expect_bad("devdax:/etc/passwd", -EINVAL, "not a character device");
	CHECK_EQ(dc_region_create("mem:1M", NULL), -EINVAL);
}

/* ---- the file backend ------------------------------------------------------ */

/* A file smaller than size=, or not a multiple of 4 KiB. */
TEST(file_too_small)
{
	char spec[128];
	int fd = tmp_file(1 << 20);

	snprintf(spec, sizeof(spec), "file:%s,size=2M", tmp_path);
	expect_bad(spec, -ERANGE, "smaller than size");
	CHECK_EQ(ftruncate(fd, 4096 * 3 + 100), 0);
	snprintf(spec, sizeof(spec), "file:%s", tmp_path);
	expect_bad(spec, -EINVAL, "multiple of 4 KiB");
}

/* Writes through the linear map reach the file; flush checks its range. */
TEST(file_writes_reach_file)
{
	char spec[128], buf[8];
	int fd = tmp_file(1 << 20);
	struct dc_region *r;

	snprintf(spec, sizeof(spec), "file:%s,size=512K", tmp_path);
	r = region(spec);
	CHECK_EQ(dc_region_size(r), 512 << 10);
	memcpy(dc_region_addr(r, 3), "daxcore", 8);
	CHECK_EQ(dc_region_flush(r, 3, 1), 0);
	CHECK_EQ(pread(fd, buf, 8, 3 * 4096), 8);
	CHECK(!memcmp(buf, "daxcore", 8));
	CHECK_EQ(dc_region_flush(r, 100, 100), -EINVAL);
	/* Removed, the file is still there (and can back a region again). */
	region_remove();
	CHECK_EQ(pread(fd, buf, 8, 3 * 4096), 8);
	CHECK(!memcmp(buf, "daxcore", 8));
	r = region(spec);
	CHECK(!memcmp(dc_region_addr(r, 3), "daxcore", 8));
}

/* Without size= the region is the whole file. */
TEST(file_size_from_file)
{
	char spec[128];

	tmp_file(1 << 20);
	snprintf(spec, sizeof(spec), "file:%s", tmp_path);
	CHECK_EQ(dc_region_size(region(spec)), 1 << 20);
}

/* ---- geometry ----------------------------------------------------------------- */

TEST(geometry_4k)
{
	struct dc_region *r = region("mem:64M");
	struct dc_region_stats st;

	CHECK_EQ(dc_region_npages(r), 16384);
	CHECK_EQ(dc_region_folio_order(r), 0);
	CHECK_EQ(dc_region_type(r), DC_REGION_FSDAX);
	CHECK(dc_region_alive(r));
	CHECK(!strcmp(dc_region_spec(r), "mem:64M"));
	CHECK(dc_region_addr(r, 16383) != NULL);
	CHECK(dc_region_addr(r, 16384) == NULL);
	CHECK(dc_region_fd(r) >= 0);
	dc_region_stats(r, &st);
	CHECK_EQ(st.sections, 0);
	CHECK_EQ(st.metadata_bytes, 0);
	CHECK_EQ(st.metadata_bytes_full, 16384 * 16);
	CHECK_EQ(st.busy, 0); /* the initial liveness reference is not counted */
}

TEST(geometry_order9)
{
	struct dc_region *r = region("mem:1G,order=9");
	struct dc_region_stats st;

	CHECK_EQ(dc_region_folio_order(r), 9);
	dc_region_stats(r, &st);
	CHECK_EQ(st.nfolios, 512);
	CHECK_EQ(st.metadata_bytes_full, 512 * 16);
}

TEST(geometry_order18_devdax)
{
	struct dc_region *r = region("mem:2G,order=18,type=devdax");

	CHECK_EQ(dc_region_folio_order(r), 18);
	CHECK_EQ(dc_region_type(r), DC_REGION_DEVDAX);
}

/* Metadata sections come into being only where folios are touched. */
TEST(sparse_64t)
{
	struct dc_region *r;
	struct dc_region_stats st;
	struct dc_folio *f;
	uint64_t far;

	if (t_sanitized())
		t_skip("mem:64T under sanitizers (their shadow memory cannot cover it)");
	r = region("mem:64T");
	CHECK_EQ(dc_region_size(r), 64ull << 40);
	dc_region_stats(r, &st);
	CHECK_EQ(st.sections, 0);
	/* Touch two far-apart folios: exactly two sections come into being. */
	far = dc_region_npages(r) - 1;
	CHECK_EQ(dc_folio_request(r, 0, 1, &f), 0);
	dc_folio_put(f);
	CHECK_EQ(dc_folio_request(r, far, 1, &f), 0);
	CHECK_EQ(dc_folio_pgoff(f), far);
	*(volatile char *)dc_folio_addr(f) = 1;
	dc_folio_put(f);
	dc_region_stats(r, &st);
	CHECK_EQ(st.sections, 2);
	CHECK_EQ(st.metadata_bytes, 2 * 4096);
}

/* ---- the holder claim ----------------------------------------------------------- */

static int on_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags, void *h)
{
	CHECK(h == &h1);
	CHECK_EQ(pgoff, 0);
	notified++;
	notified_flags = (int)flags;
	notified_nr = nr;
	return 0;
}

static const struct dc_holder_ops ops = { .notify_failure = on_failure };

/* One holder at a time; only the holder releases; release makes room. */
TEST(claim_exclusive)
{
	struct dc_region *r = region("mem:1M");

	CHECK(dc_region_holder(r) == NULL);
	CHECK_EQ(dc_region_release(r, &h1), -EPERM);
	CHECK_EQ(dc_region_claim(r, NULL, &ops), -EINVAL);
	CHECK_EQ(dc_region_claim(r, &h1, &ops), 0);
	CHECK(dc_region_holder(r) == &h1);
	CHECK_EQ(dc_region_claim(r, &h2, &ops), -EBUSY);
	CHECK(strstr(dc_errmsg(), "already held"));
	CHECK_EQ(dc_region_claim(r, &h1, &ops), -EBUSY);
	CHECK_EQ(dc_region_release(r, &h2), -EPERM);
	CHECK(dc_region_holder(r) == &h1);
	CHECK_EQ(dc_region_release(r, &h1), 0);
	CHECK(dc_region_holder(r) == NULL);
	CHECK_EQ(dc_region_claim(r, &h2, &ops), 0);
	CHECK_EQ(dc_region_release(r, &h2), 0);
	CHECK(dc_region_holder(r) == NULL);
}

/* Removal tells the holder once, with the pre-remove flag, the whole region. */
TEST(remove_notifies_holder)
{
	struct dc_region *r = region("mem:1M");

	CHECK_EQ(dc_region_claim(r, &h1, &ops), 0);
	region_remove();
	CHECK_EQ(notified, 1);
	CHECK_EQ(notified_flags, DC_MF_PRE_REMOVE);
	CHECK_EQ(notified_nr, 256);
}

/*
 * A claim racing a removal: the removal sets the region dead and looks for a
 * holder to tell (none yet) between the claim's alive check and its lock.
 * The claim must then fail: nobody would ever send its holder PRE_REMOVE,
 * and the removal would wait for it for ever (bug 35).
 */
extern void (*dc__test_claim_hook)(struct dc_region *r) __attribute__((weak));
static struct dc_folio *claim_race_folio;

static void remove_during_claim(struct dc_region *r)
{
	struct dc_drain_opts o = { .deadline_ns = dc_now_ns() + 10 * 1000 * 1000 };

	dc__test_claim_hook = NULL;
	/* A folio in use keeps the removal waiting: it times out, unfinished. */
	CHECK_EQ(dc_region_remove(r, &o), -ETIMEDOUT);
	CHECK(!dc_region_alive(r));
}

TEST(claim_racing_removal_fails)
{
	struct dc_region *r = region("mem:1M");

	CHECK_EQ(dc_folio_request(r, 0, 1, &claim_race_folio), 0);
	notified = 0;
	dc__test_claim_hook = remove_during_claim;
	CHECK_EQ(dc_region_claim(r, &h1, &ops), -ENXIO);
	CHECK(dc_region_holder(r) == NULL);
	CHECK_EQ(notified, 0);
	dc_folio_put(claim_race_folio);
	region_remove();
}

/* ---- other region types and the read lock ------------------------------------ */

TEST(limited)
{
	struct dc_region *r = region("mem:1M,type=limited");
	struct dc_region_stats st;

	CHECK_EQ(dc_region_type(r), DC_REGION_LIMITED);
	CHECK(dc_region_addr(r, 0) != NULL); /* direct access works */
	memset(dc_region_addr(r, 0), 0xab, 4096);
	CHECK_EQ(dc_folio_request(r, 0, 1, NULL), -EOPNOTSUPP);
	CHECK(dc_folio_lookup(r, 0) == NULL);
	dc_region_stats(r, &st);
	CHECK_EQ(st.metadata_bytes_full, 0);
}

/* The read lock nests; removal after the last unlock does not wait. */
TEST(read_lock_nests)
{
	struct dc_region *r = region("mem:1M");

	dc_region_read_lock(r);
	dc_region_read_lock(r); /* nests */
	CHECK(dc_region_alive(r));
	dc_region_read_unlock(r);
	dc_region_read_unlock(r);
	CHECK(dc_region_alive(r));
}

TEST(strerror_and_version)
{
	CHECK(strcmp(dc_strerror(-ENXIO), "gone (being removed, removed, killed or disabled), or past the end of the device") == 0);
	CHECK(strlen(dc_version()) > 0);
}

T_MAIN(setup, teardown)
