/* report_json.c: report views of the experiment commands' JSON and .npy outputs (see
 * report_views.h). */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/npy.h"
#include "report_views.h"

/* Sorted names in dir of the form <prefix>*.json; count returned, -1 on error. */
static int list_json(const char *dir, const char *prefix, char ***names)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    char **out = NULL;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name), lp = strlen(prefix);
        if (len <= lp + 5 || strncmp(e->d_name, prefix, lp) != 0 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = realloc(out, (size_t)cap * sizeof *g);
            if (!g) break;
            out = g;
        }
        if (!(out[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    for (int a = 1; a < n; a++) /* insertion sort: a handful of files */
        for (int b = a; b > 0 && strcmp(out[b - 1], out[b]) > 0; b--) {
            char *t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    *names = out;
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The label of prefix<label>.json. */
static void label_of(const char *name, const char *prefix, char *label, size_t n)
{
    snprintf(label, n, "%.*s", (int)(strlen(name) - strlen(prefix) - 5), name + strlen(prefix));
}

static json_t *load_json(const char *dir, const char *name, struct gsae_error *err)
{
    char path[4096];
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        gsae_fail(err, GSAE_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    else if (!json_is_object(root)) {
        json_decref(root);
        root = NULL;
        gsae_fail(err, GSAE_EFORMAT, "%s: expected a JSON object", path);
    }
    return root;
}

enum gsae_status report_view_steer_json(struct report *r, const char *dir, struct gsae_error *err)
{
    char **names = NULL;
    int n = list_json(dir, "steer_", &names);
    enum gsae_status st = GSAE_OK;
    if (n > 0)
        report_section(r, "steer-json", "Steering",
                       "Continuations with max_act x strength x W_dec[feature] added to the "
                       "residual stream at every position, prompt and generated.");
    for (int i = 0; i < n && st == GSAE_OK; i++) {
        json_t *root = load_json(dir, names[i], err);
        json_t *runs = root ? json_object_get(root, "runs") : NULL;
        if (!root || !json_is_array(runs)) {
            st = root ? gsae_fail(err, GSAE_EFORMAT, "%s/%s: no array 'runs'", dir, names[i])
                      : GSAE_EFORMAT;
            json_decref(root);
            break;
        }
        size_t n_runs = json_array_size(runs);
        struct report_cell *cells = calloc(2 * n_runs + 1, sizeof *cells);
        for (size_t k = 0; cells && k < n_runs; k++) {
            json_t *run = json_array_get(runs, k);
            const char *text = json_string_value(json_object_get(run, "text"));
            cells[2 * k] =
                report_cell_number(json_number_value(json_object_get(run, "strength")), "%+g");
            cells[2 * k + 1] = (struct report_cell){.kind = REPORT_CELL_PRE, .text = text};
        }
        char label[256], caption[512];
        label_of(names[i], "steer_", label, sizeof label);
        snprintf(caption, sizeof caption, "%s: feature %lld, max_act %g, layer %lld", label,
                 (long long)json_integer_value(json_object_get(root, "feature")),
                 json_number_value(json_object_get(root, "max_act")),
                 (long long)json_integer_value(json_object_get(root, "layer")));
        static const char *const header[] = {"strength", "continuation"};
        if (cells)
            report_table_cells(r, caption, header, 2, cells, (int64_t)n_runs);
        else
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        free(cells);
        json_decref(root);
    }
    free_names(names, n);
    return st;
}

/* Visible token text (as the CSV views show tokens): newline as \n, space as U+2423; a
 * TOKEN cell of it goes to *cell. Newly allocated, NULL out of memory. */
static char *token_cell(const char *text, struct report_cell *cell)
{
    size_t n = text ? strlen(text) : 0;
    char *c = malloc(4 * n + 1), *p = c;
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n')
            p += sprintf(p, "\\n");
        else if (text[i] == ' ')
            p += sprintf(p, "\xe2\x90\xa3");
        else
            *p++ = text[i];
    }
    *p = '\0';
    *cell = (struct report_cell){.kind = REPORT_CELL_TOKEN, .text = c};
    return c;
}

/* A number as a cell: integers exactly, others with 4 significant digits. */
static struct report_cell num_cell(double v, bool integer)
{
    return report_cell_number(v, integer ? "%.0f" : "%.4g");
}

/* Per answer token: rank and probability, clean and ablated. */
static bool answer_table(struct report *r, json_t *answer, const char *caption)
{
    size_t n = json_array_size(answer);
    static const char *const header[] = {"index",      "answer token", "clean rank",
                                         "clean prob", "ablated rank", "ablated prob"};
    struct report_cell *cells = calloc(6 * n + 1, sizeof *cells);
    char **tokens = calloc(n + 1, sizeof *tokens);
    bool ok = cells && tokens;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *a = json_array_get(answer, i);
        json_t *clean = json_object_get(a, "clean"), *abl = json_object_get(a, "ablated");
        struct report_cell *row = cells + 6 * i;
        row[0] = num_cell((double)json_integer_value(json_object_get(a, "index")), true);
        tokens[i] = token_cell(json_string_value(json_object_get(a, "text")), &row[1]);
        row[2] = num_cell((double)json_integer_value(json_object_get(clean, "rank")), true);
        row[3] = num_cell(json_number_value(json_object_get(clean, "prob")), false);
        row[4] = num_cell((double)json_integer_value(json_object_get(abl, "rank")), true);
        row[5] = num_cell(json_number_value(json_object_get(abl, "prob")), false);
        ok = tokens[i] != NULL;
    }
    if (ok) report_table_cells(r, caption, header, 6, cells, (int64_t)n);
    for (size_t k = 0; tokens && k < n; k++)
        free(tokens[k]);
    free(tokens);
    free(cells);
    return ok;
}

/* Top next tokens at one answer position, clean beside ablated. */
static bool topk_table(struct report *r, json_t *a, const char *caption)
{
    json_t *ct = json_object_get(json_object_get(a, "clean"), "top");
    json_t *at = json_object_get(json_object_get(a, "ablated"), "top");
    size_t n =
        json_array_size(ct) > json_array_size(at) ? json_array_size(ct) : json_array_size(at);
    static const char *const header[] = {"rank", "clean", "prob", "ablated", "prob"};
    struct report_cell *cells = calloc(5 * n + 1, sizeof *cells);
    char **tokens = calloc(2 * n + 1, sizeof *tokens);
    bool ok = cells && tokens;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *c = json_array_get(ct, i), *b = json_array_get(at, i);
        struct report_cell *row = cells + 5 * i;
        row[0] = num_cell((double)(i + 1), true);
        tokens[2 * i] = token_cell(json_string_value(json_object_get(c, "text")), &row[1]);
        row[2] = num_cell(json_number_value(json_object_get(c, "prob")), false);
        tokens[2 * i + 1] = token_cell(json_string_value(json_object_get(b, "text")), &row[3]);
        row[4] = num_cell(json_number_value(json_object_get(b, "prob")), false);
        ok = tokens[2 * i] && tokens[2 * i + 1];
    }
    if (ok) report_table_cells(r, caption, header, 5, cells, (int64_t)n);
    for (size_t k = 0; tokens && k < 2 * n; k++)
        free(tokens[k]);
    free(tokens);
    free(cells);
    return ok;
}

/* One condition's tables: the answer tokens and the top next tokens before the first. */
static bool ablate_condition(struct report *r, const char *label, const char *feats, json_t *cond,
                             json_t *answer)
{
    char caption[768], what[300];
    const char *name = json_string_value(json_object_get(cond, "condition"));
    if (name)
        snprintf(what, sizeof what, "%s", name);
    else
        snprintf(what, sizeof what, "ablate %s%s", feats,
                 json_is_true(json_object_get(cond, "error_term")) ? " + error" : "");
    snprintf(caption, sizeof caption, "%s: %s (error term %s)", label, what,
             json_is_true(json_object_get(cond, "error_term")) ? "added back" : "left out");
    bool ok = answer_table(r, answer, caption);
    snprintf(caption, sizeof caption, "%s: %s: top next tokens before the first answer token",
             label, what);
    return ok && topk_table(r, json_array_get(answer, 0), caption);
}

enum gsae_status report_view_ablate_json(struct report *r, const char *dir, struct gsae_error *err)
{
    char **names = NULL;
    int n = list_json(dir, "ablate_", &names);
    enum gsae_status st = GSAE_OK;
    if (n > 0)
        report_section(r, "ablate-json", "Ablation",
                       "The answer's tokens under the model with the SAE features zeroed at the "
                       "hooked layer (TransformerLens test_prompt): rank 0 is the top token.");
    for (int i = 0; i < n && st == GSAE_OK; i++) {
        json_t *root = load_json(dir, names[i], err);
        if (!root) {
            st = GSAE_EFORMAT;
            break;
        }
        /* {"conditions": [{"condition", "error_term", "answer"}...]}, or one condition at the
         * top level ({"error_term", "answer"}). */
        json_t *conds = json_object_get(root, "conditions");
        size_t n_conds = json_is_array(conds) ? json_array_size(conds) : 1;
        char label[256], feats[256] = "";
        label_of(names[i], "ablate_", label, sizeof label);
        json_t *fl = json_object_get(root, "features");
        for (size_t k = 0; k < json_array_size(fl) && strlen(feats) < 200; k++)
            snprintf(feats + strlen(feats), sizeof feats - strlen(feats), "%s%lld", k ? "," : "",
                     (long long)json_integer_value(json_array_get(fl, k)));
        for (size_t c = 0; c < n_conds && st == GSAE_OK; c++) {
            json_t *cond = json_is_array(conds) ? json_array_get(conds, c) : root;
            json_t *answer = json_object_get(cond, "answer");
            if (!json_is_array(answer) || json_array_size(answer) == 0)
                st = gsae_fail(err, GSAE_EFORMAT, "%s/%s: no array 'answer'%s", dir, names[i],
                               json_is_array(conds) ? " in a condition" : "");
            else if (!ablate_condition(r, label, feats, cond, answer))
                st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        }
        json_decref(root);
    }
    free_names(names, n);
    return st;
}

/* Column c of a (rows, k) float array as doubles; newly allocated. */
static double *npy_column(const struct npy_array *a, int64_t c)
{
    int64_t rows = a->shape[0], k = a->shape[1];
    double *v = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *v);
    for (int64_t i = 0; v && i < rows; i++)
        v[i] = a->dtype == GSAE_DTYPE_F64 ? ((const double *)a->data)[i * k + c]
                                          : ((const float *)a->data)[i * k + c];
    return v;
}

static bool npy_is_float(const struct npy_array *a)
{
    return a->dtype == GSAE_DTYPE_F64 || a->dtype == GSAE_DTYPE_F32;
}

enum gsae_status report_view_pca_npy(struct report *r, const char *dir, struct gsae_error *err)
{
    char path[4096];
    void *buf = NULL, *rbuf = NULL;
    struct npy_array t = {0}, ratio = {0};
    double *pc[3] = {NULL, NULL, NULL};
    snprintf(path, sizeof path, "%s/transformed.npy", dir);
    if (access(path, F_OK) != 0) return GSAE_OK;
    enum gsae_status st = npy_load(path, &buf, &t, err);
    if (st == GSAE_OK && (t.n_dims != 2 || t.shape[1] < 2 || !npy_is_float(&t)))
        st = gsae_fail(err, GSAE_EFORMAT, "%s: expected a (rows, k >= 2) float array", path);
    if (st != GSAE_OK) goto done;
    report_section(r, "pca-npy", "PCA",
                   "Rows projected on the principal components (gsae pca: transformed.npy).");
    int64_t k = t.shape[1] < 3 ? t.shape[1] : 3;
    for (int64_t c = 0; c < k; c++)
        if (!(pc[c] = npy_column(&t, c))) {
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
            goto done;
        }
    static const char *const group_names[] = {"rows"};
    int64_t *group = calloc((size_t)t.shape[0] + 1, sizeof *group);
    if (!group) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    if (k >= 3) {
        struct report_points p23 = {pc[1], pc[2], group, NULL, t.shape[0], group_names, 1};
        struct report_axes a23 = {"PC2 vs PC3", "PC2", "PC3", false};
        report_scatter(r, &a23, &p23);
    }
    struct report_points p12 = {pc[0], pc[1], group, NULL, t.shape[0], group_names, 1};
    struct report_axes a12 = {"PC1 vs PC2", "PC1", "PC2", false};
    report_scatter(r, &a12, &p12);
    free(group);
    snprintf(path, sizeof path, "%s/explained_variance_ratio.npy", dir);
    if (access(path, F_OK) == 0) {
        if ((st = npy_load(path, &rbuf, &ratio, err)) != GSAE_OK) goto done;
        if (ratio.n_dims != 1 || !npy_is_float(&ratio) || ratio.shape[0] > 64) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: expected a (k,) float array, k <= 64", path);
            goto done;
        }
        double v[64];
        char names[64][24];
        const char *labels[64];
        for (int64_t c = 0; c < ratio.shape[0]; c++) {
            v[c] = ratio.dtype == GSAE_DTYPE_F64 ? ((const double *)ratio.data)[c]
                                                 : ((const float *)ratio.data)[c];
            snprintf(names[c], sizeof names[c], "PC%lld", (long long)c + 1);
            labels[c] = names[c];
        }
        struct report_axes ax = {"Explained variance ratio", "fraction of variance", NULL, false};
        report_bars(r, &ax, labels, v, ratio.shape[0]);
    }
done:
    for (int c = 0; c < 3; c++)
        free(pc[c]);
    free(buf);
    free(rbuf);
    return st;
}
