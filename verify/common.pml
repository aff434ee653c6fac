/*
 * common.pml - pieces the daxcore models share (included by the models).
 *
 * Each block has a folio record: ref[] is its reference count.  An entry
 * holds 1, a tryget 1, a pin PIN_BIAS (DC_PIN_BIAS in the C code); the bias
 * here is larger than the most plain references the configurations take,
 * so "maybe pinned" (ref >= PIN_BIAS) is exact in the model, as it is in
 * C with its 2^10 bias.  A tree-lock section of the C code is one atomic
 * step here; a sleep inside it (a statement that blocks) lets the others
 * run, as dropping the lock does, and the step goes on when it can.
 */
#define NONE     255
#define PIN_BIAS 8

/* dc_folio_tryget() / dc_folio_pin(): a CAS loop that never starts from 0. */
inline folio_get_unless_idle(b, n, ok)
{
	atomic {
		if
		:: ref[b] > 0 -> ref[b] = ref[b] + n; ok = true
		:: else -> ok = false
		fi
	}
}

/* dc_folio_put() / dc_folio_unpin(): one atomic decrement. */
inline folio_sub(b, n)
{
	atomic {
		assert(ref[b] >= n); /* the C code's DC_BUG("put with refcount 0") */
		ref[b] = ref[b] - n
	}
}
