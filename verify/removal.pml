/*
 * removal.pml - region removal against the region's users, with RCU.
 *
 * Configuration: one region with one block; file A's mapping holds the
 * region and has a live entry on the block (the entry holds the folio, so
 * the region's liveness count is 2: the initial reference and the folio).
 * Processes:
 *   Remover   dc_region_remove(): removing flag, dead, grace period, kill
 *             the liveness ref, PRE_REMOVE to the holder, wait for the
 *             folios to drain, wait for the mappings, grace period, free;
 *   Remover2  a second dc_region_remove() while the first runs;
 *   Owner     the holder's eviction of the file, or its PRE_REMOVE handler:
 *             dc_mapping_truncate_final() (zap, wait for pins, delete) and
 *             dc_mapping_destroy() (grace period, drop the region hold);
 *   Pinner    dc_mapping_get_folio(pin) under RCU, then DMA and unpin;
 *   Direct    a direct-access user: dc_region_read_lock(), check alive,
 *             turn an offset into an address and store there, unlock;
 *   Requester dc_folio_request() of a second, idle folio: check dead, take
 *             a new liveness reference (dc_liveref_tryget(), refused once
 *             dc_liveref_kill() ran), use the folio, put it (the last put
 *             drops the liveness reference).
 * RCU is modelled as one reader flag per reader (each enters its read side
 * once) and synchronize_rcu() as a wait until every reader that was inside
 * when it began has left.
 *
 * Property (invariant 6): after removal completed (ghost flag removed), no
 * process touches the region: every touch of its metadata or memory
 * asserts !removed, and the region is freed once with no folio in use
 * (liveness count 0: invariant 7).  page_free (a last put) never runs
 * inside the putter's RCU read side (DC_REGRESS_BUG=13's property).
 * Invariant 8: every process ends.
 *
 * -DBUG_REMOVE_NO_GRACE  removal skips its two grace periods (no C switch:
 *                        the class of DC_REGRESS_BUG=3 and 11, a removal
 *                        that does not wait for someone who saw the region
 *                        alive);
 * -DBUG_REMOVE_NO_HOLD   DC_REGRESS_BUG=3: mappings do not hold the region
 *                        (removal does not wait for them);
 * -DBUG_REMOVE_TWICE     DC_REGRESS_BUG=11: a second removal is not refused;
 * -DBUG_READ_AFTER_DEC   DC_REGRESS_BUG=4: a put that is not the last reads
 *                        the folio after its decrement (folio.c's
 *                        atomic_load(&f->ref)), when another put may have
 *                        been the last and removal may have freed it;
 * -DBUG_BACKOUT_IN_READ_SIDE  DC_REGRESS_BUG=13: the pinner's back-out put
 *                        runs inside its read-side section, so a last put's
 *                        page_free runs inside RCU;
 * -DBUG_TRYGET_IGNORES_KILL   (no C switch) dc_liveref_tryget() does not
 *                        test DYING: a request after the kill takes a
 *                        liveness reference the drain has already passed.
 */
#include "common.pml"

#define R_PIN    0
#define R_DIRECT 1

byte ref[1] = 1;     /* the block's folio: the entry's reference */
byte e_state = 1;    /* the entry: 0 none, 1 live, 2 zapped */
byte lr = 2;         /* liveness count: initial ref + non-idle folios */
bool dead, removing, removing_started, mgone;
byte nmappings = 1;
bool removed;        /* ghost: the region was freed */
bool dying;          /* the liveness ref's DYING (dc_liveref_kill()) */
bool rcu[2];         /* readers inside their read-side section */
byte pin_pid;        /* ghost: the Pinner's process number */

#define touch()  assert(!removed)

/* dc__synchronize_rcu(): wait for the readers inside when it began. */
inline synchronize_rcu()
{
	atomic { s0 = rcu[0]; s1 = rcu[1] };
	(!s0 || !rcu[0]) && (!s1 || !rcu[1])
}

/*
 * dc_folio_put() of n on the folio: one atomic decrement; the last one
 * runs folio_last_put() (->page_free, never inside the putter's read side)
 * and drops its liveness ref (folios_went_idle(): after this, hands off).
 * A put that is not the last does not read the folio again (its waiter
 * test uses the value the decrement returned).
 */
inline put(n)
{
	atomic {
		touch();
		assert(ref[0] >= n);
		ref[0] = ref[0] - n;
		if
		:: ref[0] == 0 ->
			assert(!(rcu[R_PIN] && _pid == pin_pid)); /* page_free outside RCU */
			lr--; last = true
		:: else -> last = false
		fi
	}
#ifdef BUG_READ_AFTER_DEC
	if
	:: !last -> touch() /* DC_REGRESS_BUG=4: atomic_load(&f->ref) after it */
	:: else
	fi
#endif
}

