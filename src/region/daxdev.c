/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxdev.c - the machine's device-dax devices through libdaxctl (ndctl's
 * library): what `daxcore info` lists and where the devdax: backend takes a
 * device's size and alignment from.  One libdaxctl context per call (the
 * library is not thread-safe; a context is cheap and sees the current
 * sysfs); its log goes nowhere, errors come back through dc_errmsg().
 */
#include "region/region_int.h"

#include <daxctl/libdaxctl.h>
#include <stdarg.h>
#include <string.h>
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

	if (err < 0)
		return dc__fail(err, "libdaxctl: cannot create a context: %s", strerror(-err));
	daxctl_set_log_fn(*ctx, quiet_log);
	return 0;
}

static void describe(struct daxctl_region *reg, struct daxctl_dev *dev, struct dc_daxdev *out)
{
	unsigned long ralign = daxctl_region_get_align(reg);

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", daxctl_dev_get_devname(dev));
	out->size = daxctl_dev_get_size(dev);
	out->align = daxctl_dev_get_align(dev);
	if (!out->align && ralign && ralign != (unsigned long)-1) {
		out->align = ralign;
		out->align_from_region = true;
	}
	if (!daxctl_dev_is_enabled(dev))
		out->mode = DC_DAXDEV_DISABLED;
	else if (daxctl_dev_get_memory(dev))
		out->mode = DC_DAXDEV_SYSTEM_RAM;
	else
		out->mode = DC_DAXDEV_DEVDAX;
	out->numa_node = daxctl_dev_get_target_node(dev);
	if (out->numa_node < 0)
		out->numa_node = -1;
	out->region_id = daxctl_region_get_id(reg);
	out->id = daxctl_dev_get_id(dev);
	out->major = (unsigned)daxctl_dev_get_major(dev);
	out->minor = (unsigned)daxctl_dev_get_minor(dev);
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
			describe(reg, dev, &all[n++]);
		}
	}
	daxctl_unref(ctx);
	if (n)
		qsort(all, n, sizeof(*all), by_id);
	*out = all;
	return (int)n;
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
	if (used >= sizeof(known))
		strcpy(known + sizeof(known) - 4, "...");
	return dc__fail(-ENODEV, "%s: not a device-dax device: libdaxctl knows no character "
			"device %u:%u (%s%s)", path, major(st.st_rdev), minor(st.st_rdev),
			n ? "it knows " : "it knows no device-dax device on this machine",
			known);
}
