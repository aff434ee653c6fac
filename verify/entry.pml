/*
 * entry.pml - entries, lockless pins, zap, insert's replace path, delete,
 * break layouts and block reuse, for one file page.
 *
 * Configuration: file A's page 0 and its entry (src/mapping), two blocks,
 * file A's invalidate lock, five processes:
 *   Owner      faults page 0 in, then a CoW write fault moves it to a new
 *              block (dc_mapping_insert()'s replace path) and gives the old
 *              block back.  By default as dcfs runs it (src/dcfs/fault.c
 *              cow(): DC_INSERT_COW | DC_INSERT_UNSHARE): replace_old()
 *              has no busy test, and dcfs_cow_done() gives the pinned
 *              original back through dcfs_give_back() -> dcfs_blocks_put()
 *              -> release_run(): set QUAR, fence, look; a pinned block
 *              stays quarantined and the last put's ->page_free
 *              (dcfs_block_page_free(): fence, lockless QUAR test, lock,
 *              re-check) frees it.  (The block's other sharer, whose
 *              reflink made the CoW necessary, has let go already: A's put
 *              is the last one; the shared owner word is share.pml's.)
 *              With -DGENERIC_COW: an owner without UNSHARE, whose replace
 *              tests the old block busy (-EBUSY: it gives the new block
 *              back, waits for the old one unbusy, and faults again);
 *   Pinner     a lockless pinner with a DMA engine behind it: pin through
 *              the entry, re-check, refault on failure (twice at most),
 *              write a stamp into the pinned block, unpin;
 *   Truncater  dcfs truncate of page 0: break layouts (zap, wait for the
 *              busy folio with the invalidate lock dropped, zap again),
 *              delete, give the block to the allocator;
 *   OtherFile  the allocator hands a free block to file B;
 *   Failure    a memory failure of block 0 locks the entry that maps it
 *              (dc_mapping_lock_folio()) with no invalidate lock, so the
 *              zap and the delete meet a locked entry and sleep on it.
 *
 * Properties (assertions and end states):
 *   invariant 3  no pin succeeds through an entry after its zap began (the
 *                ghost zap_begun[] records, per inserted entry value, that a
 *                zap or a replace began on it): at the re-read, the value
 *                read is not one whose zap began; and the value the pinner
 *                loaded is not one either, unless the re-read found a new
 *                value with the same word (the same block refaulted: ABA,
 *                benign, docs/verification.md);
 *   invariant 4  the DMA stamp lands only in a block of file A, or in A's
 *                pinned original held in quarantine; no block goes back to
 *                the allocator unless idle, and none stays quarantined once
 *                idle (init, when nothing else can move);
 *   memory failure: the entry it locks maps block 0 and block 0 is A's, for
 *                as long as it holds the lock;
 *   invariant 8  every process ends (no deadlock, no waiter asleep for
 *                ever on an unlocked entry): spin's end-state check.
 *
 * -DBUG_REPLACE_NO_ZAP   the C switch DC_REGRESS_BUG=1: the replace path
 *                        revokes and puts the old entry while it is still
 *                        live (no ZAP first) and does not test it busy.
 * -DBUG_NO_PASS_ON       (no C switch) a zap or a lock_folio woken for an
 *                        entry it will not lock does not pass the wake-up
 *                        on;
 * -DBUG_MF_NO_RECHECK    (no C switch) dc_mapping_lock_folio() locks the
 *                        entry it waited for without re-checking that it
 *                        still maps the block.
 */
#define NWAITERS 4
#include "common.pml"
#include "waitq.pml"

#define FILE_A 1
#define FILE_B 2
#define NBLK   2
#define NVER   8
#define F_QUAR 3

/* Entry kinds (dc_entry_t): no entry, EMPTY, ZERO (the zero page), real. */
#define K_NONE  0
#define K_EMPTY 1
#define K_ZERO  2
#define K_REAL  3

/* process numbers (waiter bits) */
#define P_OWNER 0
#define P_PIN   1
#define P_TRUNC 2
#define P_MF    3

/* The entry of file A page 0: one word in C (kind, LOCKED, ZAP, pgoff). */
byte e_kind = K_NONE;
bool e_locked, e_zap;
byte e_blk = NONE;
byte e_ver;              /* ghost: which inserted value this is */
bool zap_begun[NVER];    /* ghost: a zap (or a replace) began on that value */

