// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * namespace.c - the flat namespace (a hash table of names under ns_lock,
 * and the inode list in ino order for listing) and the descriptor table
 * (slots under fd_lock; a descriptor is gen << 16 | slot, so a closed one
 * is not mistaken for a later open of the same slot).
 */
#include "dcfs/dcfs_int.h"

int dcfs_check_name(const char *name)
{
	size_t len;

	if (!name)
		return dc__fail(-EINVAL, "dcfs: NULL name");
	len = strnlen(name, DC_DCFS_NAME_MAX + 1);
	if (!len || len > DC_DCFS_NAME_MAX)
		return dc__fail(-EINVAL, "dcfs: a name is 1 to %d bytes (this one is %s)",
				DC_DCFS_NAME_MAX, len ? "longer" : "empty");
	if (memchr(name, '/', len))
		return dc__fail(-EINVAL, "dcfs: name '%s' contains '/'", name);
	return 0;
}

/* FNV-1a. */
static size_t hash_name(const char *name)
{
	uint64_t h = 14695981039346656037ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (size_t)h;
}

/* ns_lock held. */
static struct dcfs_inode **name_slot(struct dc_dcfs *fs, const char *name)
{
	struct dcfs_inode **p;

	if (!fs->hsize)
		return NULL;
	for (p = &fs->htab[hash_name(name) & (fs->hsize - 1)]; *p; p = &(*p)->hnext)
		if (!strcmp((*p)->name, name))
			return p;
	return p;
}

static struct dcfs_inode *name_find(struct dc_dcfs *fs, const char *name)
{
	struct dcfs_inode **p = name_slot(fs, name);

	return p ? *p : NULL;
}

/*
 * The file called @name, for call @op (ns_lock held); NULL with *@err:
 * -ENOENT, or -EIO while an unmount runs.
 */
static struct dcfs_inode *name_get(struct dc_dcfs *fs, const char *name, const char *op, int *err)
{
	struct dcfs_inode *ino;

	if (fs->unmounting) {
		*err = dc__fail(-EIO, "dcfs %s: the file system is being unmounted", op);
		return NULL;
	}
	ino = name_find(fs, name);
	if (!ino)
		*err = dc__fail(-ENOENT, "dcfs %s: no file '%s'", op, name);
	return ino;
}

/* Make room for one more name (ns_lock held): -ENOMEM. */
static int name_reserve(struct dc_dcfs *fs)
{
	size_t nsize = fs->hsize ? fs->hsize * 2 : 16;
	struct dcfs_inode **nt;

	if (fs->nnames < fs->hsize)
		return 0;
	nt = dc__calloc(nsize, sizeof(*nt));
	if (!nt)
		return dc__fail(-ENOMEM, "dcfs: no memory for the name table");
	for (size_t i = 0; i < fs->hsize; i++) {
		struct dcfs_inode *ino, *next;

		for (ino = fs->htab[i]; ino; ino = next) {
			size_t h = hash_name(ino->name) & (nsize - 1);

			next = ino->hnext;
			ino->hnext = nt[h];
			nt[h] = ino;
		}
	}
	free(fs->htab);
	fs->htab = nt;
	fs->hsize = nsize;
	return 0;
}

static void name_add(struct dc_dcfs *fs, struct dcfs_inode *ino)
{
	struct dcfs_inode **p = name_slot(fs, ino->name);

	ino->hnext = NULL;
	*p = ino;
	fs->nnames++;
}

static void name_del(struct dc_dcfs *fs, struct dcfs_inode *ino)
{
	struct dcfs_inode **p = name_slot(fs, ino->name);

	DC_BUG_ON(!p || *p != ino);
	*p = ino->hnext;
	fs->nnames--;
}

/* ---- descriptors ------------------------------------------------------------ */

