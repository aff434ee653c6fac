/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/common.h - export macro, version, errors.
 *
 * Error convention (every layer): functions returning int return 0 (or a
 * non-negative count where documented) on success and a negative errno on
 * failure.  Functions returning a pointer return NULL on failure and pass the
 * negative errno through an `int *err` argument where one is documented.  On
 * failure the library also records a human-readable message for the calling
 * thread, read with dc_errmsg().
 */
#ifndef DAXCORE_COMMON_H
#define DAXCORE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DC_API __attribute__((visibility("default")))
#define DC_MUST_CHECK __attribute__((warn_unused_result))

/* Page size daxcore works in, whatever the backend. */
#define DC_PAGE_SHIFT 12
#define DC_PAGE_SIZE (1UL << DC_PAGE_SHIFT)

/**
 * dc_version() - the library version string ("MAJOR.MINOR.PATCH").
 * Context: any.
 * Return: a static string.
 */
DC_API const char *dc_version(void);

/**
 * dc_strerror() - a short description of a daxcore error.
 * @err: a negative errno as returned by a daxcore function (or 0).
 * Context: any; thread-safe.
 * Return: a static string.
 */
DC_API const char *dc_strerror(int err);

/**
 * dc_errname() - the symbolic name of a daxcore error ("EINVAL" for -EINVAL).
 * @err: a negative errno (or 0: "0").
 * Context: any; thread-safe.
 * Return: a static string; "E?" for a negative value it does not know.
 */
DC_API const char *dc_errname(int err);

/**
 * dc_errmsg() - detail for the calling thread's most recent daxcore failure.
 *
 * Functions that fail on bad input (a region spec, an out-of-range offset,
 * a claim by a second holder...) record what exactly was wrong.  The message
 * stays until the next failure on the same thread.
 * Context: any; per thread.
 * Return: a thread-local string, "" if nothing failed yet on this thread.
 */
DC_API const char *dc_errmsg(void);

/**
 * dc_now_ns() - CLOCK_MONOTONIC in nanoseconds, the clock every daxcore
 * deadline is measured on.
 * Context: any.
 */
DC_API uint64_t dc_now_ns(void);

/**
 * dc_quiesce() - wait until every deferred free the library queued (RCU
 * callbacks) has run.  Tests call it before checking for leaks.
 * Context: sleeps; not from a read-side section or a callback.
 */
DC_API void dc_quiesce(void);

#ifdef __cplusplus
}
#endif
#endif
