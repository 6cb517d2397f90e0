/* cmd_golden.c: `gsae golden CASE_DIR OUT.safetensors`: compute a golden case's tensors.
 *
 * A case directory holds a Gemma-2 checkpoint (config.json and HF weights), meta.json and
 * expected.safetensors. The prompt is the expected file's `tokens`; everything else is
 * computed from the checkpoint: `embed`, `resid_post.N` for every layer, `logits` (full
 * prefill), `greedy` (meta.generate.n_new tokens, argmax, decoded with the KV cache) and
 * `greedy.logits` (the logits that chose each greedy token). Tensors named in the expected file
 * that gsae does not compute yet are listed on stderr as "not computed". Output tensors follow
 * the expected file's order, names and dtypes. Nothing depends on the case's name or values.
 */
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "../io/ckpt.h"
#include "../io/safetensors.h"
#include "../src/generate.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gsae golden CASE_DIR OUT.safetensors\n"
            "\n"
            "Run a golden case: load CASE_DIR's checkpoint, take the prompt from\n"
            "CASE_DIR/expected.safetensors (tensor `tokens`) and the number of greedy tokens from\n"
            "CASE_DIR/meta.json (generate.n_new), and write every tensor of the expected file that\n"
            "gsae computes (tokens, embed, resid_post.N, logits, greedy, greedy.logits) to\n"
            "OUT.safetensors under the same names and dtypes. Expected tensors not computed are\n"
            "listed on stderr.\n");
}

/* Everything the case computes, owned here. */
struct golden {
    struct gemma_config cfg;
    int64_t n_tok, n_new;
    int32_t *tokens;       /* (n_tok) */
    float *embed;          /* (n_tok, d_model) */
    float *resid;          /* (n_layers, n_tok, d_model) */
    float *logits;         /* (n_tok, n_vocab) */
    int32_t *greedy;       /* (n_new) */
    float *greedy_logits;  /* (n_new, n_vocab) */
};

static void golden_free(struct golden *g)
{
    free(g->tokens);
    free(g->embed);
    free(g->resid);
    free(g->logits);
    free(g->greedy);
    free(g->greedy_logits);
    memset(g, 0, sizeof *g);
}

/* meta.json's generate.n_new. */
static enum gsae_status read_n_new(const char *dir, int64_t *n_new, struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    json_t *v = json_object_get(json_object_get(root, "generate"), "n_new");
    enum gsae_status st = GSAE_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'generate.n_new' missing or not an integer >= 0",
                       path);
    else
        *n_new = (int64_t)json_integer_value(v);
    json_decref(root);
    return st;
}

/* Copy the expected file's `tokens` (int32, 1-D) as the prompt. */
static enum gsae_status read_prompt(const struct sft_file *f, struct golden *g,
                                    struct gsae_error *err)
{
    const struct sft_entry *e = sft_find(f, "tokens");
    if (!e)
        return gsae_fail(err, GSAE_ENOTFOUND, "%s: no tensor 'tokens' (the prompt)", f->path);
    if (e->dtype != GSAE_DTYPE_I32 || e->n_dims != 1 || e->shape[0] < 1)
        return gsae_fail(err, GSAE_EFORMAT, "%s: 'tokens' is %s with %d dims, expected I32 [T], "
                         "T >= 1", f->path, gsae_dtype_name(e->dtype), e->n_dims);
    struct gsae_tensor t = sft_view(f, e);
    g->n_tok = e->shape[0];
    g->tokens = malloc((size_t)g->n_tok * sizeof *g->tokens);
    if (!g->tokens)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for %lld tokens",
                         (long long)g->n_tok);
    memcpy(g->tokens, t.data, (size_t)g->n_tok * sizeof *g->tokens);
    return GSAE_OK;
}

struct capture {
    struct golden *g;
};

/* Keep resid_post of the prompt's prefill (the one batch starting at position 0). */
static enum gsae_status capture_resid(void *ctx, const char *name, int64_t layer, float *x,
                                      const struct gemma_batch *b, int64_t d_model,
                                      struct gsae_error *err)
{
    (void)err;
    struct golden *g = ((struct capture *)ctx)->g;
    if (strcmp(name, "resid_post") == 0 && b->pos0[0] == 0 && b->n_rows == g->n_tok)
        memcpy(g->resid + layer * g->n_tok * d_model, x,
               (size_t)(g->n_tok * d_model) * sizeof *x);
    return GSAE_OK;
}

