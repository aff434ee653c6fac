/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxcore/daxcore.h - the whole public API. */
#ifndef DAXCORE_DAXCORE_H
#define DAXCORE_DAXCORE_H
#include <daxcore/common.h>
#include <daxcore/wait.h>
#include <daxcore/liveref.h>
#include <daxcore/region.h>
#include <daxcore/folio.h>
#include <daxcore/index.h>
#include <daxcore/mapping.h>
#include <daxcore/dcfs.h>
#include <daxcore/view.h>
#include <daxcore/devdax.h>
#endif
