// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo_sigbus.c - how `daxcore demo` touches views and sees SIGBUS: the
 * views' SIGSEGV handler (dc_view_handler_install()) serves faults and
 * raises SIGBUS for an access the kernel would answer so (past the end of
 * file, a poisoned block, a file system shut down); a SIGBUS handler of
 * the demo's own (sigaction, SA_SIGINFO) records si_addr and si_code and
 * siglongjmp()s back to the access that caused it.  Main thread only.
 */
#include "demo.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;
static void *volatile bus_addr;
static volatile int bus_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!bus_armed) { /* not one of ours: the default action */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	bus_armed = 0;
	bus_addr = si->si_addr;
	bus_code = si->si_code;
	siglongjmp(bus_env, 1);
}

void sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		fatal("sigaction(SIGBUS): %s", strerror(errno));
	MUST(dc_view_handler_install());
}

/* Load the byte at @p (or store @val there): true if it got SIGBUS, with
 * bus_addr and bus_code set. */
__attribute__((noinline)) bool view_touch(volatile uint8_t *p, bool store, uint8_t val, uint8_t *out)
{
	if (sigsetjmp(bus_env, 1))
		return true;
	bus_addr = NULL;
	bus_armed = 1;
	if (store)
		*p = val;
	else
		*out = *p;
	bus_armed = 0;
	return false;
}

/* Load one byte of each page of view bytes [from, to): how many got SIGBUS
 * (each at its own address, BUS_ADRERR); the first loaded byte in *@first. */
uint64_t view_probe_pages(const struct dc_view *v, uint64_t from, uint64_t to, uint8_t *first)
{
	uint64_t n = 0;
	bool have = false;

	for (uint64_t off = from; off < to; off += DC_PAGE_SIZE) {
		volatile uint8_t *p = (uint8_t *)v->addr + off + 123;
		uint8_t b = 0;

		if (view_touch(p, false, 0, &b)) {
			check(bus_addr == (void *)p && bus_code == BUS_ADRERR,
			      "SIGBUS at view +%" PRIu64 " names its address (BUS_ADRERR)", off);
			n++;
		} else if (!have) {
			*first = b;
			have = true;
		}
	}
	return n;
}

/* Store @c into view bytes [@p, @p + @n): true if it got SIGBUS. */
__attribute__((noinline)) bool view_store_guarded(uint8_t *p, size_t n, int c)
{
	if (sigsetjmp(bus_env, 1))
		return true;
	bus_armed = 1;
	memset(p, c, n);
	bus_armed = 0;
	return false;
}

/* Whether view bytes [@p, @p + @n) all read @c (*@same): true if SIGBUS. */
__attribute__((noinline)) bool view_cmp_guarded(const uint8_t *p, size_t n, int c, bool *same)
{
	if (sigsetjmp(bus_env, 1))
		return true;
	bus_armed = 1;
	{
		const volatile uint8_t *q = p;
		size_t i = 0;

		while (i < n && q[i] == c)
			i++;
		*same = i == n;
	}
	bus_armed = 0;
	return false;
}

const void *sigbus_addr(void)
{
	return bus_addr;
}

const char *sigbus_code(void)
{
	switch (bus_code) {
	case BUS_ADRERR: return "BUS_ADRERR";
	case BUS_ADRALN: return "BUS_ADRALN";
	case BUS_OBJERR: return "BUS_OBJERR";
	case BUS_MCEERR_AR: return "BUS_MCEERR_AR";
	case BUS_MCEERR_AO: return "BUS_MCEERR_AO";
	default: return "si_code ?";
	}
}