byte ref[NBLK];          /* folio reference counts */
byte own[NBLK];          /* owner word: 0 or the file whose entry claims it */
bool mapped[NBLK];       /* the owner word's MAPPED bit (its entry is live) */
byte fsown[NBLK];        /* dcfs: the file a block belongs to, 0 = free,
                            F_QUAR = no file's, quarantined (pinned) */
bool quar[NBLK];         /* dcfs: DCFS_B_QUAR */
bool alock;              /* dcfs's allocator lock (fs->alloc.lock) */
byte amap = 0;           /* dcfs extent: file A page 0 -> block (NONE: hole) */

/* File A's invalidate lock: faults shared, truncate exclusive. */
byte inv_sh;
bool inv_ex;

#define live()     (e_kind == K_REAL && !e_zap)
#define busy(b)    (ref[b] > mapped[b])  /* dc__folio_busy(), unshared */

inline inv_shared()   { atomic { !inv_ex -> inv_sh++ } }
inline inv_unshared() { inv_sh-- }
inline inv_excl()     { atomic { !inv_ex && inv_sh == 0 -> inv_ex = true } }
inline inv_unexcl()   { inv_ex = false }

/* dc_mapping_grab(): wait for the entry unlocked, lock it (or make an
 * EMPTY locked entry where there is none). */
inline grab(me)
{
	atomic {
		do
		:: e_kind != K_NONE && e_locked -> entry_wait(me)
		:: else -> break
		od;
		if
		:: e_kind == K_NONE -> e_kind = K_EMPTY
		:: else
		fi;
		e_locked = true
	}
}

/* dc_mapping_unlock(): clear LOCKED under the tree lock, then WAKE_NEXT. */
inline unlock()
{
	e_locked = false;
	atomic { wake_next() }
}

/* dc__get_unlocked_entry() then dc__put_unlocked_entry(): wait until the
 * entry is unlocked, and pass a wake-up we took on.  Inside an atomic step. */
inline wait_unlocked(me)
{
	do
	:: e_kind != K_NONE && e_locked -> entry_wait(me);
#ifndef BUG_NO_PASS_ON
		if :: !e_locked -> wake_next() :: else fi
#endif
	:: else -> break
	od
}

/* dcfs_free_blocks(): only an idle block goes back (invariant 4). */
inline free_block(b)
{
	atomic {
		assert(ref[b] == 0 && own[b] == 0);
		fsown[b] = 0
	}
}

/*
 * dc_folio_put() / dc_folio_unpin() of n on block b: one atomic decrement;
 * the last one runs ->page_free, dcfs_block_page_free(): fence, a lockless
 * test of QUAR; only if set: the allocator lock, QUAR and idle again,
 * clear and free.  The caller's last: 0, 1 (the last put), 2 (it freed the
 * block from quarantine).
 */
inline put(b, n)
{
	atomic {
		assert(ref[b] >= n); /* the C code's DC_BUG("put with refcount 0") */
		ref[b] = ref[b] - n;
		last = (ref[b] == 0)
	}
	if
	:: last && quar[b] ->
		atomic { !alock -> alock = true };
		if
		:: quar[b] && ref[b] == 0 -> quar[b] = false; free_block(b); last = 2
		:: else
		fi;
		alock = false
	:: else
	fi
}

/*
 * dcfs_blocks_put() of block b, its last sharer: release_run() under the
 * allocator lock: set QUAR, fence, look (dc_folio_idle()): idle -> clear
 * QUAR and free; else it stays quarantined.  Three steps, as in C.
 */
inline release_run(b)
{
	atomic { !alock -> alock = true; quar[b] = true };
	/* dc__smp_mb() */
	atomic {
		if
		:: ref[b] == 0 -> quar[b] = false; free_block(b)
		:: else -> fsown[b] = F_QUAR /* a->nquar++: no file's now @reach */
		fi
	};
	alock = false
}

/* dc__folio_take() + dc__folio_claim() (CLAIM_NEW / CLAIM_REMAP). */
inline take_claim(b)
{
	atomic {
		ref[b]++;
		assert(own[b] == 0 || own[b] == FILE_A); /* -EBUSY never here */
		own[b] = FILE_A;
		mapped[b] = true
	}
}

/* Store a new real entry (still locked) naming block b. */
inline store_real(b)
{
	atomic {
		assert(e_ver < NVER - 1);
		e_ver++;
		e_kind = K_REAL; e_zap = false; e_blk = b;
		amap = b
	}
}

/*
 * dc_mapping_insert() of block nb under the entry lock; ret = 0 or 1
 * (-EBUSY from replace_old(): the old pages are still pinned, the entry
 * is left zapped).
 */
