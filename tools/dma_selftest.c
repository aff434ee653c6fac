// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dma_selftest.c - `daxcore dma-selftest [-e uring|memcpy] [-d SPEC]`, a
 * test aid (hidden from `daxcore help`): each DMA engine (or the one -e
 * names) runs on a fresh dcfs over SPEC (default mem:64M), through the
 * public API only:
 *
 *   a file of 512 KiB: bytes [0, 256K) written 0x11, the rest a hole;
 *   dma a  64 KiB at 64 KiB, pattern 0xa5 (aligned),            200 ms
 *   dma b  64 KiB at 128 KiB + 512, pattern 0x5a (unaligned),   200 ms
 *   dma c  64 KiB at 224 KiB, read-only pin, DMA_READ: half data,
 *          half hole (the zero page),                           200 ms
 *   dma d  16 KiB at 0, pattern 0x3c, 10 s, cancelled after 50 ms
 *
 * All four hold their pins at once (statfs: 4 pin sets) and none is done
 * right after the start; a, b and c end no sooner than 200 ms and d well
 * before its 10 s.  Then the file reads exactly the patterns over exactly
 * the ranges written, 0x11 elsewhere and zeros in the hole; the pins are
 * released (statfs: 0 pin sets, 0 pinned pages), dc_dcfs_check() passes,
 * and the mount and the region go away.  Prints one line per engine:
 *
 *   dma ENGINE ok bytes=N
 *
 * ENGINE being the engine that ran (the uring one may fall back to memcpy,
 * saying why on stderr); for uring, where its data came from on stderr.
 * Exit 0 if every check held, 1 if one did not, 2 for a usage error.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KiB 1024u
#define FILE_SIZE (512u * KiB)
#define DATA_SIZE (256u * KiB)
#define MS 200u

static int failed(const char *what, int ret)
{
	fprintf(stderr, "daxcore dma-selftest: %s: %s (%s): %s\n", what, ename(ret),
		dc_strerror(ret), dc_errmsg());
	return 1;
}

/* @buf[off, off + len) all @byte?  Else say where it is not. */
static bool all(const unsigned char *buf, uint64_t off, uint64_t len, int byte, const char *eng)
{
	for (uint64_t i = off; i < off + len; i++)
		if (buf[i] != byte) {
			fprintf(stderr, "daxcore dma-selftest: %s: byte %" PRIu64 " is %#x, expected "
				"%#x (range %" PRIu64 "+%" PRIu64 ")\n", eng, i, buf[i], byte, off,
				len);
			return false;
		}
	return true;
}

struct job {
	const char *tag;
	uint64_t off, len;
	unsigned pin_flags;
	int byte;
	uint64_t ms;
	struct dma *d;
	enum dma_engine used;
};

