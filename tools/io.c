// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * io.c - `daxcore io [-d SPEC] [-o MOUNTOPTS] [-c CMD]... [SCRIPT | -]`: an
 * xfs_io-style command language over a dcfs mount on one region, or over
 * one device-dax device when the region is of type devdax (docs/cli.md
 * has the language; each command's output lines are a contract).
 *
 * This file: the options, the reader (one command per -c, per line of
 * SCRIPT or of standard input; '#' starts a comment), the command table and
 * its dispatch, the error convention (a failed command prints
 * "daxcore: CMD: TEXT" on stderr, the run goes on and exits 1), background
 * jobs (bg, wait, blocked) and the teardown that ends every run and
 * reports what leaked.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__thread struct io_ctx *io_tls;

/* ---- output and errors -------------------------------------------------------- */

void io_out(struct io_ctx *c, const char *fmt, ...)
{
	FILE *f = c && c->out ? c->out : stdout;
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

int io_err(struct io_ctx *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c->job) {
		/* A job's first error is its result: wait prints it. */
		if (!c->job->failed)
			snprintf(c->job->err, sizeof(c->job->err), "%s", text);
		c->job->failed = true;
	} else {
		fflush(stdout);
		fprintf(stderr, "daxcore: %s: %s\n", c->cmd, text);
	}
	c->failed = true;
	return -1;
}

int io_lib_err(struct io_ctx *c, int err)
{
	const char *m = dc_errmsg();

	return io_err(c, "%s", m && *m ? m : dc_strerror(err));
}

/* ---- operands and options ----------------------------------------------------- */

static int usage(struct io_ctx *c)
{
	return io_err(c, "usage: %s", c->usage);
}

int io_args(struct io_ctx *c, int argc, char **argv, const char *spec, int min, int max,
	    struct io_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *p;
		unsigned char o;

		if (w[0] != '-' || !w[1] || (w[1] >= '0' && w[1] <= '9')) {
			if (a->npos == IO_MAX_ARGS)
				return usage(c);
			a->pos[a->npos++] = argv[i];
			continue;
		}
		o = (unsigned char)w[1];
		p = o < 128 && o != ':' ? strchr(spec, o) : NULL;
		if (!p || w[2])
			return io_err(c, "unknown option '%s' (usage: %s)", w, c->usage);
		if (p[1] == ':') {
			if (i + 1 >= argc)
				return io_err(c, "option '%s' needs a value (usage: %s)", w,
					      c->usage);
			a->val[o] = argv[++i];
		}
		a->has[o] = true;
	}
	if (a->npos < min || a->npos > max)
		return usage(c);
	return 0;
}

int io_num(struct io_ctx *c, const char *what, const char *s, uint64_t *out)
{
	int ret = parse_size(s, out);

	if (ret)
		return io_err(c, "bad %s '%s': %s", what, s,
			      ret == -ERANGE ? "out of range" : "not a number");
	return 0;
}

int io_byte(struct io_ctx *c, const char *what, const char *s, int *out)
{
	int ret = parse_byte(s, out);

	if (ret)
		return io_err(c, "bad %s '%s': %s", what, s,
			      ret == -ERANGE ? "not a byte (0 to 255)" : "not a number");
	return 0;
}

int io_cur_fd(struct io_ctx *c, struct io_file **f)
{
	struct io_file *cur = c->cur;
	int fd;

	pthread_mutex_lock(&c->io->lock);
	fd = cur ? cur->fd : -1;
	pthread_mutex_unlock(&c->io->lock);
	if (fd < 0)
		return io_err(c, "no file is open (open NAME first)");
	if (f)
		*f = cur;
	return fd;
}

int io_deadline(struct io_ctx *c, const struct io_args *a, struct dc_wait_opts *w)
{
	uint64_t ms;

	memset(w, 0, sizeof(*w));
	if (!a->has['t'])
		return 0;
	if (io_num(c, "deadline", a->val['t'], &ms))
		return -1;
	if (ms > UINT64_MAX / 2000000)
		return io_err(c, "bad deadline '%s': out of range", a->val['t']);
	w->deadline_ns = dc_now_ns() + ms * 1000000;
	return 0;
}

