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

#define EXIT_USAGE 2
#define DEMO_DEFAULT_SPEC "mem:64M"

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

/* layers.c: the library-level demo (`daxcore demo --layers [SPEC]`). */
int demo_layers(const char *spec);

/* ---- dma.c: the DMA engines ------------------------------------------------------ */

/*
 * A DMA holds a pin set for its whole transfer and unpins it on completion.
 * DMA_URING: io_uring (liburing) O_DIRECT reads from a temporary file on
 * local disk filled with the pattern into the pinned device pages, over and
 * over for the duration: the kernel's block layer moves the data, as a disk
 * or NIC would.  Where io_uring or O_DIRECT is unavailable it falls back to
 * DMA_MEMCPY and says so once on stderr (dma_engine_used() tells).
 * DMA_MEMCPY: a worker thread copies the pattern into the pinned pages,
 * over and over for the duration.
 */
enum dma_engine { DMA_URING = 0, DMA_MEMCPY = 1 };

struct dma;

/*
 * dma_start() - start a DMA of @ms milliseconds writing @byte into every
 * byte of the pin set @ps (of @fs), which the DMA owns from now on: it is
 * unpinned (dc_dcfs_unpin()) when the transfer ends, before dma_done()
 * turns true.  @tag names it in messages.
 * Return: 0 with *@out; -EINVAL; -ENOMEM; another -errno (thread creation);
 * on error @ps is still the caller's (pinned).
 */
int dma_start(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps, enum dma_engine engine, int byte,
	      uint64_t ms, const char *tag, struct dma **out);
/* The transfer ended and its pins are released.  Any thread. */
bool dma_done(const struct dma *d);
/* Ask the DMA to stop early (a killed client); it still unpins. */
void dma_cancel(struct dma *d);
/* Wait for the end, free @d.  Return: 0, or the transfer's -errno. */
int dma_wait(struct dma *d);
enum dma_engine dma_engine_used(const struct dma *d);
uint64_t dma_bytes(const struct dma *d); /* bytes moved so far */
const char *dma_engine_name(enum dma_engine e); /* "uring", "memcpy" */
int dma_engine_parse(const char *s, enum dma_engine *out);

#endif
