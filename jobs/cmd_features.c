/* cmd_features.c: `gsae features`: the SAE features active at a prompt's final token.
 *
 * The prompt runs through the pipeline up to the end (no intervention); the stage owning
 * resid_post.L encodes every prompt row with the SAE. Printed: the top features of the final
 * token with their activations, for each prompt (--prompts with --arc DIR gives several).
 * --all-positions FILE writes every active (position, feature) as CSV:
 * "prompt,position,token,feature,activation" (header line first, prompts in order, positions
 * ascending, features ascending within a position). --json FILE writes
 *   {"command": "features", "model": DIR, "sae": PATH, "layer": L, "d_sae": S,
 *    "n_prompt": T, "final": {"position": T-1, "token": id, "n_active": k,
 *    "top": [{"rank": 1, "feature": f, "activation": a}, ...]}}
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "cli.h"
#include "commands.h"
#include "sae_cli.h"
#include "sae_session.h"

struct features_args {
    struct sae_session_opts s;
    int64_t top;
    const char *all_path, *json_path;
};

#define O(f) offsetof(struct features_args, f)
static const struct opt features_table[] = {
    {"top", OPT_I64, O(top), "10", 1, 1 << 20, .meta = "K", .help = "how many features to list"},
    {"all-positions", OPT_STR, O(all_path), .meta = "FILE",
     .help = "every active feature at every position, CSV: "
             "prompt,position,token,feature,activation"},
    {"json", OPT_STR, O(json_path), .meta = "FILE",
     .help = "the listing as JSON: command, model, sae, layer, d_sae, prompts[...]"},
    {0},
};
#undef O

const struct opt_cmd features_cmd = {
    "features",
    .synopsis = "--model MODEL --sae SAE [--layer L]   (under [mpirun -np N])\n"
                "           (--prompt TEXT | --arc TASK.json | --prompt-ids LIST) [--top K]\n"
                "           [--all-positions FILE] [--json FILE]",
    .about = "The top K SAE features at the prompt's final token, with activations. The JSON\n"
             "holds prompts[{prompt, n_prompt, position, token, n_active, top[{rank, feature,\n"
             "activation}]}].\n",
    .size = sizeof(struct features_args),
    .groups = {{sae_session_model_opts, offsetof(struct features_args, s)},
               {sae_session_prompt_opts, offsetof(struct features_args, s)},
               {features_table, 0}},
};

/* Owner: append every recorded row of the prompt to the CSV (opened on first use). */
static enum gsae_status write_positions(const char *path, struct csv_writer *w, const char *prompt,
                                        const struct intervene *iv, const int32_t *tokens,
                                        struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (!w->f &&
        (st = csv_writer_open(w, path, &results_positions, NULL, 0, false, err)) != GSAE_OK)
        return st;
    const struct sae_acts *a = &iv->rec;
    for (int64_t r = 0; r < a->n_rows; r++)
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++) {
            csv_put_str(w, prompt);
            csv_put_int(w, iv->rec_pos[r]);
            csv_put_int(w, tokens[iv->rec_pos[r]]);
            csv_put_int(w, a->feature[k]);
            csv_put_double(w, (double)a->value[k]);
            csv_end_row(w, false);
        }
    return ferror(w->f) ? gsae_fail(err, GSAE_EIO, "%s: write failed", path) : GSAE_OK;
}

/* Indices of the k largest positive entries of v (n), largest first, lowest index on ties. */
static int64_t top_k(const float *v, int64_t n, int64_t k, int64_t *idx)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t j;
        if (!(v[i] > 0)) continue;
        if (m < k)
            j = m++;
        else if (v[i] > v[idx[k - 1]])
            j = k - 1;
        else
            continue;
        while (j > 0 && v[i] > v[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return m;
}

/* Rank 0: print the selected prompt's top features and append them to the JSON list. */
static void report(const struct sae_session *s, const struct engine_hook *h, const float *final,
                   int64_t top, json_t *list)
{
    int64_t *idx = malloc((size_t)top * sizeof *idx), n_active = 0;
    for (int64_t f = 0; f < h->d_sae; f++)
        n_active += final[f] > 0;
    int64_t m = idx ? top_k(final, h->d_sae, top, idx) : 0;
    int32_t last = s->prompt[s->n_prompt - 1];
    char *tok = sae_session_decode(s, &last, 1);
    printf("%s: %lld tokens; SAE at resid_post.%lld (d_sae %lld): %lld features active at the "
           "final token %d (%s)\n",
           s->prompt_name, (long long)s->n_prompt, (long long)h->layer, (long long)h->d_sae,
           (long long)n_active, last, tok ? tok : "?");
    printf("%5s %9s %12s\n", "rank", "feature", "activation");
    json_t *tops = json_array();
    for (int64_t i = 0; i < m; i++) {
        printf("%5lld %9lld %12.4f\n", (long long)i + 1, (long long)idx[i], (double) final[idx[i]]);
        json_array_append_new(tops,
                              json_pack("{s:I, s:I, s:f}", "rank", (json_int_t)i + 1, "feature",
                                        (json_int_t)idx[i], "activation", (double) final[idx[i]]));
    }
    json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:i, s:I, s:o}", "prompt",
                                          s->prompt_name, "n_prompt", (json_int_t)s->n_prompt,
                                          "position", (json_int_t)s->n_prompt - 1, "token", last,
                                          "n_active", (json_int_t)n_active, "top", tops));
    free(tok);
    free(idx);
}