/* dc_region_remove() after the removing flag (PRE_REMOVE is not a step:
 * the Owner may run at any time). */
inline remove_body()
{
	atomic {
		if
		:: !dead -> dead = true; kill = true /* atomic_exchange(&r->dead, 1) */
		:: else -> kill = false
		fi
	}
	if
	:: kill ->
#ifndef BUG_REMOVE_NO_GRACE
		synchronize_rcu(); /* nobody who saw it alive is in between */
#endif
		/* dc_liveref_kill(): DYING, its grace period (a tryget is one
		 * step here, so none is in flight), the initial reference goes */
		atomic { dying = true; lr-- }
	:: else
	fi;
	lr == 0;        /* dc__drain_wait() on the folios */
#ifndef BUG_REMOVE_NO_HOLD
	nmappings == 0; /* ... and on the mappings */
#endif
#ifndef BUG_REMOVE_NO_GRACE
	synchronize_rcu(); /* a lockless pinner's read side ends */
#endif
	atomic { touch(); assert(lr == 0); removed = true } /* region_free() */
}

proctype Remover()
{
	bool s0, s1, kill;

	atomic {
		removing_started = true;
		removing = true
	}
	remove_body()
}

/* A second dc_region_remove() of the same region while the first runs
 * (before it: a call on a freed region is the caller's bug). */
proctype Remover2()
{
	bool s0, s1, kill;

end:	atomic {
		removing_started && !removed;
		if
#ifndef BUG_REMOVE_TWICE
		:: removing -> goto out /* -EBUSY: another thread is removing it */
#endif
		:: else -> removing = true
		fi
	}
	remove_body();
out:
	skip
}

/* The holder's eviction of file A, or its ->notify_failure(PRE_REMOVE)
 * (it may run at any time, before removal or because of it):
 * dc_mapping_truncate_final(), then dc_mapping_destroy(). */
proctype Owner()
{
	bool s0, s1, last;

	do
	:: atomic { e_state == 1 -> touch(); e_state = 2 } /* zap: ZAP, fence */
		put(1)                                        /* put the entry's ref */
	:: atomic { e_state == 2 && ref[0] == 0 -> touch(); e_state = 0 } /* delete */
	:: atomic { e_state == 0 -> touch() } -> break
	od;
	mgone = true;      /* id_free(): no new call on the mapping begins */
	synchronize_rcu();
	atomic { touch(); nmappings-- } /* dc__region_unhold() */
}

/* dc_mapping_get_folio(pin) on the mapping while it exists, then DMA. */
proctype Pinner()
{
	bool ok, last;

end:	atomic { !mgone -> rcu[R_PIN] = true; touch() } /* m->region */
	if
	:: e_state == 1 ->
		atomic { touch(); if :: ref[0] > 0 -> ref[0] = ref[0] + PIN_BIAS; ok = true :: else fi }
		if
		:: ok ->
			ok = (e_state == 1); /* re-read the entry */
#ifdef BUG_BACKOUT_IN_READ_SIDE
			if
			:: !ok -> put(PIN_BIAS) /* DC_REGRESS_BUG=13: back out inside RCU */
			:: else
			fi;
#endif
			rcu[R_PIN] = false;
			if
			:: ok -> touch(); put(PIN_BIAS) /* the DMA stamp, unpin @reach */
			:: else
#ifndef BUG_BACKOUT_IN_READ_SIDE
				put(PIN_BIAS) /* back out, outside the read side @reach */
#endif
			fi
		:: else -> rcu[R_PIN] = false
		fi
	:: else -> rcu[R_PIN] = false
	fi
}

/* A direct-access user under the region's read-side lock. */
proctype Direct()
{
end:	atomic { !removed -> rcu[R_DIRECT] = true } /* it holds the region */
	if
	:: !dead -> touch() /* dc_region_addr() and a store to the memory @reach */
	:: else
	fi;
	rcu[R_DIRECT] = false
}

/*
 * dc_folio_request() of an idle folio by the region's holder (a call that
 * begins before the region is freed, as Direct's): dc_region_alive(), then
 * dc_liveref_tryget(): under RCU, refused once DYING is set (one step
 * here); the folio is used, and its last put drops the liveness reference.
 */
proctype Requester()
{
	bool ok;

end:	atomic { !removed -> touch() } /* r->dead is read: the region is there */
	atomic {
#ifndef BUG_TRYGET_IGNORES_KILL
		if
		:: !dying -> lr++; ok = true
		:: else /* -ENXIO: the region is dying */
		fi
#else
		lr++; ok = true
#endif
	}
	if
	:: ok -> touch(); /* the folio's metadata and memory @reach */
		atomic { touch(); lr-- } /* its last put: folios_went_idle() */
	:: else
	fi
}

init {
	atomic {
		run Remover();
		run Remover2();
		run Owner();
		pin_pid = run Pinner();
		run Direct();
		run Requester()
	}
}
