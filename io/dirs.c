/* dirs.c: mkdir -p (see dirs.h). */
#include "dirs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DIRS_MODE 0777

static enum gsae_status make_one(const char *path, struct gsae_error *err)
{
    if (mkdir(path, DIRS_MODE) == 0 || errno == EEXIST) return GSAE_OK;
    return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
}

enum gsae_status dirs_make(const char *path, struct gsae_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return gsae_fail(err, GSAE_EINVAL, "%.64s...: the path is too long", path);
    enum gsae_status st = GSAE_OK;
    for (char *p = buf + 1; st == GSAE_OK && *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        st = make_one(buf, err);
        *p = '/';
    }
    if (st == GSAE_OK) st = make_one(buf, err);
    struct stat sb;
    if (st == GSAE_OK && (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = gsae_fail(err, GSAE_EIO, "%s: cannot create: it exists and is not a directory", buf);
    return st;
}