static int run_engine(const char *spec, enum dma_engine engine)
{
	struct job jobs[4] = {
		{ "a", 64 * KiB, 64 * KiB, 0, 0xa5, MS, NULL, DMA_MEMCPY },
		{ "b", 128 * KiB + 512, 64 * KiB, 0, 0x5a, MS, NULL, DMA_MEMCPY },
		{ "c", 224 * KiB, 64 * KiB, DC_DCFS_PIN_READONLY, DMA_READ, MS, NULL, DMA_MEMCPY },
		{ "d", 0, 16 * KiB, 0, 0x3c, 10000, NULL, DMA_MEMCPY },
	};
	const char *eng = dma_engine_name(engine);
	struct dc_dcfs_statfs sf;
	struct dc_region *r;
	struct dc_dcfs *fs;
	unsigned char *buf;
	uint64_t t0, total = 0, el;
	int fd, ret, bad = 0;

	buf = malloc(FILE_SIZE);
	if (!buf)
		return failed("malloc", -ENOMEM);
	ret = dc_region_create(spec, &r);
	if (ret) {
		fprintf(stderr, "daxcore dma-selftest: %s: %s\n", spec, dc_errmsg());
		free(buf);
		return 1;
	}
	ret = dc_dcfs_mount(r, NULL, NULL, NULL, &fs);
	if (ret) {
		bad = failed("dc_dcfs_mount", ret);
		goto out_region;
	}
	fd = dc_dcfs_create(fs, "dma");
	if (fd < 0) {
		bad = failed("dc_dcfs_create", fd);
		goto out_mount;
	}
	memset(buf, 0x11, DATA_SIZE);
	if (dc_dcfs_pwrite(fs, fd, buf, DATA_SIZE, 0) != DATA_SIZE) {
		bad = failed("dc_dcfs_pwrite", -EIO);
		goto out_close;
	}
	ret = dc_dcfs_truncate(fs, fd, FILE_SIZE, NULL);
	if (ret) {
		bad = failed("dc_dcfs_truncate", ret);
		goto out_close;
	}

	t0 = dc_now_ns();
	for (unsigned i = 0; i < 4 && !bad; i++) {
		struct job *j = &jobs[i];
		struct dc_dcfs_pinset ps;

		ret = dc_dcfs_pin(fs, fd, j->off, j->len, j->pin_flags, j->tag, &ps);
		if (ret) {
			bad = failed("dc_dcfs_pin", ret);
			break;
		}
		ret = dma_start(fs, &ps, engine, j->byte, j->ms, j->tag, &j->d);
		if (ret) {
			bad = failed("dma_start", ret);
			dc_dcfs_unpin(fs, &ps);
			break;
		}
		if (ps.id) {
			fprintf(stderr, "daxcore dma-selftest: %s: dma_start left the caller's pin "
				"set set\n", eng);
			bad = 1;
		}
		j->used = dma_engine_used(j->d);
		if (j->used == DMA_URING && i == 0)
			fprintf(stderr, "daxcore dma-selftest: uring: O_DIRECT through a temporary "
				"file in %s\n", dma_source(j->d));
	}
	if (!bad) {
		dc_dcfs_statfs(fs, &sf);
		if (sf.pins != 4) {
			fprintf(stderr, "daxcore dma-selftest: %s: %" PRIu64 " pin sets held while "
				"the DMAs run, expected 4\n", eng, sf.pins);
			bad = 1;
		}
		for (unsigned i = 0; i < 4; i++)
			if (dma_done(jobs[i].d)) {
				fprintf(stderr, "daxcore dma-selftest: %s: dma %s done at once\n", eng,
					jobs[i].tag);
				bad = 1;
			}
		{
			struct timespec ts = { 0, 50 * 1000000L };

			nanosleep(&ts, NULL);
		}
		dma_cancel(jobs[3].d);
	}
	for (unsigned i = 0; i < 4; i++) {
		struct job *j = &jobs[i];

		if (!j->d)
			continue;
		while (!dma_done(j->d)) {
			struct timespec ts = { 0, 1000000L };

			nanosleep(&ts, NULL);
		}
		el = (dc_now_ns() - t0) / 1000000u;
		total += dma_bytes(j->d);
		ret = dma_wait(j->d);
		if (ret) {
			fprintf(stderr, "daxcore dma-selftest: %s: dma %s: %s\n", eng, j->tag,
				ename(ret));
			bad = 1;
		}
		if (j->ms == MS && el < MS) {
			fprintf(stderr, "daxcore dma-selftest: %s: dma %s ended after %" PRIu64
				" ms, before its %u ms\n", eng, j->tag, el, MS);
			bad = 1;
		}
		if (j->ms != MS && el > 5000) {
			fprintf(stderr, "daxcore dma-selftest: %s: dma %s ran %" PRIu64 " ms after "
				"its cancel\n", eng, j->tag, el);
			bad = 1;
		}
		if (j->used != jobs[0].used) {
			fprintf(stderr, "daxcore dma-selftest: %s: dma %s ran %s, dma a %s\n", eng,
				j->tag, dma_engine_name(j->used), dma_engine_name(jobs[0].used));
			bad = 1;
		}
	}
	if (bad)
		goto out_close;

	dc_dcfs_statfs(fs, &sf);
	if (sf.pins || sf.pinned_pages) {
		fprintf(stderr, "daxcore dma-selftest: %s: %" PRIu64 " pin sets, %" PRIu64
			" pinned pages left after the DMAs\n", eng, sf.pins, sf.pinned_pages);
		bad = 1;
	}
	memset(buf, 0xee, FILE_SIZE);
	if (dc_dcfs_pread(fs, fd, buf, FILE_SIZE, 0) != FILE_SIZE) {
		bad = failed("dc_dcfs_pread", -EIO);
		goto out_close;
	}
	if (!all(buf, 0, 16 * KiB, 0x3c, eng) || !all(buf, 16 * KiB, 48 * KiB, 0x11, eng) ||
	    !all(buf, 64 * KiB, 64 * KiB, 0xa5, eng) || !all(buf, 128 * KiB, 512, 0x11, eng) ||
	    !all(buf, 128 * KiB + 512, 64 * KiB, 0x5a, eng) ||
	    !all(buf, 192 * KiB + 512, DATA_SIZE - 192 * KiB - 512, 0x11, eng) ||
	    !all(buf, DATA_SIZE, FILE_SIZE - DATA_SIZE, 0, eng))
		bad = 1;
	ret = dc_dcfs_check(fs);
	if (ret)
		bad = failed("dc_dcfs_check", ret);
	if (!bad)
		printf("dma %s ok bytes=%" PRIu64 "\n", dma_engine_name(jobs[0].used), total);
out_close:
	ret = dc_dcfs_close(fs, fd);
	if (ret)
		bad = failed("dc_dcfs_close", ret);
out_mount:
	ret = dc_dcfs_unmount(fs, NULL);
	if (ret)
		bad = failed("dc_dcfs_unmount", ret);
out_region:
	ret = dc_region_remove(r, NULL);
	if (ret)
		bad = failed("dc_region_remove", ret);
	free(buf);
	return bad ? 1 : 0;
}

