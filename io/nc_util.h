/* nc_util.h: small netCDF helpers shared by the io/ modules that read netCDF-4 files. */
#pragma once

#include <stdint.h>

#include "../src/gsae.h"

/* Length of dimension name in the open file ncid (path names the file in messages).
 * Errors: GSAE_EFORMAT with nc_strerror's text. */
enum gsae_status ncu_dim_len(int ncid, const char *path, const char *name, int64_t *out,
                             struct gsae_error *err);