static int fd_alloc(struct dc_dcfs *fs, struct dcfs_inode *ino, unsigned mode)
{
	uint32_t slot;
	int fd;

	pthread_mutex_lock(&fs->fd_lock);
	for (slot = fs->fd_free_hint; slot < fs->nfds && fs->fds[slot].ino; slot++)
		;
	if (slot == fs->nfds) {
		if (fs->nfds == fs->fd_cap) {
			uint32_t ncap = fs->fd_cap ? fs->fd_cap * 2 : 16;
			struct dcfs_fd *n;

			if (ncap > (1u << DCFS_FD_SLOT_BITS) ||
			    !(n = dc__calloc(ncap, sizeof(*n)))) {
				pthread_mutex_unlock(&fs->fd_lock);
				if (ncap > (1u << DCFS_FD_SLOT_BITS))
					return dc__fail(-EMFILE, "dcfs: 65,536 descriptors open");
				return dc__fail(-ENOMEM, "dcfs: no memory for descriptors");
			}
			if (fs->nfds)
				memcpy(n, fs->fds, fs->nfds * sizeof(*n));
			free(fs->fds);
			fs->fds = n;
			fs->fd_cap = ncap;
		}
		fs->nfds++;
	}
	fs->fds[slot].ino = ino;
	fs->fds[slot].mode = mode;
	fs->fds[slot].gen = (fs->fds[slot].gen + 1) & DCFS_FD_GEN_MASK;
	fs->fd_free_hint = slot + 1;
	fs->open++;
	fd = (int)(fs->fds[slot].gen << DCFS_FD_SLOT_BITS | slot);
	pthread_mutex_unlock(&fs->fd_lock);
	return fd;
}

/* fd_lock held: the slot @fd names, or NULL. */
static struct dcfs_fd *fd_slot(struct dc_dcfs *fs, int fd)
{
	uint32_t slot, gen;

	if (fd < 0)
		return NULL;
	slot = (uint32_t)fd & ((1u << DCFS_FD_SLOT_BITS) - 1);
	gen = (uint32_t)fd >> DCFS_FD_SLOT_BITS;
	if (slot >= fs->nfds || !fs->fds[slot].ino || fs->fds[slot].ino == DCFS_FD_RETIRED ||
	    fs->fds[slot].gen != gen)
		return NULL;
	return &fs->fds[slot];
}

/*
 * The inode behind @fd, with a reference for the call (dcfs_inode_put()
 * it); NULL with *@err = -EBADF (not open, or @write on a read-only
 * descriptor) or -EINVAL (NULL fs).  Works after a shutdown too (stat,
 * the pin listing).
 */
struct dcfs_inode *dcfs_fd_get(struct dc_dcfs *fs, int fd, bool write, int *err)
{
	struct dcfs_inode *ino = NULL;
	struct dcfs_fd *f;

	if (!fs) {
		*err = dc__fail(-EINVAL, "dcfs: NULL file system");
		return NULL;
	}
	pthread_mutex_lock(&fs->fd_lock);
	f = fd_slot(fs, fd);
	if (f && (!write || f->mode == DC_DCFS_RDWR)) {
		ino = f->ino;
		dcfs_inode_get(ino);
	}
	pthread_mutex_unlock(&fs->fd_lock);
	if (!ino)
		*err = dc__fail(-EBADF, "dcfs: descriptor %d is %s", fd,
				f ? "open read-only" : "not open");
	return ino;
}

/*
 * Calls that use a file's mapping or the region run as "active" calls (a
 * liveref of the mount): a shutdown kills it, so that no new one starts,
 * and the last one to end lets go of the region (dcfs_teardown()).
 * dcfs_active_get(): -EIO once shut down.
 */
int dcfs_active_get(struct dc_dcfs *fs)
{
	if (unlikely(!dc_liveref_tryget(&fs->active)))
		return dcfs_shut(fs);
	return 0;
}

void dcfs_active_put(struct dc_dcfs *fs)
{
	dc_liveref_put(&fs->active);
}

/* dcfs_fd_get() for an active call: -EIO once shut down.  End it with dcfs_call_end(). */
struct dcfs_inode *dcfs_call_begin(struct dc_dcfs *fs, int fd, bool write, int *err)
{
	struct dcfs_inode *ino;

	if (!fs) {
		*err = dc__fail(-EINVAL, "dcfs: NULL file system");
		return NULL;
	}
	*err = dcfs_active_get(fs);
	if (*err)
		return NULL;
	ino = dcfs_fd_get(fs, fd, write, err);
	if (!ino)
		dcfs_active_put(fs);
	return ino;
}

void dcfs_call_end(struct dcfs_inode *ino)
{
	struct dc_dcfs *fs = ino->fs;

	dcfs_inode_put(ino);
	dcfs_active_put(fs);
}

/* ---- namespace calls ------------------------------------------------------------ */

static int open_inode(struct dc_dcfs *fs, struct dcfs_inode *ino, unsigned mode)
{
	int fd;

	/* ns_lock held: the inode is linked, or was just created. */
	dcfs_inode_get(ino);
	ino->nopen++;
	fd = fd_alloc(fs, ino, mode);
	if (fd < 0) {
		ino->nopen--;
		atomic_fetch_sub(&ino->refs, 1); /* not the last: the name holds one */
	}
	return fd;
}

