// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * io_file.c - the io commands on files and layouts (open, close, files,
 * unlink, rename, pwrite, pread, truncate, fpunch, fzero, fcollapse,
 * finsert, reflink, fsync, stat), on the device (poison, remove, pages),
 * the consistency check and sleep.
 */
#include "io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK (UINT64_C(1) << 20)

/* ---- the region, for commands that read its folios ------------------------------ */

struct dc_region *io_region_get(struct io_ctx *c)
{
	struct io *io = c->io;

	pthread_rwlock_rdlock(&io->region_lock);
	if (!io->r) {
		pthread_rwlock_unlock(&io->region_lock);
		io_err(c, "the region was removed");
		return NULL;
	}
	return io->r;
}

void io_region_put(struct io *io)
{
	pthread_rwlock_unlock(&io->region_lock);
}

/* ---- namespace ---------------------------------------------------------------------- */

/* The tool's open file called @name (not unlinked), or NULL.  io->lock held. */
static struct io_file *file_by_name(struct io *io, const char *name)
{
	for (struct io_file *f = io->files; f; f = f->next)
		if (f->fd >= 0 && !f->unlinked && !strcmp(f->name, name))
			return f;
	return NULL;
}

int io_cmd_open(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_file *f, **pp;
	struct io_args a;
	int fd;

	if (io_args(c, argc, argv, "", 1, 1, &a))
		return -1;
	pthread_mutex_lock(&io->lock);
	f = file_by_name(io, a.pos[0]);
	if (f)
		io->cur = f;
	pthread_mutex_unlock(&io->lock);
	if (f)
		return 0;
	fd = dc_dcfs_open(io->fs, a.pos[0], DC_DCFS_RDWR);
	if (fd == -ENOENT)
		fd = dc_dcfs_create(io->fs, a.pos[0]);
	if (fd < 0)
		return io_lib_err(c, fd);
	f = calloc(1, sizeof(*f));
	if (!f) {
		(void)dc_dcfs_close(io->fs, fd);
		return io_err(c, "out of memory");
	}
	snprintf(f->name, sizeof(f->name), "%s", a.pos[0]);
	f->fd = fd;
	pthread_mutex_lock(&io->lock);
	for (pp = &io->files; *pp; pp = &(*pp)->next)
		;
	*pp = f;
	io->cur = f;
	pthread_mutex_unlock(&io->lock);
	return 0;
}

int io_cmd_close(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_file *f;
	struct io_args a;
	int fd, ret;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	fd = io_cur_fd(c, &f);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&io->lock);
	f->fd = -1;
	if (io->cur == f)
		io->cur = NULL;
	pthread_mutex_unlock(&io->lock);
	/* -ETIMEDOUT, -EINTR: closed all the same (the eviction waits as an orphan). */
	ret = dc_dcfs_close(io->fs, fd);
	return ret ? io_lib_err(c, ret) : 0;
}

int io_cmd_files(struct io_ctx *c, int argc, char **argv)
{
	struct dc_dcfs_dirent ents[16];
	struct io_args a;
	uint64_t cursor = 0;
	int n;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	while ((n = dc_dcfs_list(c->io->fs, &cursor, ents, 16)) > 0)
		for (int i = 0; i < n; i++) {
			struct dc_dcfs_stat st;

			if (dc_dcfs_lookup(c->io->fs, ents[i].name, &st))
				continue; /* unlinked meanwhile (a job) */
			io_out(c, "%s size=%" PRIu64 " blocks=%" PRIu64, ents[i].name, st.size,
			       st.blocks);
		}
	return n < 0 ? io_lib_err(c, n) : 0;
}

/* @name is gone from the namespace: the tool's files of that name are nameless. */
static void forget_name(struct io *io, const char *name)
{
	pthread_mutex_lock(&io->lock);
	for (struct io_file *f = io->files; f; f = f->next)
		if (!f->unlinked && !strcmp(f->name, name))
			f->unlinked = true;
	pthread_mutex_unlock(&io->lock);
}

int io_cmd_unlink(struct io_ctx *c, int argc, char **argv)
{
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "", 1, 1, &a))
		return -1;
	ret = dc_dcfs_unlink(c->io->fs, a.pos[0]);
	/* -ETIMEDOUT, -EINTR: the name is gone all the same. */
	if (!ret || ret == -ETIMEDOUT || ret == -EINTR)
		forget_name(c->io, a.pos[0]);
	return ret ? io_lib_err(c, ret) : 0;
}

