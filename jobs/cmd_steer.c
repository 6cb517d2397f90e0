/* cmd_steer.c: `gsae steer`: one continuation per steering strength, as the notebook did.
 *
 * For each strength s, resid_post.L += max_act * s * W_dec[feature] at every position, prompt
 * and generated (the hook runs on every forward call: prefill and each KV-cache decode step),
 * and max_new tokens are generated (greedy at temperature 0). The strengths of a prompt run
 * together as one batch of rows (one pass over the weights per step for all of them, up to
 * MATMUL_SMALL_ROWS at a time; see sae_session_group), each with its own sampler stream, so
 * every continuation is bit-identical in f32 mode to running its strength alone. Printed:
 * "strength %+.1f" and the decoded continuation, for each prompt (--prompts with --arc DIR
 * gives several).
 * --out FILE writes the CSV the report reads (jobs/README.md): feature,prompt,strength,text.
 * --json FILE writes
 *   {"command": "steer", "model": DIR, "sae": PATH, "layer": L, "feature": f, "max_act": A,
 *    "temperature": t,
 *    "runs": [{"prompt": name, "n_prompt": T, "strength": s, "tokens": [ids...],
 *              "text": "..."}, ...]}
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "../src/matmul.h"
#include "cli.h"
#include "commands.h"
#include "sae_cli.h"
#include "sae_session.h"

struct steer_opts {
    int64_t feature, max_new, seed, n_strengths;
    double max_act, temperature, *strengths;
    const char *json_path, *csv_path;
};

struct steer_args {
    struct sae_session_opts s;
    struct steer_opts so;
    const char *strengths;
    bool greedy;
};

#define O(f) offsetof(struct steer_args, f)
static const struct opt steer_table[] = {
    {"feature", OPT_I64, O(so.feature), .flags = OPT_REQUIRED, .min = 0, .max = INT32_MAX,
     .meta = "F", .help = "the feature to steer with"},
    {"max-act", OPT_F64, O(so.max_act), .flags = OPT_REQUIRED, .meta = "A",
     .help = "its maximum activation, the scale of a strength of 1"},
    {"strengths", OPT_STR, O(strengths), "-2,-1,0,1,2", .meta = "LIST",
     .help = "comma-separated strengths"},
    {"max-new", OPT_I64, O(so.max_new), "95", 1, 1 << 20, .meta = "N",
     .help = "tokens per strength (alias --max-new-tokens)"},
    {"max-new-tokens", OPT_I64, O(so.max_new), .min = 1, .max = 1 << 20, .flags = OPT_HIDDEN,
     .meta = "N"},
    {"temperature", OPT_F64, O(so.temperature), "0", 0, 1e30, .meta = "T",
     .help = "0 (or --greedy): greedy; else sampled with --seed"},
    {"greedy", OPT_FLAG, O(greedy), .help = "temperature 0"},
    {"seed", OPT_I64, O(so.seed), "0", 0, 9.3e18, .meta = "N", .help = "sampling seed"},
    {"out", OPT_STR, O(so.csv_path), .meta = "FILE",
     .help = "the runs as CSV: feature,prompt,strength,text"},
    {"json", OPT_STR, O(so.json_path), .meta = "FILE",
     .help = "the runs as JSON: command, model, sae, layer, feature, max_act, temperature, runs"},
    {0},
};
#undef O

const struct opt_cmd steer_cmd = {
    "steer",
    .synopsis =
        "--model MODEL --sae SAE [--layer L]   (under [mpirun -np N])\n"
        "           (--prompt TEXT | --arc TASK.json | --prompt-ids LIST) --feature F\n"
        "           --max-act A [--strengths -2,-1,0,1,2] [--max-new 95] [--temperature 0]\n"
        "           [--seed N] [--out FILE.csv] [--json FILE]",
    .about = "Generate one continuation per strength with resid_post.L += A * strength * W_dec[F]\n"
             "at every position, prompt and generated, and print each with its strength. The\n"
             "JSON's runs are [{prompt, n_prompt, strength, tokens, text}].\n",
    .size = sizeof(struct steer_args),
    .groups = {{sae_session_model_opts, offsetof(struct steer_args, s)},
               {sae_session_prompt_opts, offsetof(struct steer_args, s)},
               {steer_table, 0}},
};

static int parse(int argc, char **argv, struct sae_session_opts *o, struct steer_opts *so)
{
    struct steer_args a;
    int rc = opt_parse(&steer_cmd, argc, argv, &a);
    if (rc != OPT_RUN) return rc == 0 ? -1 : rc;
    if (sae_session_opts_saes(&a.s, "steer", false) != 0) return 2;
    if (a.greedy) a.so.temperature = 0;
    if (!sae_cli_f64_list(a.strengths, &a.so.strengths, &a.so.n_strengths)) {
        fprintf(stderr, "gsae steer: --strengths '%s': expected comma-separated numbers\n",
                a.strengths);
        return 2;
    }
    *o = a.s;
    *so = a.so;
    return 0;
}

/* Rank 0 prints and records one continuation (out, max_new tokens) of the selected prompt. */
static void steer_record(struct sae_session *s, const struct steer_opts *so, double strength,
                         const int32_t *out, json_t *runs, struct csv_writer *csv)
{
    char *text = sae_session_decode(s, out, so->max_new);
    printf("strength %+.1f: %s\n", strength, text ? text : "?");
    fflush(stdout);
    json_t *ids = json_array();
    for (int64_t i = 0; i < so->max_new; i++)
        json_array_append_new(ids, json_integer(out[i]));
    json_array_append_new(runs, json_pack("{s:s, s:I, s:f, s:o, s:s}", "prompt", s->prompt_name,
                                          "n_prompt", (json_int_t)s->n_prompt, "strength", strength,
                                          "tokens", ids, "text", text ? text : ""));
    if (csv->f) {
        csv_put_int(csv, so->feature);
        csv_put_str(csv, s->prompt_name);
        csv_put_double(csv, strength);
        csv_put_str(csv, text ? text : "");
        csv_end_row(csv, false);
    }
    free(text);
}

