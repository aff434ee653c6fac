// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * torture.c - `daxcore torture`: the run.  Workers (torture_ops.c) do
 * random operations on their files of one dcfs mount; every --check-ms
 * the main thread parks them at a barrier (each first waits for its DMAs)
 * and, quiescent, runs dc_dcfs_check(), the invariants of DESIGN.md that
 * the API shows (below), and reads every file back against its model.  A
 * watchdog prints every worker, pin holder and slow wait when nothing has
 * progressed for 10 s (until the unmount returns), and fails the run.  At
 * the end the workers stop, each leaves a view with stores in it, a
 * revocable long DMA and a short one behind, and the region is removed
 * under them: the removal must complete, every count must return to zero,
 * the unmount must succeed.
 */
#include "torture.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void dc__fault_set(unsigned long nth) __attribute__((weak));


static const char *const op_names[OP_NR + 1] = {
	"pwrite", "pread", "store", "store_fault", "load", "eof_store", "dma_write",
	"dma_read", "pin", "pin_user", "pin_revocable", "truncate", "punch", "zero",
	"collapse", "insert", "reflink", "fsync", "recycle", "poison", "fail_alloc", "kill",
	"stall", "race", "pin_probe", "pwrite_part", "tail_store", "dma_done",
};

static const char *const viol_names[V_NR] = {
	"foreign_stamp", "bad_content", "block_left_file", "free_while_pinned",
	"store_after_revoke", "poison_reused", "unexpected_result", "count_not_zero",
	"check_failed", "removal_incomplete", "killed_client_leak", "watchdog",
	"store_astray", "memory_failure_misrouted",
};

const char *t_op_name(enum t_op op)
{
	return op <= OP_NR ? op_names[op] : "?";
}

void t_count(struct torture *t, enum t_op op)
{
	atomic_fetch_add_explicit(&t->ops[op], 1, memory_order_relaxed);
}

void t_violation(struct torture *t, enum t_viol v, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&t->viol[v], 1);
	pthread_mutex_lock(&t->log_lock);
	if (t->nlogged++ < T_VIOL_LOG) {
		fprintf(stderr, "daxcore torture: VIOLATION %s: ", viol_names[v]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&t->log_lock);
}

bool t_poisoned(struct torture *t, uint64_t pgoff)
{
	unsigned order = dc_region_folio_order(t->r);
	bool hit = false;

	pthread_mutex_lock(&t->log_lock);
	for (unsigned i = 0; i < t->npoisoned && !hit; i++)
		hit = t->poisoned[i] >> order == pgoff >> order;
	pthread_mutex_unlock(&t->log_lock);
	return hit;
}

/* Room for every page: each worker poisons T_POISON_BUDGET at most (op_poison()). */
void t_poison_done(struct torture *t, uint64_t pgoff)
{
	pthread_mutex_lock(&t->log_lock);
	for (unsigned i = t->npoisoned; i-- > 0;)
		if (t->poisoned[i] == pgoff) {
			t->poison_done[i] = true;
			break;
		}
	pthread_mutex_unlock(&t->log_lock);
}

void t_poison_note(struct torture *t, uint64_t pgoff)
{
	bool full;

	pthread_mutex_lock(&t->log_lock);
	full = t->npoisoned >= sizeof(t->poisoned) / sizeof(t->poisoned[0]);
	if (!full)
		t->poisoned[t->npoisoned++] = pgoff;
	pthread_mutex_unlock(&t->log_lock);
	if (!full)
		t->poison_done[t->npoisoned - 1] = false;
	if (full) /* the budget is broken: t_poisoned() would miss this page */
		t_violation(t, V_CHECK, "page %" PRIu64 " poisoned past the record's room", pgoff);
}

int t_fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* not opendir()'s own */
}

/* ---- the barrier --------------------------------------------------------------------- */

void t_maybe_park(struct t_worker *w)
{
	struct torture *t = w->t;
	uint64_t epoch;

	if (!atomic_load(&t->park))
		return;
	t_reap_all(w); /* quiescent: no DMA holds a pin */
	pthread_mutex_lock(&t->park_lock);
	epoch = atomic_load(&t->park_epoch);
	atomic_store(&w->in_park, true);
	atomic_fetch_add(&t->parked, 1);
	pthread_cond_broadcast(&t->park_cond);
	while (atomic_load(&t->park_epoch) == epoch)
		pthread_cond_wait(&t->park_cond, &t->park_lock);
	atomic_store(&w->in_park, false);
	pthread_mutex_unlock(&t->park_lock);
}