static int create(struct dc_dcfs *fs, const char *name);

/* An active call: the new file's mapping is created over the region. */
DC_API int dc_dcfs_create(struct dc_dcfs *fs, const char *name)
{
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs create: NULL file system");
	ret = dcfs_active_get(fs);
	if (ret)
		return ret;
	ret = create(fs, name);
	dcfs_active_put(fs);
	return ret;
}

static int create(struct dc_dcfs *fs, const char *name)
{
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs create: NULL file system");
	ret = dcfs_check_name(name);
	if (ret)
		return ret;
	if (atomic_load(&fs->shutdown))
		return dcfs_shut(fs);
	pthread_mutex_lock(&fs->ns_lock);
	if (fs->unmounting) {
		pthread_mutex_unlock(&fs->ns_lock);
		return dc__fail(-EIO, "dcfs create: the file system is being unmounted");
	}
	if (name_find(fs, name)) {
		pthread_mutex_unlock(&fs->ns_lock);
		return dc__fail(-EEXIST, "dcfs create: '%s' exists", name);
	}
	ret = name_reserve(fs);
	if (ret) {
		pthread_mutex_unlock(&fs->ns_lock);
		return ret;
	}
	ino = dcfs_inode_new(fs, name, &ret);
	if (!ino) {
		pthread_mutex_unlock(&fs->ns_lock);
		return ret;
	}
	ret = open_inode(fs, ino, DC_DCFS_RDWR);
	if (ret < 0) {
		pthread_mutex_unlock(&fs->ns_lock);
		ino->dead = true;
		dcfs_inode_free(ino, ino->m);
		return ret;
	}
	ino->ino = fs->next_ino++;
	name_add(fs, ino);
	ino->prev = fs->itail;
	if (fs->itail)
		fs->itail->next = ino;
	else
		fs->ihead = ino;
	fs->itail = ino;
	fs->ninodes++;
	pthread_mutex_unlock(&fs->ns_lock);
	return ret;
}

DC_API int dc_dcfs_open(struct dc_dcfs *fs, const char *name, unsigned flags)
{
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs open: NULL file system");
	ret = dcfs_check_name(name);
	if (ret)
		return ret;
	if (flags & ~DC_DCFS_RDWR)
		return dc__fail(-EINVAL, "dcfs open: unknown flags %#x", flags);
	if (atomic_load(&fs->shutdown))
		return dcfs_shut(fs);
	pthread_mutex_lock(&fs->ns_lock);
	ino = name_get(fs, name, "open", &ret);
	if (ino)
		ret = open_inode(fs, ino, flags);
	pthread_mutex_unlock(&fs->ns_lock);
	return ret;
}

/*
 * Eviction when nothing names or opens @ino any more.  Called with
 * ns_lock held and the caller's reference on @ino; drops ns_lock.
 */
static int maybe_evict(struct dcfs_inode *ino, const struct dc_wait_opts *opts)
{
	struct dc_dcfs *fs = ino->fs;
	struct dc_wait_opts w;
	int ret;

	if (ino->nlink || ino->nopen || ino->evicting || ino->dead) {
		pthread_mutex_unlock(&fs->ns_lock);
		return 0;
	}
	ino->evicting = true;
	pthread_mutex_unlock(&fs->ns_lock);
	dcfs_wait_opts_default(fs, opts, &w);
	ret = dcfs_evict(ino, &w);
	pthread_mutex_lock(&fs->ns_lock);
	ino->evicting = false;
	pthread_mutex_unlock(&fs->ns_lock);
	return ret;
}

DC_API int dc_dcfs_close(struct dc_dcfs *fs, int fd)
{
	struct dcfs_inode *ino = NULL;
	struct dcfs_fd *f;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs close: NULL file system");
	pthread_mutex_lock(&fs->fd_lock);
	f = fd_slot(fs, fd);
	if (f) {
		ino = f->ino;
		fs->open--;
		if (f->gen == DCFS_FD_GEN_MASK) {
			/* The generation would wrap: retire the slot, so no stale
			 * descriptor of it ever names a later open. */
			f->ino = DCFS_FD_RETIRED;
		} else {
			f->ino = NULL;
			if ((uint32_t)(f - fs->fds) < fs->fd_free_hint)
				fs->fd_free_hint = (uint32_t)(f - fs->fds);
		}
	}
	pthread_mutex_unlock(&fs->fd_lock);
	if (!ino)
		return dc__fail(-EBADF, "dcfs close: descriptor %d is not open", fd);
	return dcfs_open_drop(ino);
}

