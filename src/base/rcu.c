/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rcu.c - the library's RCU (see rcu.h). */
#include "base/base.h"
#include "base/rcu.h"

#include <daxcore/region.h>

#ifdef DC_TSAN
char dc__rcu_tsan_token;
#endif

DC_API void dc_quiesce(void)
{
	urcu_bp_barrier();
	dc__rcu_tsan_acquire();
}
