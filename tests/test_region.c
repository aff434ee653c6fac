/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region - region specs (good and bad), backends, geometry, sparse
 * metadata, the holder claim, the read-side lock and removal.
 */
#include "harness.h"

#include <fcntl.h>

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

static void test_bad_specs(void)
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
	expect_bad("mem:1M,order=7", -EINVAL, "order");
	expect_bad("mem:1M,type=weird", -EINVAL, "type");
	expect_bad("mem:1M,bogus", -EINVAL, "unknown option");
	expect_bad("mem:1M,size=1M", -EINVAL, "only for file");
	expect_bad("mem:4M,huge,order=0", -EINVAL, "order must be 9");
	expect_bad("nvme:1M", -EINVAL, "unknown backend");
	expect_bad("1M", -EINVAL, "expected mem:SIZE");
	expect_bad("file:", -EINVAL, "path");
	expect_bad("file:/nonexistent/daxcore-test", -ENOENT, "No such file");
	expect_bad("file:/tmp,huge", -EINVAL, "only for mem");
	expect_bad("devdax:/dev/null", -EINVAL, "not a device-dax");
	CHECK_EQ(dc_region_create("mem:1M", NULL), -EINVAL);
}

static void test_file_backend(void)
{
	char path[] = "/tmp/daxcore-test-XXXXXX";
	int fd = mkstemp(path);
	struct dc_region *r;
	char spec[128];

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	snprintf(spec, sizeof(spec), "file:%s,size=2M", path);
	expect_bad(spec, -ERANGE, "smaller than size");
	CHECK_EQ(ftruncate(fd, 4096 * 3 + 100), 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	expect_bad(spec, -EINVAL, "multiple of 4 KiB");
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	snprintf(spec, sizeof(spec), "file:%s,size=512K", path);
	CHECK_EQ(dc_region_create(spec, &r), 0);
	CHECK_EQ(dc_region_size(r), 512 << 10);
	/* Writes through the linear map reach the file. */
	memcpy(dc_region_addr(r, 3), "daxcore", 8);
	CHECK_EQ(dc_region_flush(r, 3, 1), 0);
	{
		char buf[8];
		CHECK_EQ(pread(fd, buf, 8, 3 * 4096), 8);
		CHECK(!memcmp(buf, "daxcore", 8));
	}
	CHECK_EQ(dc_region_flush(r, 100, 100), -EINVAL);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	CHECK_EQ(dc_region_create(spec, &r), 0);
	CHECK_EQ(dc_region_size(r), 1 << 20);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	close(fd);
	unlink(path);
}

static void test_geometry(void)
{
	struct dc_region *r;
	struct dc_region_stats st;

	CHECK_EQ(dc_region_create("mem:64M", &r), 0);
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
	CHECK_EQ(dc_region_remove(r, NULL), 0);

	CHECK_EQ(dc_region_create("mem:1G,order=9", &r), 0);
	CHECK_EQ(dc_region_folio_order(r), 9);
	dc_region_stats(r, &st);
	CHECK_EQ(st.nfolios, 512);
	CHECK_EQ(st.metadata_bytes_full, 512 * 16);
	CHECK_EQ(dc_region_remove(r, NULL), 0);

	CHECK_EQ(dc_region_create("mem:2G,order=18,type=devdax", &r), 0);
	CHECK_EQ(dc_region_folio_order(r), 18);
	CHECK_EQ(dc_region_type(r), DC_REGION_DEVDAX);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

static void test_sparse_64t(void)
{
	struct dc_region *r;
	struct dc_region_stats st;
	struct dc_folio *f;
	uint64_t far;

	CHECK_EQ(dc_region_create("mem:64T", &r), 0);
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
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

static int notified, notified_flags;
static uint64_t notified_nr;
static int h1, h2;

static int on_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags, void *h)
{
	CHECK(h == &h1);
	CHECK_EQ(pgoff, 0);
	notified++;
	notified_flags = (int)flags;
	notified_nr = nr;
	return 0;
}

static void test_claim(void)
{
	static const struct dc_holder_ops ops = { .notify_failure = on_failure };
	struct dc_region *r;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
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
	CHECK_EQ(dc_region_claim(r, &h1, &ops), 0);
	/* Removal tells the holder once, with the pre-remove flag. */
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	CHECK_EQ(notified, 1);
	CHECK_EQ(notified_flags, DC_MF_PRE_REMOVE);
	CHECK_EQ(notified_nr, 256);
}

static void test_limited(void)
{
	struct dc_region *r;
	struct dc_region_stats st;

	CHECK_EQ(dc_region_create("mem:1M,type=limited", &r), 0);
	CHECK_EQ(dc_region_type(r), DC_REGION_LIMITED);
	CHECK(dc_region_addr(r, 0) != NULL); /* direct access works */
	memset(dc_region_addr(r, 0), 0xab, 4096);
	CHECK_EQ(dc_folio_request(r, 0, 1, NULL), -EOPNOTSUPP);
	CHECK(dc_folio_lookup(r, 0) == NULL);
	dc_region_stats(r, &st);
	CHECK_EQ(st.metadata_bytes_full, 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

static void test_read_lock_and_dead(void)
{
	struct dc_region *r;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	dc_region_read_lock(r);
	dc_region_read_lock(r); /* nests */
	CHECK(dc_region_alive(r));
	dc_region_read_unlock(r);
	dc_region_read_unlock(r);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

int main(void)
{
	t_watchdog(120);
	test_bad_specs();
	test_file_backend();
	test_geometry();
	if (!t_sanitized())
		test_sparse_64t();
	else
		printf("note: mem:64T skipped under sanitizers (shadow memory)\n");
	test_claim();
	test_limited();
	test_read_lock_and_dead();
	CHECK(strcmp(dc_strerror(-ENXIO), "region is being removed or gone") == 0);
	CHECK(strlen(dc_version()) > 0);
	dc_quiesce();
	return T_PASS;
}