/*
 * Let go of one open of @ino (a descriptor, a view): its nopen and its
 * reference; the last one of an unlinked file evicts it.
 */
int dcfs_open_drop(struct dcfs_inode *ino)
{
	int ret;

	pthread_mutex_lock(&ino->fs->ns_lock);
	ino->nopen--;
	ret = maybe_evict(ino, NULL);
	dcfs_inode_put(ino);
	return ret;
}

DC_API int dc_dcfs_unlink(struct dc_dcfs *fs, const char *name)
{
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs unlink: NULL file system");
	ret = dcfs_check_name(name);
	if (ret)
		return ret;
	if (atomic_load(&fs->shutdown))
		return dcfs_shut(fs);
	pthread_mutex_lock(&fs->ns_lock);
	ino = name_get(fs, name, "unlink", &ret);
	if (!ino) {
		pthread_mutex_unlock(&fs->ns_lock);
		return ret;
	}
	name_del(fs, ino);
	ino->nlink = 0;
	ret = maybe_evict(ino, NULL); /* the name's reference is ours now */
	dcfs_inode_put(ino);
	return ret;
}

DC_API int dc_dcfs_rename(struct dc_dcfs *fs, const char *from, const char *to)
{
	struct dcfs_inode *ino, *old;
	char *nname;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs rename: NULL file system");
	if ((ret = dcfs_check_name(from)) || (ret = dcfs_check_name(to)))
		return ret;
	if (atomic_load(&fs->shutdown))
		return dcfs_shut(fs);
	nname = dc__malloc(strlen(to) + 1);
	if (!nname)
		return dc__fail(-ENOMEM, "dcfs rename: no memory");
	strcpy(nname, to);
	pthread_mutex_lock(&fs->ns_lock);
	ino = name_get(fs, from, "rename", &ret);
	if (!ino || ino == name_find(fs, to)) {
		pthread_mutex_unlock(&fs->ns_lock);
		free(nname);
		return ino ? 0 : ret; /* renaming a name to itself does nothing */
	}
	old = name_find(fs, to);
	if (old) {
		name_del(fs, old);
		old->nlink = 0;
	}
	name_del(fs, ino);
	free(ino->name);
	ino->name = nname;
	name_add(fs, ino);
	if (!old) {
		pthread_mutex_unlock(&fs->ns_lock);
		return 0;
	}
	ret = maybe_evict(old, NULL);
	dcfs_inode_put(old);
	return ret;
}

DC_API int dc_dcfs_lookup(struct dc_dcfs *fs, const char *name, struct dc_dcfs_stat *st)
{
	struct dcfs_inode *ino;
	int ret;

	if (!fs || !st)
		return dc__fail(-EINVAL, "dcfs lookup: NULL argument");
	ret = dcfs_check_name(name);
	if (ret)
		return ret;
	pthread_mutex_lock(&fs->ns_lock);
	ino = name_get(fs, name, "lookup", &ret);
	if (ino)
		dcfs_inode_get(ino);
	pthread_mutex_unlock(&fs->ns_lock);
	if (!ino)
		return ret;
	dcfs_fill_stat(ino, st);
	dcfs_inode_put(ino);
	return 0;
}

DC_API int dc_dcfs_fstat(struct dc_dcfs *fs, int fd, struct dc_dcfs_stat *st)
{
	struct dcfs_inode *ino;
	int ret;

	if (!st)
		return dc__fail(-EINVAL, "dcfs fstat: NULL stat");
	ino = dcfs_fd_get(fs, fd, false, &ret);
	if (!ino)
		return ret;
	dcfs_fill_stat(ino, st);
	dcfs_inode_put(ino);
	return 0;
}

DC_API int dc_dcfs_list(struct dc_dcfs *fs, uint64_t *cursor, struct dc_dcfs_dirent *ents,
			unsigned max)
{
	struct dcfs_inode *ino;
	unsigned n = 0;

	if (!fs || !cursor || (!ents && max))
		return dc__fail(-EINVAL, "dcfs list: NULL argument");
	pthread_mutex_lock(&fs->ns_lock);
	for (ino = fs->ihead; ino && n < max; ino = ino->next) {
		if (ino->ino <= *cursor || !ino->nlink)
			continue;
		ents[n].ino = ino->ino;
		strcpy(ents[n].name, ino->name);
		*cursor = ino->ino;
		n++;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	return (int)n;
}
