// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dma.c - the tool's two DMA engines (cli.h says what they promise).
 *
 * A DMA is one worker thread that owns a pin set: it moves the pattern into
 * the pinned segments (or reads them, for DMA_READ) pass after pass until
 * its duration has passed or it is cancelled, then unpins and marks itself
 * done.  The uring engine hands the aligned body of every segment to the
 * kernel as O_DIRECT reads (writes, for DMA_READ) of a temporary file on
 * local disk through io_uring; the memcpy engine has the CPU do it.
 *
 * Everything that can make the uring engine unusable is found out in
 * dma_start() (the ring, the temporary file, one O_DIRECT transfer into the
 * pinned memory), so that dma_engine_used() is settled once it returns.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX   (2u << 20) /* bytes per O_DIRECT transfer, and the file's size at most */
#define QUEUE_DEPTH 32u
#define REST_NS     1000000u   /* between passes */

struct dma {
	struct dc_dcfs *fs;
	struct dc_dcfs_pinset ps;  /* ours: unpinned at the end */
	enum dma_engine used;
	int byte;                  /* 0..255, or DMA_READ */
	uint64_t end_ns;           /* the duration ends here */
	char tag[32];
	pthread_t thread;
	dma_pass_fn pass;          /* called after every pass, before the unpin (or NULL) */
	void *pass_arg;

	atomic_bool done, cancel;
	atomic_uint_fast64_t bytes;
	int err;                   /* the transfer's; read after the join */

	/* the uring engine */
	struct io_uring ring;
	bool ring_ok;
	int tfd;                   /* the temporary file (O_DIRECT), or -1 */
	uint64_t align;            /* direct-I/O alignment, a power of two >= 4096 */
	uint64_t tsize;            /* bytes of it that hold the pattern */
	char source[160];

	volatile uint64_t sink;    /* DMA_READ with memcpy: the sum of what it read */
};

const char *dma_engine_name(enum dma_engine e)
{
	return e == DMA_URING ? "uring" : e == DMA_MEMCPY ? "memcpy" : "?";
}

int dma_engine_parse(const char *s, enum dma_engine *out)
{
	if (!s || !out)
		return -EINVAL;
	if (!strcmp(s, "uring"))
		*out = DMA_URING;
	else if (!strcmp(s, "memcpy"))
		*out = DMA_MEMCPY;
	else
		return -EINVAL;
	return 0;
}

bool dma_done(const struct dma *d)
{
	return atomic_load_explicit(&d->done, memory_order_acquire);
}

void dma_cancel(struct dma *d)
{
	atomic_store_explicit(&d->cancel, true, memory_order_release);
}

enum dma_engine dma_engine_used(const struct dma *d)
{
	return d->used;
}

uint64_t dma_bytes(const struct dma *d)
{
	return atomic_load_explicit(&d->bytes, memory_order_relaxed);
}

const char *dma_source(const struct dma *d)
{
	return d->used == DMA_URING ? d->source : "";
}

static bool cancelled(struct dma *d)
{
	return atomic_load_explicit(&d->cancel, memory_order_acquire);
}

static void count(struct dma *d, uint64_t n)
{
	atomic_fetch_add_explicit(&d->bytes, n, memory_order_relaxed);
}

/* A segment is only read: DMA_READ, or the zero page (never written). */
static bool seg_read_only(const struct dma *d, const struct dc_dcfs_seg *s)
{
	return d->byte == DMA_READ || s->pgoff == UINT64_MAX;
}

#ifdef __SANITIZE_THREAD__
/*
 * Under ThreadSanitizer the memcpy engine moves memory as a device does,
 * unseen: a DMA races with the CPU's accesses to the pages by design (the
 * uring engine's transfers are the kernel's, which TSan never sees either).
 */
__attribute__((no_sanitize("thread"))) void dma_mem_set(void *p, int byte, uint64_t n)
{
	volatile unsigned char *q = p;

	for (uint64_t i = 0; i < n; i++)
		q[i] = (unsigned char)byte;
}

