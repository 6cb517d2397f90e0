/* nc_util.c: small netCDF helpers (see nc_util.h). */
#include "nc_util.h"

#include <netcdf.h>

enum gsae_status ncu_dim_len(int ncid, const char *path, const char *name, int64_t *out,
                             struct gsae_error *err)
{
    int id;
    size_t len = 0;
    int rc = nc_inq_dimid(ncid, name, &id);
    if (rc == NC_NOERR) rc = nc_inq_dimlen(ncid, id, &len);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EFORMAT, "%s: dimension %s: %s", path, name, nc_strerror(rc));
    if (len > (size_t)INT64_MAX)
        return gsae_fail(err, GSAE_EFORMAT, "%s: dimension %s has length %zu", path, name, len);
    *out = (int64_t)len;
    return GSAE_OK;
}
