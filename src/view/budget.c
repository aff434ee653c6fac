// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * budget.c - the VMAs views use, and the revocation of cold windows that
 * keeps them under the process-wide budget.
 *
 * Every distinct device run a view maps is one kernel VMA (and so is each
 * PROT_NONE gap between runs), and vm.max_map_count is shared with the
 * whole process.  Each view counts the VMAs its range is made of (exactly,
 * for what it mapped: view.c), their sum is dc__view_vmas_total, and every
 * window a fault maps is remembered, oldest first, in a ring.  When the
 * total passes the budget, the oldest windows are revoked (back to
 * PROT_NONE: the next access faults them in again) until it is 7/8 of the
 * budget or only the newest window is left.
 */
#include "view/view_int.h"
#include <stdlib.h>

#define RING 16384u

struct win {
	const char *addr; /* the view's address and id: found again through the table */
	uint64_t id;
	uint64_t a, b;
};

static pthread_mutex_t lru_lock = PTHREAD_MUTEX_INITIALIZER;
static struct win *ring;
static size_t head, count; /* the oldest at head */

void dc__view_vmas_add(struct vview *v, int64_t delta)
{
	v->vmas += (uint64_t)delta;
	atomic_fetch_add_explicit(&dc__view_vmas_total, (uint64_t)delta, memory_order_relaxed);
}

void dc__view_budget_push(struct vview *v, uint64_t a, uint64_t b)
{
	pthread_mutex_lock(&lru_lock);
	if (!ring)
		ring = calloc(RING, sizeof(*ring)); /* no memory: no cold list, nothing to revoke */
	if (ring) {
		if (count == RING) { /* forget the oldest */
			head = (head + 1) % RING;
			count--;
		}
		ring[(head + count) % RING] = (struct win){ v->addr, v->id, a, b };
		count++;
	}
	pthread_mutex_unlock(&lru_lock);
}

/*
 * Revoke the oldest windows while over the budget, but never the window
 * @cur's fault just mapped, [a, b) (a window faulted again has an older
 * entry too: revoking that would undo the fault, for ever).
 */
void dc__view_budget_enforce(struct vview *cur, uint64_t a, uint64_t b)
{
	uint64_t budget = atomic_load(&dc__view_budget), low = budget - budget / 8;

	if (atomic_load_explicit(&dc__view_vmas_total, memory_order_relaxed) <= budget)
		return;
	while (atomic_load_explicit(&dc__view_vmas_total, memory_order_relaxed) > low) {
		struct vview *v;
		struct win w;

		pthread_mutex_lock(&lru_lock);
		if (count <= 1) {
			pthread_mutex_unlock(&lru_lock);
			return;
		}
		w = ring[head];
		head = (head + 1) % RING;
		count--;
		pthread_mutex_unlock(&lru_lock);
		if (w.id == cur->id && w.a < b && a < w.b)
			continue; /* an older entry of the window just mapped */
		v = dc__view_lookup_get(w.addr);
		if (!v)
			continue;
		if (v->id == w.id) {
			dc__view_lock(v);
			dc__view_revoke_pages(v, w.a, w.b);
			dc__view_unlock(v);
			atomic_fetch_add_explicit(&dc__view_ctr_budget_revokes, 1,
						  memory_order_relaxed);
		}
		dc__view_put(v);
	}
}