/* ---- the command table ---------------------------------------------------------- */

#define IO_NOBG  0x1u /* not as a background job */
#define IO_WAITS 0x2u /* may wait for pins: `blocked` looks at it */
#define IO_FS    0x4u /* a file-system command: refused on device-dax */

struct io_cmd {
	const char *name;
	const char *synopsis;
	unsigned flags;
	int (*fn)(struct io_ctx *c, int argc, char **argv);
};

static int cmd_bg(struct io_ctx *c, int argc, char **argv);
static int cmd_wait(struct io_ctx *c, int argc, char **argv);
static int cmd_blocked(struct io_ctx *c, int argc, char **argv);
static int cmd_help(struct io_ctx *c, int argc, char **argv);

static const struct io_cmd cmds[] = {
	{ "open", "open NAME", IO_NOBG | IO_FS, io_cmd_open },
	{ "close", "close", IO_WAITS | IO_FS, io_cmd_close },
	{ "files", "files", IO_FS, io_cmd_files },
	{ "unlink", "unlink NAME", IO_WAITS | IO_FS, io_cmd_unlink },
	{ "rename", "rename OLD NEW", IO_WAITS | IO_FS, io_cmd_rename },
	{ "pwrite", "pwrite [-S BYTE] OFF LEN", IO_FS, io_cmd_pwrite },
	{ "pread", "pread [-v BYTE] OFF LEN", IO_FS, io_cmd_pread },
	{ "truncate", "truncate SIZE [-t MS]", IO_WAITS | IO_FS, io_cmd_truncate },
	{ "fpunch", "fpunch OFF LEN [-t MS]", IO_WAITS | IO_FS, io_cmd_falloc },
	{ "fzero", "fzero OFF LEN [-t MS]", IO_WAITS | IO_FS, io_cmd_falloc },
	{ "fcollapse", "fcollapse OFF LEN [-t MS]", IO_WAITS | IO_FS, io_cmd_falloc },
	{ "finsert", "finsert OFF LEN [-t MS]", IO_WAITS | IO_FS, io_cmd_falloc },
	{ "reflink", "reflink SRC SOFF DOFF LEN [-t MS]", IO_WAITS | IO_FS, io_cmd_reflink },
	{ "fsync", "fsync", IO_FS, io_cmd_fsync },
	{ "mmap", "mmap [-r] OFF LEN", 0, io_cmd_mmap },
	{ "mwrite", "mwrite N OFF LEN [-S BYTE]", 0, io_cmd_mwrite },
	{ "mread", "mread N OFF LEN [-v BYTE]", 0, io_cmd_mread },
	{ "munmap", "munmap N", 0, io_cmd_munmap },
	{ "pin", "pin TAG OFF LEN [-l] [-r]", 0, io_cmd_pin },
	{ "mpin", "mpin TAG N OFF LEN [-r]", 0, io_cmd_mpin },
	{ "unpin", "unpin TAG", 0, io_cmd_unpin },
	{ "pins", "pins", 0, io_cmd_pins },
	{ "dma", "dma TAG OFF LEN MS [-e uring|memcpy] [-S BYTE | -r]", 0, io_cmd_dma },
	{ "bg", "bg CMD [ARGS]", IO_NOBG, cmd_bg },
	{ "wait", "wait [N]", IO_NOBG, cmd_wait },
	{ "blocked", "blocked N [-t MS]", IO_NOBG, cmd_blocked },
	{ "sleep", "sleep MS", 0, io_cmd_sleep },
	{ "poison", "poison OFF", 0, io_cmd_poison },
	{ "remove", "remove [-t MS]", IO_WAITS, io_cmd_remove },
	{ "stat", "stat", IO_FS, io_cmd_stat },
	{ "pages", "pages", 0, io_cmd_pages },
	{ "events", "events", IO_FS, io_cmd_events },
	{ "check", "check", 0, io_cmd_check },
	{ "help", "help", IO_NOBG, cmd_help },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct io_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static int cmd_help(struct io_ctx *c, int argc, char **argv)
{
	struct io_args a;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	for (size_t i = 0; i < NCMDS; i++)
		io_out(c, "%s", cmds[i].synopsis);
	return 0;
}

/* Run one command in the calling thread's context.  Return 0 or -1. */
static int dispatch(struct io_ctx *c, int argc, char **argv)
{
	const struct io_cmd *cmd = find_cmd(argv[0]);
	int ret;

	c->cmd = argv[0];
	c->failed = false;
	if (!cmd)
		return io_err(c, "unknown command (try 'help')");
	c->usage = cmd->synopsis;
	if ((cmd->flags & IO_FS) && c->io->dd)
		return io_err(c, "not a file system (device-dax)");
	if (c->job)
		atomic_store(&c->job->phase, (cmd->flags & IO_WAITS) ? IO_JOB_WAITING
								     : IO_JOB_RUNNING);
	ret = cmd->fn(c, argc, argv);
	return ret < 0 || c->failed ? -1 : 0;
}

/* Split @line into words ('#' starts a comment).  Return the count, or -1 (too many). */
static int split(char *line, char **argv)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			break;
		if (n == IO_MAX_ARGS)
			return -1;
		argv[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		if (*p)
			*p++ = 0;
	}
	argv[n] = NULL;
	return n;
}

