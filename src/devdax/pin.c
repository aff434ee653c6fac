// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin.c - DMA pins of a device-dax device, by device offset and through a
 * view (the pin_user_pages() analogue).
 *
 * A pin takes one DC_PIN_BIAS on each folio its bytes touch, through the
 * mapping's lockless fast path (dc_mapping_get_folio(): load the entry,
 * pin, re-check it was not zapped), faulting in the entries that are
 * missing, all with the device lock held shared and the device found alive
 * under it: a kill (exclusive) waits for the pin to finish and sees it
 * busy, or the pin sees the kill and fails.  A 1 GiB range of a 1 GiB
 * device is one folio pin.  Each pin set is recorded in the device's table
 * (id -> folios), found by id at unpin, exactly once; the unpin of a pin
 * whose entry a kill or a memory failure zapped deletes the entry once no
 * pin holds it (and on a region being removed, the mapping once empty).
 */
#include "devdax/devdax_int.h"

#define PIN_FLAGS DC_DEVDAX_PIN_READONLY

static void unpin_all(struct dc_folio **fs, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		dc_folio_unpin(fs[i]);
}

/*
 * Pin the @nf folios from device page @first (folio-aligned) into @out,
 * faulting what is not mapped.  Device lock held shared (dd__enter()):
 * nothing zaps meanwhile, so a fault that succeeded makes the next
 * lookup succeed, and one fault per folio is all a pin ever needs (a
 * second miss is an error, never a retry without bound under the lock).
 * Return: 0; the fault's error; -EOVERFLOW (a folio is at
 * DC_FOLIO_REF_MAX); -EIO (still not mapped after its fault: never).
 * Nothing stays pinned on an error.
 */
static int pin_folios(struct dc_devdax *dd, uint64_t first, uint64_t nf, struct dc_folio **out)
{
	uint64_t fp = dd_folio_pages(dd);
	bool faulted = false;

	for (uint64_t i = 0; i < nf;) {
		uint64_t pg = first + i * fp;
		int ret = dc_mapping_get_folio(dd->m, pg, true, &out[i]);

		if (!ret) {
			i++;
			faulted = false;
			continue;
		}
		if (ret == -EAGAIN && faulted && DC_REGRESS_BUG != 33)
			ret = dc__fail(-EIO, "devdax pin: device page %llu is not mapped after its "
				       "fault", (unsigned long long)pg);
		else if (ret == -EAGAIN) {
			ret = dd__fault_locked(dd, pg);
			faulted = true;
		}
		if (ret) {
			unpin_all(out, i);
			return ret;
		}
	}
	return 0;
}

/* Pin set ids, process-wide: never reused, so never another device's. */
static _Atomic uint64_t next_pin_id = 1;

static struct ddpin **bucket(struct dc_devdax *dd, uint64_t id)
{
	return &dd->ptab[id & (DD_PIN_BUCKETS - 1)];
}

DC_API int dc_devdax_pin(struct dc_devdax *dd, uint64_t off, uint64_t len, unsigned flags,
			 struct dc_devdax_pinset *ps)
{
	unsigned shift;
	uint64_t nf;
	struct ddpin *p;
	int ret;

	if (!dd || !ps)
		return dc__fail(-EINVAL, "devdax pin: NULL argument");
	if (flags & ~PIN_FLAGS)
		return dc__fail(-EINVAL, "devdax pin: unknown flags %#x", flags & ~PIN_FLAGS);
	if (!len)
		return dc__fail(-EINVAL, "devdax pin: zero length");
	if (off >= dd->size || len > dd->size - off)
		return dc__fail(-ENXIO, "devdax pin: [%llu, +%llu) reaches past the end of the "
				"device (%llu bytes)", (unsigned long long)off,
				(unsigned long long)len, (unsigned long long)dd->size);
	shift = DC_PAGE_SHIFT + dd->forder;
	nf = ((off + len - 1) >> shift) - (off >> shift) + 1;
	p = dc__malloc(sizeof(*p) + nf * sizeof(p->folios[0]));
	if (!p)
		return dc__fail(-ENOMEM, "devdax pin: no memory for %llu folios",
				(unsigned long long)nf);
	ret = dd__enter(dd, "pin");
	if (ret) {
		free(p);
		return ret;
	}
	ret = pin_folios(dd, (off >> shift) << dd->forder, nf, p->folios);
	if (!ret) {
		p->offset = off;
		p->length = len;
		p->nf = nf;
		pthread_mutex_lock(&dd->pin_lock);
		p->id = atomic_fetch_add(&next_pin_id, 1);
		p->hnext = *bucket(dd, p->id);
		*bucket(dd, p->id) = p;
		dd->npins++;
		dd->pinned_folios += nf;
		pthread_mutex_unlock(&dd->pin_lock);
		atomic_fetch_add(&dd->users, 1); /* under the lock: a close sees it */
		*ps = (struct dc_devdax_pinset){
			.id = p->id,
			.offset = off,
			.length = len,
			.addr = (char *)dc_region_addr(dd->r, off >> DC_PAGE_SHIFT) +
				(off & (DC_PAGE_SIZE - 1)),
			.nfolios = nf,
		};
	}
	pthread_rwlock_unlock(&dd->lock);
	if (ret)
		free(p);
	return ret;
}

