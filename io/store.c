/* store.c: what the store's writer and reader share: part names, the checksum, durable
 * renames (see store.h; the writer is store_write.c, the reader store_read.c). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../src/hash.h"
#include "store_impl.h"

uint64_t store_checksum_combine(const uint64_t *hash, int64_t version)
{
    size_t n = version == 1 ? N_HASH_V1 : N_HASH;
    return gsae_hash_update(GSAE_HASH_INIT, hash, n * sizeof *hash);
}

void store_part_name(int64_t index, char *buf, size_t size)
{
    snprintf(buf, size, "part-%05lld.nc", (long long)index);
}

static enum gsae_status sync_path(const char *path, struct gsae_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some file systems cannot fsync a directory */
        return gsae_fail(err, GSAE_EIO, "%s: fsync: %s", path, strerror(e));
    return GSAE_OK;
}

enum gsae_status store_rename_durable(const char *tmp, const char *path, struct gsae_error *err)
{
    enum gsae_status st = sync_path(tmp, err);
    if (st != GSAE_OK) return st;
    if (rename(tmp, path) != 0)
        return gsae_fail(err, GSAE_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    return sync_path(dir, err);
}

enum gsae_status store_write_atomic(const char *path, const void *data, size_t len,
                                    struct gsae_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t put = fwrite(data, 1, len, f);
    int rc = fflush(f);
    rc |= fsync(fileno(f));
    rc |= fclose(f);
    if (put != len || rc != 0) {
        unlink(tmp);
        return gsae_fail(err, GSAE_EIO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return store_rename_durable(tmp, path, err);
}
