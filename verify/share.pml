/*
 * share.pml - a CoW-shared block: the folio's shared owner word (sharers,
 * live, pending), the busy test, delete, dcfs's share count and the
 * quarantine.
 *
 * Configuration: one block shared by files A and B (a reflink made
 * earlier): A's entry is live, B's zapped; dcfs counts 2 sharers.
 * Processes:
 *   TruncA  dcfs truncate of A: break layouts (zap: unmap_begin, put,
 *           unmap_end; wait while busy), delete (disassoc), then
 *           dcfs_blocks_put();
 *   FileB   B faults its zapped entry in again (a sharer that becomes live:
 *           share_begin, take a reference, share_commit), and after A's
 *           truncate is done truncates B (the user deletes A, then B);
 *   FileC   reflinks the block (dcfs_blocks_share()) and faults it in (a new
 *           sharer: share_begin_new, take, commit), then truncates C;
 *   Dma     a DMA engine that pins the block through C's entry (lockless:
 *           load, pin, re-check), writes a stamp and unpins.
 * Each file's entry is locked only by that file's process here, so the
 * entry lock is not modelled (entry.pml has it).  The word starts shared:
 * the first conversion of an unshared owner's word (under the owner's tree
 * lock, share_begin_new()'s slow path) is reflink.pml's; a clear word
 * (every earlier sharer gone, C's reflink keeping the block) is here.
 *
 * Properties:
 *   invariant 9  the block goes back to the allocator only when no file
 *                shares it, no pin holds it and its owner word is clear; the
 *                word clears only when no file's entry names the block;
 *                with no transition pending, sharers equals the files
 *                whose entries name the block (ghost assoc);
 *   invariant 4  the DMA stamp never lands in a freed block;
 *   no leak      when every process is done, the block has gone back to
 *                the allocator (init's timeout, then assert(freed)): the
 *                quarantine's "set QUAR, fence, look" against the last
 *                put's lockless QUAR check loses no block;
 *   the C code's own consistency checks (own_bug(): a commit with nothing
 *   pending, an unmap with no live sharer, a disassoc with no sharer);
 *   invariant 8  every process ends (a delete that waits for ever for
 *                another file's live entry to go is a deadlock).
 *
 * -DQUARANTINE             the dcfs quarantine option: truncates do not wait
 *                          for pins; a pinned block with no sharer left is
 *                          quarantined and the last unpin frees it;
 * -DBUG_SHARE_NOT_ATOMIC   DC_REGRESS_BUG=5: share_begin() is a load and a
 *                          later store, not a CAS;
 * -DBUG_DELETE_NEEDS_IDLE  DC_REGRESS_BUG=7: "busy" means "not idle", so
 *                          another file's live entry makes the block busy;
 * -DBUG_PUT_FREES_SHARED   DC_REGRESS_BUG=25: dcfs_blocks_put() of a block
 *                          with sharers left releases it as if the last;
 * -DBUG_LOOK_THEN_QUAR     (no C switch) release_run() looks at the folio
 *                          first and sets QUAR after: a last put between the
 *                          two sees no QUAR, and the block is never freed.
 */
#include "common.pml"

byte ref[1] = 1;       /* A's live entry */
/* The owner word (shared form): clear when wsh is false. */
bool wsh = true;
byte w_s = 2, w_l = 1, w_p;
byte assoc = 2;        /* ghost: files whose entries name the block (A, B) */
byte dsh = 2;          /* dcfs's share count of the block (DCFS_B_SHARES) */
bool quar, freed;      /* dcfs: DCFS_B_QUAR; given back to the allocator */
bool alock;            /* dcfs's allocator lock (fs->alloc.lock) */
bool a_done;           /* A's truncate finished */
byte ndone;            /* files (A, B, C) whose process finished */
bool b_trunc;          /* B's truncate began: no reflink from B after that */
byte c_entry;          /* C's entry: 0 none, 1 live, 2 zapped */

#define word_ok() assert(!wsh || w_p != 0 || w_s == assoc)

/* dc__folio_share_begin(): a CAS that adds one pending (and one sharer). */
inline share_begin(new)
{
#ifndef BUG_SHARE_NOT_ATOMIC
	atomic {
		if
		:: !wsh -> assert(new); w_s = 0; w_l = 0; w_p = 0; wsh = true /* clear: C is the first */
		:: else
		fi;
		w_p++;
		w_s = w_s + new;
		assoc = assoc + new;
		word_ok()
	}
#else
	atomic { if :: wsh -> ls = w_s; ll = w_l; lp = w_p :: else -> ls = 0; ll = 0; lp = 0 fi };
	atomic {
		wsh = true; w_s = ls + new; w_l = ll; w_p = lp + 1;
		assoc = assoc + new;
		word_ok()
	}
#endif
}

/* share_end(): pending - 1, sharers + ds, live + dl (a CAS). */
inline share_end(ds, dl)
{
	atomic {
		assert(wsh && w_p > 0);  /* own_bug("share commit" / "unmap end") */
		w_s = w_s + ds;
		w_l = w_l + dl;
		if
		:: w_s == 0 && w_p == 1 -> wsh = false; w_p = 0; w_l = 0
		:: else -> w_p--
		fi;
		word_ok()
	}
}

/* dc__folio_unmap_begin() of a shared word: live - 1, pending + 1. */
inline unmap_begin()
{
	atomic {
		assert(wsh && w_l > 0);  /* own_bug("unmap with no live sharer") */
		w_l--;
		w_p++
	}
}

