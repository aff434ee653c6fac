/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.c - errors, messages, version, clock, injectable allocation. */
#include "base/base.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static __thread char errmsg[256];
__thread unsigned dc__cb_depth;

DC_API const char *dc_version(void)
{
	return DC_VERSION;
}

DC_API const char *dc_errmsg(void)
{
	return errmsg;
}

int dc__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

int dc__fail_str(int err, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof(errmsg))
		n = sizeof(errmsg) - 1;
	memcpy(errmsg, msg, n);
	errmsg[n] = 0;
	return err;
}

_Noreturn void dc__bug(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "daxcore BUG at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

DC_API const char *dc_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid argument";
	case -ENOMEM: return "out of memory";
	case -ENXIO: return "gone (being removed, removed, killed or disabled), or past the end of the device";
	case -EHWPOISON: return "memory poisoned (a memory failure)";
	case -EBUSY: return "busy: in use or already held";
	case -EPERM: return "not the holder";
	case -EOPNOTSUPP: return "not supported by this region type";
	case -EOVERFLOW: return "reference count would overflow";
	case -ETIMEDOUT: return "deadline passed";
	case -EINTR: return "cancelled";
	case -ENOENT: return "no such entry, file or device";
	case -EEXIST: return "already exists";
	case -ERANGE: return "out of range";
	case -EAGAIN: return "raced, try again";
	case -ENOSPC: return "no space";
	case -EIO: return "I/O error or poisoned memory";
	case -ESHUTDOWN: return "the mapping is exiting (final truncate)";
	case -EBADF: return "bad descriptor, or not open for writing";
	case -EFAULT: return "past the end of file";
	case -EFBIG: return "file too large";
	case -EMFILE: return "too many open descriptors";
	case -EUCLEAN: return "file system inconsistent";
	default: return err < 0 ? strerror(-err) : "not an error code";
	}
}

DC_API const char *dc_errname(int err)
{
	switch (err) {
#define N(e) case -e: return #e
	N(EINVAL); N(ENOMEM); N(ENXIO); N(EBUSY); N(EPERM); N(EOPNOTSUPP); N(EOVERFLOW);
	N(ETIMEDOUT); N(EINTR); N(ENOENT); N(EEXIST); N(ERANGE); N(EAGAIN); N(ENOSPC);
	N(EIO); N(ESHUTDOWN); N(EDEADLK); N(ENOSYS); N(EFAULT); N(EACCES); N(ENODEV);
	N(EROFS); N(EFBIG); N(ENAMETOOLONG); N(ENOTEMPTY); N(EISDIR); N(ENOTDIR);
	N(EBADF); N(EMFILE); N(EXDEV); N(EUCLEAN); N(EHWPOISON);
#undef N
	case 0: return "0";
	default: return err < 0 ? "E?" : "not an error";
	}
}

DC_API uint64_t dc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- injectable allocation (test builds only: -DDC_FAULT_INJECT) -------- */

#ifdef DC_FAULT_INJECT

static _Atomic unsigned long alloc_calls;
static _Atomic unsigned long fail_at; /* absolute call number, 0 = never */
static _Atomic unsigned long fail_every;
static atomic_bool fault_env_read;
/*
 * The per-thread injector (dc__fault_set_thread()): this thread's own
 * allocation count and target.  Thread-local, so that which allocation
 * fails depends only on what this thread allocates: a torture worker that
 * arms it fails the same call of its own whatever the other threads do,
 * and its seed replays.
 */
static _Thread_local unsigned long thread_calls, thread_fail_at;

void dc__fault_set(unsigned long nth)
{
	st_relaxed(&fail_at, nth ? ld_relaxed(&alloc_calls) + nth : 0);
}

void dc__fault_set_thread(unsigned long nth)
{
	thread_fail_at = nth ? thread_calls + nth : 0;
}

unsigned long dc__alloc_count(void)
{
	return ld_relaxed(&alloc_calls);
}

bool dc__fault_alloc(void)
{
	unsigned long n = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;
	unsigned long at, every, tn = ++thread_calls;

	if (unlikely(thread_fail_at && tn == thread_fail_at)) {
		thread_fail_at = 0;
		return true;
	}
	if (unlikely(!ld_relaxed(&fault_env_read))) {
		const char *e = getenv("DAXCORE_FAIL_ALLOC");

		if (e)
			st_relaxed(&fail_every, strtoul(e, NULL, 0));
		st_relaxed(&fault_env_read, true);
	}
	at = ld_relaxed(&fail_at);
	if (unlikely(at && n == at)) {
		st_relaxed(&fail_at, 0);
		return true;
	}
	every = ld_relaxed(&fail_every);
	return unlikely(every && n % every == 0);
}

void *dc__malloc(size_t n)
{
	return dc__fault_alloc() ? NULL : malloc(n);
}

void *dc__calloc(size_t n, size_t sz)
{
	return dc__fault_alloc() ? NULL : calloc(n, sz);
}

void *dc__zalloc_aligned(size_t align, size_t n)
{
	void *p;

	if (dc__fault_alloc() || posix_memalign(&p, align, n))
		return NULL;
	memset(p, 0, n);
	return p;
}
#endif /* DC_FAULT_INJECT */