__attribute__((no_sanitize("thread"))) void dma_mem_copy(void *dst, const void *src, uint64_t n)
{
	const volatile unsigned char *q = src;
	unsigned char *d = dst;

	for (uint64_t i = 0; i < n; i++)
		d[i] = q[i];
}

__attribute__((no_sanitize("thread"))) static uint64_t mem_sum(const void *p, uint64_t n)
{
	const volatile unsigned char *q = p;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += q[i];
	return sum;
}
#else
void dma_mem_set(void *p, int byte, uint64_t n)
{
	memset(p, byte, n);
}

void dma_mem_copy(void *dst, const void *src, uint64_t n)
{
	memcpy(dst, src, n);
}

static uint64_t mem_sum(const void *p, uint64_t n)
{
	const unsigned char *q = p;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += q[i];
	return sum;
}
#endif

/* The CPU moves [p, p + n): the pattern in, or a sum of what is there. */
static void cpu_move(struct dma *d, const struct dc_dcfs_seg *s, char *p, uint64_t n)
{
	if (seg_read_only(d, s))
		d->sink += mem_sum(p, n);
	else
		dma_mem_set(p, d->byte, n);
	count(d, n);
}

/* ---- the fallback message: once per distinct reason ----------------------------- */

static pthread_mutex_t said_lock = PTHREAD_MUTEX_INITIALIZER;
static char said[4][400];
static unsigned nsaid;

static void fallback(struct dma *d, const char *reason)
{
	bool known = false;

	pthread_mutex_lock(&said_lock);
	for (unsigned i = 0; i < nsaid && !known; i++)
		known = !strcmp(said[i], reason);
	if (!known) {
		fprintf(stderr, "daxcore: dma: io_uring unavailable (%s): using memcpy\n", reason);
		if (nsaid < 4)
			snprintf(said[nsaid++], sizeof(said[0]), "%s", reason);
	}
	pthread_mutex_unlock(&said_lock);
	d->used = DMA_MEMCPY;
}

/* ---- the uring engine ------------------------------------------------------------ */

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x858458f6: return "ramfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0xF2F52010: return "f2fs";
	case 0x6969: return "nfs";
	default: return NULL;
	}
}

/* The aligned body of segment @s: [*lo, *hi) (empty: *lo >= *hi). */
static void seg_body(const struct dma *d, const struct dc_dcfs_seg *s, uintptr_t *lo,
		     uintptr_t *hi)
{
	uintptr_t a = (uintptr_t)s->addr, e = a + s->len, m = (uintptr_t)d->align - 1;

	*lo = (a + m) & ~m;
	*hi = e & ~m;
}

/*
 * Open the temporary file with O_DIRECT in @dir, unlinked.  Return 0 with
 * d->tfd, d->align, d->source; a -errno with @why said.
 */
static int open_tmp(struct dma *d, const char *dir, char *why, size_t n)
{
	char path[4096];
	struct statx stx;
	struct statfs sfs;
	const char *name;
	int fd, fl, err;

	memset(&sfs, 0, sizeof(sfs));
	if (snprintf(path, sizeof(path), "%s/daxcore-dma-XXXXXX", dir) >= (int)sizeof(path)) {
		snprintf(why, n, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		snprintf(why, n, "mkstemp in %s: %s", dir, strerror(err));
		return -err;
	}
	unlink(path);
	if (!fstatfs(fd, &sfs) && ((unsigned long)sfs.f_type == 0x01021994 /* tmpfs */ ||
				   (unsigned long)sfs.f_type == 0x858458f6 /* ramfs */)) {
		/* it may take O_DIRECT (tmpfs does since Linux 6.6), but it is no disk */
		snprintf(why, n, "%s is in memory (%s), not on a disk", dir,
			 fs_name((long)sfs.f_type) ? fs_name((long)sfs.f_type) : "ramfs");
		close(fd);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT)) {
		err = errno;
		snprintf(why, n, "O_DIRECT in %s: %s", dir, strerror(err));
		close(fd);
		return -err;
	}
	d->align = 4096;
	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) && (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_mem_align) {
			snprintf(why, n, "O_DIRECT in %s: not supported (statx)", dir);
			close(fd);
			return -EINVAL;
		}
		while (d->align < stx.stx_dio_mem_align || d->align < stx.stx_dio_offset_align)
			d->align <<= 1;
	}
	name = fs_name((long)sfs.f_type);
	if (name)
		snprintf(d->source, sizeof(d->source), "%s (%s, %llu-byte blocks)", dir, name,
			 (unsigned long long)d->align);
	else
		snprintf(d->source, sizeof(d->source), "%s (file system %#lx, %llu-byte blocks)",
			 dir, (unsigned long)sfs.f_type, (unsigned long long)d->align);
	d->tfd = fd;
	return 0;
}