inline insert(nb, ret)
{
	ret = 0;
	if
	:: e_kind == K_REAL && e_blk == nb && !e_zap -> skip /* same and live */
	:: else ->
		take_claim(nb);
		if
		:: e_kind == K_REAL && e_blk != nb -> /* replace_old() */
			old = e_blk;
			if
			:: !e_zap ->
				atomic {
					zap_begun[e_ver] = true;
#ifndef BUG_REPLACE_NO_ZAP
					e_zap = true /* ZAP published before the revoke */
#endif
				}
				/* fence; ->revoke; dc__entry_unmap_put() */
				mapped[old] = false;
				put(old, 1)
			:: else
			fi;
#if !defined(BUG_REPLACE_NO_ZAP) && defined(GENERIC_COW)
			if
			:: busy(old) -> /* -EBUSY: untake_one() gives nb back */
				atomic { mapped[nb] = false; own[nb] = 0 };
				put(nb, 1);
				ret = 1
			:: else
			fi;
#endif
			if
			:: ret == 0 -> own[old] = 0 /* dc__entry_disassoc() */
			:: else
			fi
		:: else
		fi;
		if
		:: ret == 0 -> store_real(nb)
		:: else
		fi
	fi
}

/* dcfs fault (src/dcfs/fault.c): map the file's block, if it has one;
 * a hole maps the zero page (dc_mapping_insert(DC_INSERT_ZERO)). */
inline fault(me)
{
	inv_shared();
	grab(me);
	if
	:: amap != NONE -> insert(amap, ret)
	:: amap == NONE && e_kind == K_EMPTY -> e_kind = K_ZERO
	:: else
	fi;
	unlock();
	inv_unshared()
}

/* The allocator hands out a free block to file f (b = NONE: none free). */
inline alloc(f, b)
{
	atomic {
		if
		:: fsown[0] == 0 -> fsown[0] = f; b = 0
		:: fsown[1] == 0 -> fsown[1] = f; b = 1
		:: else -> b = NONE
		fi
	}
}

/* dcfs fault, then a CoW write fault: dcfs/fault.c cow() ->
 * dc_mapping_insert(COW | UNSHARE) of a new block over the live entry
 * (replace_old(), no busy test), then dcfs_cow_done(): the original goes
 * back (release_run()), with the entry still locked and the invalidate lock
 * held.  GENERIC_COW: an insert without UNSHARE; on -EBUSY wait for the
 * old block's pins, outside every lock, and fault again. */
proctype Owner()
{
	byte old = NONE, nb, ret, last;

	fault(P_OWNER);
again:
	inv_shared();
	grab(P_OWNER);
	if
	:: amap != NONE && e_kind == K_REAL && e_blk == amap ->
		alloc(FILE_A, nb);
		if
		:: nb != NONE ->
			insert(nb, ret);
#ifndef GENERIC_COW
			release_run(old); /* dcfs_cow_done() -> dcfs_give_back() */
			unlock();
			inv_unshared()
#else
			unlock();
			inv_unshared();
			if
			:: ret == 0 -> free_block(old)
			:: else ->
				atomic { assert(ref[nb] == 0 && own[nb] == 0); fsown[nb] = 0 } /* unused: back @reach */;
				!busy(old); /* the owner's wait (dc__folio_wait_unbusy) */
				goto again
			fi
#endif
		:: else -> unlock(); inv_unshared()
		fi
	:: else -> unlock(); inv_unshared()
	fi
}

/* dc_mapping_get_folio(pin) and a DMA engine behind it (as tools/dma.c
 * drives one): load the entry, pin its folio, re-read the entry; on
 * failure refault and try again. */
proctype Pinner()
{
	byte tries, b, k, v, old, ret;
	bool z, ok;
	byte last;

	do
	:: tries < 2 ->
		atomic { k = e_kind; z = e_zap; b = e_blk; v = e_ver }
		if
		:: k == K_REAL && !z ->
			folio_get_unless_idle(b, PIN_BIAS, ok);
			if
			:: ok ->
				/* smp_mb__after_atomic(); re-read the entry */
				atomic {
					if
					:: e_kind == k && e_zap == z && e_blk == b ->
						assert(!zap_begun[e_ver]); /* invariant 3 @reach */
						/* the value loaded: its zap did not begin,
						 * or the word re-read is a new value (ABA) */
						assert(!zap_begun[v] || e_ver != v);
						if
						:: zap_begun[v] -> skip /* ABA: a new equal entry @reach */
						:: else
						fi;
						ok = true
					:: else -> ok = false
					fi
				}
				if
				:: ok -> goto dma
				:: else -> put(b, PIN_BIAS) /* back out */
				fi
			:: else
			fi
		:: else
		fi;
		fault(P_PIN);
		tries++
	:: else -> goto done
	od;
dma:
	/* invariant 4: the stamp lands in A's block, or its quarantined original */
	assert(fsown[b] == FILE_A || fsown[b] == F_QUAR); /* @reach */
	put(b, PIN_BIAS);           /* dc_folio_unpin() */
	if
	:: last == 2 -> skip /* it freed A's quarantined original @reach */
	:: else
	fi;
done:
	skip
}