static enum gsae_status compute(const struct ckpt *ck, struct golden *g, struct gsae_error *err)
{
    const struct gemma_config *c = &ck->cfg;
    g->cfg = *c;
    int64_t T = g->n_tok, d = c->d_model, V = c->n_vocab;
    g->embed = malloc((size_t)(T * d) * sizeof(float));
    g->resid = malloc((size_t)(c->n_layers * T * d) * sizeof(float));
    g->logits = malloc((size_t)(T * V) * sizeof(float));
    g->greedy = malloc((size_t)(g->n_new > 0 ? g->n_new : 1) * sizeof(int32_t));
    g->greedy_logits = malloc((size_t)((g->n_new > 0 ? g->n_new : 1) * V) * sizeof(float));
    if (!g->embed || !g->resid || !g->logits || !g->greedy || !g->greedy_logits)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for the outputs");
    enum gsae_status st = gemma_weights_check(c, &ck->w, 0, c->n_layers, true, err);
    if (!st)
        st = gemma_embed(c, &ck->w, g->tokens, T, g->embed, err);
    if (st)
        return st;
    struct gemma_state s;
    st = gemma_state_init(&s, c, 0, c->n_layers, 1, T + g->n_new, T, err);
    if (st)
        return st;
    s.n_threads = omp_get_max_threads();
    struct sampler sm;
    struct sampler_params greedy = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    st = sampler_init(&sm, &greedy, V, err);
    if (!st) {
        struct capture cap = {.g = g};
        struct gemma_hook hook = {.fn = capture_resid, .ctx = &cap};
        struct generate_params gp = {.max_new = g->n_new, .slot = 0, .stop_at_eos = false};
        struct generate_out out = {
            .tokens = g->greedy, .logits = g->greedy_logits, .prompt_logits = g->logits};
        struct rng r;
        rng_seed(&r, 0); /* unused by greedy decoding */
        st = generate_run(&ck->w, &s, g->tokens, T, &gp, &sm, &r, &hook, &out, err);
        if (!st && out.n_new != g->n_new)
            st = gsae_fail(err, GSAE_EINTERNAL, "golden: generated %lld tokens of %lld",
                           (long long)out.n_new, (long long)g->n_new);
    }
    sampler_free(&sm);
    gemma_state_free(&s);
    return st;
}

/* The computed tensor called name, or false when gsae does not compute it. */
static bool lookup(const struct golden *g, const char *name, struct gsae_tensor *t)
{
    int64_t d = g->cfg.d_model, V = g->cfg.n_vocab;
    memset(t, 0, sizeof *t);
    t->dtype = GSAE_DTYPE_F32;
    t->n_dims = 2;
    if (strcmp(name, "tokens") == 0) {
        *t = (struct gsae_tensor){.data = g->tokens, .dtype = GSAE_DTYPE_I32, .n_dims = 1,
                                  .shape = {g->n_tok}};
    } else if (strcmp(name, "embed") == 0) {
        t->data = g->embed, t->shape[0] = g->n_tok, t->shape[1] = d;
    } else if (strcmp(name, "logits") == 0) {
        t->data = g->logits, t->shape[0] = g->n_tok, t->shape[1] = V;
    } else if (strcmp(name, "greedy") == 0) {
        *t = (struct gsae_tensor){.data = g->greedy, .dtype = GSAE_DTYPE_I32, .n_dims = 1,
                                  .shape = {g->n_new}};
    } else if (strcmp(name, "greedy.logits") == 0) {
        t->data = g->greedy_logits, t->shape[0] = g->n_new, t->shape[1] = V;
    } else if (strncmp(name, "resid_post.", 11) == 0) {
        char *end = NULL;
        long long L = strtoll(name + 11, &end, 10);
        if (end == name + 11 || *end != '\0' || L < 0 || L >= g->cfg.n_layers)
            return false;
        t->data = g->resid + L * g->n_tok * d, t->shape[0] = g->n_tok, t->shape[1] = d;
    } else {
        return false;
    }
    return true;
}

/* Write, in the expected file's order, every tensor gsae computes; list the others. */
static enum gsae_status write_out(const struct sft_file *expected, const struct golden *g,
                                  const char *out_path, struct gsae_error *err)
{
    struct sft_item *items = calloc((size_t)expected->n_entries, sizeof *items);
    if (!items)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory");
    int64_t n = 0;
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; i < expected->n_entries && !st; i++) {
        const struct sft_entry *e = &expected->entries[i];
        struct gsae_tensor t;
        if (!lookup(g, e->name, &t)) {
            fprintf(stderr, "gsae golden: not computed: %s\n", e->name);
            continue;
        }
        if (t.dtype != e->dtype)
            st = gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %s, gsae computes it as %s",
                           expected->path, e->name, gsae_dtype_name(e->dtype),
                           gsae_dtype_name(t.dtype));
        items[n++] = (struct sft_item){.name = e->name, .t = t};
    }
    if (!st)
        st = sft_write(out_path, items, n, NULL, 0, err);
    free(items);
    return st;
}

int cmd_golden(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    const char *dir = argv[1], *out_path = argv[2];
    struct gsae_error err = {0};
    struct ckpt ck = {0};
    struct sft_file expected = {0};
    struct golden g = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    enum gsae_status st = GSAE_OK;
    if (cli_world_size() > 1)
        st = gsae_fail(&err, GSAE_EINVAL, "golden runs on one process (got %d ranks)",
                       cli_world_size());
    if (!st)
        st = read_n_new(dir, &g.n_new, &err);
    if (!st)
        st = sft_open(&expected, path, &err);
    if (!st)
        st = read_prompt(&expected, &g, &err);
    if (!st)
        st = ckpt_open(&ck, dir, NULL, &err);
    if (!st)
        st = compute(&ck, &g, &err);
    if (!st)
        st = write_out(&expected, &g, out_path, &err);
    if (st)
        cli_report("golden", &err);
    golden_free(&g);
    ckpt_close(&ck);
    sft_close(&expected);
    return st ? 1 : 0;
}