/* Fill the first d->tsize bytes of the temporary file with the pattern.  0; -errno. */
static int fill_tmp(struct dma *d, char *why, size_t n)
{
	void *buf;
	ssize_t w;
	int err;

	err = posix_memalign(&buf, (size_t)d->align, (size_t)d->tsize);
	if (err) {
		snprintf(why, n, "no memory for the pattern buffer");
		return -err;
	}
	memset(buf, d->byte == DMA_READ ? 0 : d->byte, (size_t)d->tsize);
	w = pwrite(d->tfd, buf, (size_t)d->tsize, 0);
	err = w < 0 ? errno : 0;
	free(buf);
	if (w != (ssize_t)d->tsize) {
		snprintf(why, n, "O_DIRECT write of the temporary file: %s",
			 w < 0 ? strerror(err) : "short write");
		return w < 0 ? -err : -EIO;
	}
	return 0;
}

/* Queue one transfer of the body [p, p + len) of @s, the temporary file from offset 0. */
static void prep(struct dma *d, struct io_uring_sqe *sqe, const struct dc_dcfs_seg *s, char *p,
		 uint64_t len)
{
	if (seg_read_only(d, s))
		io_uring_prep_write(sqe, d->tfd, p, (unsigned)len, 0);
	else
		io_uring_prep_read(sqe, d->tfd, p, (unsigned)len, 0);
	io_uring_sqe_set_data64(sqe, len);
}

/*
 * Submit what is queued, wait for one completion.  0 (counted) or a
 * -errno with *@what set; *@broken when the ring itself failed (no
 * completion will come).
 */
static int reap(struct dma *d, const char **what, bool *broken)
{
	struct io_uring_cqe *cqe;
	uint64_t want;
	int ret;

	if (io_uring_sq_ready(&d->ring)) {
		ret = io_uring_submit(&d->ring);
		if (ret < 0) {
			*what = "io_uring_submit";
			*broken = true;
			return ret;
		}
	}
	do
		ret = io_uring_wait_cqe(&d->ring, &cqe);
	while (ret == -EINTR);
	if (ret) {
		*what = "io_uring_wait_cqe";
		*broken = true;
		return ret;
	}
	want = io_uring_cqe_get_data64(cqe);
	ret = cqe->res;
	io_uring_cqe_seen(&d->ring, cqe);
	if (ret < 0) {
		*what = "O_DIRECT transfer";
		return ret;
	}
	if ((uint64_t)ret != want) {
		*what = "short O_DIRECT transfer";
		return -EIO;
	}
	count(d, want);
	return 0;
}

/*
 * One transfer of @len bytes at @p, synchronously: the probe dma_start()
 * makes.  0; a -errno with *@what.
 */
static int uring_one(struct dma *d, const struct dc_dcfs_seg *s, char *p, uint64_t len,
		     const char **what)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	bool broken = false;

	if (!sqe) {
		*what = "io_uring_get_sqe";
		return -EBUSY;
	}
	prep(d, sqe, s, p, len);
	return reap(d, what, &broken);
}

/*
 * One pass of the uring engine: the CPU does each segment's unaligned head
 * and tail, the kernel its aligned body, in transfers of up to d->tsize
 * bytes, QUEUE_DEPTH in flight.  Every transfer queued has completed when
 * it returns (unless the ring broke).  0; a -errno (said on stderr).
 */
