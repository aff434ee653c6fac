/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devdax_int.h - the device-dax owner's structures (include/daxcore/devdax.h).
 *
 *   struct dc_devdax   one device: its region, its one mapping (device page
 *                      i is file page i), its view set, its pin sets.
 *
 * Locks, outermost first:
 *   @lock (rwlock, the invalidate lock): faults, pins and the unpins of a
 *          live device take it shared, and check @killed under it; kill,
 *          removal, memory failure, close and the deletion of zapped
 *          entries take it exclusive.  So no fault or pin runs while an
 *          entry is zapped or deleted or the mapping destroyed, and no
 *          fault or pin that found the device alive outlives a kill.
 *   then the mapping layer's entry lock and tree lock (faults);
 *   @pin_lock (mutex): the pin table; a leaf.
 * No caller's callback exists; the mapping's ->revoke (our own) runs under
 * @lock held exclusive and takes only view locks.
 */
#ifndef DC_DEVDAX_INT_H
#define DC_DEVDAX_INT_H

#include <daxcore/devdax.h>
#include <daxcore/folio.h>
#include <daxcore/mapping.h>
#include <daxcore/view.h>
#include <pthread.h>
#include "base/base.h"

#define DD_PIN_BUCKETS 256u

/* One pin set, as the table keeps it. */
struct ddpin {
	uint64_t id;
	struct ddpin *hnext;      /* the table's chain */
	uint64_t offset, length;  /* as the caller's struct says */
	uint64_t nf;              /* folios pinned */
	struct dc_folio *folios[]; /* one pin each */
};

struct dc_devdax {
	struct dc_region *r;       /* valid while @m exists or !@removed */
	struct dc_mapping *m;      /* NULL once destroyed (removal, close) */
	struct dc_view_file *vf;
	pthread_rwlock_t lock;
	uint64_t size, npages;     /* bytes, 4 KiB pages */
	unsigned order;            /* the alignment, the order of every entry: the larger of
				    * the region's folio order and its fd's mapping unit */
	unsigned forder;           /* the region's folio order (pins are per folio) */
	_Atomic bool killed;       /* set under @lock exclusive */
	bool removed;              /* @lock exclusive: PRE_REMOVE came, the claim is given up */
	bool closing;              /* @lock exclusive: close began */

	pthread_mutex_t pin_lock;
	struct ddpin *ptab[DD_PIN_BUCKETS];
	uint64_t npins, pinned_folios; /* pin_lock (pin set ids: pin.c, process-wide) */

	_Atomic uint64_t nviews;   /* views mapped; close waits on &@nviews */
	_Atomic uint64_t users;    /* views + pin sets: the close wait's key */
	_Atomic uint64_t faults, sigbus;
};

static inline uint64_t dd_entry_pages(const struct dc_devdax *dd)
{
	return UINT64_C(1) << dd->order;
}

static inline uint64_t dd_folio_pages(const struct dc_devdax *dd)
{
	return UINT64_C(1) << dd->forder;
}

/* devdax.c */
extern void (*dc__test_devdax_enter_hook)(struct dc_devdax *dd);
extern void (*dc__test_devdax_close_hook)(struct dc_devdax *dd);
extern void (*dc__test_devdax_open_hook)(struct dc_devdax *dd);
int dd__enter(struct dc_devdax *dd, const char *what);
int dd__fault_locked(struct dc_devdax *dd, uint64_t pg);
void dd__reap_locked(struct dc_devdax *dd, uint64_t first, uint64_t last);
void dd__users_put(struct dc_devdax *dd);
const struct dc_view_owner_ops *dd__view_ops(void);

/* pin.c */
void dd__pins_free(struct dc_devdax *dd);
bool dd__pins_check(struct dc_devdax *dd);

#endif