int io_cmd_rename(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	const char *from, *to;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "", 2, 2, &a))
		return -1;
	from = a.pos[0];
	to = a.pos[1];
	ret = dc_dcfs_rename(io->fs, from, to);
	if ((!ret || ret == -ETIMEDOUT || ret == -EINTR) && strcmp(from, to)) {
		forget_name(io, to); /* replaced */
		pthread_mutex_lock(&io->lock);
		for (struct io_file *f = io->files; f; f = f->next)
			if (!f->unlinked && !strcmp(f->name, from))
				snprintf(f->name, sizeof(f->name), "%s", to);
		pthread_mutex_unlock(&io->lock);
	}
	return ret ? io_lib_err(c, ret) : 0;
}

/* ---- data ---------------------------------------------------------------------------- */

int io_cmd_pwrite(struct io_ctx *c, int argc, char **argv)
{
	uint64_t off, len, done = 0;
	struct io_args a;
	int byte = 0xcd, fd;
	char *buf;

	if (io_args(c, argc, argv, "S:", 2, 2, &a) || io_num(c, "offset", a.pos[0], &off) ||
	    io_num(c, "length", a.pos[1], &len) ||
	    (a.has['S'] && io_byte(c, "byte", a.val['S'], &byte)))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	buf = malloc(len < CHUNK ? (len ? len : 1) : CHUNK);
	if (!buf)
		return io_err(c, "out of memory");
	memset(buf, byte, len < CHUNK ? len : CHUNK);
	while (done < len) {
		uint64_t n = len - done < CHUNK ? len - done : CHUNK;
		int64_t r = dc_dcfs_pwrite(c->io->fs, fd, buf, n, off + done);

		if (r <= 0) {
			free(buf);
			if (!done)
				return r < 0 ? io_lib_err(c, (int)r) : io_err(c, "wrote nothing");
			return io_err(c, "wrote %" PRIu64 " of %" PRIu64 " bytes: %s", done, len,
				      r < 0 ? dc_errmsg() : "no progress");
		}
		done += (uint64_t)r;
	}
	free(buf);
	io_out(c, "wrote %" PRIu64 " at %" PRIu64, len, off);
	return 0;
}

int io_cmd_pread(struct io_ctx *c, int argc, char **argv)
{
	uint64_t off, len, done = 0, bad = UINT64_MAX;
	struct io_args a;
	int byte = -1, fd;
	unsigned char *buf;

	if (io_args(c, argc, argv, "v:", 2, 2, &a) || io_num(c, "offset", a.pos[0], &off) ||
	    io_num(c, "length", a.pos[1], &len) ||
	    (a.has['v'] && io_byte(c, "byte", a.val['v'], &byte)))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	buf = malloc(len < CHUNK ? (len ? len : 1) : CHUNK);
	if (!buf)
		return io_err(c, "out of memory");
	while (done < len) {
		uint64_t n = len - done < CHUNK ? len - done : CHUNK;
		int64_t r = dc_dcfs_pread(c->io->fs, fd, buf, n, off + done);

		if (r < 0) {
			free(buf);
			return io_lib_err(c, (int)r);
		}
		for (int64_t i = 0; byte >= 0 && bad == UINT64_MAX && i < r; i++)
			if (buf[i] != byte)
				bad = off + done + (uint64_t)i;
		done += (uint64_t)r;
		if ((uint64_t)r < n)
			break; /* the end of file */
	}
	free(buf);
	io_out(c, "read %" PRIu64 " at %" PRIu64, done, off);
	if (byte < 0)
		return 0;
	if (bad == UINT64_MAX) {
		io_out(c, "verified");
		return 0;
	}
	io_out(c, "mismatch at %" PRIu64, bad);
	return io_err(c, "mismatch at %" PRIu64, bad);
}

int io_cmd_truncate(struct io_ctx *c, int argc, char **argv)
{
	struct dc_wait_opts w;
	struct io_args a;
	uint64_t size;
	int fd, ret;

	if (io_args(c, argc, argv, "t:", 1, 1, &a) || io_num(c, "size", a.pos[0], &size) ||
	    io_deadline(c, &a, &w))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	ret = dc_dcfs_truncate(c->io->fs, fd, size, &w);
	return ret ? io_lib_err(c, ret) : 0;
}