/* Park every running worker: false if they did not come within the watchdog's time. */
static void park_all(struct torture *t)
{
	pthread_mutex_lock(&t->park_lock);
	atomic_store(&t->parked, 0);
	atomic_store(&t->park, true);
	while (atomic_load(&t->parked) < 2 * t->o.threads) /* workers and partners */
		pthread_cond_wait(&t->park_cond, &t->park_lock);
	pthread_mutex_unlock(&t->park_lock);
}

static void unpark_all(struct torture *t)
{
	pthread_mutex_lock(&t->park_lock);
	atomic_store(&t->park, false);
	atomic_fetch_add(&t->park_epoch, 1);
	pthread_cond_broadcast(&t->park_cond);
	pthread_mutex_unlock(&t->park_lock);
}

/* ---- quiescent checks ---------------------------------------------------------------- */

static uint64_t q_max; /* quarantined blocks, the most seen */

static void sample(struct torture *t)
{
	struct dc_dcfs_statfs st;

	dc_dcfs_statfs(t->fs, &st);
	if (st.blocks_quarantined > q_max)
		q_max = st.blocks_quarantined;
}

/*
 * With every worker parked and no DMA running: dc_dcfs_check() (invariants
 * 2, 4, 5, 9 as the file system keeps them: entries and pins against
 * extents, the reverse map, the allocator, the quarantine), the counts
 * (no pin held, nothing quarantined: 5), each free block idle (1, 4), the
 * region's liveness count equal to its non-idle folios (7: no transient
 * holder at a quiescent point), every poisoned page bad or still marked
 * in its file, never free (10), and every file equal to its model.
 */
static void quiescent(struct torture *t, const char *when)
{
	struct dc_dcfs_statfs st;
	struct dc_region_stats rs;
	uint64_t busy = 0, order = dc_region_folio_order(t->r), pages = 0, v0 = 0, v1 = 0;
	static int fds0 = -1;
	int ret, fds;

	for (unsigned i = 0; i < V_NR; i++)
		v0 += atomic_load(&t->viol[i]);
	if (dc__fault_set) /* no injected failure pending: the checks allocate */
		dc__fault_set(0);

	ret = dc_dcfs_check(t->fs);
	if (ret)
		t_violation(t, V_CHECK, "%s: dc_dcfs_check: %s: %s", when, ename(ret), dc_errmsg());
	dc_dcfs_statfs(t->fs, &st);
	if (st.pins || st.pinned_pages)
		t_violation(t, V_COUNT, "%s: %" PRIu64 " pin sets (%" PRIu64 " pages) held with every DMA done",
			    when, st.pins, st.pinned_pages);
	if (st.blocks_quarantined)
		t_violation(t, V_COUNT, "%s: %" PRIu64 " blocks quarantined with no pin held", when,
			    st.blocks_quarantined);
	for (uint64_t pg = 0; pg < t->npages; pg += UINT64_C(1) << order) {
		struct dc_folio *f = dc_folio_lookup(t->r, pg);
		struct dc_dcfs_block blk;
		bool idle = !f || dc_folio_idle(f);

		busy += !idle;
		if (dc_dcfs_rmap(t->fs, pg, &blk, NULL, 0) < 0)
			continue;
		if (blk.state == DC_DCFS_BLOCK_FREE && !idle)
			t_violation(t, V_CHECK, "%s: free block at page %" PRIu64 " is not idle (invariant 1)",
				    when, pg);
		if (blk.state == DC_DCFS_BLOCK_FREE && t_poisoned(t, pg))
			t_violation(t, V_POISON_REUSE, "%s: poisoned page %" PRIu64 " is free again", when, pg);
	}
	/*
	 * Invariant 10: a page whose memory failure was taken is out of
	 * service for good: bad, or still in the file that had it, marked
	 * poisoned (reads of it fail) until punched; never in use unmarked
	 * (allocated again, or its poison forgotten).
	 */
	for (unsigned i = 0;; i++) {
		struct dc_dcfs_block blk;
		uint64_t pg;
		bool done, more;

		pthread_mutex_lock(&t->log_lock); /* t_violation() takes it */
		more = i < t->npoisoned;
		pg = more ? t->poisoned[i] : 0;
		done = more && t->poison_done[i];
		pthread_mutex_unlock(&t->log_lock);
		if (!more)
			break;
		if (!done || dc_dcfs_rmap(t->fs, pg, &blk, NULL, 0) < 0)
			continue;
		if (blk.state != DC_DCFS_BLOCK_BAD && !(blk.state != DC_DCFS_BLOCK_FREE && blk.poisoned))
			t_violation(t, V_POISON_REUSE, "%s: poisoned page %" PRIu64 " is %s, not bad (block state %d)",
				    when, pg, blk.state == DC_DCFS_BLOCK_FREE ? "free" : "in use unmarked",
				    (int)blk.state);
	}
	/* Every DMA reaped, no kill in progress: descriptors as at the first
	 * point (an io_uring ring or data file a DMA or a killed client left) */
	fds = t_fds_open();
	if (fds0 < 0)
		fds0 = fds;
	else if (fds >= 0 && fds != fds0)
		t_violation(t, V_LEAK, "%s: %d descriptors open, %d at the first quiescent point",
			    when, fds, fds0);
	dc_region_stats(t->r, &rs);
	if (rs.busy != busy)
		t_violation(t, V_CHECK, "%s: the region's liveness count is %" PRIu64 ", %" PRIu64 " folios are not idle (invariant 7)",
			    when, rs.busy, busy);
	for (unsigned i = 0; i < t->o.threads; i++)
		pages += t_verify_all(&t->w[i]);
	(void)pages;
	for (unsigned i = 0; i < V_NR; i++)
		v1 += atomic_load(&t->viol[i]);
	if (v1 == v0) /* passed: no violation found meanwhile (by the check or anyone) */
		atomic_fetch_add(&t->checks, 1);
	atomic_fetch_add(&t->progress, 1);
}

