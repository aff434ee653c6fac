/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxdev.c - the machine's device-dax devices through libdaxctl (ndctl's
 * library): what `daxcore info` lists and where the devdax: backend takes a
 * device's size and alignment from.  One libdaxctl context per call (the
 * library is not thread-safe; a context is cheap and sees the current
 * sysfs); its log goes nowhere, errors come back through dc_errmsg().
 *
 * libdaxctl lists only devices whose node is /dev/NAME.  A device node
 * elsewhere (bind-mounted into a container under another name, renamed by
 * udev) is found through /sys/dev/char/MAJOR:MINOR and described from sysfs
 * itself.  A device's mode comes from its driver link, read here without
 * allocating: libdaxctl's own answer (daxctl_dev_get_memory()) is NULL both
 * for "not kmem" and for a failed allocation.
 */
#include "region/region_int.h"

#include <daxctl/libdaxctl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void quiet_log(struct daxctl_ctx *ctx, int priority, const char *file, int line,
		      const char *fn, const char *format, va_list args)
{
	(void)ctx; (void)priority; (void)file; (void)line; (void)fn; (void)format; (void)args;
}

static int ctx_new(struct daxctl_ctx **ctx)
{
	int err = daxctl_new(ctx);

	/* Its -ENXIO (libkmod failed) is not "the device is disabled": -EIO. */
	if (err < 0)
		return dc__fail(err == -ENOMEM ? -ENOMEM : -EIO,
				"libdaxctl: cannot create a context: %s", strerror(-err));
	daxctl_set_log_fn(*ctx, quiet_log);
	return 0;
}

/*
 * The mode a bound device's driver link at @devdir/driver names: kmem is
 * system-ram, any other driver devdax.  1 where there is no link (no
 * driver bound, or no such directory); -errno where it cannot be read.
 */
static int driver_mode(const char *devdir, enum dc_daxdev_mode *mode)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "%s/driver", devdir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1
		       : dc__fail(-errno, "%s: %s", link, strerror(errno));
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	*mode = strcmp(base, "kmem") ? DC_DAXDEV_DEVDAX : DC_DAXDEV_SYSTEM_RAM;
	return 0;
}

