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
 *             turn an offset into an address and store there, unlock.
 * RCU is modelled as one reader flag per reader (each enters its read side
 * once) and synchronize_rcu() as a wait until every reader that was inside
 * when it began has left.
 *
 * Property (invariant 6): after removal completed (ghost flag removed), no
 * process touches the region: every touch of its metadata or memory
 * asserts !removed, and the region is freed once.  Invariant 8: every
 * process ends.
 *
 * -DBUG_REMOVE_NO_GRACE  removal skips its two grace periods (no C switch:
 *                        the class of DC_REGRESS_BUG=3 and 11, a removal
 *                        that does not wait for someone who saw the region
 *                        alive);
 * -DBUG_REMOVE_NO_HOLD   DC_REGRESS_BUG=3: mappings do not hold the region
 *                        (removal does not wait for them);
 * -DBUG_REMOVE_TWICE     DC_REGRESS_BUG=11: a second removal is not refused.
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
bool rcu[2];         /* readers inside their read-side section */

#define touch()  assert(!removed)

/* dc__synchronize_rcu(): wait for the readers inside when it began. */
inline synchronize_rcu()
{
	atomic { s0 = rcu[0]; s1 = rcu[1] };
	(!s0 || !rcu[0]) && (!s1 || !rcu[1])
}

/* A put of n on the folio; the last one drops its liveness ref. */
inline put(n)
{
	atomic {
		touch();
		assert(ref[0] >= n);
		ref[0] = ref[0] - n;
		if
		:: ref[0] == 0 -> lr-- /* folios_went_idle(): after this, hands off */
		:: else
		fi
	}
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
		lr--  /* dc_liveref_kill(): the initial reference goes */
	:: else
	fi;
	lr == 0;        /* dc__drain_wait() on the folios */
#ifndef BUG_REMOVE_NO_HOLD
	nmappings == 0; /* ... and on the mappings */
#endif
#ifndef BUG_REMOVE_NO_GRACE
	synchronize_rcu(); /* a lockless pinner's read side ends */
#endif
	atomic { touch(); removed = true } /* region_free() */
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
	bool s0, s1;

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
	bool ok;

end:	atomic { !mgone -> rcu[R_PIN] = true; touch() } /* m->region */
	if
	:: e_state == 1 ->
		atomic { touch(); if :: ref[0] > 0 -> ref[0] = ref[0] + PIN_BIAS; ok = true :: else fi }
		if
		:: ok ->
			ok = (e_state == 1); /* re-read the entry */
			rcu[R_PIN] = false;
			if
			:: ok -> touch() /* the DMA stamp @reach */
			:: else
			fi;
			put(PIN_BIAS) /* unpin, or back out (outside the read side) */
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

init {
	atomic {
		run Remover();
		run Remover2();
		run Owner();
		run Pinner();
		run Direct()
	}
}
