/* hfhub.c: model and SAE names resolved in the local Hugging Face hub cache (see hfhub.h). */
#include "hfhub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HFHUB_PATH_MAX 4096
#define HFHUB_HASH_LEN 40 /* a git commit id: 40 hex digits */

/* snprintf into a path buffer; false when the result does not fit. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static bool
join(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static enum gsae_status dup_out(const char *s, char **out, struct gsae_error *err)
{
    size_t n = strlen(s) + 1;
    *out = malloc(n);
    if (!*out) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    memcpy(*out, s, n);
    return GSAE_OK;
}

static bool is_hash(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!strchr("0123456789abcdef", s[n])) return false;
    return n == HFHUB_HASH_LEN;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* One part of a repo id: [A-Za-z0-9._-]+, not starting with '.' or '-' (so never "." or ".."). */
static bool repo_part(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return false;
    return true;
}

bool hfhub_is_repo_id(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash && repo_part(s, (size_t)(slash - s)) && repo_part(slash + 1, strlen(slash + 1));
}

/* A branch or tag name (refs/<rev>, e.g. "main", "refs/pr/1" style names) or a commit hash:
 * no "..", no leading '/' or '-', nothing outside [A-Za-z0-9._/-]. */
static bool revision_ok(const char *rev)
{
    size_t n = strlen(rev);
    if (n == 0 || n > 200 || rev[0] == '/' || rev[0] == '-' || strstr(rev, "..") ||
        strstr(rev, "//") || rev[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (rev[i] != '/' && !name_char(rev[i])) return false;
    return true;
}

enum gsae_status hfhub_cache_root(char *root, size_t cap, const char **source,
                                  struct gsae_error *err)
{
    const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *user = getenv("HOME");
    bool fits;
    if (hub && hub[0]) {
        *source = "$HF_HUB_CACHE";
        fits = join(root, cap, "%s", hub);
    } else if (home && home[0]) {
        *source = "$HF_HOME/hub";
        fits = join(root, cap, "%s/hub", home);
    } else if (user && user[0]) {
        *source = "~/.cache/huggingface/hub";
        fits = join(root, cap, "%s/.cache/huggingface/hub", user);
    } else {
        return gsae_fail(err, GSAE_ENOTFOUND,
                         "no Hugging Face cache: none of $HF_HUB_CACHE, $HF_HOME, $HOME is set");
    }
    if (!fits) return gsae_fail(err, GSAE_ERANGE, "the Hugging Face cache path is too long");
    return GSAE_OK;
}

/* What a failed look-up reports: the paths tried, one per line. */
struct lookup {
    const char *what;  /* the name as given, and the repo, for the message */
    const char *where; /* the cache root and what chose it */
    const char *hint;  /* the download command */
    char tried[640];
    size_t len;
};

static void tried_add(struct lookup *l, const char *path, const char *why)
{
    if (l->len >= sizeof l->tried) return;
    int n = snprintf(l->tried + l->len, sizeof l->tried - l->len, "  %s (%s)\n", path, why);
    if (n > 0) l->len += (size_t)n;
    if (l->len >= sizeof l->tried) l->len = sizeof l->tried;
}

static enum gsae_status not_found(const struct lookup *l, struct gsae_error *err)
{
    return gsae_fail(err, GSAE_ENOTFOUND,
                     "%s is not in the Hugging Face cache%s (gsae does not download); looked "
                     "for:\n%sto download it: %s",
                     l->what, l->where, l->tried, l->hint);
}

/* The commit hash in the refs file at path, validated, into hash. */
static enum gsae_status read_ref(const char *path, char *hash, struct gsae_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot open", path);
    char buf[128];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (!is_hash(buf)) {
        for (size_t i = 0; i < n; i++) /* show what is there on one printable line */
            if (buf[i] < ' ' || buf[i] > '~') buf[i] = '?';
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s holds '%.60s', expected a commit hash (40 hex digits, no '/' or "
                         "'..')",
                         path, buf);
    }
    memcpy(hash, buf, HFHUB_HASH_LEN + 1);
    return GSAE_OK;
}

/* folder/snapshots/<hash>[/sub] for revision rev of the repository cached in folder. */
static enum gsae_status snapshot_in(const char *folder, const char *rev, const char *sub,
                                    struct lookup *l, char **out, struct gsae_error *err)
{
    char ref[HFHUB_PATH_MAX], snap[HFHUB_PATH_MAX], target[HFHUB_PATH_MAX],
        hash[HFHUB_HASH_LEN + 1];
    if (!revision_ok(rev))
        return gsae_fail(err, GSAE_EINVAL,
                         "revision '%s' is not a branch, tag or commit hash (no '..', no leading "
                         "'/' or '-', only [A-Za-z0-9._/-])",
                         rev);
    if (!is_dir(folder)) {
        tried_add(l, folder, "no such folder");
        return not_found(l, err);
    }
    if (!join(ref, sizeof ref, "%s/refs/%s", folder, rev))
        return gsae_fail(err, GSAE_ERANGE, "%s: path too long", folder);
    if (exists(ref)) {
        enum gsae_status st = read_ref(ref, hash, err);
        if (st != GSAE_OK) return st;
    } else if (is_hash(rev)) {
        memcpy(hash, rev, HFHUB_HASH_LEN + 1);
    } else {
        tried_add(l, ref, "no such file");
        return not_found(l, err);
    }
    if (!join(snap, sizeof snap, "%s/snapshots/%s", folder, hash))
        return gsae_fail(err, GSAE_ERANGE, "%s: path too long", folder);
    if (!is_dir(snap)) {
        if (exists(ref)) tried_add(l, ref, hash);
        tried_add(l, snap, "no such folder");
        return not_found(l, err);
    }
    if (!sub) return dup_out(snap, out, err);
    if (!join(target, sizeof target, "%s/%s", snap, sub))
        return gsae_fail(err, GSAE_ERANGE, "%s: path too long", snap);
    if (!exists(target)) {
        tried_add(l, target, "no such file or folder");
        return not_found(l, err);
    }
    return dup_out(target, out, err);
}

/* A cache folder: named models--ORG--NAME, holding snapshots/. Its repo id into repo. */
static bool cache_folder(const char *path, char *repo, size_t cap)
{
    char snaps[HFHUB_PATH_MAX];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    const char *base = path + b, *sep;
    size_t len = n - b;
    if (len < 9 || strncmp(base, "models--", 8) != 0) return false;
    sep = strstr(base + 8, "--");
    if (!sep || sep >= base + len) return false;
    if (!join(repo, cap, "%.*s/%.*s", (int)(sep - base - 8), base + 8, (int)(base + len - sep - 2),
              sep + 2))
        return false;
    return hfhub_is_repo_id(repo) && join(snaps, sizeof snaps, "%.*s/snapshots", (int)n, path) &&
           is_dir(snaps);
}

enum gsae_status hfhub_model_path(const char *name, const char *revision, char **path,
                                  struct gsae_error *err)
{
    *path = NULL;
    char repo[256], root[HFHUB_PATH_MAX], folder[HFHUB_PATH_MAX], what[600],
        where[HFHUB_PATH_MAX + 64], hint[600];
    const char *rev = revision ? revision : "main", *source = NULL;
    bool folder_given = is_dir(name) && cache_folder(name, repo, sizeof repo);
    if (is_dir(name) && !folder_given) {
        if (revision)
            return gsae_fail(err, GSAE_EINVAL,
                             "revision '%s' applies to a Hugging Face repo id or cache folder; "
                             "%s is a checkpoint directory",
                             revision, name);
        return dup_out(name, path, err);
    }
    if (!folder_given && !hfhub_is_repo_id(name)) return dup_out(name, path, err);
    if (folder_given) {
        join(folder, sizeof folder, "%s", name);
        for (size_t n = strlen(folder); n > 1 && folder[n - 1] == '/'; n--)
            folder[n - 1] = '\0';
        where[0] = '\0';
    } else {
        enum gsae_status st = hfhub_cache_root(root, sizeof root, &source, err);
        if (st != GSAE_OK) return st;
        snprintf(repo, sizeof repo, "%s", name);
        if (!join(folder, sizeof folder, "%s/models--%.*s--%s", root,
                  (int)(strchr(name, '/') - name), name, strchr(name, '/') + 1))
            return gsae_fail(err, GSAE_ERANGE, "%s: path too long", root);
        join(where, sizeof where, " at %s (%s)", root, source);
    }
    join(what, sizeof what, "%s%s%smodel %s%s%s", folder_given ? "" : "no directory ",
         folder_given ? "" : name, folder_given ? "" : ", and ", repo,
         revision ? " at revision " : "", revision ? revision : "");
    join(hint, sizeof hint, "huggingface-cli download %s%s%s", repo, revision ? " --revision " : "",
         revision ? revision : "");
    struct lookup l = {.what = what, .where = where, .hint = hint};
    return snapshot_in(folder, rev, NULL, &l, path, err);
}

/* A Gemma Scope id: [ORG/]RELEASE/layer_L/...: repo ORG/RELEASE (ORG google when absent) and
 * the path inside it (from layer_L on) into repo and sub. */
static bool gemma_scope_id(const char *name, char *repo, size_t repo_cap, const char **sub)
{
    const char *parts[3] = {name, NULL, NULL};
    size_t lens[2] = {0, 0};
    int k = 0;
    for (const char *p = name; k < 2; k++) {
        const char *slash = strchr(p, '/');
        if (!slash) return false;
        lens[k] = (size_t)(slash - p);
        parts[k + 1] = slash + 1;
        if (strncmp(slash + 1, "layer_", 6) == 0) break;
        p = slash + 1;
    }
    if (k == 2) return false;
    const char *s = parts[k + 1];
    char *end;
    strtol(s + 6, &end, 10);
    if (end == s + 6 || (*end != '/' && *end != '\0')) return false;
    for (const char *c = s; *c; c++) /* no empty, "." or ".." components below */
        if ((c == s || c[-1] == '/') && (*c == '/' || *c == '.')) return false;
    bool ok =
        k == 0 ? repo_part(name, lens[0]) && join(repo, repo_cap, "google/%.*s", (int)lens[0], name)
               : repo_part(name, lens[0]) && repo_part(parts[1], lens[1]) &&
                     join(repo, repo_cap, "%.*s/%.*s", (int)lens[0], name, (int)lens[1], parts[1]);
    *sub = s;
    return ok;
}

enum gsae_status hfhub_sae_path(const char *name, char **path, struct gsae_error *err)
{
    *path = NULL;
    char repo[256], root[HFHUB_PATH_MAX], folder[HFHUB_PATH_MAX], what[600],
        where[HFHUB_PATH_MAX + 64], hint[700];
    const char *sub = NULL, *source = NULL;
    char id[HFHUB_PATH_MAX]; /* name without trailing slashes */
    if (exists(name) || !join(id, sizeof id, "%s", name)) return dup_out(name, path, err);
    for (size_t n = strlen(id); n > 1 && id[n - 1] == '/'; n--)
        id[n - 1] = '\0';
    if (!gemma_scope_id(id, repo, sizeof repo, &sub)) return dup_out(name, path, err);
    enum gsae_status st = hfhub_cache_root(root, sizeof root, &source, err);
    if (st != GSAE_OK) return st;
    const char *slash = strchr(repo, '/');
    if (!join(folder, sizeof folder, "%s/models--%.*s--%s", root, (int)(slash - repo), repo,
              slash + 1))
        return gsae_fail(err, GSAE_ERANGE, "%s: path too long", root);
    join(where, sizeof where, " at %s (%s)", root, source);
    join(what, sizeof what, "no file or folder %s, and SAE %s (repo %s)", id, sub, repo);
    size_t n = strlen(sub);
    bool file = n > 4 && strcmp(sub + n - 4, ".npz") == 0;
    join(hint, sizeof hint, "huggingface-cli download %s --include '%s%s'", repo, sub,
         file ? "" : "/*");
    struct lookup l = {.what = what, .where = where, .hint = hint};
    return snapshot_in(folder, "main", sub, &l, path, err);
}