/* The selected prompt: record its activations on the layer's owner, collect the final row on
 * rank 0 and report it; the owner appends every row to the --all-positions CSV. */
static enum gsae_status features_one(struct sae_session *s, int64_t j, int64_t top,
                                     const char *all_path, json_t *list, struct csv_writer *csv,
                                     struct gsae_error *err)
{
    const struct engine_hook *h = &s->e.hooks[j];
    struct intervene iv = {0};
    struct dist_blob mine = {.name = "final"}, *all = NULL;
    int64_t n_all = 0, d_sae = h->d_sae;
    enum gsae_status st = GSAE_OK;
    if (h->owned) {
        struct intervene_spec spec = {
            .op = INTERVENE_NONE, .layer = h->layer, .record = true, .sae_bf16 = s->sae_bf16};
        st = intervene_init(&iv, &spec, &h->sae, s->n_prompt, err);
        if (st == GSAE_OK) st = sae_session_subscribe_hook(s, j, &iv, err);
    }
    st = dist_agree(s->e.d.world, st, err);
    if (st == GSAE_OK) st = sae_session_logits(s, s->prompt, s->n_prompt, NULL, NULL, 0, NULL, err);
    /* after the stream: a failure there is not agreed (main() aborts the job) */
    if (st == GSAE_OK) {
        /* the owner of the layer in the replica that ran the prompt has the rows */
        bool have = h->owned && iv.rec.n_rows == s->n_prompt;
        if (have && all_path)
            st = write_positions(all_path, csv, s->prompt_name, &iv, s->prompt, err);
        if (have && st == GSAE_OK) {
            mine.n = d_sae;
            if (!(mine.data = calloc((size_t)d_sae, sizeof(float))))
                st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
            const struct sae_acts *a = &iv.rec;
            for (int64_t k = a->row_ptr[a->n_rows - 1]; mine.data && k < a->row_ptr[a->n_rows]; k++)
                mine.data[a->feature[k]] = a->value[k];
        }
        st = dist_agree(s->e.d.world, st, err);
        if (st == GSAE_OK) st = dist_collect(&s->e.d, &mine, have ? 1 : 0, &all, &n_all, err);
    }
    for (int64_t i = 0; st == GSAE_OK && s->e.d.rank == 0 && i < n_all; i++)
        if (strcmp(all[i].name, "final") == 0 && all[i].n == d_sae)
            report(s, h, all[i].data, top, list);
    dist_blobs_free(all, n_all);
    free(mine.data);
    intervene_free(&iv);
    return st;
}

int cmd_features(int argc, char **argv)
{
    struct features_args fa;
    int rc = opt_parse(&features_cmd, argc, argv, &fa);
    if (rc != OPT_RUN) return rc;
    struct sae_session_opts o = fa.s;
    if (sae_session_opts_saes(&o, "features", true) != 0) return 2;
    int64_t top = fa.top;
    const char *all_path = fa.all_path, *json_path = fa.json_path;
    struct gsae_error err = {0};
    struct sae_session s;
    struct csv_writer csv = {0};
    enum gsae_status st = sae_session_open(&s, "features", &o, 0, &err);
    if (st == GSAE_OK && s.e.n_hooks > 1 && (all_path || o.layer >= 0))
        st = gsae_fail(&err, GSAE_EINVAL,
                       "with several --sae each SAE names its layer (no --layer); "
                       "--all-positions takes one SAE");
    json_t *list = json_array(), *hooks = json_array();
    for (int64_t j = 0; st == GSAE_OK && j < s.e.n_hooks; j++) {
        json_t *hl = j == 0 ? list : json_array();
        for (int64_t p = 0; st == GSAE_OK && p < s.n_prompts; p++) {
            sae_session_select(&s, p);
            st = features_one(&s, j, top, all_path, hl, &csv, &err);
        }
        const struct engine_hook *h = &s.e.hooks[j];
        json_array_append_new(hooks, json_pack("{s:s, s:I, s:I, s:O}", "sae", h->path, "layer",
                                               (json_int_t)h->layer, "d_sae", (json_int_t)h->d_sae,
                                               "prompts", hl));
        if (j > 0) json_decref(hl);
    }
    if (st == GSAE_OK && s.e.d.rank == 0 && json_path) {
        /* one SAE: as it always was; several: the same per hook under "hooks" */
        json_t *doc = s.e.n_hooks > 1 ? json_pack("{s:s, s:s, s:O}", "command", "features", "model",
                                                  o.model_dir, "hooks", hooks)
                                      : json_pack("{s:s, s:s, s:s, s:I, s:I, s:O}", "command",
                                                  "features", "model", o.model_dir, "sae",
                                                  o.sae_path, "layer", (json_int_t)s.layer, "d_sae",
                                                  (json_int_t)s.d_sae, "prompts", list);
        if (!doc || json_dump_file(doc, json_path, JSON_INDENT(1)) != 0)
            st = gsae_fail(&err, GSAE_EIO, "%s: cannot write", json_path);
        json_decref(doc);
    }
    json_decref(hooks);
    json_decref(list);
    if (st == GSAE_OK) st = csv_writer_close(&csv, &err);
    csv_writer_close(&csv, NULL);
    if (st != GSAE_OK) cli_report("features", &err);
    sae_session_close(&s);
    return st == GSAE_OK ? 0 : 1;
}