/* Steered generations of the selected prompt at strengths[0..n), one batch of rows per step
 * (sae_session_generate_many); out holds n * max_new tokens. */
static enum gsae_status steer_batch(struct sae_session *s, const struct steer_opts *so,
                                    const double *strengths, int64_t n, int32_t *out, json_t *runs,
                                    struct csv_writer *csv, struct gsae_error *err)
{
    struct intervene iv[MATMUL_SMALL_ROWS] = {0};
    GSAE_ASSERT(n >= 1 && n <= MATMUL_SMALL_ROWS);
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; st == GSAE_OK && s->owns_layer && i < n; i++) {
        struct intervene_spec spec = {.op = INTERVENE_STEER,
                                      .layer = s->layer,
                                      .steer_feature = so->feature,
                                      /* the product in double, then f32, as the notebook's torch */
                                      .steer_coef = (float)(so->max_act * strengths[i])};
        st = intervene_init(&iv[i], &spec, s->sae, s->n_prompt, err);
    }
    st = dist_agree(s->e.d.world, st, err);
    if (st == GSAE_OK)
        st = sae_session_generate_many(s, s->prompt, s->n_prompt, s->owns_layer ? iv : NULL, n,
                                       so->max_new, (float)so->temperature, (uint64_t)so->seed, out,
                                       err);
    for (int64_t i = 0; i < n; i++)
        intervene_free(&iv[i]);
    if (st != GSAE_OK || s->e.d.rank != 0) return st;
    for (int64_t i = 0; i < n; i++)
        steer_record(s, so, strengths[i], out + i * so->max_new, runs, csv);
    return GSAE_OK;
}

int cmd_steer(int argc, char **argv)
{
    struct sae_session_opts o = {.layer = -1};
    static const double default_strengths[] = {-2, -1, 0, 1, 2};
    struct steer_opts so = {.feature = -1, .max_new = 95, .max_act = NAN};
    int rc = parse(argc, argv, &o, &so);
    if (rc) {
        free(so.strengths);
        return rc < 0 ? 0 : rc;
    }
    if (!so.strengths) {
        so.n_strengths = 5;
        so.strengths = malloc(sizeof default_strengths);
        if (so.strengths) memcpy(so.strengths, default_strengths, sizeof default_strengths);
    }
    /* all strengths of a prompt in one batch (up to MATMUL_SMALL_ROWS at a time) */
    o.max_group = so.n_strengths < MATMUL_SMALL_ROWS ? so.n_strengths : MATMUL_SMALL_ROWS;
    struct gsae_error err = {0};
    struct sae_session s;
    struct csv_writer csv = {0};
    enum gsae_status st = sae_session_open(&s, "steer", &o, so.max_new, &err);
    if (st == GSAE_OK && so.feature >= s.d_sae)
        st = gsae_fail(&err, GSAE_EINVAL, "--feature %lld is outside the SAE's [0, %lld)",
                       (long long)so.feature, (long long)s.d_sae);
    int32_t *tokens = calloc((size_t)(so.max_new * MATMUL_SMALL_ROWS) + 1, sizeof *tokens);
    if (st == GSAE_OK && (!tokens || !so.strengths))
        st = gsae_fail(&err, GSAE_ENOMEM, "out of memory");
    if (st == GSAE_OK && s.e.d.rank == 0 && so.csv_path) {
        st = csv_writer_open(&csv, so.csv_path, &results_steer, NULL, 0, false, &err);
    }
    if (s.e.d.world) st = dist_agree(s.e.d.world, st, &err);
    json_t *runs = json_array();
    for (int64_t p = 0; st == GSAE_OK && p < s.n_prompts; p++) {
        sae_session_select(&s, p);
        if (s.e.d.rank == 0 && s.n_prompts > 1)
            printf("== %s (%lld tokens)\n", s.prompt_name, (long long)s.n_prompt);
        for (int64_t k = 0, g; st == GSAE_OK && k < so.n_strengths; k += g) {
            g = sae_session_group(&s, s.n_prompt, so.n_strengths - k);
            st = steer_batch(&s, &so, so.strengths + k, g, tokens, runs, &csv, &err);
        }
    }
    if (st == GSAE_OK) st = csv_writer_close(&csv, &err);
    csv_writer_close(&csv, NULL);
    if (st == GSAE_OK && s.e.d.rank == 0 && so.json_path) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:O}", "command", "steer",
                                "model", o.model_dir, "sae", o.sae_path, "layer",
                                (json_int_t)s.layer, "feature", (json_int_t)so.feature, "max_act",
                                so.max_act, "temperature", so.temperature, "runs", runs);
        if (!doc || json_dump_file(doc, so.json_path, JSON_INDENT(1)) != 0)
            st = gsae_fail(&err, GSAE_EIO, "%s: cannot write", so.json_path);
        json_decref(doc);
    }
    if (st != GSAE_OK) cli_report("steer", &err);
    json_decref(runs);
    free(tokens);
    free(so.strengths);
    sae_session_close(&s);
    return st == GSAE_OK ? 0 : 1;
}