/* dc__folio_disassoc(): one sharer fewer; the last one clears the word. */
inline disassoc()
{
	atomic {
		assert(wsh && w_s > 0);  /* own_bug("disassoc with no sharer") */
		assoc--;
		if
		:: w_s == 1 && w_p == 0 -> wsh = false; w_s = 0; w_l = 0
		:: else -> w_s--
		fi;
		assert(wsh || assoc == 0); /* invariant 9: clear only with no sharer */
		word_ok()
	}
}

/* dc__folio_busy(): wait out a pending transition, then refs > live. */
#ifndef BUG_DELETE_NEEDS_IDLE
#define busy()  (wsh && ref[0] > w_l || !wsh && ref[0] > 0)
#else
#define busy()  (ref[0] != 0)
#endif
#define settled() (!wsh || w_p == 0)

/* dcfs_free_blocks(): invariant 9 and 4 at the moment of the free. */
inline free_block()
{
	assert(!freed && assoc == 0 && !wsh && ref[0] == 0 && dsh == 0);
	freed = true
}

/*
 * dcfs_blocks_put() under the allocator lock: one sharer fewer; the last
 * one goes to release_run(): set QUAR, fence, look at the folio: idle ->
 * clear QUAR and free; else it stays quarantined (the last put frees it).
 * Each of the three is its own step, as in C (only the lock is held).
 */
inline blocks_put()
{
#ifndef BUG_PUT_FREES_SHARED
	atomic { !alock -> alock = true; dsh-- };
#else
	atomic { !alock -> alock = true; dsh = 0 }; /* DC_REGRESS_BUG=25: as if the last */
#endif
	if
	:: dsh == 0 ->
#ifndef BUG_LOOK_THEN_QUAR
		quar = true;                      /* blk_store(w | DCFS_B_QUAR) */
		/* dc__smp_mb() */
		if                                /* the look: dc_folio_idle() */
		:: ref[0] == 0 -> quar = false; free_block()
		:: else                           /* a->nquar++ */
		fi
#else
		idle = (ref[0] == 0);             /* look first ... */
		if
		:: idle -> free_block()
		:: else -> quar = true            /* ... quarantine after */
		fi
#endif
	:: else
	fi;
	alock = false
}

/*
 * dc_folio_put()/unpin() of n: one atomic decrement; the last one runs
 * ->page_free, dcfs_block_page_free(): fence, a lockless test of QUAR,
 * and only if set: the lock, QUAR and idle again, clear and free.  The
 * caller's last: 0, 1 (the last put), 2 (it freed the quarantined block).
 */
inline put(n)
{
	atomic {
		assert(ref[0] >= n);
		ref[0] = ref[0] - n;
		last = (ref[0] == 0)
	}
	if
	:: last && quar ->                    /* blk_load() & DCFS_B_QUAR */
		atomic { !alock -> alock = true };
		if
		:: quar && ref[0] == 0 -> quar = false; free_block(); last = 2
		:: else
		fi;
		alock = false
	:: else
	fi
}

/* A zapped entry's folio: unmap_begin, put, unmap_end (zap_put_one()). */
inline zap_shared()
{
	unmap_begin();
	put(1);
	share_end(0, 0)
}

/*
 * Break layouts and delete for a file whose entry is live and names the
 * block (a sharer): zap, then wait while busy and delete when it is not
 * (the quarantine deletes at once: dc_mapping_abandon()).
 */
inline truncate_file()
{
	zap_shared();
#ifndef QUARANTINE
	atomic { settled() && !busy() };
#endif
	disassoc();
	blocks_put()
}

proctype TruncA()
{
	bool idle;
	byte last;

	truncate_file();
	a_done = true;
	ndone++
}

proctype FileB()
{
	byte ls, ll, lp;
	bool idle;
	byte last;

	share_begin(0);   /* SHARE_REMAP: B's zapped entry names the block */
	atomic { ref[0]++ };
	share_end(0, 1);  /* dc__folio_share_commit() */
	a_done;           /* B is deleted after A */
	b_trunc = true;   /* (dcfs: reflink and truncate of B exclude each other) */
	truncate_file();
	ndone++
}

proctype FileC()
{
	byte ls, ll, lp;
	bool idle;
	byte last;

	atomic {                          /* dcfs_blocks_share(): reflink from B */
		!alock;                           /* (under the allocator lock) */
		if
		:: !b_trunc -> assert(!freed && dsh > 0); dsh++ /* @reach */
		:: else -> goto out               /* B is being deleted: no reflink */
		fi
	}
	share_begin(1);   /* SHARE_NEW */
	atomic { ref[0]++ };
	share_end(0, 1);
	c_entry = 1;
	atomic { c_entry = 2 };           /* C's zap: ZAP first */
	zap_shared();
#ifndef QUARANTINE
	atomic { settled() && !busy() };
#endif
	disassoc();
	blocks_put();
out:
	ndone++
}

/* dc_mapping_get_folio(pin) through C's entry, a DMA stamp, unpin. */
proctype Dma()
{
	bool ok;
	byte last;

end:	c_entry == 1;
	atomic { if :: ref[0] > 0 -> ref[0] = ref[0] + PIN_BIAS; ok = true :: else fi }
	if
	:: ok && c_entry == 1 -> /* the re-read found it live */
		assert(!freed); /* the stamp lands in a block C still has @reach */
		put(PIN_BIAS);
		if
		:: last == 2 -> skip /* the unpin freed the quarantined block @reach:QUARANTINE */
		:: else
		fi
	:: ok && c_entry != 1 -> put(PIN_BIAS)
	:: else
	fi
}

init {
	atomic {
		run TruncA();
		run FileB();
		run FileC();
		run Dma()
	}
	ndone == 3;   /* the three files are done (a deadlock: init never ends) */
	timeout;      /* and nothing else can move: the Dma ended or waits at end */
	assert(freed) /* the block went back to the allocator: no leak */
}