static int describe(struct daxctl_region *reg, struct daxctl_dev *dev, struct dc_daxdev *out)
{
	unsigned long ralign = daxctl_region_get_align(reg);
	char dir[PATH_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", daxctl_dev_get_devname(dev));
	out->size = daxctl_dev_get_size(dev);
	out->align = daxctl_dev_get_align(dev);
	if (!out->align && ralign && ralign != (unsigned long)-1) {
		out->align = ralign;
		out->align_from_region = true;
	}
	/* Enabled without a driver link on the dax bus: the older dax class,
	 * which has no kmem. */
	out->mode = DC_DAXDEV_DEVDAX;
	snprintf(dir, sizeof(dir), "/sys/bus/dax/devices/%s", out->name);
	if (!daxctl_dev_is_enabled(dev))
		out->mode = DC_DAXDEV_DISABLED;
	else if ((err = driver_mode(dir, &out->mode)) < 0)
		return err;
	out->numa_node = daxctl_dev_get_target_node(dev);
	if (out->numa_node < 0)
		out->numa_node = -1;
	out->region_id = daxctl_region_get_id(reg);
	out->id = daxctl_dev_get_id(dev);
	out->major = (unsigned)daxctl_dev_get_major(dev);
	out->minor = (unsigned)daxctl_dev_get_minor(dev);
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct dc_daxdev *x = a, *y = b;

	if (x->region_id != y->region_id)
		return x->region_id < y->region_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Every device libdaxctl knows, sorted: *@out (malloc'd, may be NULL) and the count. */
static int collect(struct dc_daxdev **out)
{
	struct daxctl_ctx *ctx;
	struct daxctl_region *reg;
	struct daxctl_dev *dev;
	struct dc_daxdev *all = NULL, *grown;
	size_t n = 0, cap = 0;
	int err = ctx_new(&ctx);

	*out = NULL;
	if (err)
		return err;
	daxctl_region_foreach(ctx, reg) {
		daxctl_dev_foreach(reg, dev) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				grown = dc__fault_alloc() ? NULL : realloc(all, cap * sizeof(*all));
				if (!grown) {
					free(all);
					daxctl_unref(ctx);
					return dc__fail(-ENOMEM, "out of memory listing device-dax devices");
				}
				all = grown;
			}
			err = describe(reg, dev, &all[n++]);
			if (err) {
				free(all);
				daxctl_unref(ctx);
				return err;
			}
		}
	}
	daxctl_unref(ctx);
	if (n)
		qsort(all, n, sizeof(*all), by_id);
	*out = all;
	return (int)n;
}

/* The first number in @dir/@file (a sysfs attribute): 0, or -errno. */
static int read_num(const char *dir, const char *file, long long *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fscanf(f, "%lld", val) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

/*
 * The character device @rdev as sysfs describes it where it is a device of
 * the dax bus (its /sys/dev/char/MAJOR:MINOR has /sys/bus/dax as its
 * subsystem): what libdaxctl would say of it had it a node at /dev/NAME.
 * 0 (@out filled), 1 (not a dax bus device), or -errno.
 */
static int from_sysfs(dev_t rdev, struct dc_daxdev *out)
{
	char link[64], dir[PATH_MAX], sub[PATH_MAX + 16], subsys[PATH_MAX], bus[PATH_MAX];
	const char *name;
	long long v;
	int len = 0, err;

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u", major(rdev), minor(rdev));
	if (!realpath(link, dir))
		return errno == ENOENT ? 1 : dc__fail(-errno, "%s: %s", link, strerror(errno));
	snprintf(sub, sizeof(sub), "%s/subsystem", dir);
	if (!realpath(sub, subsys) || !realpath("/sys/bus/dax", bus) || strcmp(subsys, bus))
		return 1;
	name = strrchr(dir, '/') + 1;
	memset(out, 0, sizeof(*out));
	if (strlen(name) >= sizeof(out->name) ||
	    sscanf(name, "dax%d.%d%n", &out->region_id, &out->id, &len) != 2 || name[len])
		return 1;
	strcpy(out->name, name);
	out->from_sysfs = true;
	err = read_num(dir, "size", &v);
	if (err)
		return dc__fail(err, "%s/size: %s", dir, strerror(-err));
	out->size = (uint64_t)v;
	if (!read_num(dir, "align", &v) && v > 0) {
		out->align = (uint64_t)v;
	} else if (!read_num(dir, "../dax_region/align", &v) && v > 0) {
		out->align = (uint64_t)v;
		out->align_from_region = true;
	}
	err = driver_mode(dir, &out->mode);
	if (err < 0)
		return err;
	if (err)
		out->mode = DC_DAXDEV_DISABLED;
	out->numa_node = read_num(dir, "target_node", &v) || v < 0 ? -1 : (int)v;
	out->major = major(rdev);
	out->minor = minor(rdev);
	return 0;
}

DC_API int dc_daxdev_list(struct dc_daxdev *devs, size_t max)
{
	struct dc_daxdev *all;
	int n = collect(&all);

	if (n < 0)
		return n;
	if (devs && max && n) /* none: all is NULL */
		memcpy(devs, all, ((size_t)n < max ? (size_t)n : max) * sizeof(*devs));
	free(all);
	return n;
}

DC_API int dc_daxdev_lookup(const char *path, struct dc_daxdev *dev)
{
	struct dc_daxdev *all;
	char known[256] = "";
	size_t used = 0;
	struct stat st;
	int n, err;

	if (!path || !dev)
		return dc__fail(-EINVAL, "dc_daxdev_lookup: NULL %s", path ? "device" : "path");
	if (stat(path, &st)) {
		err = errno;
		return dc__fail(-err, "%s: %s", path, strerror(err));
	}
	if (!S_ISCHR(st.st_mode))
		return dc__fail(-EINVAL, "%s: not a character device, so not a device-dax device "
				"(those are /dev/daxX.Y)", path);
	n = collect(&all);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (all[i].major == major(st.st_rdev) && all[i].minor == minor(st.st_rdev)) {
			*dev = all[i];
			free(all);
			return 0;
		}
		if (used < sizeof(known))
			used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
						 i ? ", " : "", all[i].name);
	}
	free(all);
	err = from_sysfs(st.st_rdev, dev);
	if (err <= 0)
		return err;
	if (used >= sizeof(known))
		strcpy(known + sizeof(known) - 4, "...");
	return dc__fail(-ENODEV, "%s: not a device-dax device: libdaxctl knows no character "
			"device %u:%u (%s%s)", path, major(st.st_rdev), minor(st.st_rdev),
			n ? "it knows " : "it knows no device-dax device on this machine",
			known);
}