/* zap_range() of the one entry: bb = its busy block, or NONE. */
inline zap(bb)
{
	bb = NONE;
	zb = NONE;
	atomic {
		wait_unlocked(P_TRUNC);
		if
		:: live() -> /* step 1: ZAP, uncount (unshared: under the tree lock) */
			zap_begun[e_ver] = true;
			e_zap = true;
			zb = e_blk;
			mapped[zb] = false
		:: e_kind == K_REAL && e_zap -> /* zapped earlier: maybe pinned */
			if :: busy(e_blk) -> bb = e_blk :: else fi
		:: else
		fi
	}
	if
	:: zb != NONE -> /* step 2: fence; step 3: ->revoke, put */
		put(zb, 1);
		if :: busy(zb) -> bb = zb :: else fi
	:: else
	fi
}

/* dcfs truncate of page 0: break_range_b() -> dc_mapping_break_layouts()
 * and dc_mapping_truncate() until nothing stays, then dcfs_blocks_put(). */
proctype Truncater()
{
	byte bb, zb, b;
	bool stayed;
	byte last;

	inv_excl();
	do
	:: zap(bb);
		if
		:: bb != NONE -> /* wait for it, the invalidate lock dropped */
			inv_unexcl();
			!busy(bb); /* @reach */
			inv_excl()
		:: else -> /* truncate_range(): delete what is deletable */
			atomic {
				wait_unlocked(P_TRUNC);
				stayed = false;
				if
				:: e_kind == K_NONE
				:: e_kind == K_EMPTY || e_kind == K_ZERO -> /* (then ->revoke) */
					e_kind = K_NONE; wake_all()
				:: e_kind == K_REAL && e_zap && !busy(e_blk) ->
					own[e_blk] = 0; /* dc__entry_disassoc() @reach */
					e_kind = K_NONE; e_blk = NONE; e_zap = false;
					wake_all()
				:: else -> stayed = true /* -EBUSY: a fault mapped it again */
				fi
			}
			if
			:: !stayed -> break
			:: else
			fi
		fi
	od;
	if
	:: amap != NONE -> b = amap; amap = NONE; free_block(b)
	:: else
	fi;
	inv_unexcl()
}

/* dc_mapping_lock_folio() of block 0 (memory failure): owner word -> entry,
 * wait for it unlocked, re-check, lock, tell the owner, unlock. */
proctype Failure()
{
	bool locked;

	atomic {
		if
		:: own[0] == FILE_A ->
			do
			:: e_kind != K_NONE && e_locked -> entry_wait(P_MF)
			:: else -> break
			od;
			if
#ifndef BUG_MF_NO_RECHECK
			:: own[0] == FILE_A && e_kind == K_REAL && e_blk == 0 ->
#else
			:: e_kind != K_NONE ->
#endif
				e_locked = true; locked = true /* @reach */
			:: else -> /* -EAGAIN / -ENOENT: dc__put_unlocked_entry() */
#ifndef BUG_NO_PASS_ON
				if :: e_kind != K_NONE -> wake_next() :: else fi
#else
				skip
#endif
			fi
		:: else
		fi
	}
	if
	:: locked -> /* ->notify_failure(A, page 0): the entry it locked */
		assert(e_kind == K_REAL && e_blk == 0 && own[0] == FILE_A && fsown[0] == FILE_A);
		unlock()
	:: else
	fi
}

/* Another file allocates (dcfs_alloc_blocks()): it may get a freed block. */
proctype OtherFile()
{
	byte b;
end:	atomic { (fsown[0] == 0 || fsown[1] == 0) -> alloc(FILE_B, b) }
}

init {
	atomic {
		fsown[0] = FILE_A;
		run Owner();
		run Pinner();
		run Truncater();
		run OtherFile();
		run Failure()
	}
	timeout; /* nothing else can move: no idle block left in quarantine */
	assert(!(quar[0] && ref[0] == 0) && !(quar[1] && ref[1] == 0))
}