/* ---- background jobs ------------------------------------------------------------- */

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *job_main(void *arg)
{
	struct io_job *j = arg;
	struct io_ctx c = { .io = j->io, .cur = j->cur, .out = j->outf, .job = j };

	io_tls = &c;
	atomic_store(&j->tid, (int)my_tid());
	(void)dispatch(&c, j->argc, j->argv);
	fflush(j->outf);
	atomic_store(&j->phase, IO_JOB_DONE);
	io_tls = NULL;
	return NULL;
}

static int cmd_bg(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	const struct io_cmd *cmd;
	struct io_job *j;
	size_t len = 0;
	char *p;
	int ret;

	if (argc < 2)
		return usage(c);
	cmd = find_cmd(argv[1]);
	if (!cmd)
		return io_err(c, "unknown command '%s'", argv[1]);
	if (cmd->flags & IO_NOBG)
		return io_err(c, "'%s' cannot run in the background", argv[1]);
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	j = calloc(1, sizeof(*j));
	if (j)
		j->words = malloc(len);
	if (!j || !j->words) {
		if (j)
			free(j->words);
		free(j);
		return io_err(c, "out of memory");
	}
	p = j->words;
	for (int i = 1; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		memcpy(p, argv[i], n);
		j->argv[j->argc++] = p;
		p += n;
	}
	j->io = io;
	j->outf = open_memstream(&j->out, &j->outlen);
	if (!j->outf) {
		free(j->words);
		free(j);
		return io_err(c, "open_memstream: %s", strerror(errno));
	}
	j->cur = c->cur;
	atomic_store(&j->phase, IO_JOB_RUNNING);
	pthread_mutex_lock(&io->lock);
	if (io->njobs == io->jobs_cap) {
		unsigned ncap = io->jobs_cap ? 2 * io->jobs_cap : 8;
		struct io_job **nj = realloc(io->jobs, ncap * sizeof(*nj));

		if (!nj) {
			pthread_mutex_unlock(&io->lock);
			fclose(j->outf);
			free(j->out);
			free(j->words);
			free(j);
			return io_err(c, "out of memory");
		}
		io->jobs = nj;
		io->jobs_cap = ncap;
	}
	j->n = io->njobs + 1;
	io->jobs[io->njobs++] = j;
	pthread_mutex_unlock(&io->lock);
	ret = pthread_create(&j->th, NULL, job_main, j);
	if (ret) {
		/* The slot stays (numbers are never reused), done and failed. */
		snprintf(j->err, sizeof(j->err), "pthread_create: %s", strerror(ret));
		j->failed = true;
		atomic_store(&j->phase, IO_JOB_DONE);
		io_out(c, "job %u", j->n);
		return 0;
	}
	j->started = true;
	io_out(c, "job %u", j->n);
	return 0;
}

static struct io_job *job_get(struct io_ctx *c, const char *s)
{
	struct io *io = c->io;
	struct io_job *j = NULL;
	uint64_t n;