int io_cmd_falloc(struct io_ctx *c, int argc, char **argv)
{
	static const struct { const char *name; unsigned mode; } modes[] = {
		{ "fpunch", DC_DCFS_FALLOC_PUNCH },
		{ "fzero", DC_DCFS_FALLOC_ZERO },
		{ "fcollapse", DC_DCFS_FALLOC_COLLAPSE },
		{ "finsert", DC_DCFS_FALLOC_INSERT },
	};
	struct dc_wait_opts w;
	struct io_args a;
	uint64_t off, len;
	unsigned mode = 0;
	int fd, ret;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[0], modes[i].name))
			mode = modes[i].mode;
	if (io_args(c, argc, argv, "t:", 2, 2, &a) || io_num(c, "offset", a.pos[0], &off) ||
	    io_num(c, "length", a.pos[1], &len) || io_deadline(c, &a, &w))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	ret = dc_dcfs_fallocate(c->io->fs, fd, mode, off, len, &w);
	return ret ? io_lib_err(c, ret) : 0;
}

int io_cmd_reflink(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	uint64_t soff, doff, len;
	struct dc_wait_opts w;
	struct io_file *sf;
	struct io_args a;
	int dfd, sfd, ret;
	bool temp = false;

	if (io_args(c, argc, argv, "t:", 4, 4, &a) || io_num(c, "offset", a.pos[1], &soff) ||
	    io_num(c, "offset", a.pos[2], &doff) || io_num(c, "length", a.pos[3], &len) ||
	    io_deadline(c, &a, &w))
		return -1;
	dfd = io_cur_fd(c, NULL);
	if (dfd < 0)
		return -1;
	pthread_mutex_lock(&io->lock);
	sf = file_by_name(io, a.pos[0]);
	sfd = sf ? sf->fd : -1;
	pthread_mutex_unlock(&io->lock);
	if (sfd < 0) { /* not open here: open it for the call */
		sfd = dc_dcfs_open(io->fs, a.pos[0], DC_DCFS_RDONLY);
		if (sfd < 0)
			return io_lib_err(c, sfd);
		temp = true;
	}
	ret = dc_dcfs_reflink(io->fs, sfd, soff, dfd, doff, len, &w);
	if (ret)
		io_lib_err(c, ret);
	if (temp)
		(void)dc_dcfs_close(io->fs, sfd);
	return ret ? -1 : 0;
}

int io_cmd_fsync(struct io_ctx *c, int argc, char **argv)
{
	struct io_args a;
	int fd, ret;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	ret = dc_dcfs_fsync(c->io->fs, fd, false);
	return ret ? io_lib_err(c, ret) : 0;
}

/*
 * Pages of the file's blocks that no live entry maps but something still
 * references (a pin): what a break zapped and left to its pins, e.g. after
 * a truncate that timed out.  The public API has no count of zapped
 * entries; this reads the folios behind the file's extents instead.
 */