/* ---- the watchdog -------------------------------------------------------------------- */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static char ev_ring[8][256];
static unsigned ev_n;
static _Atomic uint64_t outstanding = UINT64_MAX; /* the removal's drain, as it reports */

/* The memory failures reported to this thread (torture_ops.c, op_poison()). */
static __thread struct t_mf_ev mf_ev[T_MF_EVS];
static __thread unsigned mf_n;

void t_mf_reset(void)
{
	mf_n = 0;
}

unsigned t_mf_events(const struct t_mf_ev **ev)
{
	*ev = mf_ev;
	return mf_n;
}

static void on_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	char *s;
	size_t at;

	(void)fs;
	(void)arg;
	if (ev->type == DC_DCFS_EV_MEMORY_FAILURE) {
		if (mf_n < T_MF_EVS)
			mf_ev[mf_n] = (struct t_mf_ev){ ev->ino, ev->offset, ev->length, ev->pgoff };
		mf_n++;
		return;
	}
	if (ev->type != DC_DCFS_EV_SLOW_WAIT)
		return;
	pthread_mutex_lock(&ev_lock);
	s = ev_ring[ev_n++ % 8];
	at = (size_t)snprintf(s, 256, "%s of ino %" PRIu64 " waiting %.3f s for %u pin(s):", ev->op,
			      ev->ino, (double)ev->waited_ns / 1e9, ev->npins);
	for (unsigned i = 0; i < ev->npins && i < 16 && at < 200; i++)
		at += (size_t)snprintf(s + at, 256 - at, " %s (age %.3f s)", ev->pins[i].tag,
				       (double)ev->pins[i].age_ns / 1e9);
	pthread_mutex_unlock(&ev_lock);
}

static void on_drain(void *arg, uint64_t n)
{
	struct torture *t = arg;

	if (n < atomic_load(&outstanding))
		atomic_fetch_add(&t->progress, 1);
	atomic_store(&outstanding, n);
}

/*
 * Where the run is, for the watchdog: it keeps watching through the end
 * (a hung removal or unmount must fire it too) and must know what it may
 * still look at: the workers until they have been given back
 * (t_worker_fini() frees their buffers), the mount until the unmount
 * begins (a successful one frees it).
 */
enum wd_phase { WD_RUN, WD_END, WD_REMOVAL, WD_FINI, WD_AFTER, WD_UNMOUNT };
static const char *const wd_phase_names[] = {
	"running", "the end: stopping the workers, the last check, holding things",
	"the device removal", "giving back what was held across the removal",
	"the checks after the removal", "the unmount",
};
static _Atomic int wd_phase = WD_RUN;

/* A step of the end: progress, as the watchdog sees it. */
static void set_phase(struct torture *t, enum wd_phase p)
{
	atomic_store(&wd_phase, p);
	atomic_fetch_add(&t->progress, 1);
}

/*
 * Everything the watchdog can know of who waits and who holds: each
 * worker's operation and its age, its DMAs, every pin of its files (tag,
 * age), the mount's pin count (pins on files no worker has open, e.g. of
 * files being closed, show as the difference), the last slow-wait reports
 * (which layout call waits how long for which pins) and the removal's
 * outstanding references.  Each worker's DMA list under its lock (the
 * worker frees what it reaps); the rest is read while those threads may
 * still move: the watchdog prints this only when nothing moved for
 * --watchdog seconds, and exits right after.
 */
