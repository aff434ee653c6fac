/*
 * waitq.pml - the entry lock's waiters (src/mapping/entry_wait.c), for one
 * entry: waitq is the set of queued waiters (bit = process number, four at
 * most), woken[] their futex words.  dc__entry_wait() queues under the tree lock, drops
 * it and sleeps on its own word; dc__entry_wake() dequeues one waiter
 * (WAKE_NEXT: the C code takes the oldest, the model any, which covers
 * every order) or all (WAKE_ALL) and sets their words.
 */
byte waitq;
bool woken[NWAITERS];

/* Caller is inside an atomic step (the tree lock); returns with it again. */
inline entry_wait(me)
{
	woken[me] = false;
	waitq = waitq | (1 << me);
	woken[me];  /* asleep: the tree lock is dropped until this holds */
}

inline wake_next()
{
	if
	:: (waitq & 1) -> waitq = waitq & ~1; woken[0] = true
	:: (waitq & 2) -> waitq = waitq & ~2; woken[1] = true
	:: (waitq & 4) -> waitq = waitq & ~4; woken[2] = true
	:: (waitq & 8) -> waitq = waitq & ~8; woken[3] = true
	:: else -> skip
	fi
}

inline wake_all()
{
	if :: (waitq & 1) -> woken[0] = true :: else fi;
	if :: (waitq & 2) -> woken[1] = true :: else fi;
	if :: (waitq & 4) -> woken[2] = true :: else fi;
	if :: (waitq & 8) -> woken[3] = true :: else fi;
	waitq = 0
}