DC_API int dc_devdax_pin_user(struct dc_devdax *dd, const void *addr, uint64_t len,
			      unsigned flags, struct dc_devdax_pinset *ps)
{
	struct dc_view_ref ref;
	int ret;

	if (!dd || !ps)
		return dc__fail(-EINVAL, "devdax pin_user: NULL argument");
	if (flags & ~PIN_FLAGS)
		return dc__fail(-EINVAL, "devdax pin_user: unknown flags %#x", flags & ~PIN_FLAGS);
	ret = dc_view_resolve(addr, len, !(flags & DC_DEVDAX_PIN_READONLY), &ref);
	if (ret)
		return ret;
	if (ref.ops != dd__view_ops() || ref.file != dd)
		ret = dc__fail(-EFAULT, "devdax pin_user: %p is not an address of a view of "
			       "this device", addr);
	else
		ret = dc_devdax_pin(dd, ref.offset, len, flags, ps);
	dc_view_resolve_put(&ref);
	return ret;
}

DC_API int dc_devdax_unpin(struct dc_devdax *dd, struct dc_devdax_pinset *ps)
{
	struct ddpin **pp, *p;
	uint64_t fp, first;
	bool reap;

	if (!dd || !ps)
		return dc__fail(-EINVAL, "devdax unpin: NULL argument");
	pthread_mutex_lock(&dd->pin_lock);
	for (pp = bucket(dd, ps->id); (p = *pp); pp = &p->hnext)
		if (p->id == ps->id && p->offset == ps->offset && p->length == ps->length)
			break;
	if (p) {
		*pp = p->hnext;
		dd->npins--;
		dd->pinned_folios -= p->nf;
	}
	pthread_mutex_unlock(&dd->pin_lock);
	if (!p || !ps->id)
		return dc__fail(-EINVAL, "devdax unpin: pin set %llu is not pinned on this device",
				(unsigned long long)ps->id);
	fp = dd_folio_pages(dd);
	first = (p->offset >> DC_PAGE_SHIFT) & ~(fp - 1);
	/* Shared: a kill either comes after (and finds the folios unpinned)
	 * or before (and we see it, and delete what it left zapped). */
	pthread_rwlock_rdlock(&dd->lock);
	unpin_all(p->folios, p->nf);
	reap = atomic_load(&dd->killed);
	for (uint64_t i = 0; !reap && dd->m && i < p->nf; i++)
		reap = dc_entry_is_zapped(dc_mapping_lookup(dd->m, first + i * fp));
	pthread_rwlock_unlock(&dd->lock);
	if (reap) {
		pthread_rwlock_wrlock(&dd->lock);
		dd__reap_locked(dd, first, first + p->nf * fp - 1);
		pthread_rwlock_unlock(&dd->lock);
	}
	ps->id = 0;
	free(p);
	dd__users_put(dd);
	return 0;
}

/* Every pinned folio of every pin set is pinned (quiescent). */
bool dd__pins_check(struct dc_devdax *dd)
{
	bool ok = true;

	pthread_mutex_lock(&dd->pin_lock);
	for (unsigned b = 0; b < DD_PIN_BUCKETS && ok; b++)
		for (struct ddpin *p = dd->ptab[b]; p && ok; p = p->hnext)
			for (uint64_t i = 0; i < p->nf && ok; i++)
				if (!dc_folio_maybe_dma_pinned(p->folios[i])) {
					fprintf(stderr, "devdax check: pin set %llu: folio %llu is "
						"not pinned\n", (unsigned long long)p->id,
						(unsigned long long)dc_folio_pgoff(p->folios[i]));
					ok = false;
				}
	pthread_mutex_unlock(&dd->pin_lock);
	return ok;
}

/* Close: free what the table still holds (nothing, as close waits for the pins). */
void dd__pins_free(struct dc_devdax *dd)
{
	for (unsigned b = 0; b < DD_PIN_BUCKETS; b++) {
		struct ddpin *p, *next;

		for (p = dd->ptab[b]; p; p = next) {
			next = p->hnext;
			free(p);
		}
		dd->ptab[b] = NULL;
	}
}