static uint64_t zapped_pages(struct io *io, int fd, uint64_t size)
{
	struct dc_region *r;
	uint64_t off = 0, n = 0;

	pthread_rwlock_rdlock(&io->region_lock);
	r = io->r;
	while (r && off < size) {
		struct dc_dcfs_iomap m;

		if (dc_dcfs_iomap(io->fs, fd, off, size - off, 0, &m) || !m.length)
			break;
		if (m.type != DC_DCFS_IOMAP_HOLE) {
			uint64_t first = off >> DC_PAGE_SHIFT;
			uint64_t end = (off + m.length + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;

			for (uint64_t p = first; p < end; p++) {
				struct dc_folio *f = dc_folio_lookup(r, m.pgoff + (p - first));

				if (f && dc_folio_mapcount(f) == 0 && dc_folio_refcount(f) > 0)
					n++;
			}
		}
		off = ((off + m.length + DC_PAGE_SIZE - 1) & ~(uint64_t)(DC_PAGE_SIZE - 1));
	}
	pthread_rwlock_unlock(&io->region_lock);
	return n;
}

int io_cmd_stat(struct io_ctx *c, int argc, char **argv)
{
	struct dc_dcfs_stat st;
	struct io_args a;
	int fd, ret;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	ret = dc_dcfs_fstat(c->io->fs, fd, &st);
	if (ret)
		return io_lib_err(c, ret);
	io_out(c, "size=%" PRIu64 " blocks=%" PRIu64 " entries=%" PRIu64 " pinned=%" PRIu64
	       " zapped=%" PRIu64, st.size, st.blocks, st.entries, st.pinned_pages,
	       zapped_pages(c->io, fd, st.size));
	return 0;
}

/* ---- the device ------------------------------------------------------------------------ */

/* Report a memory failure of region page @pgoff (what offset @off is backed by). */
static int poison_page(struct io_ctx *c, uint64_t off, uint64_t pgoff)
{
	struct dc_region *r = io_region_get(c);
	int ret;

	if (!r)
		return -1;
	if (pgoff >= dc_region_npages(r)) {
		io_region_put(c->io);
		return io_err(c, "offset %" PRIu64 " is past the end of the device (%" PRIu64
			      " bytes)", off, dc_region_size(r));
	}
	ret = dc_folio_memory_failure(r, pgoff, 1);
	io_region_put(c->io);
	return ret ? io_lib_err(c, ret) : 0;
}

int io_cmd_poison(struct io_ctx *c, int argc, char **argv)
{
	struct dc_dcfs_iomap m;
	struct io_args a;
	uint64_t off;
	int fd, ret;

	if (io_args(c, argc, argv, "", 1, 1, &a) || io_num(c, "offset", a.pos[0], &off))
		return -1;
	if (c->io->dd) /* device-dax: OFF is a device offset, its page that of the region */
		return poison_page(c, off, off >> DC_PAGE_SHIFT);
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	ret = dc_dcfs_iomap(c->io->fs, fd, off, 1, 0, &m);
	if (ret)
		return io_lib_err(c, ret);
	if (m.type == DC_DCFS_IOMAP_HOLE)
		return io_err(c, "offset %" PRIu64 " is a hole: no device page behind it", off);
	return poison_page(c, off, m.pgoff);
}

/*
 * remove [-t MS]: dc_region_remove() in slices of 10 ms, each under the
 * region lock held exclusive (so pages, poison and stat never read a region
 * that a slice freed), until it completes or the deadline passes.
 */
int io_cmd_remove(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct dc_wait_opts w;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "t:", 0, 0, &a) || io_deadline(c, &a, &w))
		return -1;
	pthread_mutex_lock(&io->lock);
	ret = io->removed ? 1 : io->removing ? 2 : 0;
	if (!ret)
		io->removing = true;
	pthread_mutex_unlock(&io->lock);
	if (ret)
		return io_err(c, ret == 1 ? "the region was removed already"
					  : "a removal is running already");
	for (;;) {
		uint64_t now = dc_now_ns(), slice = now + 10000000;
		struct dc_drain_opts d;

		if (w.deadline_ns && w.deadline_ns < slice)
			slice = w.deadline_ns;
		memset(&d, 0, sizeof(d));
		d.deadline_ns = slice;
		pthread_rwlock_wrlock(&io->region_lock);
		ret = dc_region_remove(io->r, &d);
		if (!ret)
			io->r = NULL;
		pthread_rwlock_unlock(&io->region_lock);
		if (ret != -ETIMEDOUT || (w.deadline_ns && dc_now_ns() >= w.deadline_ns))
			break;
	}
	if (ret)
		io_lib_err(c, ret);
	pthread_mutex_lock(&io->lock);
	io->removing = false;
	io->removed = !ret;
	pthread_mutex_unlock(&io->lock);
	return ret ? -1 : 0;
}

/* Folio states of the region, in 4 KiB pages. */
struct page_counts {
	uint64_t idle, referenced, pinned, poisoned;
};

/* Return 0, or -1 (and no error printed) once the region is removed. */
static int count_pages(struct io *io, struct page_counts *pc)
{
	struct dc_region *r;
	uint64_t npages, fp;

	memset(pc, 0, sizeof(*pc));
	pthread_rwlock_rdlock(&io->region_lock);
	r = io->r;
	if (!r) {
		pthread_rwlock_unlock(&io->region_lock);
		return -1;
	}
	npages = dc_region_npages(r);
	fp = UINT64_C(1) << dc_region_folio_order(r);
	for (uint64_t p = 0; p < npages; p += fp) {
		struct dc_folio *f = dc_folio_lookup(r, p);
		uint32_t rc = f ? dc_folio_refcount(f) : 0;

		if (!rc)
			pc->idle += fp;
		else if (rc >= DC_PIN_BIAS)
			pc->pinned += fp;
		else
			pc->referenced += fp;
		if (f && dc_folio_poisoned(f))
			pc->poisoned += fp;
	}
	pthread_rwlock_unlock(&io->region_lock);
	return 0;
}

