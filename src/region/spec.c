/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.c - region spec strings and backends.
 *
 *   mem:SIZE[,huge][,order=N][,type=T]
 *   file:PATH[,size=SIZE][,order=N][,type=T]
 *   devdax:/dev/daxX.Y[,order=N][,type=T]   (size and alignment from libdaxctl)
 *
 * Every rejection names what was wrong through dc__fail() -> dc_errmsg().
 */
#include "region/region_int.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int dc__parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	unsigned shift = 0;

	if (!len)
		return dc__fail(-EINVAL, "empty size");
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return dc__fail(-EINVAL, "size '%.*s' overflows", (int)len, s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return dc__fail(-EINVAL, "size '%.*s' does not start with a number", (int)len, s);
	if (i < len) {
		switch (s[i]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default:
			return dc__fail(-EINVAL, "size '%.*s': unknown suffix '%c' (use K, M, G or T)",
					(int)len, s, s[i]);
		}
		if (i + 1 != len)
			return dc__fail(-EINVAL, "size '%.*s': junk after the suffix", (int)len, s);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return dc__fail(-EINVAL, "size '%.*s' overflows", (int)len, s);
	*out = v << shift;
	return 0;
}

struct spec {
	enum { BK_MEM, BK_FILE, BK_DEVDAX } backend;
	char path[4096];
	uint64_t size;
	bool have_size, huge, have_order, have_type;
	unsigned order;
	enum dc_region_type type;
};

static bool opt_is(const char *o, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(o, name, n);
}

static int parse_opt(struct spec *sp, const char *o, size_t n)
{
	const char *eq = memchr(o, '=', n);
	size_t kl = eq ? (size_t)(eq - o) : n;
	const char *v = eq ? eq + 1 : NULL;
	size_t vl = eq ? n - kl - 1 : 0;

	if (opt_is(o, n, "huge")) {
		if (sp->backend != BK_MEM)
			return dc__fail(-EINVAL, "option 'huge' is only for mem:");
		sp->huge = true;
		return 0;
	}
	if (!eq)
		return dc__fail(-EINVAL, "unknown option '%.*s'", (int)n, o);
	if (opt_is(o, kl, "size")) {
		if (sp->backend != BK_FILE)
			return dc__fail(-EINVAL, "option 'size=' is only for file:");
		sp->have_size = true;
		return dc__parse_size(v, vl, &sp->size);
	}
	if (opt_is(o, kl, "order")) {
		if (opt_is(v, vl, "0"))
			sp->order = 0;
		else if (opt_is(v, vl, "9"))
			sp->order = 9;
		else if (opt_is(v, vl, "18"))
			sp->order = 18;
		else
			return dc__fail(-EINVAL, "order '%.*s': folio order must be 0, 9 or 18",
					(int)vl, v);
		sp->have_order = true;
		return 0;
	}
	if (opt_is(o, kl, "type")) {
		if (opt_is(v, vl, "fsdax"))
			sp->type = DC_REGION_FSDAX;
		else if (opt_is(v, vl, "devdax"))
			sp->type = DC_REGION_DEVDAX;
		else if (opt_is(v, vl, "limited"))
			sp->type = DC_REGION_LIMITED;
		else
			return dc__fail(-EINVAL, "type '%.*s': use fsdax, devdax or limited",
					(int)vl, v);
		sp->have_type = true;
		return 0;
	}
	return dc__fail(-EINVAL, "unknown option '%.*s'", (int)kl, o);
}

static int parse_spec(struct spec *sp, const char *spec)
{
	const char *colon, *p, *comma;
	size_t first;
	int ret;

	memset(sp, 0, sizeof(*sp));
	if (!spec || !(colon = strchr(spec, ':')))
		return dc__fail(-EINVAL, "region spec '%s': expected mem:SIZE, file:PATH or "
				"devdax:PATH", spec ? spec : "(null)");
	if (colon - spec == 3 && !memcmp(spec, "mem", 3))
		sp->backend = BK_MEM;
	else if (colon - spec == 4 && !memcmp(spec, "file", 4))
		sp->backend = BK_FILE;
	else if (colon - spec == 6 && !memcmp(spec, "devdax", 6))
		sp->backend = BK_DEVDAX;
	else
		return dc__fail(-EINVAL, "region spec '%s': unknown backend '%.*s' (mem, file, "
				"devdax)", spec, (int)(colon - spec), spec);
	p = colon + 1;
	comma = strchr(p, ',');
	first = comma ? (size_t)(comma - p) : strlen(p);
	if (sp->backend == BK_MEM) {
		ret = dc__parse_size(p, first, &sp->size);
		if (ret)
			return ret;
		sp->have_size = true;
	} else {
		if (!first || first >= sizeof(sp->path))
			return dc__fail(-EINVAL, "region spec '%s': missing or too long path", spec);
		memcpy(sp->path, p, first);
	}
	while (comma) {
		p = comma + 1;
		comma = strchr(p, ',');
		ret = parse_opt(sp, p, comma ? (size_t)(comma - p) : strlen(p));
		if (ret)
			return ret;
	}
	if (!sp->have_order)
		sp->order = sp->huge ? 9 : 0;
	if (sp->huge && sp->order == 0)
		return dc__fail(-EINVAL, "huge pages are 2 MiB: order must be 9 or 18");
	if (!sp->have_type)
		sp->type = sp->backend == BK_DEVDAX ? DC_REGION_DEVDAX : DC_REGION_FSDAX;
	return 0;
}

static int check_size(uint64_t size, unsigned order)
{
	uint64_t fsz = DC_PAGE_SIZE << order;

	if (!size)
		return dc__fail(-EINVAL, "size is zero");
	if (size & (DC_PAGE_SIZE - 1))
		return dc__fail(-EINVAL, "size %llu is not a multiple of 4 KiB",
				(unsigned long long)size);
	if (size & (fsz - 1))
		return dc__fail(-EINVAL, "size %llu is not a multiple of the folio size (%llu KiB)",
				(unsigned long long)size, (unsigned long long)fsz >> 10);
	if (size >> DC_PAGE_SHIFT >> 40)
		return dc__fail(-EINVAL, "size %llu is too large (the limit is 2^40 pages: 4 PiB)",
				(unsigned long long)size);
	return 0;
}

static int open_mem(struct dc_region *r, const struct spec *sp)
{
	unsigned mfd = MFD_CLOEXEC | (sp->huge ? MFD_HUGETLB | (21u << MAP_HUGE_SHIFT) /* MFD_HUGE_2MB */ : 0);
	int err;

	r->map_order = sp->huge ? 9 : 0;
	r->fd = memfd_create("daxcore", mfd);
	if (r->fd < 0) {
		err = errno;
		if (sp->huge)
			return dc__fail(-ENOMEM, "huge pages unavailable: memfd_create(MFD_HUGETLB): %s",
					strerror(err));
		return dc__fail(-err, "memfd_create: %s", strerror(err));
	}
	if (ftruncate(r->fd, (off_t)sp->size)) {
		err = errno;
		return dc__fail(sp->huge ? -ENOMEM : -err, "%sftruncate to %llu bytes: %s",
				sp->huge ? "huge pages unavailable: " : "",
				(unsigned long long)sp->size, strerror(err));
	}
	/* Hugetlb: no MAP_NORESERVE, so a machine without huge pages says so now. */
	r->base = mmap(NULL, sp->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (sp->huge ? 0 : MAP_NORESERVE), r->fd, 0);
	if (r->base == MAP_FAILED) {
		err = errno;
		r->base = NULL;
		if (sp->huge)
			return dc__fail(-ENOMEM, "huge pages unavailable: cannot map %llu MiB of "
					"2 MiB pages (%s); see /proc/sys/vm/nr_hugepages",
					(unsigned long long)sp->size >> 20, strerror(err));
		return dc__fail(-err, "mmap of %llu bytes: %s", (unsigned long long)sp->size,
				strerror(err));
	}
	r->size = sp->size;
	return 0;
}

static int open_path(struct dc_region *r, const struct spec *sp, struct stat *st)
{
	int err;

	r->fd = open(sp->path, O_RDWR | O_CLOEXEC);
	if (r->fd < 0) {
		err = errno;
		return dc__fail(-err, "%s: %s", sp->path, strerror(err));
	}
	if (fstat(r->fd, st)) {
		err = errno;
		return dc__fail(-err, "%s: fstat: %s", sp->path, strerror(err));
	}
	return 0;
}

static int open_file(struct dc_region *r, struct spec *sp)
{
	struct stat st;
	int err = open_path(r, sp, &st);

	if (err)
		return err;
	if (!S_ISREG(st.st_mode))
		return dc__fail(-EINVAL, "%s: not a regular file", sp->path);
	if (sp->have_size && (uint64_t)st.st_size < sp->size)
		return dc__fail(-ERANGE, "%s is %llu bytes, smaller than size=%llu", sp->path,
				(unsigned long long)st.st_size, (unsigned long long)sp->size);
	if (!sp->have_size)
		sp->size = (uint64_t)st.st_size;
	err = check_size(sp->size, sp->order);
	if (err)
		return err;
	r->base = mmap(NULL, sp->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED) {
		err = errno;
		r->base = NULL;
		return dc__fail(-err, "%s: mmap: %s", sp->path, strerror(err));
	}
	r->size = sp->size;
	r->file_backed = true;
	return 0;
}

static int open_devdax(struct dc_region *r, struct spec *sp)
{
	struct dc_daxdev dev;
	struct stat st;
	uint64_t size, align;
	char *res;
	int err = dc_daxdev_lookup(sp->path, &dev);

	if (err)
		return err;
	if (dev.mode == DC_DAXDEV_SYSTEM_RAM)
		return dc__fail(-EBUSY, "%s: %s is in system-ram mode (its memory is online as "
				"system RAM; 'daxctl reconfigure-device -m devdax %s' gives it back)",
				sp->path, dev.name, dev.name);
	if (dev.mode == DC_DAXDEV_DISABLED)
		return dc__fail(-ENXIO, "%s: %s is disabled (no driver bound; 'daxctl "
				"enable-device %s')", sp->path, dev.name, dev.name);
	err = open_path(r, sp, &st);
	if (err)
		return err;
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != dev.major ||
	    minor(st.st_rdev) != dev.minor)
		return dc__fail(-ENODEV, "%s: changed while it was opened (no longer %s)",
				sp->path, dev.name);
	size = dev.size;
	/* libdaxctl knows no alignment: device-dax's default, 2 MiB. */
	align = dev.align ? dev.align : 2u << 20;
	if (align != DC_PAGE_SIZE && align != 2u << 20 && align != 1u << 30)
		return dc__fail(-EINVAL, "%s: alignment %llu is not 4 KiB, 2 MiB or 1 GiB",
				sp->path, (unsigned long long)align);
	/* Without order=, the folios are the device's alignment. */
	if (!sp->have_order)
		sp->order = (unsigned)__builtin_ctzll(align) - DC_PAGE_SHIFT;
	sp->size = size;
	err = check_size(size, sp->order);
	if (err)
		return err;
	/* device-dax refuses mappings not aligned to its alignment. */
	res = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return dc__fail(-ENOMEM, "%s: no address space for %llu bytes", sp->path,
				(unsigned long long)size);
	r->base = (char *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	r->map_order = (unsigned)__builtin_ctzll(align) - DC_PAGE_SHIFT;
	if (mmap(r->base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd, 0) ==
	    MAP_FAILED) {
		err = errno;
		munmap(res, size + align);
		r->base = NULL;
		return dc__fail(-err, "%s: mmap: %s", sp->path, strerror(err));
	}
	if (r->base > res)
		munmap(res, (size_t)(r->base - res));
	if (res + size + align > r->base + size)
		munmap(r->base + size, (size_t)(res + size + align - (r->base + size)));
	r->size = size;
	return 0;
}

static void *reserve(size_t bytes)
{
	void *p;

	if (dc__fault_alloc())
		return NULL;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int dc__region_open(struct dc_region *r, const char *spec)
{
	struct spec *sp = dc__malloc(sizeof(*sp));
	int err;

	r->fd = -1;
	if (!sp)
		return dc__fail(-ENOMEM, "out of memory");
	err = parse_spec(sp, spec);
	if (!err && sp->backend == BK_MEM)
		err = check_size(sp->size, sp->order);
	if (!err) {
		switch (sp->backend) {
		case BK_MEM: err = open_mem(r, sp); break;
		case BK_FILE: err = open_file(r, sp); break;
		case BK_DEVDAX: err = open_devdax(r, sp); break;
		}
	}
	if (err)
		goto out;
	r->type = sp->type;
	r->order = sp->order;
	r->npages = r->size >> DC_PAGE_SHIFT;
	r->nfolios = r->npages >> r->order;
	if (r->type != DC_REGION_LIMITED) {
		uint64_t nsec = (r->nfolios + (1u << DC__SECTION_SHIFT) - 1) >> DC__SECTION_SHIFT;

		r->meta_bytes = r->nfolios * sizeof(struct dc_folio);
		r->touched_bytes = ((nsec + 63) / 64) * sizeof(uint64_t);
		r->meta = reserve(r->meta_bytes);
		r->touched = reserve(r->touched_bytes);
		if (!r->meta || !r->touched)
			err = dc__fail(-ENOMEM, "cannot reserve %llu bytes of folio metadata",
				       (unsigned long long)r->meta_bytes);
	}
out:
	free(sp);
	return err;
}

void dc__region_close(struct dc_region *r)
{
	if (r->meta)
		munmap(r->meta, r->meta_bytes);
	if (r->touched)
		munmap((void *)r->touched, r->touched_bytes);
	if (r->base)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->meta = NULL;
	r->touched = NULL;
	r->base = NULL;
	r->fd = -1;
}
