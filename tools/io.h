/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.h - `daxcore io`, the xfs_io-style command language over one dcfs
 * mount, or over one device-dax device (a region of type devdax: views,
 * pins by device offset, pages, check, poison, remove; the file-system
 * commands fail with "not a file system (device-dax)"): the state its
 * three files share.
 *
 *   io.c       options, the script reader and tokenizer, the command table
 *              and dispatch, error reporting, background jobs (bg, wait,
 *              blocked), the end-of-run teardown and its leak report
 *   io_file.c  files and layouts: open ... fsync, stat, files, poison,
 *              remove, pages, check, sleep
 *   io_view.c  views (mmap, mwrite, mread, munmap) and their SIGBUS
 *              handler, pins (pin, mpin, unpin, pins) and the revoke
 *              callback, DMA (dma and its reaping), events
 *
 * Threads: the main thread runs the script; each `bg` job runs one command
 * in a thread of its own.  The tables below are guarded by io.lock, which
 * is never held across a library call that may wait (a layout change, an
 * unpin, a removal): revoke and event callbacks take it from whatever
 * thread the library runs them in.
 */
#ifndef DC_TOOLS_IO_H
#define DC_TOOLS_IO_H

#include "cli.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

#define IO_MAX_ARGS 32

/* A file the tool opened (never freed before the teardown: jobs keep pointers). */
struct io_file {
	struct io_file *next;
	char name[DC_DCFS_NAME_MAX + 1];
	int fd;        /* -1 once closed */
	bool unlinked; /* the name no longer refers to it (unlink, rename over it) */
};

/* A view, numbered from 1 (slots stay until the teardown). */
struct io_view {
	unsigned n;
	struct dc_view v;
	pthread_rwlock_t lock; /* accesses read-lock it, munmap write-locks it */
	struct io_file *file;
	bool mapped;
};

enum io_pin_kind { IO_PIN_PLAIN, IO_PIN_USER, IO_PIN_DMA };
enum io_pin_state {
	IO_PS_PINNING, /* the pin call is in flight (a revoke only marks it) */
	IO_PS_PINNED,
	IO_PS_TAKEN,   /* someone is unpinning it: out of the list */
};

/* A pin set the tool holds (pin, mpin) or a DMA holds (dma), by tag. */
struct io_pin {
	struct io_pin *next;
	uint64_t serial; /* the revoke callback's argument (not a pointer: see io_view.c) */
	char tag[DC_DCFS_TAG_MAX + 1];
	enum io_pin_kind kind;
	enum io_pin_state state;
	bool longterm, revoke_pending;
	uint64_t off, pages, t0_ns; /* file (device-dax: device) offset, device pages held, when taken */
	struct dc_dcfs_pinset ps;     /* dcfs */
	struct dc_devdax_pinset dps;  /* device-dax */
	struct dma *dma;
};

enum io_job_phase {
	IO_JOB_RUNNING, /* running a command that does not wait for pins (or not yet) */
	IO_JOB_WAITING, /* inside a command that may wait for pins (truncate ... remove) */
	IO_JOB_DONE,
};

struct io_job {
	struct io *io;
	unsigned n;
	pthread_t th;
	bool started;          /* th runs (pthread_create succeeded) */
	int argc;
	char *argv[IO_MAX_ARGS + 1];
	char *words;           /* storage of argv */
	struct io_file *cur;   /* the current file when it started */
	_Atomic int phase;     /* enum io_job_phase */
	_Atomic int tid;       /* its thread's id (0 until it runs) */
	bool failed;
	char err[512];         /* the first error of its command */
	char *out;             /* its standard output, printed by wait */
	size_t outlen;
	FILE *outf;
	bool reaped;           /* wait printed it */
};

struct io {
	struct dc_region *r;   /* NULL once removed */
	struct dc_dcfs *fs;    /* the mount (NULL in device-dax mode) */
	struct dc_devdax *dd;  /* device-dax mode: the device (a region of type devdax) */
	pthread_mutex_t lock;  /* everything below */
	struct io_file *files, *cur;
	struct io_view **views;
	unsigned nviews, views_cap;
	struct io_job **jobs;
	unsigned njobs, jobs_cap;
	struct io_pin *pins;   /* oldest first */
	uint64_t next_serial;
	char **events;         /* formatted event lines, queued by the ->event callback */
	size_t nevents, events_cap;
	bool removing, removed;
	/* Commands that read the region's folios (pages, poison, stat) hold it
	 * shared; remove holds it exclusive around each slice of its wait, so
	 * the region is never freed under a reader. */
	pthread_rwlock_t region_lock;
	_Atomic unsigned failures; /* failed commands and leaks (the exit status) */
};

/* One thread's view of the run: where its output goes, its current file. */
struct io_ctx {
	struct io *io;
	struct io_file *cur;
	FILE *out;
	struct io_job *job; /* NULL: the main thread */
	const char *cmd;    /* the command running, for error messages */
	const char *usage;  /* its synopsis */
	bool failed;
};