static void wd_report(struct torture *t)
{
	int phase = atomic_load(&wd_phase);
	uint64_t on_files = 0;

	fprintf(stderr, "daxcore torture: watchdog: no progress for %u s (seed %" PRIu64
		"), during %s:\n", t->o.watchdog_s, t->o.seed, wd_phase_names[phase]);
	if (phase < WD_AFTER)
		for (unsigned i = 0; i < t->o.threads; i++)
			on_files += t_worker_dump(&t->w[i], stderr);
	if (phase < WD_UNMOUNT) {
		struct dc_dcfs_statfs st;

		dc_dcfs_statfs(t->fs, &st);
		fprintf(stderr, "  mount: %" PRIu64 " pin sets (%" PRIu64 " pages) held, %" PRIu64
			" of them on the workers' files; %" PRIu64 " files open, %" PRIu64
			" views\n", st.pins, st.pinned_pages, on_files, st.open, st.views);
	}
	pthread_mutex_lock(&ev_lock);
	for (unsigned i = ev_n > 8 ? ev_n - 8 : 0; i < ev_n; i++)
		fprintf(stderr, "  slow wait: %s\n", ev_ring[i % 8]);
	pthread_mutex_unlock(&ev_lock);
	if (phase == WD_REMOVAL && atomic_load(&outstanding) == UINT64_MAX)
		fprintf(stderr, "  removal: no drain progress reported yet\n");
	else if (phase == WD_REMOVAL)
		fprintf(stderr, "  removal: %" PRIu64 " references outstanding\n",
			atomic_load(&outstanding));
	else if (phase == WD_UNMOUNT)
		fprintf(stderr, "  (the mount is being unmounted: not asked for its pins)\n");
	fflush(stderr);
}

