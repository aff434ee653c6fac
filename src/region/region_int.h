/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * region_int.h - the region and folio records, shared by src/region and
 * src/folio (not installed).
 *
 * Metadata layout.  A region's folio records form one array indexed by
 * folio number (pgoff >> order), reserved as a MAP_NORESERVE anonymous
 * mapping: the kernel backs each 4 KiB page of it (a "section" of 256
 * records) only when first written, so a sparse 64 TiB region costs nothing
 * until used, and the hot paths index the array directly.  A bitmap (same
 * trick) records which sections were touched, for the statistics.
 *
 * Each record is 16 bytes: the reference count, the region id (so a folio
 * finds its region and offset with no header), flags, and the owner word.
 */
#ifndef DC_REGION_INT_H
#define DC_REGION_INT_H

#include "base/base.h"

#include <daxcore/folio.h>
#include <daxcore/liveref.h>
#include <daxcore/region.h>
#include <pthread.h>

struct dc_folio {
	_Atomic uint32_t ref;    /* 0 = idle; pins add DC_PIN_BIAS; bit 31: waiters */
	_Atomic uint16_t rid;    /* region id, set at the first request */
	_Atomic uint16_t flags;  /* DC__FOLIO_* */
	_Atomic uint64_t owner;  /* owner word (src/folio/folio_int.h) */
};
_Static_assert(sizeof(struct dc_folio) == 16, "folio record must stay 16 bytes");

#define DC__FOLIO_POISON 0x1u

/*
 * Bit 31 of the reference word: someone waits for the count to drop below a
 * bound (dc_folio_wait_idle() with max_refs > 0, or a wait for "not busy").
 * It lives in the count itself so that a put learns from its own
 * read-modify-write whether to wake: a put never reads the folio after its
 * decrement (which may let the region be removed and its metadata unmapped).
 */
#define DC__REF_WAITERS (1u << 31)
#define DC__REF_MASK (DC__REF_WAITERS - 1)

#define DC__SECTION_SHIFT 8 /* 256 records = one 4 KiB page of metadata */
#define DC__MAX_REGIONS 65536u

struct dc__claim {
	void *holder;
	const struct dc_holder_ops *ops;
	_Atomic uint64_t users;  /* page_free calls running (taken under RCU) */
};

struct dc_region {
	struct dc_liveref live;     /* held by every non-idle folio */
	_Atomic uint32_t dead;      /* removal started */
	uint16_t id;                /* index in dc__regions[] */
	enum dc_region_type type;
	unsigned order;             /* folio order */
	uint64_t size, npages, nfolios;
	char *base;                 /* the linear map */
	int fd;
	bool file_backed;           /* flush with msync */
	unsigned map_order;         /* the fd maps in units of 2^map_order pages */
	char *spec;

	struct dc_folio *meta;      /* nfolios records (NULL when limited) */
	size_t meta_bytes;
	_Atomic uint64_t *touched;  /* bitmap of sections written */
	size_t touched_bytes;
	_Atomic uint64_t nsections; /* sections touched */

	_Atomic(struct dc__claim *) claim; /* read under RCU */
	pthread_mutex_t claim_lock;        /* claim changes, notify */
	pthread_cond_t claim_cond;
	struct dc__claim *notifying;       /* claim whose notify runs */
	pthread_t notifier;                /* the thread that runs it */
	bool pre_remove_sent;
	_Atomic uint32_t removing;         /* a dc_region_remove() call is running */
	_Atomic uint64_t nmappings;        /* mappings over the region (they hold it) */
};

/* Regions by id (folio -> region).  Entries stay valid until removal ends. */
extern _Atomic(struct dc_region *) dc__regions[DC__MAX_REGIONS];

static inline struct dc_region *dc__folio_region(const struct dc_folio *f)
{
	return atomic_load_explicit(&dc__regions[ld_relaxed((_Atomic uint16_t *)&f->rid)],
				    memory_order_acquire);
}

/* spec.c: parse @spec and set up the backend (base, fd, sizes, type, order). */
int dc__region_open(struct dc_region *r, const char *spec);
void dc__region_close(struct dc_region *r);
/* spec.c: parse "123", "64K", "2M", "1G", "64T" into bytes. */
int dc__parse_size(const char *s, size_t len, uint64_t *out);

/*
 * Inline accessors for the layers above (the public dc_folio_* functions are
 * these, out of line): batch walks over thousands of entries call them.
 */
static inline struct dc_folio *dc__folio_lookup(const struct dc_region *r, uint64_t pgoff)
{
	struct dc_folio *f;

	if (unlikely(!r->meta || pgoff >= r->npages))
		return NULL;
	f = &r->meta[pgoff >> r->order];
	/* Never requested: its metadata page may not even exist; it is idle. */
	return ld_relaxed(&f->rid) ? f : NULL;
}

static inline uint32_t dc__folio_refs(const struct dc_folio *f)
{
	return ld_acquire((_Atomic uint32_t *)&f->ref) & DC__REF_MASK;
}

static inline bool dc__folio_idle(const struct dc_folio *f)
{
	return dc__folio_refs(f) == 0;
}

/*
 * folio.c: put one reference on each of @n folios, in two steps, for
 * callers that must finish something before an idle transition runs
 * ->page_free: put_defer drops the references (no callback) and collects in
 * @idle (room for @n) the folios that went idle, in @held (if not NULL) the
 * others, *@nheld their number; it returns the number idle.
 * dc__folios_idle() then runs their idle transitions (wake, ->page_free,
 * the liveness puts: one claim look-up and one liveness put per batch).
 */
unsigned dc__folios_put_defer(struct dc_folio *const *fs, unsigned n, struct dc_folio **idle,
			      struct dc_folio **held, unsigned *nheld);
void dc__folios_idle(struct dc_region *r, struct dc_folio *const *fs, unsigned n);
#ifdef DC_FAULT_INJECT
extern void (*dc__test_put_hook)(struct dc_folio *f);
/* Runs in dc_region_claim() after its first alive check, before its lock. */
extern void (*dc__test_claim_hook)(struct dc_region *r);
#endif

/* region.c: call the holder's notify_failure (not under any lock). */
int dc__region_notify(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags);
/*
 * region.c: a mapping holds its region: dc_region_remove() waits until
 * every hold is given back.  Hold fails with -ENXIO once removal started.
 */
int dc__region_hold(struct dc_region *r);
void dc__region_unhold(struct dc_region *r);
/* region.c: mark the metadata section of folio @idx touched. */
void dc__region_touch(struct dc_region *r, uint64_t idx);

#endif