static int uring_pass(struct dma *d)
{
	unsigned inflight = 0; /* queued or submitted, not yet reaped */
	const char *what = NULL, *w;
	bool broken = false;
	int ret = 0, r;

	for (unsigned i = 0; i < d->ps.nsegs && !ret && !cancelled(d); i++) {
		const struct dc_dcfs_seg *s = &d->ps.segs[i];
		uintptr_t lo, hi, a = (uintptr_t)s->addr, e = a + s->len;

		seg_body(d, s, &lo, &hi);
		if (lo >= hi) { /* no aligned block: all of it by the CPU */
			cpu_move(d, s, s->addr, s->len);
			continue;
		}
		if (lo > a)
			cpu_move(d, s, s->addr, lo - a);
		if (e > hi)
			cpu_move(d, s, (char *)hi, e - hi);
		for (uintptr_t p = lo; p < hi && !ret;) {
			uint64_t len = hi - p < d->tsize ? hi - p : d->tsize;
			struct io_uring_sqe *sqe;

			if (inflight == QUEUE_DEPTH) {
				ret = reap(d, &what, &broken);
				inflight -= !broken;
				continue;
			}
			sqe = io_uring_get_sqe(&d->ring);
			if (!sqe) { /* cannot happen: QUEUE_DEPTH entries at most are queued */
				ret = -EBUSY;
				what = "io_uring_get_sqe";
				break;
			}
			prep(d, sqe, s, (char *)p, len);
			inflight++;
			p += len;
		}
	}
	/* Whatever happened, every queued transfer lands before the unpin. */
	while (inflight && !broken) {
		r = reap(d, &w, &broken);
		inflight -= !broken;
		if (r && !ret) {
			ret = r;
			what = w;
		}
	}
	if (ret)
		fprintf(stderr, "daxcore: dma %s: %s: %s\n", d->tag, what, strerror(-ret));
	return ret;
}

/* Append @s to the string in @buf (of @n bytes), as much as fits. */
static void append(char *buf, size_t n, const char *s)
{
	size_t at = strlen(buf), k = strlen(s);

	if (k > n - 1 - at)
		k = n - 1 - at;
	memcpy(buf + at, s, k);
	buf[at + k] = 0;
}

/*
 * Set the uring engine up for @d: the ring, the temporary file, one
 * transfer into the pinned memory.  Falls back to memcpy (saying why) when
 * any of it fails.
 */
static void uring_setup(struct dma *d)
{
	const char *dirs[3] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	char why[400] = "", all[400] = "";
	const struct dc_dcfs_seg *probe = NULL;
	uintptr_t lo = 0;
	uint64_t largest = 0;
	const char *what;
	int ret;

	if (getenv("DAXCORE_DMA_URING") && !strcmp(getenv("DAXCORE_DMA_URING"), "0")) {
		fallback(d, "DAXCORE_DMA_URING=0"); /* a test aid: the fallback on demand */
		return;
	}
	ret = io_uring_queue_init(QUEUE_DEPTH, &d->ring, 0);
	if (ret) {
		snprintf(why, sizeof(why), "io_uring_queue_init: %s", strerror(-ret));
		fallback(d, why);
		return;
	}
	d->ring_ok = true;
	for (unsigned i = 0; i < 3; i++) {
		if (!dirs[i] || !dirs[i][0])
			continue;
		if (!open_tmp(d, dirs[i], why, sizeof(why)))
			break;
		append(all, sizeof(all), all[0] ? "; " : "");
		append(all, sizeof(all), why);
	}
	if (d->tfd < 0) {
		fallback(d, all);
		return;
	}
	for (unsigned i = 0; i < d->ps.nsegs; i++) {
		uintptr_t l, h;

		seg_body(d, &d->ps.segs[i], &l, &h);
		if (l < h && h - l > largest)
			largest = h - l;
		if (l < h && !probe) {
			probe = &d->ps.segs[i];
			lo = l;
		}
	}
	if (!probe) {
		snprintf(why, sizeof(why), "no %llu-byte aligned block in the pinned range",
			 (unsigned long long)d->align);
		fallback(d, why);
		return;
	}
	d->tsize = largest < CHUNK_MAX ? largest : CHUNK_MAX;
	if (fill_tmp(d, why, sizeof(why))) {
		fallback(d, why);
		return;
	}
	ret = uring_one(d, probe, (char *)lo, d->align, &what);
	if (ret) {
		snprintf(why, sizeof(why), "%s %s the pinned memory: %s", what,
			 seg_read_only(d, probe) ? "from" : "into", strerror(-ret));
		fallback(d, why);
	}
}

