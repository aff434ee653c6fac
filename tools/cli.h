/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h - the daxcore tool's shared pieces: one file per command (demo.c,
 * layers.c, io*.c, info.c), the DMA engines (dma.c) and what they all use
 * (util.c: error names, size parsing and printing).
 */
#ifndef DC_TOOLS_CLI_H
#define DC_TOOLS_CLI_H

#include <daxcore/daxcore.h>

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#define EXIT_USAGE 2
#define DEMO_DEFAULT_SPEC "mem:64M"
#define IO_DEFAULT_SPEC "mem:64M"
#define TORTURE_DEFAULT_SPEC "mem:64M"

/* util.c */
/* "-EBUSY" for -EBUSY, "0" for 0 (a few rotating buffers). */
const char *ename(int err);
/* "64 MiB", "4 KiB", or bytes when not a whole unit. */
const char *size_str(uint64_t bytes, char *buf, size_t n);

/*
 * Numbers as the command line and the io language write them: decimal or
 * 0x hex, with an optional K, M, G or T suffix (powers of 1024) for sizes.
 * Return 0 with *@out; -EINVAL (not a number, trailing junk, empty);
 * -ERANGE (does not fit in 64 bits, or a byte above 255).
 */
int parse_size(const char *s, uint64_t *out);
int parse_byte(const char *s, int *out); /* 0..255, decimal or 0x hex */
/* @s as a JSON string: quoted, with '"', '\\' and control characters escaped. */
void json_str(FILE *f, const char *s);

/* info.c: `daxcore info [--json] [SPEC]`. */
int cmd_info(int argc, char **argv);
/* dma_selftest.c: `daxcore dma-selftest [-e ENGINE] [-d SPEC]` (a test aid). */
int cmd_dma_selftest(int argc, char **argv);

/* layers.c: the library-level demo (`daxcore demo --layers [SPEC]`). */
int demo_layers(const char *spec);
/* demo.c: `daxcore demo [-d SPEC] [--json]`, `demo --layers [SPEC]`; argv[0] is "demo". */
int demo_main(int argc, char **argv);

/* io.c: `daxcore io` (argv[0] is "io"); returns the exit status. */
int io_main(int argc, char **argv);
/* io_view.c: install the views' SIGSEGV handler and the SIGBUS one sigbus_guard() uses. */
int io_signals_init(void);
/*
 * Run @fn(@arg) with SIGBUS caught for the calling thread (needs
 * io_signals_init()): 0, or -1 with *@fault the address that got SIGBUS
 * (@fn was cut short there).  @fn must not hold locks across the access.
 */
int sigbus_guard(void (*fn)(void *arg), void *arg, void **fault);

/* torture*.c: `daxcore torture` (argv[0] is "torture"). */
int torture_main(int argc, char **argv);

/* ---- dma.c: the DMA engines ------------------------------------------------------ */

/*
 * A DMA holds a pin set for its whole transfer and unpins it on completion.
 * DMA_URING: io_uring (liburing) O_DIRECT reads from a temporary file on
 * local disk filled with the pattern into the pinned device pages, over and
 * over for the duration: the kernel's block layer moves the data, as a disk
 * or NIC would.  The file is made with mkstemp() in the first of $TMPDIR,
 * /var/tmp and /tmp whose file system takes O_DIRECT, and unlinked at once
 * (dma_source() says which).  O_DIRECT moves whole blocks of memory aligned
 * to the file system's direct-I/O alignment (at least 4 KiB): the unaligned
 * head and tail of a segment (a pin that starts or ends inside a page) are
 * copied by the CPU (memset), and counted in dma_bytes() all the same.
 * Where io_uring or O_DIRECT is unavailable (io_uring_queue_init() refused
 * in a container, no directory that takes O_DIRECT, a first O_DIRECT
 * transfer into the pinned memory refused, or a pin set without one
 * aligned block) it falls back to DMA_MEMCPY before dma_start() returns and
 * says so on stderr, once per distinct reason:
 *   daxcore: dma: io_uring unavailable (<reason>): using memcpy
 * (dma_engine_used() tells which engine runs).  A test aid: with
 * DAXCORE_DMA_URING=0 in the environment it falls back at once, the
 * reason being "DAXCORE_DMA_URING=0".  A directory in memory (tmpfs, which
 * takes O_DIRECT since Linux 6.6, or ramfs) is passed over: it is no disk.
 * DMA_MEMCPY: a worker thread copies the pattern into the pinned pages
 * (memset), over and over for the duration.
 *
 * Either engine makes at least one full pass over the pin set, then repeats
 * until @ms milliseconds from dma_start() have passed, resting 1 ms between
 * passes (it holds the pins for the duration without using a whole core).
 *
 * Direction: a DMA whose @byte is DMA_READ only reads the pinned memory (a
 * transmit: a NIC sending from it, a disk writing it out): the uring engine
 * does O_DIRECT writes from the segments to the temporary file, the memcpy
 * engine sums their bytes.  That is the DMA a DC_DCFS_PIN_READONLY pin set
 * allows (it may hold the zero page, and blocks shared with other files).
 * A DMA of a pattern byte writes every byte of the pin set, except that a
 * segment of the zero page (pgoff UINT64_MAX) is never written, whatever
 * @byte says: it is only read.
 */
