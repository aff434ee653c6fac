/*
 * reflink.pml - the first reflink of a block that one file owns: the
 * unshared owner word becomes shared under the owner's tree lock.
 *
 * Configuration: one block; three files.  The owner word is unshared (0,
 * f, or f | MAPPED: file f's entry claims it, live or zapped) or shared
 * (sharers, live, pending).  Processes:
 *   Fault(1), Fault(2)  a fault of file f inserting the block (take a
 *                       reference, dc__folio_claim()); the winner zaps
 *                       (under its tree lock: dc__folio_unmap_if_unshared(),
 *                       a plain store; shared: unmap_begin, put, unmap_end)
 *                       and deletes (under its tree lock:
 *                       dc__folio_disassoc_locked(), a plain store, or the
 *                       CAS of dc__folio_disassoc() once shared); the loser
 *                       gives its reference back (untake_one());
 *   Reflink             file 3 reflinks the block and faults it in:
 *                       share_begin_new() (a CAS on a shared or clear word;
 *                       an owner's unshared word only under that owner's
 *                       tree lock, re-checked there), take a reference,
 *                       share_commit; then zaps and deletes its entry.
 * dcfs would not let a reflink run against the source's truncate (its
 * locks); the model lets them race, as the mapping layer must allow for
 * any owner.
 *
 * Properties: a plain store never overwrites a shared word; at most one
 * unshared claim (ghost claims); the word clears
 * only when no file's entry names the block (ghost assoc); with nothing
 * pending, sharers equals assoc; the C code's own checks (own_bug(): an
 * unmap or disassoc by another owner, a commit with nothing pending);
 * every process ends.
 *
 * -DBUG_CONVERT_UNLOCKED  (no C switch) the conversion of an owner's word
 *                         does not take the owner's tree lock, so it races
 *                         the owner's plain stores.
 */
#include "common.pml"

#define MAPPED 4

byte ref[1];
byte own;                /* unshared word: 0, f, f | MAPPED */
bool wsh;                /* shared word: */
byte w_s, w_l, w_p;      /*   sharers, live, pending */
byte claims;             /* ghost: entries holding an unshared claim */
byte assoc;              /* ghost: entries naming the block */
bool tl[4];              /* each file's tree lock */

#define word_ok() assert(!wsh || w_p != 0 || w_s == assoc)

inline tree_lock(f)   { atomic { !tl[f] -> tl[f] = true } }
inline tree_unlock(f) { tl[f] = false }

/* share_end(): pending - 1, sharers + ds, live + dl (a CAS). */
inline share_end(ds, dl)
{
	atomic {
		assert(wsh && w_p > 0);  /* own_bug() */
		w_s = w_s + ds;
		w_l = w_l + dl;
		w_p--;
		word_ok()
	}
}

/* dc__folio_unmap_begin() of a shared word. */
inline unmap_begin()
{
	atomic { assert(wsh && w_l > 0); w_l--; w_p++ }
}

/* dc__folio_disassoc() (CAS) of a shared word; the last sharer clears it. */
inline disassoc_shared()
{
	atomic {
		assert(wsh && w_s > 0);
		assoc--;
		if
		:: w_s == 1 && w_p == 0 -> wsh = false; w_s = 0; w_l = 0
		:: else -> w_s--
		fi;
		assert(wsh || own == 0 && assoc == 0); /* clear only with nobody */
		word_ok()
	}
}

/* A plain store of an unshared word (atomic_store_explicit()): it writes
 * the whole word, so it must never meet a shared one (the premise the C
 * code states: the owner's tree lock excludes a reflink's conversion). */
inline plain_store(v)
{
	atomic {
		assert(!wsh); /* no conversion since the load */
		own = v
	}
}

/* Zap and delete of file f's entry (which names the block); the unshared
 * cases load the word, then store it, under f's tree lock. */
inline zap_delete(f)
{
	tree_lock(f);
	atomic { lsh = wsh; lw = own };
	if
	:: !lsh -> assert(lw == (f | MAPPED)); plain_store(f); done = true
	:: else -> done = false /* shared: the entry stays locked through step 3 */
	fi;
	tree_unlock(f);
	if
	:: done -> folio_sub(0, 1)
	:: else -> unmap_begin(); folio_sub(0, 1); share_end(0, 0) /* @reach */
	fi;
	tree_lock(f);
	atomic { lsh = wsh; lw = own };
	if
	:: !lsh -> assert(lw == f); atomic { plain_store(0); claims--; assoc-- }
	:: else -> disassoc_shared() /* @reach */
	fi;
	tree_unlock(f)
}

proctype Fault(byte f)
{
	bool ok, done, lsh;
	byte lw;

	atomic { ref[0]++ };  /* dc__folio_take() */
	atomic {              /* dc__folio_claim() */
		if
		:: !wsh && (own == 0 || own == f) ->
			own = f | MAPPED; ok = true;
			claims++; assoc++;
			assert(claims == 1)
		:: else -> ok = false /* -EBUSY */
		fi
	}
	if
	:: ok -> zap_delete(f)
	:: else -> folio_sub(0, 1)
	fi
}

/* dcfs reflink into file 3 and its fault: share_begin_new(), take, commit. */
proctype Reflink()
{
	bool conv, done;
	byte o;

end:	atomic { own != 0 || wsh }; /* a file has the block to reflink from */
	do
	:: atomic {
		if
		:: wsh -> w_p++; w_s++; assoc++; word_ok(); break
		:: !wsh && own == 0 ->    /* every owner went: the first sharer */
			wsh = true; w_s = 1; w_l = 0; w_p = 1; assoc++; break /* @reach */
		:: !wsh && own != 0 -> o = own & ~MAPPED /* -EAGAIN: take o's lock */
		fi
	   }
#ifndef BUG_CONVERT_UNLOCKED
		tree_lock(o);
#endif
		atomic {
			conv = false;
			if
			:: !wsh && (own & ~MAPPED) == o -> /* the owner becomes a sharer */
				wsh = true; w_s = 2; w_p = 1;
				if :: own & MAPPED -> w_l = 1 :: else -> w_l = 0 fi;
				own = 0; claims--; assoc++;
				conv = true /* @reach */
			:: else /* another owner now: look again */
			fi
		}
#ifndef BUG_CONVERT_UNLOCKED
		tree_unlock(o);
#endif
		if
		:: conv -> break
		:: else
		fi
	od;
	atomic { ref[0]++ };
	share_end(0, 1);      /* dc__folio_share_commit() */
	/* file 3's zap and delete of its (shared) entry */
	unmap_begin(); folio_sub(0, 1); share_end(0, 0);
	disassoc_shared()
}

init {
	atomic {
		run Fault(1);
		run Fault(2);
		run Reflink()
	}
}