static int selftest_usage(FILE *f)
{
	fprintf(f, "usage: daxcore dma-selftest [-e uring|memcpy] [-d SPEC]\n"
		"A test aid: runs the DMA engines (both, or the one -e names) on a dcfs\n"
		"over SPEC (default " DEMO_DEFAULT_SPEC ") and checks what they wrote and that\n"
		"they released their pins; prints 'dma ENGINE ok bytes=N' per engine.\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

int cmd_dma_selftest(int argc, char **argv)
{
	const char *spec = DEMO_DEFAULT_SPEC;
	bool one = false;
	enum dma_engine e = DMA_URING;
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return selftest_usage(stdout);
		if ((!strcmp(argv[i], "-e") || !strcmp(argv[i], "-d")) && i + 1 == argc) {
			fprintf(stderr, "daxcore dma-selftest: %s needs an argument\n", argv[i]);
			return selftest_usage(stderr);
		}
		if (!strcmp(argv[i], "-e")) {
			if (dma_engine_parse(argv[++i], &e)) {
				fprintf(stderr, "daxcore dma-selftest: unknown engine '%s' (uring, "
					"memcpy)\n", argv[i]);
				return selftest_usage(stderr);
			}
			one = true;
		} else if (!strcmp(argv[i], "-d")) {
			spec = argv[++i];
		} else {
			fprintf(stderr, "daxcore dma-selftest: unexpected argument '%s'\n", argv[i]);
			return selftest_usage(stderr);
		}
	}
	if (one)
		return run_engine(spec, e);
	bad |= run_engine(spec, DMA_URING);
	bad |= run_engine(spec, DMA_MEMCPY);
	return bad;
}
