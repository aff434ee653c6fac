/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * futex_count.h - count the futex system calls the wait layer makes, for
 * the wait tests: this program's syscall() passes every call through to
 * libc's and counts SYS_futex while a thread has armed the hook.  A wake
 * of an address nobody waits on must make none; a cancel makes one per
 * bucket that has a waiter.  Include it in one test program only once.
 */
#ifndef DC_TEST_FUTEX_COUNT_H
#define DC_TEST_FUTEX_COUNT_H

#include <daxcore/wait.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>

typedef long (*syscall_fn)(long, ...);
static _Atomic(syscall_fn) real_syscall;
static __thread int hook_armed;
static atomic_long hook_futex;

long syscall(long nr, ...)
{
	syscall_fn real = atomic_load(&real_syscall);
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real) {
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
		atomic_store(&real_syscall, real);
	}
	if (nr == SYS_futex && hook_armed)
		atomic_fetch_add(&hook_futex, 1);
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Futex calls made by dc_wake_var(@addr) in this thread. */
static inline long wake_counted(const void *addr)
{
	long before = atomic_load(&hook_futex);

	hook_armed = 1;
	dc_wake_var(addr);
	hook_armed = 0;
	return atomic_load(&hook_futex) - before;
}

/* Futex calls made by firing a scratch token: it visits every bucket. */
static inline long buckets_with_waiters(void)
{
	struct dc_cancel scratch = { 0 };
	long before = atomic_load(&hook_futex);

	hook_armed = 1;
	dc_cancel_fire(&scratch);
	hook_armed = 0;
	return atomic_load(&hook_futex) - before;
}

#endif