/* ---- the worker ------------------------------------------------------------------- */

/* One pass of the memcpy engine (2 MiB at a time, so a cancel is seen soon). */
static int memcpy_pass(struct dma *d)
{
	for (unsigned i = 0; i < d->ps.nsegs && !cancelled(d); i++) {
		const struct dc_dcfs_seg *s = &d->ps.segs[i];

		for (uint64_t at = 0; at < s->len && !cancelled(d); at += CHUNK_MAX) {
			uint64_t n = s->len - at < CHUNK_MAX ? s->len - at : CHUNK_MAX;

			cpu_move(d, s, (char *)s->addr + at, n);
		}
	}
	return 0;
}

static void *worker(void *arg)
{
	struct dma *d = arg;
	int ret;

	for (;;) {
		uint64_t now;

		ret = d->used == DMA_URING ? uring_pass(d) : memcpy_pass(d);
		if (d->pass)
			d->pass(&d->ps, d->pass_arg);
		if (ret || cancelled(d))
			break;
		now = dc_now_ns();
		if (now >= d->end_ns)
			break;
		{
			uint64_t rest = d->end_ns - now < REST_NS ? d->end_ns - now : REST_NS;
			struct timespec ts = { 0, (long)rest };

			nanosleep(&ts, NULL);
		}
	}
	d->err = ret;
	ret = dc_dcfs_unpin(d->fs, &d->ps);
	if (ret) {
		fprintf(stderr, "daxcore: dma %s: dc_dcfs_unpin: %s: %s\n", d->tag, ename(ret),
			dc_errmsg());
		if (!d->err)
			d->err = ret;
	}
	atomic_store_explicit(&d->done, true, memory_order_release);
	return NULL;
}

static void engine_free(struct dma *d)
{
	if (d->ring_ok)
		io_uring_queue_exit(&d->ring);
	if (d->tfd >= 0)
		close(d->tfd);
	free(d);
}

int dma_start(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps, enum dma_engine engine, int byte,
	      uint64_t ms, const char *tag, struct dma **out)
{
	return dma_start_pass(fs, ps, engine, byte, ms, tag, NULL, NULL, out);
}

int dma_start_pass(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps, enum dma_engine engine,
		   int byte, uint64_t ms, const char *tag, dma_pass_fn pass, void *pass_arg,
		   struct dma **out)
{
	struct dma *d;
	uint64_t now = dc_now_ns();
	int ret;

	if (!fs || !ps || !out || !ps->id || !ps->nsegs || !ps->segs ||
	    (engine != DMA_URING && engine != DMA_MEMCPY) || byte < DMA_READ || byte > 255)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fs = fs;
	d->ps = *ps;
	d->used = engine;
	d->byte = byte;
	d->pass = pass;
	d->pass_arg = pass_arg;
	d->tfd = -1;
	d->end_ns = ms > (UINT64_MAX - now) / 1000000u ? UINT64_MAX : now + ms * 1000000u;
	snprintf(d->tag, sizeof(d->tag), "%s", tag ? tag : "");
	atomic_init(&d->done, false);
	atomic_init(&d->cancel, false);
	atomic_init(&d->bytes, 0);
	if (engine == DMA_URING)
		uring_setup(d);
	ret = pthread_create(&d->thread, NULL, worker, d);
	if (ret) {
		engine_free(d);
		return -ret;
	}
	memset(ps, 0, sizeof(*ps));
	*out = d;
	return 0;
}

int dma_wait(struct dma *d)
{
	int ret;

	if (!d)
		return -EINVAL;
	pthread_join(d->thread, NULL);
	ret = d->err;
	engine_free(d);
	return ret;
}
