// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rw.c - pread, pwrite and fsync: copies through the region's linear map
 * (the kernel's dax_iomap_rw()), one extent at a time.  There is no page
 * cache: the bytes land in the device pages that faults map, so pwrite
 * and stores through a mapping see each other at once.  What pwrite wrote
 * is remembered (the dirty set, in device pages) until fsync flushes it.
 */
#include "dcfs/dcfs_int.h"

/* Validate an I/O range: -EINVAL for NULL or wrapping, -EFBIG past the limit. */
static int check_io(const void *buf, size_t len, uint64_t off, bool write)
{
	if (!buf && len)
		return dc__fail(-EINVAL, "dcfs: NULL buffer");
	if (len > DC_DCFS_SIZE_MAX || off > UINT64_MAX - len)
		return dc__fail(-EINVAL, "dcfs: offset %llu + length %zu overflows",
				(unsigned long long)off, len);
	if (write && off + len > DC_DCFS_SIZE_MAX)
		return dc__fail(-EFBIG, "dcfs: offset %llu + length %zu is past the largest "
				"file (2^52 bytes)", (unsigned long long)off, len);
	return 0;
}

DC_API int64_t dc_dcfs_pread(struct dc_dcfs *fs, int fd, void *buf, size_t len, uint64_t off)
{
	struct dcfs_inode *ino;
	uint64_t size, done = 0;
	int ret = check_io(buf, len, off, false);

	if (ret)
		return ret;
	ino = dcfs_io_begin(fs, fd, false, NULL, &ret);
	if (!ino)
		return ret;
	size = atomic_load(&ino->size);
	if (off >= size)
		goto out;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		uint64_t pos = off + done, in = pos & (DC_PAGE_SIZE - 1), n;
		struct dcfs_ext map;
		bool mapped, fresh;

		/*
		 * ext_lock held across the copy: the I/O lock keeps this file's
		 * layout changes out, not a copy-on-write of its pages by a write
		 * fault or a write pin, which holds ext_lock for its step.  Were
		 * it let in, a block shared with another file could become that
		 * file's alone while the copy runs, and that file's writes (a
		 * punch's zeroing in place) land in what this read returns (bug
		 * 40, found by the torture's partner threads under ThreadSanitizer).
		 */
		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_iomap(ino, pos >> DC_PAGE_SHIFT, dcfs_size_pages(in + len - done), 1, 0,
				 &map, &mapped, &fresh, NULL);
		if (DC_REGRESS_BUG == 40) /* bug 40: the copy after the lock is dropped */
			pthread_mutex_unlock(&ino->ext_lock);
		n = (map.len << DC_PAGE_SHIFT) - in;
		if (n > len - done)
			n = len - done;
		if (!mapped) {
			memset((char *)buf + done, 0, n);
		} else {
			dc_region_read_lock(fs->r);
			if (!dc_region_alive(fs->r) ||
			    dcfs_poisoned(fs, map.pgoff, dcfs_size_pages(in + n))) {
				dc_region_read_unlock(fs->r);
				if (DC_REGRESS_BUG != 40)
					pthread_mutex_unlock(&ino->ext_lock);
				ret = dc_region_alive(fs->r)
					      ? dc__fail(-EIO, "dcfs read: bytes at %llu lie in a "
							 "poisoned block", (unsigned long long)pos)
					      : dcfs_shut(fs);
				goto out;
			}
			memcpy((char *)buf + done, (char *)dc_region_addr(fs->r, map.pgoff) + in, n);
			dc_region_read_unlock(fs->r);
		}
		if (DC_REGRESS_BUG != 40)
			pthread_mutex_unlock(&ino->ext_lock);
		done += n;
	}
out:
	dcfs_io_end(ino);
	return ret ? ret : (int64_t)done;
}

/* CoW the shared block of file page @page now (pwrite's and write pins' step). */
int dcfs_cow_page(struct dcfs_inode *ino, uint64_t page)
{
	struct dc_dcfs_fault_result res;
	int ret = dcfs_lock(&ino->invalidate, false, NULL, "invalidate");

	if (ret)
		return ret;
	ret = ino->dead ? dc__fail(-EBADF, "dcfs: the file was evicted")
			: dcfs_fault_at(ino, page, DCFS_FAULT_WRITE | DCFS_FAULT_ANY_SIZE, 0, &res,
					NULL);
	pthread_rwlock_unlock(&ino->invalidate);
	return ret;
}