enum dma_engine { DMA_URING = 0, DMA_MEMCPY = 1 };

#define DMA_READ (-1) /* @byte of a DMA that only reads the pinned memory */

struct dma;

/*
 * dma_start() - start a DMA of @ms milliseconds writing @byte (0..255) into
 * every byte of the pin set @ps (of @fs), or reading them (DMA_READ).  The
 * DMA owns the pin set from now on: dma_start() copies *@ps and clears it
 * (id 0, no segments: the caller must not unpin it); the DMA unpins
 * (dc_dcfs_unpin()) when the transfer ends, before dma_done() turns true.
 * A revoke callback of a long-term pin set a DMA owns calls dma_cancel():
 * the DMA stops and unpins.  @tag names it in messages (copied; up to 31
 * bytes kept).
 * Return: 0 with *@out; -EINVAL (NULL, a pin set not pinned or empty, a bad
 * engine or byte); -ENOMEM; another -errno (thread creation); on error @ps
 * is still the caller's (pinned, unchanged).
 */
int dma_start(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps, enum dma_engine engine, int byte,
	      uint64_t ms, const char *tag, struct dma **out);
/*
 * dma_start_pass() - dma_start(), and @pass(@ps, @pass_arg) is called in the
 * DMA's thread after every pass (a cancelled or failed one too), while the
 * pin set is still held: the torture's oracle stamps the pages there and
 * checks that every pinned block is still the file's.  @ps is the DMA's
 * copy (read it, do not unpin it).
 */
typedef void (*dma_pass_fn)(const struct dc_dcfs_pinset *ps, void *arg);
/* memset() as the memcpy engine writes pinned memory (what a pass hook may use too). */
void dma_mem_set(void *p, int byte, uint64_t n);
/* memcpy() from device memory as a device reads it (unseen by ThreadSanitizer: a DMA,
 * a fault's zeroing or another file's store may race it by design; the caller judges). */
void dma_mem_copy(void *dst, const void *src, uint64_t n);
int dma_start_pass(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps, enum dma_engine engine,
		   int byte, uint64_t ms, const char *tag, dma_pass_fn pass, void *pass_arg,
		   struct dma **out);
/* The transfer ended and its pins are released.  Any thread. */
bool dma_done(const struct dma *d);
/* Ask the DMA to stop early (a killed client); it still unpins.  Any thread. */
void dma_cancel(struct dma *d);
/*
 * Wait for the end, free @d.  Return: 0, or the transfer's -errno (an I/O
 * that failed, a short transfer: -EIO; what it was is printed on stderr as
 * "daxcore: dma TAG: ..."), or the unpin's.
 */
int dma_wait(struct dma *d);
enum dma_engine dma_engine_used(const struct dma *d);
uint64_t dma_bytes(const struct dma *d); /* bytes moved (written or read) so far */
/* Where the uring engine's data comes from: "/tmp (ext4, 4096-byte blocks)"; "" for memcpy. */
const char *dma_source(const struct dma *d);
const char *dma_engine_name(enum dma_engine e); /* "uring", "memcpy" */
int dma_engine_parse(const char *s, enum dma_engine *out); /* 0; -EINVAL */

#endif
