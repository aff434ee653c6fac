/*
 * claim.pml - the exclusive claim of a block by one file's entry (the
 * unshared owner word: dc__folio_claim(), unmap, disassoc).
 *
 * Configuration: one block; two files each fault an entry onto it at the
 * same time (an owner that handed one block out twice: the mapping layer's
 * claim must refuse the second, dc_mapping_insert() fails with -EBUSY and
 * gives its reference back); each file whose claim won zaps and deletes its
 * entry again afterwards, so the other may then claim the block.
 *
 * Properties: at most one file's entry claims the block at a time (ghost
 * claims); the C code's own checks (own_bug(): an unmap or disassoc by
 * another owner); every process ends.
 *
 * -DBUG_OWNER_CHECK_THEN_SET  DC_REGRESS_BUG=6: the claim loads the word,
 *                             checks it, then stores (no CAS).
 */
#include "common.pml"

#define MAPPED 4  /* the owner word: file id | MAPPED */

byte ref[1];
byte own;         /* 0, f (claimed, zapped) or f | MAPPED (live entry) */
byte claims;      /* ghost: entries that hold a successful claim */

/* The ghost: one more entry holds a claim, and it is the only one. */
inline won()
{
	claims++;
	assert(claims == 1)
}

/* dc__folio_claim(): free or ours (a re-claim) -> ours and mapped. */
inline claim(f, ok)
{
#ifndef BUG_OWNER_CHECK_THEN_SET
	atomic {
		if
		:: own == 0 || own == f -> own = f | MAPPED; ok = true; won()
		:: else -> ok = false /* -EBUSY: in use by another owner */
		fi
	}
#else
	atomic { w = own };
	if
	:: w == 0 || w == f -> atomic { own = f | MAPPED; ok = true; won() }
	:: else -> ok = false
	fi
#endif
}

/* A fault of file f inserting the block, then its zap and delete. */
proctype Fault(byte f)
{
	bool ok;
	byte w;

	atomic { ref[0]++ };      /* dc__folio_take() */
	claim(f, ok);
	if
	:: ok ->
		/* zap: dc__folio_unmap_if_unshared(), then the put */
		atomic { assert(own == (f | MAPPED)); own = f };
		folio_sub(0, 1);
		/* delete: dc__folio_disassoc_locked() */
		atomic { assert(own == f); own = 0; claims-- } /* @reach */
	:: else ->
		folio_sub(0, 1)       /* untake_one(): the reference goes back */
	fi
}

init {
	atomic {
		run Fault(1);
		run Fault(2)
	}
}
