/* sae_cli.c: shared pieces of the SAE subcommands (see sae_cli.h). */
#include "sae_cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool sae_cli_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return gsae_parse_i64(s, min, max, out);
}

bool sae_cli_f64(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Split s at commas and parse each piece with one of the two parsers. */
static void *parse_list(const char *s, bool is_int, int64_t min, int64_t max, int64_t *n)
{
    *n = 0;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    int64_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += s[i] == ',';
    void *vals = malloc((size_t)cap * 8);
    bool ok = copy && vals && len > 0;
    if (ok) memcpy(copy, s, len + 1);
    char *save = NULL;
    for (char *tok = ok ? strtok_r(copy, ",", &save) : NULL; ok && tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (is_int)
            ok = sae_cli_i64(tok, min, max, (int64_t *)vals + *n);
        else
            ok = sae_cli_f64(tok, (double *)vals + *n);
        (*n)++;
    }
    ok = ok && *n == cap; /* no empty entries */
    free(copy);
    if (!ok) {
        free(vals);
        *n = 0;
        return NULL;
    }
    return vals;
}

bool sae_cli_i64_list(const char *s, int64_t min, int64_t max, int64_t **out, int64_t *n)
{
    *out = parse_list(s, true, min, max, n);
    return *out != NULL;
}

bool sae_cli_f64_list(const char *s, double **out, int64_t *n)
{
    *out = parse_list(s, false, 0, 0, n);
    return *out != NULL;
}

bool sae_cli_load(const char *cmd, const char *path, const struct gemma_config *cfg,
                  const char *model_name, int64_t requested_layer, bool need_layer,
                  struct sae_params *p, struct sae_info *info, int64_t *layer)
{
    struct gsae_error err = {0};
    if (sae_load(path, p, info, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        return false;
    }
    *layer = requested_layer >= 0 ? requested_layer : info->layer;
    char warning[1024] = "";
    if (!cfg && sae_check_layer(info, requested_layer, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        sae_params_free(p);
        sae_info_free(info);
        return false;
    }
    if (cfg && sae_check_model(info, p, cfg, model_name, requested_layer, layer, warning,
                               sizeof warning, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        sae_params_free(p);
        sae_info_free(info);
        return false;
    }
    if (need_layer && *layer < 0) {
        gsae_fail(&err, GSAE_EINVAL, "%s: the file does not say which layer it hooks; give --layer",
                  info->path);
        cli_report(cmd, &err);
        sae_params_free(p);
        sae_info_free(info);
        return false;
    }
    if (warning[0]) fprintf(stderr, "gsae %s: warning: %s\n", cmd, warning);
    return true;
}

void sae_cli_layer_path(const char *s, int64_t *layer, const char **path)
{
    const char *c = s;
    while (*c >= '0' && *c <= '9')
        c++;
    *layer = -1;
    *path = s;
    if (c > s && *c == ':' && c[1] && gsae_parse_i64_prefix(s, &c, 0, 1 << 20, layer) == GSAE_OK)
        *path = c + 1;
}