	if (io_num(c, "job number", s, &n))
		return NULL;
	pthread_mutex_lock(&io->lock);
	if (n >= 1 && n <= io->njobs)
		j = io->jobs[n - 1];
	pthread_mutex_unlock(&io->lock);
	if (!j)
		io_err(c, "no job %s", s);
	return j;
}

/* Join job @j and print what it wrote and how it ended.  Return 0, or -1 if it failed. */
static int job_reap(struct io_ctx *c, struct io_job *j)
{
	struct io *io = c->io;

	if (j->started)
		pthread_join(j->th, NULL);
	j->reaped = true;
	if (j->outf) {
		fclose(j->outf);
		j->outf = NULL;
		if (j->outlen)
			fwrite(j->out, 1, j->outlen, c->out ? c->out : stdout);
		free(j->out);
		j->out = NULL;
	}
	if (!j->failed) {
		io_out(c, "job %u done: ok", j->n);
		return 0;
	}
	io_out(c, "job %u done: %s", j->n, j->err);
	fflush(stdout);
	fprintf(stderr, "daxcore: %s: %s\n", j->argv[0], j->err);
	io->failures++;
	return -1;
}

static int cmd_wait(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_args a;
	struct io_job *j;

	if (io_args(c, argc, argv, "", 0, 1, &a))
		return -1;
	if (a.npos == 1) {
		j = job_get(c, a.pos[0]);
		if (!j)
			return -1;
		if (j->reaped)
			return io_err(c, "job %u was waited for already", j->n);
		(void)job_reap(c, j);
		io_reap_dmas(c, false, false);
		return 0;
	}
	for (unsigned i = 0;; i++) {
		pthread_mutex_lock(&io->lock);
		j = i < io->njobs ? io->jobs[i] : NULL;
		pthread_mutex_unlock(&io->lock);
		if (!j)
			break;
		if (!j->reaped)
			(void)job_reap(c, j);
	}
	io_reap_dmas(c, true, false);
	return 0;
}