DC_API int64_t dc_dcfs_pwrite(struct dc_dcfs *fs, int fd, const void *buf, size_t len,
			      uint64_t off)
{
	struct dcfs_inode *ino;
	uint64_t done = 0, size;
	int ret = check_io(buf, len, off, true);

	if (ret)
		return ret;
	ino = dcfs_io_begin(fs, fd, true, NULL, &ret);
	if (!ino)
		return ret;
	size = atomic_load(&ino->size);
	if (len && off + len > size) {
		/* Bytes between the old end and the next block boundary may hold
		 * what a mapping stored past the end: zero them first. */
		ret = dcfs_unshare_tail(ino);
		if (!ret) {
			pthread_mutex_lock(&ino->ext_lock);
			ret = dcfs_zero_bytes(ino, size, (size + dcfs_blk_bytes(fs) - 1) &
								 ~(dcfs_blk_bytes(fs) - 1), false);
			pthread_mutex_unlock(&ino->ext_lock);
		}
		if (ret) {
			dcfs_io_end(ino);
			return ret;
		}
	}
	while (done < len) {
		uint64_t pos = off + done, in = pos & (DC_PAGE_SIZE - 1), n;
		uint64_t want = dcfs_size_pages(in + len - done);
		struct dcfs_ext map;
		bool mapped, fresh, shared;

		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_iomap(ino, pos >> DC_PAGE_SHIFT, want, want >= 512 ? 512 : 1,
				 DCFS_MAP_ALLOC | DCFS_MAP_EXTEND, &map, &mapped, &fresh, &shared);
		pthread_mutex_unlock(&ino->ext_lock);
		if (!ret && fresh)
			ret = dcfs_unzero(ino, map.fpage, map.len);
		if (!ret && shared) {
			/* Copy the shared block first: the write fault's CoW step
			 * (which also maps the copy in place of the original). */
			ret = dcfs_cow_page(ino, pos >> DC_PAGE_SHIFT);
			if (!ret)
				continue;
		}
		if (ret)
			break;
		n = (map.len << DC_PAGE_SHIFT) - in;
		if (n > len - done)
			n = len - done;
		dc_region_read_lock(fs->r);
		if (!dc_region_alive(fs->r) || dcfs_poisoned(fs, map.pgoff, dcfs_size_pages(in + n))) {
			dc_region_read_unlock(fs->r);
			ret = dc_region_alive(fs->r)
				      ? dc__fail(-EIO, "dcfs write: bytes at %llu lie in a poisoned "
						 "block (punch it first)", (unsigned long long)pos)
				      : dcfs_shut(fs);
			break;
		}
		memcpy((char *)dc_region_addr(fs->r, map.pgoff) + in, (const char *)buf + done, n);
		dc_region_read_unlock(fs->r);
		dcfs_written(ino, map.pgoff, dcfs_size_pages(in + n));
		done += n;
	}
	pthread_mutex_lock(&ino->ext_lock);
	/* Only what was written grows the file: a write past the end that
	 * wrote nothing (full, no memory) leaves the size (bug 30: it grew to
	 * @off, exposing a hole nobody wrote; found by daxcore torture). */
	if (off + done > size && (done || DC_REGRESS_BUG == 30))
		atomic_store(&ino->size, off + done);
	if (ret)
		dcfs_trim_eof(ino); /* blocks allocated for bytes never written */
	pthread_mutex_unlock(&ino->ext_lock);
	if (done)
		ret = 0; /* a short write reports what it wrote */
	dcfs_io_end(ino);
	return ret ? ret : (int64_t)done;
}

DC_API int dc_dcfs_fsync(struct dc_dcfs *fs, int fd, bool datasync)
{
	struct dcfs_inode *ino;
	struct dcfs_extmap dirty;
	int ret, wb;

	(void)datasync; /* no metadata lives on the device: the same work */
	ino = dcfs_io_begin(fs, fd, false, NULL, &ret);
	if (!ino)
		return ret;
	pthread_mutex_lock(&ino->ext_lock);
	dirty = ino->dirty;
	dcfs_ext_init(&ino->dirty);
	pthread_mutex_unlock(&ino->ext_lock);
	for (size_t i = 0; i < dirty.n && !ret; i++)
		ret = dc_region_flush(fs->r, dirty.v[i].pgoff, dirty.v[i].len);
	if (ret) { /* keep what was not flushed for the next fsync */
		pthread_mutex_lock(&ino->ext_lock);
		for (size_t i = 0; i < dirty.n; i++)
			(void)dcfs_set_add(&ino->dirty, dirty.v[i].pgoff, dirty.v[i].len);
		pthread_mutex_unlock(&ino->ext_lock);
	}
	dcfs_ext_free(&dirty);
	dcfs_pins_flush(ino); /* DMA may be writing through write pins now */
	wb = dc_mapping_writeback(ino->m, 0, DC_MAPPING_INDEX_MAX, NULL);
	if (!ret && wb < 0)
		ret = wb;
	dcfs_io_end(ino);
	return ret;
}