/* The context of the calling thread (callbacks find their output there). */
extern __thread struct io_ctx *io_tls;

/* A command's words split into options and operands (io_args()). */
struct io_args {
	int npos;
	char *pos[IO_MAX_ARGS];
	const char *val[128]; /* the value of an option with one */
	bool has[128];
};

/* ---- io.c ------------------------------------------------------------------- */
/* Print a line of the command's output (stdout, or the job's buffer). */
void io_out(struct io_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fail the command: "daxcore: CMD: TEXT" (at once, or at wait for a job).  Return -1. */
int io_err(struct io_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fail with a library error: dc_errmsg(), or dc_strerror(@err) without one.  Return -1. */
int io_lib_err(struct io_ctx *c, int err);
/*
 * Split @argv[1..] by @spec ("S:t:r": letters, ':' after one that takes a
 * value); between @min and @max operands.  Return 0, or -1 having printed
 * the command's usage.
 */
int io_args(struct io_ctx *c, int argc, char **argv, const char *spec, int min, int max,
	    struct io_args *a);
/* Numbers: -1 with "bad WHAT 'S'" printed. */
int io_num(struct io_ctx *c, const char *what, const char *s, uint64_t *out);
int io_byte(struct io_ctx *c, const char *what, const char *s, int *out);
/* The current file, or -1 with "no file is open". */
int io_cur_fd(struct io_ctx *c, struct io_file **f);
/* A wait deadline from "-t MS" (opts zeroed without one). */
int io_deadline(struct io_ctx *c, const struct io_args *a, struct dc_wait_opts *w);

/* ---- io_file.c -------------------------------------------------------------- */
int io_cmd_open(struct io_ctx *c, int argc, char **argv);
int io_cmd_close(struct io_ctx *c, int argc, char **argv);
int io_cmd_files(struct io_ctx *c, int argc, char **argv);
int io_cmd_unlink(struct io_ctx *c, int argc, char **argv);
int io_cmd_rename(struct io_ctx *c, int argc, char **argv);
int io_cmd_pwrite(struct io_ctx *c, int argc, char **argv);
int io_cmd_pread(struct io_ctx *c, int argc, char **argv);
int io_cmd_truncate(struct io_ctx *c, int argc, char **argv);
int io_cmd_falloc(struct io_ctx *c, int argc, char **argv); /* fpunch fzero fcollapse finsert */
int io_cmd_reflink(struct io_ctx *c, int argc, char **argv);
int io_cmd_fsync(struct io_ctx *c, int argc, char **argv);
int io_cmd_stat(struct io_ctx *c, int argc, char **argv);
int io_cmd_poison(struct io_ctx *c, int argc, char **argv);
int io_cmd_remove(struct io_ctx *c, int argc, char **argv);
int io_cmd_pages(struct io_ctx *c, int argc, char **argv);
int io_cmd_check(struct io_ctx *c, int argc, char **argv);
int io_cmd_sleep(struct io_ctx *c, int argc, char **argv);
/* Take the region for reading its folios: NULL with an error if it is removed or going. */
struct dc_region *io_region_get(struct io_ctx *c);
void io_region_put(struct io *io);

/* ---- io_view.c -------------------------------------------------------------- */
int io_cmd_mmap(struct io_ctx *c, int argc, char **argv);
int io_cmd_munmap(struct io_ctx *c, int argc, char **argv);
int io_cmd_mwrite(struct io_ctx *c, int argc, char **argv);
int io_cmd_mread(struct io_ctx *c, int argc, char **argv);
int io_cmd_pin(struct io_ctx *c, int argc, char **argv);
int io_cmd_mpin(struct io_ctx *c, int argc, char **argv);
int io_cmd_unpin(struct io_ctx *c, int argc, char **argv);
int io_cmd_pins(struct io_ctx *c, int argc, char **argv);
int io_cmd_dma(struct io_ctx *c, int argc, char **argv);
int io_cmd_events(struct io_ctx *c, int argc, char **argv);
/* io_signals_init() (cli.h): the SIGBUS handler mwrite and mread use. */
/* ->event of the mount: queue a line for `events`. */
void io_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg);
/*
 * Print "dma TAG done" for each finished DMA (@all: wait for every one;
 * @cancel: cut them short first, as unpin does).
 */
void io_reap_dmas(struct io_ctx *c, bool all, bool cancel);
/* The number of DMAs still running. */
unsigned io_dmas_running(struct io *io);
/* Pin sets the tool and its DMAs hold. */
unsigned io_pins_held(struct io *io);
/* Teardown: unpin every pin set the tool holds (0, or -1 if an unpin failed). */
int io_unpin_all(struct io_ctx *c);
/* Teardown: unmap every view. */
int io_unmap_all(struct io_ctx *c);
unsigned io_views_mapped(struct io *io);

#endif