int io_cmd_pages(struct io_ctx *c, int argc, char **argv)
{
	struct dc_dcfs_statfs st;
	struct page_counts pc;
	struct io_args a;
	uint64_t bp;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	if (count_pages(c->io, &pc))
		return io_err(c, "the region was removed");
	if (c->io->dd) { /* no allocator: the device's entries instead of free blocks */
		struct dc_devdax_stats ds;

		dc_devdax_stats(c->io->dd, &ds);
		io_out(c, "idle=%" PRIu64 " referenced=%" PRIu64 " pinned=%" PRIu64 " poisoned=%"
		       PRIu64 " entries=%" PRIu64 " zapped=%" PRIu64, pc.idle, pc.referenced,
		       pc.pinned, pc.poisoned, ds.entries, ds.entries - ds.live_entries);
		return 0;
	}
	dc_dcfs_statfs(c->io->fs, &st);
	bp = st.block_size >> DC_PAGE_SHIFT;
	io_out(c, "idle=%" PRIu64 " referenced=%" PRIu64 " pinned=%" PRIu64 " poisoned=%" PRIu64
	       " quarantined=%" PRIu64 " free=%" PRIu64, pc.idle, pc.referenced, pc.pinned,
	       pc.poisoned, st.blocks_quarantined * bp, st.blocks_free * bp);
	return 0;
}

/* The counts check compares: pin sets, views, the process's views, pinned pages. */
static unsigned check_counts(struct io_ctx *c, uint64_t pins, uint64_t views, const char *who)
{
	struct dc_view_stats vs;
	struct page_counts pc;
	unsigned held = io_pins_held(c->io), mapped = io_views_mapped(c->io), bad = 0;

	dc_view_stats(&vs);
	if (pins != held) {
		io_out(c, "violation: the %s counts %" PRIu64 " pin sets, the tool holds %u", who,
		       pins, held);
		bad++;
	}
	if (views != mapped) {
		io_out(c, "violation: the %s counts %" PRIu64 " views, the tool mapped %u", who,
		       views, mapped);
		bad++;
	}
	if (vs.views != mapped) {
		io_out(c, "violation: the process has %" PRIu64 " views, the tool mapped %u",
		       vs.views, mapped);
		bad++;
	}
	if (!pins && !count_pages(c->io, &pc) && pc.pinned) {
		io_out(c, "violation: %" PRIu64 " pages pinned with no pin set held", pc.pinned);
		bad++;
	}
	return bad;
}

static int check_end(struct io_ctx *c, unsigned bad)
{
	if (bad)
		return io_err(c, "%u violation%s", bad, bad == 1 ? "" : "s");
	io_out(c, "invariants ok");
	return 0;
}

/* check on device-dax: dc_devdax_check() (it prints what failed), then the counts. */
static int check_devdax(struct io_ctx *c)
{
	struct dc_devdax_stats ds;
	unsigned bad = 0;

	if (!dc_devdax_check(c->io->dd)) {
		io_out(c, "violation: dc_devdax_check (its report is on stderr)");
		bad++;
	}
	dc_devdax_stats(c->io->dd, &ds);
	return check_end(c, bad + check_counts(c, ds.pins, ds.views, "device"));
}

/*
 * check: dc_dcfs_check(), then the counts the tool can hold against the
 * library's: pin sets and views held, descriptors open, no quarantined
 * block and no pinned folio without a pin set.  The library's check wants
 * a quiet file system, so check refuses while a job or a DMA runs.
 */
int io_cmd_check(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct dc_dcfs_statfs st;
	unsigned bad = 0, open = 0, running = 0;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	pthread_mutex_lock(&io->lock);
	for (unsigned i = 0; i < io->njobs; i++)
		if (atomic_load(&io->jobs[i]->phase) != IO_JOB_DONE)
			running = running ? running : io->jobs[i]->n;
	for (struct io_file *f = io->files; f; f = f->next)
		open += f->fd >= 0;
	pthread_mutex_unlock(&io->lock);
	if (running)
		return io_err(c, "job %u is running: wait for it first", running);
	if (io_dmas_running(io))
		return io_err(c, "a DMA is running: wait for it first");
	if (io->dd)
		return check_devdax(c);
	ret = dc_dcfs_check(io->fs);
	if (ret) {
		io_out(c, "violation: %s", dc_errmsg());
		bad++;
	}
	dc_dcfs_statfs(io->fs, &st);
	bad += check_counts(c, st.pins, st.views, "mount");
	if (st.open != open) {
		io_out(c, "violation: the mount counts %" PRIu64 " open descriptors, the tool "
		       "holds %u", st.open, open);
		bad++;
	}
	if (!st.pins && st.blocks_quarantined) {
		io_out(c, "violation: %" PRIu64 " blocks quarantined with no pin set held",
		       st.blocks_quarantined);
		bad++;
	}
	return check_end(c, bad);
}

int io_cmd_sleep(struct io_ctx *c, int argc, char **argv)
{
	struct timespec ts;
	struct io_args a;
	uint64_t ms;

	if (io_args(c, argc, argv, "", 1, 1, &a) || io_num(c, "duration", a.pos[0], &ms))
		return -1;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	return 0;
}