/* The state letter of thread @tid in /proc ('R', 'S', 'D', ...; '?' unknown). */
static char thread_state(int tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/*
 * Whether job @j waits for pins now: it runs a command that may (IO_WAITS:
 * truncate, the fallocate modes, reflink, close/unlink/rename evicting,
 * remove), its thread is asleep in the kernel (a futex: the library's
 * dc_wait_var()), and the mount holds pin sets.  The library does not say
 * which thread waits for what, so this is the tool's own reading of the
 * job's state; cmd_blocked() wants it three times in a row.
 */
static bool job_blocked_now(struct io *io, struct io_job *j)
{
	struct dc_dcfs_statfs st;
	struct dc_devdax_stats ds;
	int tid = atomic_load(&j->tid);
	char s;

	if (atomic_load(&j->phase) != IO_JOB_WAITING || !tid)
		return false;
	s = thread_state(tid);
	if (s != 'S' && s != 'D')
		return false;
	if (io->dd) {
		dc_devdax_stats(io->dd, &ds);
		return ds.pins > 0;
	}
	dc_dcfs_statfs(io->fs, &st);
	return st.pins > 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * blocked N [-t MS]: poll (every millisecond, up to MS, default 2000) until
 * the job is seen blocked three polls in a row, or it ends: "job N blocked"
 * or "job N not blocked".  A job that never blocks costs the whole bound;
 * one that finished answers at once.
 */
static int cmd_blocked(struct io_ctx *c, int argc, char **argv)
{
	struct io_args a;
	struct io_job *j;
	uint64_t ms = 2000, end;
	unsigned seen = 0;

	if (io_args(c, argc, argv, "t:", 1, 1, &a))
		return -1;
	if (a.has['t'] && io_num(c, "deadline", a.val['t'], &ms))
		return -1;
	j = job_get(c, a.pos[0]);
	if (!j)
		return -1;
	end = dc_now_ns() + (ms > 1000000 ? 1000000 : ms) * 1000000;
	for (;;) {
		if (atomic_load(&j->phase) == IO_JOB_DONE)
			break;
		seen = job_blocked_now(c->io, j) ? seen + 1 : 0;
		if (seen == 3) {
			io_out(c, "job %u blocked", j->n);
			return 0;
		}
		if (dc_now_ns() >= end)
			break;
		sleep_ms(1);
	}
	io_out(c, "job %u not blocked", j->n);
	return 0;
}

/* ---- the run ----------------------------------------------------------------------- */

/* Run one line in the main thread.  Return 0 or -1. */
static int run_line(struct io_ctx *c, const char *text)
{
	char *line = strdup(text), *argv[IO_MAX_ARGS + 1];
	int argc, ret;

	if (!line) {
		c->cmd = "io";
		io_err(c, "out of memory");
		c->io->failures++;
		return -1;
	}
	argc = split(line, argv);
	if (argc == 0) {
		free(line);
		return 0;
	}
	io_reap_dmas(c, false, false); /* "dma TAG done" before the next command runs */
	if (argc < 0) {
		c->cmd = argv[0];
		ret = io_err(c, "more than %d words", IO_MAX_ARGS);
	} else {
		pthread_mutex_lock(&c->io->lock);
		c->cur = c->io->cur;
		pthread_mutex_unlock(&c->io->lock);
		ret = dispatch(c, argc, argv);
	}
	if (ret)
		c->io->failures++;
	fflush(stdout);
	free(line);
	return ret;
}

static void leak(struct io_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void leak(struct io_ctx *c, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "daxcore: io: leak: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->io->failures++;
}

/* Unlink every name: eviction gives every block back (the leak check of blocks). */
static void unlink_all(struct io_ctx *c)
{
	struct dc_dcfs_dirent ents[16];
	uint64_t cur = 0;
	int n;

	while ((n = dc_dcfs_list(c->io->fs, &cur, ents, 16)) > 0)
		for (int i = 0; i < n; i++) {
			int ret = dc_dcfs_unlink(c->io->fs, ents[i].name);

			if (ret)
				leak(c, "unlink %s at the end: %s", ents[i].name, dc_errmsg());
		}
}

/*
 * The end of a device-dax run, once the script's pins and views are gone:
 * whatever the device still counts is a leak; check it and close it.
 */
static void teardown_devdax(struct io_ctx *c)
{
	struct io *io = c->io;
	struct dc_devdax_stats ds;
	int ret;

	dc_devdax_stats(io->dd, &ds);
	if (ds.pins || ds.pinned_folios)
		leak(c, "%" PRIu64 " pin sets (%" PRIu64 " folios) still held", ds.pins,
		     ds.pinned_folios);
	if (ds.views)
		leak(c, "%" PRIu64 " views still mapped", ds.views);
	if (!dc_devdax_check(io->dd))
		leak(c, "violation: dc_devdax_check failed (its report is above)");
	ret = dc_devdax_close(io->dd, NULL);
	if (ret)
		leak(c, "close the device: %s", dc_errmsg());
	else
		io->dd = NULL;
}

/*
 * The end of every run: unpin what the script left and cut the DMAs still
 * running short ("dma TAG done"), let the jobs finish (printing their ends
 * as wait does), unpin what the jobs pinned, unmap the views, close the files, check the file system, unlink
 * everything, unmount (device-dax: check and close the device) and remove
 * the region.  Whatever is still held then
 * (a pin set, a view, a descriptor, a block, a folio reference) is a leak:
 * reported on stderr, and the run fails.
 */
static void teardown(struct io_ctx *c)
{
	struct io *io = c->io;
	struct dc_dcfs_statfs st;
	struct dc_view_stats vs;
	struct io_file *f, *next;
	int ret;

	c->cmd = "io";
	c->cur = NULL;
	if (io_unpin_all(c))
		io->failures++;
	io_reap_dmas(c, true, true); /* their pins are what the script left too */
	for (unsigned i = 0; i < io->njobs; i++)
		if (!io->jobs[i]->reaped)
			(void)job_reap(c, io->jobs[i]);
	if (io_unpin_all(c)) /* what the jobs pinned */
		io->failures++;
	io_reap_dmas(c, true, true);
	if (io_unmap_all(c))
		io->failures++;
	if (io->dd) {
		teardown_devdax(c);
		goto region;
	}
	for (f = io->files; f; f = f->next)
		if (f->fd >= 0) {
			ret = dc_dcfs_close(io->fs, f->fd);
			f->fd = -1;
			if (ret)
				leak(c, "close %s: %s", f->name, dc_errmsg());
		}
	io->cur = NULL;
	dc_dcfs_statfs(io->fs, &st);
	if (st.pins || st.pinned_pages)
		leak(c, "%" PRIu64 " pin sets (%" PRIu64 " pages) still held", st.pins,
		     st.pinned_pages);
	if (st.views)
		leak(c, "%" PRIu64 " views still mapped", st.views);
	if (st.open)
		leak(c, "%" PRIu64 " descriptors still open", st.open);
	ret = dc_dcfs_check(io->fs);
	if (ret)
		leak(c, "violation: %s", dc_errmsg());
	if (!st.shutdown) {
		unlink_all(c);
		dc_dcfs_statfs(io->fs, &st);
		if (st.files || st.orphans)
			leak(c, "%" PRIu64 " files (%" PRIu64 " orphans) left after unlinking "
			     "every name", st.files, st.orphans);
		if (st.blocks_quarantined)
			leak(c, "%" PRIu64 " blocks still quarantined", st.blocks_quarantined);
		if (st.blocks_free + st.blocks_bad != st.blocks)
			leak(c, "%" PRIu64 " blocks neither free nor bad once every file is gone",
			     st.blocks - st.blocks_free - st.blocks_bad);
	}
	ret = dc_dcfs_unmount(io->fs, NULL);
	if (ret)
		leak(c, "unmount: %s", dc_errmsg());
	else
		io->fs = NULL;
region:
	if (io->r) {
		struct dc_region_stats rs;
		struct dc_drain_opts d = { .deadline_ns = dc_now_ns() + 10000000000ull };

		dc_region_stats(io->r, &rs);
		if (rs.busy)
			leak(c, "%" PRIu64 " folio references left in the region", rs.busy);
		if (!io->fs && !io->dd) {
			ret = dc_region_remove(io->r, &d);
			if (ret)
				leak(c, "region removal: %s", dc_errmsg());
			else
				io->r = NULL;
		}
	}
	dc_quiesce();
	dc_view_stats(&vs);
	if (vs.views)
		leak(c, "%" PRIu64 " views left in the process", vs.views);
	for (f = io->files; f; f = next) {
		next = f->next;
		free(f);
	}
	io->files = NULL;
	for (unsigned i = 0; i < io->nviews; i++) {
		pthread_rwlock_destroy(&io->views[i]->lock);
		free(io->views[i]);
	}
	free(io->views);
	for (unsigned i = 0; i < io->njobs; i++) {
		free(io->jobs[i]->words);
		free(io->jobs[i]);
	}
	free(io->jobs);
	for (size_t i = 0; i < io->nevents; i++)
		free(io->events[i]);
	free(io->events);
}

static void io_usage(FILE *f)
{
	fprintf(f, "usage: daxcore io [-d SPEC] [-o MOUNTOPTS] [-c CMD]... [SCRIPT | -]\n"
		   "  -d SPEC       the region (default " IO_DEFAULT_SPEC "); a region of type\n"
		   "                devdax (type=devdax, devdax:) is served as one device-dax\n"
		   "                device instead of dcfs: mmap, mread, mwrite, munmap, pin,\n"
		   "                mpin, unpin, pins, poison, pages, check, remove take device\n"
		   "                offsets; file-system commands fail (not a file system)\n"
		   "  -o MOUNTOPTS  dcfs mount options (quarantine, sync, slow_wait_ms=N, ...)\n"
		   "  -c CMD        a command (repeatable; run before SCRIPT)\n"
		   "  SCRIPT        a file of commands, one a line; '-' for standard input\n"
		   "'#' starts a comment.  Commands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n", cmds[i].synopsis);
	fprintf(f, "exit status: 0 every command succeeded, 1 one failed or something leaked, "
		   "2 usage error\n");
}

int io_main(int argc, char **argv)
{
	const char *spec = IO_DEFAULT_SPEC, *mopts = NULL, *script = NULL;
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct dc_dcfs_ops ops = { .event = io_event };
	char **cmdv = calloc((size_t)argc, sizeof(char *));
	struct io io;
	struct io_ctx c;
	FILE *in = NULL;
	int ncmd = 0, opt, ret;

	if (!cmdv) {
		fprintf(stderr, "daxcore io: out of memory\n");
		return 1;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+d:o:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': spec = optarg; break;
		case 'o': mopts = optarg; break;
		case 'c': cmdv[ncmd++] = optarg; break;
		case 'h':
			io_usage(stdout);
			free(cmdv);
			return 0;
		default:
			if (optopt && strchr("doc", optopt))
				fprintf(stderr, "daxcore io: option '-%c' needs a value\n", optopt);
			else
				fprintf(stderr, "daxcore io: unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "run 'daxcore io --help' for usage\n");
			free(cmdv);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "daxcore io: too many arguments (one SCRIPT at most)\n");
		free(cmdv);
		return EXIT_USAGE;
	}
	if (argc - optind == 1)
		script = argv[optind];
	if (!ncmd && !script) {
		fprintf(stderr, "daxcore io: no commands (-c CMD, SCRIPT, or - for standard "
				"input)\nrun 'daxcore io --help' for usage\n");
		free(cmdv);
		return EXIT_USAGE;
	}
	if (script) {
		in = strcmp(script, "-") ? fopen(script, "r") : stdin;
		if (!in) {
			fprintf(stderr, "daxcore io: %s: %s\n", script, strerror(errno));
			free(cmdv);
			return 1;
		}
	}

	memset(&io, 0, sizeof(io));
	pthread_mutex_init(&io.lock, NULL);
	pthread_rwlock_init(&io.region_lock, NULL);
	ret = dc_region_create(spec, &io.r);
	if (ret) {
		fprintf(stderr, "daxcore io: %s\n", dc_errmsg());
		goto fail;
	}
	if (dc_region_type(io.r) == DC_REGION_DEVDAX) {
		/* A devdax region is served as one device: no file system. */
		if (mopts)
			fprintf(stderr, "daxcore io: -o %s: mount options are for dcfs; %s is a "
				"device-dax region\n", mopts, spec);
		else if ((ret = dc_devdax_open(io.r, &io.dd)))
			fprintf(stderr, "daxcore io: device-dax: %s\n", dc_errmsg());
		if (mopts || ret) {
			(void)dc_region_remove(io.r, NULL);
			goto fail;
		}
	} else if ((ret = dc_dcfs_mount(io.r, mopts, &ops, &io, &io.fs))) {
		fprintf(stderr, "daxcore io: mount: %s\n", dc_errmsg());
		(void)dc_region_remove(io.r, NULL);
		goto fail;
	}
	ret = io_signals_init();
	if (ret) {
		fprintf(stderr, "daxcore io: signal handlers: %s\n", dc_strerror(ret));
		if (io.dd)
			(void)dc_devdax_close(io.dd, NULL);
		else
			(void)dc_dcfs_unmount(io.fs, NULL);
		(void)dc_region_remove(io.r, NULL);
		goto fail;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&c, 0, sizeof(c));
	c.io = &io;
	c.out = stdout;
	io_tls = &c;

	for (int i = 0; i < ncmd; i++)
		(void)run_line(&c, cmdv[i]);
	if (in) {
		char *line = NULL;
		size_t cap = 0;

		while (getline(&line, &cap, in) >= 0)
			(void)run_line(&c, line);
		free(line);
		if (in != stdin)
			fclose(in);
		in = NULL;
	}
	teardown(&c);
	io_tls = NULL;
	free(cmdv);
	pthread_rwlock_destroy(&io.region_lock);
	pthread_mutex_destroy(&io.lock);
	fflush(stdout);
	return io.failures ? 1 : 0;

fail:
	if (in && in != stdin)
		fclose(in);
	free(cmdv);
	pthread_rwlock_destroy(&io.region_lock);
	pthread_mutex_destroy(&io.lock);
	return 1;
}