static void *watchdog(void *arg)
{
	struct torture *t = arg;
	uint64_t last = atomic_load(&t->progress), since = dc_now_ns();

	while (!atomic_load(&t->quit_watchdog)) {
		struct timespec ts = { 0, 100000000 };
		uint64_t p = atomic_load(&t->progress), now = dc_now_ns();

		if (p != last) {
			last = p;
			since = now;
		} else if (now - since > t->o.watchdog_s * 1000000000ull) {
			t_violation(t, V_WATCHDOG, "no progress for %u s", t->o.watchdog_s);
			wd_report(t);
			_exit(1);
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- the summary --------------------------------------------------------------------- */

struct summary {
	double secs;
	uint64_t ops, faults, signal_faults, break_waits, memory_failures, revokes, cow;
	uint64_t viols, removal_ms;
	int removal, unmount;
};

static void print_text(struct torture *t, const struct summary *s)
{
	printf("daxcore torture: seed %" PRIu64 ", %s, options '%s', %u threads, %.1f s, %s blocks%s\n",
	       t->o.seed, t->o.spec, t->o.mountopts, t->o.threads, s->secs,
	       t->block == DC_PAGE_SIZE ? "4 KiB" : t->block == (2u << 20) ? "2 MiB" : "1 GiB",
	       t->fault_build ? ", fault-injection build" : "");
	printf("operations: %" PRIu64 " (%.0f/s)\n", s->ops, (double)s->ops / s->secs);
	for (unsigned i = 0; i < OP_NR; i++) {
		uint64_t n = atomic_load(&t->ops[i]);

		if (n)
			printf("  %-14s %10" PRIu64 " %10.0f/s\n", op_names[i], n, (double)n / s->secs);
	}
	printf("waits: %" PRIu64 " break-layouts waits, longest layout call %.3f ms, %" PRIu64 " timed out\n",
	       s->break_waits, (double)atomic_load(&t->wait_max_ns) / 1e6, atomic_load(&t->timeouts));
	printf("quarantined blocks: at most %" PRIu64 " seen; faults served: %" PRIu64 " (%" PRIu64 " through SIGSEGV)\n",
	       q_max, s->faults, s->signal_faults);
	printf("dma: %" PRIu64 " bytes; revokes %" PRIu64 "; copy-on-write %" PRIu64 "; memory failures reported %" PRIu64 " (%u pages poisoned, %" PRIu64 " hits, %" PRIu64 " checked reported to their file)\n",
	       atomic_load(&t->dma_bytes), s->revokes, s->cow, s->memory_failures, t->npoisoned,
	       atomic_load(&t->poison_hits), atomic_load(&t->mf_routed));
	printf("two threads a file: %" PRIu64 " operations overlapped by the other's, %" PRIu64 " resyncs, %" PRIu64 " pin probes\n",
	       atomic_load(&t->overlaps), atomic_load(&t->resyncs), atomic_load(&t->probes));
	printf("injected: %" PRIu64 " allocation failures seen; kills %" PRIu64 "; SIGBUS %" PRIu64 "\n",
	       atomic_load(&t->enomem), atomic_load(&t->kills), atomic_load(&t->sigbus));
	printf("checks passed: %" PRIu64 " quiescent points, %" PRIu64 " pages verified, %" PRIu64 " skipped (in flux or unknown)\n",
	       atomic_load(&t->checks), atomic_load(&t->verified_pages),
	       atomic_load(&t->skipped_pages));
	printf("stores traced: %" PRIu64 " pages to the device page their view maps, %" PRIu64 " revoked before the trace\n",
	       atomic_load(&t->store_checked), atomic_load(&t->store_revoked));
	printf("removal: %s in %" PRIu64 " ms; unmount: %s\n", ename(s->removal), s->removal_ms,
	       ename(s->unmount));
	/* A test aid: the same seed, the same choices (docs/cli.md says when) */
	printf("replay: first %u operations:", T_REPLAY_OPS);
	for (unsigned i = 0; i < t->o.threads; i++) {
		printf(t->w[i].nops < T_REPLAY_OPS ? " w%u %016" PRIx64 " (%" PRIu64 " only)" :
		       " w%u %016" PRIx64, i, t->w[i].replay, t->w[i].nops);
		printf(t->w[i].pnops < T_REPLAY_OPS ? " p%u %016" PRIx64 " (%" PRIu64 " only)" :
		       " p%u %016" PRIx64, i, t->w[i].preplay, t->w[i].pnops);
	}
	printf("\n");
	printf("violations: %" PRIu64, s->viols);
	for (unsigned i = 0; i < V_NR; i++)
		if (atomic_load(&t->viol[i]))
			printf(" %s=%" PRIu64, viol_names[i], atomic_load(&t->viol[i]));
	printf("\n%s\n", s->viols ? "FAILED" : "ok");
}

static void print_json(struct torture *t, const struct summary *s)
{
	printf("{\"seed\": %" PRIu64 ", \"spec\": ", t->o.seed);
	json_str(stdout, t->o.spec);
	printf(", \"options\": ");
	json_str(stdout, t->o.mountopts);
	printf(", \"threads\": %u, \"seconds\": %.3f, \"block_size\": %" PRIu64 ", \"ops\": %" PRIu64
	       ", \"ops_per_s\": %.1f, \"ops_by_kind\": {",
	       t->o.threads, s->secs, t->block, s->ops, (double)s->ops / s->secs);
	for (unsigned i = 0; i < OP_NR; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", op_names[i], atomic_load(&t->ops[i]));
	printf("}, \"break_waits\": %" PRIu64 ", \"longest_wait_ms\": %.3f, \"timeouts\": %" PRIu64
	       ", \"quarantined_max\": %" PRIu64 ", \"faults\": %" PRIu64 ", \"signal_faults\": %" PRIu64
	       ", \"dma_bytes\": %" PRIu64 ", \"revokes\": %" PRIu64 ", \"cow_copies\": %" PRIu64
	       ", \"memory_failures\": %" PRIu64 ", \"poisoned_pages\": %u, \"poison_hits\": %" PRIu64
	       ", \"mf_routed\": %" PRIu64 ", \"overlaps\": %" PRIu64 ", \"resyncs\": %" PRIu64
	       ", \"probes\": %" PRIu64
	       ", \"enomem\": %" PRIu64 ", \"kills\": %" PRIu64 ", \"sigbus\": %" PRIu64
	       ", \"checks_passed\": %" PRIu64 ", \"pages_verified\": %" PRIu64
	       ", \"pages_skipped\": %" PRIu64 ", \"store_checked\": %" PRIu64
	       ", \"store_revoked\": %" PRIu64 ", \"removal\": \"%s\", \"removal_ms\": %" PRIu64
	       ", \"unmount\": \"%s\", \"violations\": %" PRIu64 ", \"violations_by_kind\": {",
	       s->break_waits, (double)atomic_load(&t->wait_max_ns) / 1e6, atomic_load(&t->timeouts),
	       q_max, s->faults, s->signal_faults, atomic_load(&t->dma_bytes), s->revokes, s->cow,
	       s->memory_failures, t->npoisoned, atomic_load(&t->poison_hits),
	       atomic_load(&t->mf_routed), atomic_load(&t->overlaps), atomic_load(&t->resyncs),
	       atomic_load(&t->probes), atomic_load(&t->enomem), atomic_load(&t->kills), atomic_load(&t->sigbus),
	       atomic_load(&t->checks), atomic_load(&t->verified_pages),
	       atomic_load(&t->skipped_pages), atomic_load(&t->store_checked),
	       atomic_load(&t->store_revoked), ename(s->removal), s->removal_ms, ename(s->unmount),
	       s->viols);
	for (unsigned i = 0; i < V_NR; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", viol_names[i], atomic_load(&t->viol[i]));
	printf("}}\n");
}

/* ---- options ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: daxcore torture [-d SPEC] [--seconds N] [--threads T] [--seed S]\n"
		"                       [-o MOUNTOPTS] [--json] [--kill] [--fail-alloc N]\n"
		"                       [--check-ms MS] [--watchdog S] [--ops LIST]\n"
		"Randomised concurrent operations on one dcfs (default " TORTURE_DEFAULT_SPEC "): stores\n"
		"and loads through views (SIGSEGV handler and dc_view_fault()), pread, pwrite,\n"
		"DMA with both engines through short, user and revocable pins, truncate,\n"
		"punch, zero, collapse, insert, reflink, unlink and close, fsync, memory\n"
		"failures, and at the end a device removal under held views, pins and files.\n"
		"An oracle stamps every page written and checks, before and after every DMA\n"
		"pass and after every store, that each block still belongs to its file;\n"
		"every --check-ms (default 2000) the workers park and dc_dcfs_check(), the\n"
		"counts and every file's contents are checked.  Exit 1 on any violation.\n"
		"  --seconds N     run time (default 10)\n"
		"  --threads T     workers (default 4), each with 3 files of its own and a\n"
		"                  partner thread that changes their layout and pins them\n"
		"  --seed S        the seed (default: from the clock; printed): the same seed\n"
		"                  replays the same sequence of operations (each kind and the\n"
		"                  seed of its choices) in every thread; the interleaving, and\n"
		"                  so the sizes and holes the choices meet, differ run to run\n"
		"  -o MOUNTOPTS    dcfs mount options (e.g. quarantine)\n"
		"  --kill          also cancel client threads mid-DMA and check their pins go\n"
		"  --fail-alloc N  inject allocation failures (one of a worker's own next N\n"
		"                  allocations, now and then): needs a library built with\n"
		"                  -DDC_FAULT_INJECT\n"
		"                  (build/fault/daxcore, build/asan/daxcore, build/tsan/daxcore)\n"
		"  --watchdog S    no progress for S seconds (default 10): print every worker,\n"
		"                  pin holder and slow wait, and exit 1\n"
		"  --ops LIST      only these operations (comma-separated, the names of the\n"
		"                  summary: pwrite,pread,store,...; default all but 'stall',\n"
		"                  a test aid that holds a pin across a truncate of it: the\n"
		"                  watchdog must fire, and 'race', a test aid: a DMA's last\n"
		"                  pass lands after a store or DMA of its pages began)\n"
		"  --json          the summary as one JSON object\n");
}

static int num_arg(const char *opt, const char *s, uint64_t *out)
{
	if (!s || parse_size(s, out)) {
		fprintf(stderr, "daxcore torture: %s needs a number%s%s%s\n", opt, s ? " (got '" : "",
			s ? s : "", s ? "')" : "");
		return -1;
	}
	return 0;
}

/* --ops a,b,c: only those operations (the names of the summary). */
static int parse_ops(const char *s, uint64_t *mask)
{
	char buf[512], *save = NULL;

	*mask = 0;
	if (!s || strlen(s) >= sizeof(buf)) {
		fprintf(stderr, "daxcore torture: --ops needs a list of operations\n");
		return -1;
	}
	strcpy(buf, s);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		unsigned i;

		for (i = 0; i < OP_NR && strcmp(w, op_names[i]); i++)
			;
		if (i == OP_NR) {
			fprintf(stderr, "daxcore torture: --ops: unknown operation '%s'\n", w);
			return -1;
		}
		*mask |= UINT64_C(1) << i;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct t_opts *o)
{
	uint64_t v;
	bool seeded = false;

	o->spec = TORTURE_DEFAULT_SPEC;
	o->mountopts = "";
	o->seconds = 10;
	o->threads = 4;
	o->check_ms = 2000;
	o->watchdog_s = 10;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--kill")) {
			o->kill = true;
		} else if (!strcmp(a, "--ops")) {
			if (parse_ops(val, &o->only))
				return -1;
			i++;
		} else if (!strcmp(a, "-d") || !strcmp(a, "-o")) {
			if (!val) {
				fprintf(stderr, "daxcore torture: %s needs a value\n", a);
				return -1;
			}
			*(a[1] == 'd' ? &o->spec : &o->mountopts) = val;
			i++;
		} else if (!strcmp(a, "--seconds") || !strcmp(a, "--threads") ||
			   !strcmp(a, "--seed") || !strcmp(a, "--fail-alloc") ||
			   !strcmp(a, "--check-ms") || !strcmp(a, "--watchdog")) {
			if (num_arg(a, val, &v))
				return -1;
			i++;
			if (!strcmp(a, "--seconds")) {
				o->seconds = v;
			} else if (!strcmp(a, "--threads")) {
				if (!v || v > T_THREADS_MAX) {
					fprintf(stderr, "daxcore torture: --threads: 1 to 64\n");
					return -1;
				}
				o->threads = (unsigned)v;
			} else if (!strcmp(a, "--seed")) {
				o->seed = v;
				seeded = true;
			} else if (!strcmp(a, "--watchdog")) {
				if (!v || v > 3600) {
					fprintf(stderr, "daxcore torture: --watchdog: 1 to 3600 seconds\n");
					return -1;
				}
				o->watchdog_s = (unsigned)v;
			} else if (!strcmp(a, "--check-ms")) {
				if (!v || v > 600000) {
					fprintf(stderr, "daxcore torture: --check-ms: 1 to 600000\n");
					return -1;
				}
				o->check_ms = (unsigned)v;
			} else {
				if (!v) {
					fprintf(stderr, "daxcore torture: --fail-alloc: at least 1\n");
					return -1;
				}
				o->fail_alloc = v;
			}
		} else {
			fprintf(stderr, "daxcore torture: unknown argument '%s'\n", a);
			return -1;
		}
	}
	if (!seeded)
		o->seed = dc_now_ns() ^ ((uint64_t)getpid() << 32);
	return 0;
}

/* ---- the run ------------------------------------------------------------------------- */

static int setup(struct torture *t, char *opts, size_t n)
{
	static const struct dc_dcfs_ops ops = { .event = on_event };
	struct dc_dcfs_statfs st;
	uint64_t need;
	int ret;

	snprintf(opts, n, "%s%s%s", t->o.mountopts, t->o.mountopts[0] ? "," : "",
		 strstr(t->o.mountopts, "slow_wait_ms") ? "" : "slow_wait_ms=2000");
	ret = dc_region_create(t->o.spec, &t->r);
	if (ret) {
		fprintf(stderr, "daxcore torture: region %s: %s (%s)\n", t->o.spec, ename(ret),
			dc_errmsg());
		return ret;
	}
	ret = dc_dcfs_mount(t->r, opts, &ops, t, &t->fs);
	if (ret) {
		fprintf(stderr, "daxcore torture: mount -o %s: %s (%s)\n", opts, ename(ret),
			dc_errmsg());
		(void)dc_region_remove(t->r, NULL);
		return ret;
	}
	dc_dcfs_statfs(t->fs, &st);
	t->block = st.block_size;
	t->npages = dc_region_npages(t->r);
	t->maxpages = t->block == DC_PAGE_SIZE ? 256 : 2 * t->block / DC_PAGE_SIZE;
	t->quarantine = strstr(opts, "quarantine") != NULL;
	/* files of every worker at their largest, and as much again for copies and churn */
	need = 2ull * t->o.threads * T_FILES * t->maxpages * DC_PAGE_SIZE;
	if (st.blocks * st.block_size < need)
		fprintf(stderr, "daxcore torture: note: %s is small for %u threads (%" PRIu64
			" MiB would hold every file at its largest twice): expect -ENOSPC\n",
			t->o.spec, t->o.threads, need >> 20);
	return 0;
}

int torture_main(int argc, char **argv)
{
	struct torture *t;
	struct summary s = { 0 };
	struct dc_dcfs_statfs st;
	struct dc_view_stats vs;
	pthread_t wd;
	char opts[512];
	uint64_t end, next_check, t_end, r0;
	int ret = parse_opts(argc, argv, &(struct t_opts){ 0 });

	if (ret)
		return ret < 0 ? EXIT_USAGE : 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return 1;
	(void)parse_opts(argc, argv, &t->o);
	t->fault_build = dc__fault_set != NULL;
	if (t->o.fail_alloc && !t->fault_build) {
		fprintf(stderr, "daxcore torture: --fail-alloc needs a library built with "
				"-DDC_FAULT_INJECT (build/fault/daxcore, build/asan/daxcore, "
				"build/tsan/daxcore); this one has no allocation injector\n");
		free(t);
		return EXIT_USAGE;
	}
	pthread_mutex_init(&t->park_lock, NULL);
	pthread_cond_init(&t->park_cond, NULL);
	pthread_mutex_init(&t->log_lock, NULL);
	ret = io_signals_init();
	if (ret) {
		fprintf(stderr, "daxcore torture: signal handlers: %s\n", ename(ret));
		return 1;
	}
	if (setup(t, opts, sizeof(opts)))
		return 1;
	t->o.mountopts = opts;
	if (!t->o.json)
		printf("daxcore torture: seed %" PRIu64 " (replay: --seed %" PRIu64 ")\n", t->o.seed,
		       t->o.seed);
	fflush(stdout);
	t->w = calloc(t->o.threads, sizeof(*t->w));
	if (!t->w)
		return 1;
	for (unsigned i = 0; i < t->o.threads; i++) {
		t->w[i].t = t;
		t->w[i].idx = i;
		if (t_worker_init(&t->w[i])) {
			fprintf(stderr, "daxcore torture: worker %u: cannot set up its files\n", i);
			return 1;
		}
	}
	t->t0_ns = dc_now_ns();
	if (pthread_create(&wd, NULL, watchdog, t))
		return 1;
	for (unsigned i = 0; i < t->o.threads; i++)
		if (pthread_create(&t->w[i].th, NULL, t_worker_main, &t->w[i]))
			return 1;
	end = t->t0_ns + t->o.seconds * 1000000000ull;
	next_check = t->t0_ns + t->o.check_ms * 1000000ull;
	for (uint64_t now = dc_now_ns(); now < end; now = dc_now_ns()) {
		struct timespec ts = { 0, 20000000 };

		if (now >= next_check) {
			park_all(t);
			quiescent(t, "quiescent point");
			unpark_all(t);
			next_check = dc_now_ns() + t->o.check_ms * 1000000ull;
		}
		sample(t);
		nanosleep(&ts, NULL);
	}
	set_phase(t, WD_END);
	atomic_store(&t->stop, true);
	unpark_all(t);
	for (unsigned i = 0; i < t->o.threads; i++)
		pthread_join(t->w[i].th, NULL);
	t_end = dc_now_ns();
	quiescent(t, "the end");
	dc_dcfs_statfs(t->fs, &st);
	dc_view_stats(&vs);
	s.faults = st.faults;
	s.signal_faults = vs.signal_faults;
	s.break_waits = st.break_waits;
	s.memory_failures = st.memory_failures;
	s.revokes = st.revokes;
	s.cow = st.cow_copies;

	/* The removal, with things still held. */
	for (unsigned i = 0; i < t->o.threads; i++)
		t_hold_for_removal(&t->w[i]);
	atomic_store(&t->removing, true);
	set_phase(t, WD_REMOVAL);
	r0 = dc_now_ns();
	{
		struct dc_drain_opts d = { 0 };

		d.deadline_ns = r0 + 60ull * 1000000000ull;
		d.progress = on_drain;
		d.arg = t;
		s.removal = dc_region_remove(t->r, &d);
	}
	s.removal_ms = (dc_now_ns() - r0) / 1000000u;
	if (s.removal)
		t_violation(t, V_REMOVAL, "dc_region_remove: %s (%s)", ename(s.removal), dc_errmsg());
	set_phase(t, WD_FINI);
	for (unsigned i = 0; i < t->o.threads; i++)
		t_worker_fini(&t->w[i]);
	set_phase(t, WD_AFTER);
	dc_dcfs_statfs(t->fs, &st);
	if (st.pins || st.pinned_pages || st.open || st.views)
		t_violation(t, V_COUNT, "after the removal: %" PRIu64 " pins, %" PRIu64 " pinned pages, %" PRIu64 " open, %" PRIu64 " views",
			    st.pins, st.pinned_pages, st.open, st.views);
	if (!st.shutdown)
		t_violation(t, V_REMOVAL, "the removal did not shut the mount down");
	/* Invariant 6: after the kill no request succeeds. */
	ret = dc_dcfs_create(t->fs, "after-removal");
	if (ret != -EIO) {
		t_violation(t, V_REMOVAL, "create after the removal: %s, expected -EIO", ename(ret));
		if (ret >= 0)
			(void)dc_dcfs_close(t->fs, ret);
	}
	set_phase(t, WD_UNMOUNT);
	s.unmount = dc_dcfs_unmount(t->fs, NULL);
	/* Only now: a hung unmount fires the watchdog (which then leaves the mount alone). */
	atomic_store(&t->quit_watchdog, true);
	pthread_join(wd, NULL);
	if (s.unmount)
		t_violation(t, V_COUNT, "unmount after the removal: %s (%s)", ename(s.unmount),
			    dc_errmsg());

	s.secs = (double)(t_end - t->t0_ns) / 1e9;
	if (s.secs <= 0)
		s.secs = 1e-9;
	for (unsigned i = 0; i < OP_NR; i++)
		s.ops += atomic_load(&t->ops[i]);
	for (unsigned i = 0; i < V_NR; i++)
		s.viols += atomic_load(&t->viol[i]);
	if (t->o.json)
		print_json(t, &s);
	else
		print_text(t, &s);
	ret = s.viols ? 1 : 0;
	if (ret)
		fprintf(stderr, "daxcore torture: %" PRIu64 " violation(s); replay with --seed %" PRIu64 "\n",
			s.viols, t->o.seed);
	free(t->w);
	pthread_mutex_destroy(&t->park_lock);
	pthread_cond_destroy(&t->park_cond);
	pthread_mutex_destroy(&t->log_lock);
	free(t);
	return ret;
}
