/* cmd_golden.c: `[mpirun -np N] gsae golden CASE_DIR OUT.safetensors`: a golden case's tensors,
 * computed through the pipeline.
 *
 * A case directory holds a Gemma-2 checkpoint (config.json and HF weights), meta.json and
 * expected.safetensors. The prompt is the expected file's `tokens`; everything else is
 * computed from the checkpoint: `embed`, `resid_post.N` for every layer, `logits` (full
 * prefill), `greedy` (meta.generate.n_new tokens, argmax, decoded with the KV cache) and
 * `greedy.logits` (the logits that chose each greedy token), the SAE tensors of golden_sae.h and,
 * when meta.json has an `attribute` section, `attrib.<metric>.{metric,grad,features,error}`
 * (golden_attrib.h: gradients through the pipeline in reverse). Tensors named in the expected file
 * that gsae does not compute yet are listed on stderr as "not computed". Output tensors follow
 * the expected file's order, names and dtypes. Nothing depends on the case's name or values.
 *
 * Under mpirun the ranks form replicas of a pipeline (--stages, --layers; see mpi/plan.h). Each
 * rank maps only its stage's tensors; every tensor is computed by the stage that owns it and
 * collected on rank 0, which writes the file. The prompt is one micro-batch and each decode step
 * one row, whatever the layout, so the output is bit-identical on any number of ranks.
 *
 * Fault injection for tests: GSAE_FAULT_RANK=R makes world rank R fail at the point named by
 * GSAE_FAULT: "open" (default; its checkpoint open fails on a missing directory), "kill" (it
 * SIGKILLs itself once the pipeline is set up), "stream" (its first hook call fails mid-
 * stream, an error the other ranks cannot agree on) or "stall" (it sleeps two minutes before
 * streaming while the other ranks wait in receives, so a test can kill -9 one of them).
 */
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/ckpt.h"
#include "../io/safetensors.h"
#include "../jobs/cli.h"
#include "../jobs/commands.h"
#include "../jobs/opt.h"
#include "../mpi/dist.h"
#include "../mpi/dist_engine.h"
#include "../mpi/engine.h"
#include "../src/sampler.h"
#include "golden_attrib.h"
#include "golden_sae.h"

struct options {
    const char *dir, *out;
    int n_stages, n_threads;
    const char *layers;
    bool verbose;
    enum gemma_compute compute;
};

static const struct opt_choice computes[] = {
    {"f32", GEMMA_COMPUTE_F32}, {"bf16", GEMMA_COMPUTE_BF16}, {0}};

#define O(f) offsetof(struct options, f)
static const struct opt golden_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "CASE_DIR",
     .help = "the golden case"},
    {NULL, OPT_STR, O(out), .flags = OPT_POS | OPT_REQUIRED, .meta = "OUT.safetensors",
     .help = "the tensors computed"},
    {"stages", OPT_INT, O(n_stages), .min = 0, .max = 100000, .meta = "S",
     .help = "pipeline stages per replica (default: all ranks in one pipeline)"},
    {"layers", OPT_STR, O(layers), .meta = "SPEC",
     .help = "explicit stages, inclusive layer ranges (e.g. 0-1,2-3)"},
    {"threads", OPT_INT, O(n_threads), .min = 0, .max = 100000, .meta = "T",
     .help = "BLAS and loop threads per rank (default: OPENBLAS_NUM_THREADS, else cores/ranks)"},
    {"compute", OPT_ENUM, O(compute), "f32", .choices = computes, .meta = "M",
     .help = "GEMM arithmetic: f32 (the parity mode) or bf16 (f32 accumulation, oneDNN)"},
    {"verbose", OPT_FLAG, O(verbose),
     .help = "print the per-rank start-up report also on one rank"},
    {0},
};
#undef O

const struct opt_cmd golden_cmd = {
    "golden",
    .synopsis = "CASE_DIR OUT.safetensors [--stages S]   (under [mpirun -np N])\n"
                "                  [--layers A-B,C-D,...] [--threads T] [--compute f32|bf16]\n"
                "                  [--verbose]",
    .about =
        "Run a golden case: load CASE_DIR's checkpoint, take the prompt from\n"
        "CASE_DIR/expected.safetensors (tensor `tokens`) and the number of greedy tokens from\n"
        "CASE_DIR/meta.json (generate.n_new), and write every tensor of the expected file that\n"
        "gsae computes (tokens, embed, resid_post.N, logits, greedy, greedy.logits, the SAE\n"
        "tensors and, with an `attribute` section, attrib.*) to\n"
        "OUT.safetensors under the same names and dtypes. Expected tensors not computed are\n"
        "listed on stderr. The output is bit-identical on any number of ranks.\n",
    .size = sizeof(struct options),
    .groups = {{golden_table, 0}},
};

/* GSAE_FAULT_RANK / GSAE_FAULT: is world rank `me` told to fail at `point`? */
static bool fault_here(int me, const char *point)
{
    const char *rank = getenv("GSAE_FAULT_RANK"), *what = getenv("GSAE_FAULT");
    int64_t r = -1;
    if (!rank || !gsae_parse_i64(rank, 0, INT32_MAX, &r) || r != me) return false;
    return strcmp(what ? what : "open", point) == 0;
}

/* meta.json's generate.n_new. */
static enum gsae_status read_n_new(const char *dir, int64_t *n_new, struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
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

/* Everything the case computes on this rank. */
struct golden {
    struct gemma_config cfg;
    int64_t n_tok, n_new;
    int32_t *tokens;             /* (n_tok) the prompt */
    int32_t *greedy;             /* (n_new) on every rank */
    float *greedy_logits;        /* (n_new, n_vocab) on the last stage of replica 0 */
    struct dist_blob blobs[256]; /* embed, resid_post.L, logits, greedy.logits of this rank */
    int64_t n_blobs;
    struct dist_blob *all; /* rank 0: every rank's blobs */
    int64_t n_all;
    bool fail_in_hook;           /* fault injection: the first hook call fails */
    struct golden_sae sae;       /* sae.*, steer.*, splice.logits, ablate.* (golden_sae.h) */
    struct golden_attrib attrib; /* attrib.* (golden_attrib.h) */
};

static void golden_free(struct golden *g)
{
    free(g->tokens);
    free(g->greedy);
    free(g->greedy_logits);
    for (int64_t i = 0; i < g->n_blobs; i++)
        free(g->blobs[i].data);
    dist_blobs_free(g->all, g->n_all);
    golden_sae_free(&g->sae);
    memset(g, 0, sizeof *g);
}

/* Copy the expected file's `tokens` (int32, 1-D) as the prompt. */
static enum gsae_status read_prompt(const struct sft_file *f, struct golden *g,
                                    struct gsae_error *err)
{
    const struct sft_entry *e = sft_find(f, "tokens");
    if (!e) return gsae_fail(err, GSAE_ENOTFOUND, "%s: no tensor 'tokens' (the prompt)", f->path);
    if (e->dtype != GSAE_DTYPE_I32 || e->n_dims != 1 || e->shape[0] < 1)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'tokens' is %s with %d dims, expected I32 [T], T >= 1", f->path,
                         gsae_dtype_name(e->dtype), e->n_dims);
    struct gsae_tensor t = sft_view(f, e);
    g->n_tok = e->shape[0];
    g->tokens = malloc((size_t)g->n_tok * sizeof *g->tokens);
    if (!g->tokens)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for %lld tokens",
                         (long long)g->n_tok);
    memcpy(g->tokens, t.data, (size_t)g->n_tok * sizeof *g->tokens);
    return GSAE_OK;
}

/* Keep a copy of n floats under name. */
static enum gsae_status keep(struct golden *g, const char *name, const float *x, int64_t n,
                             struct gsae_error *err)
{
    if (g->n_blobs >= (int64_t)(sizeof g->blobs / sizeof g->blobs[0]))
        return gsae_fail(err, GSAE_ERANGE, "golden: more than %zu tensors on one rank",
                         sizeof g->blobs / sizeof g->blobs[0]);
    struct dist_blob *b = &g->blobs[g->n_blobs];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->n = n;
    if (!(b->data = malloc(((size_t)n + 1) * sizeof(float))))
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for '%s'", name);
    memcpy(b->data, x, (size_t)n * sizeof(float));
    g->n_blobs++;
    return GSAE_OK;
}

/* Prefill hook on the owning stage: keep "embed" and every resid_post of the prompt. */
static enum gsae_status capture(void *ctx, const struct pipe_rows *rows, const char *name,
                                int64_t layer, float *x, int64_t d_model, struct gsae_error *err)
{
    struct golden *g = ctx;
    if (g->fail_in_hook)
        return gsae_fail(err, GSAE_EINTERNAL, "injected fault (GSAE_FAULT=stream) at %s.%lld", name,
                         (long long)layer);
    int64_t n = rows->batch->n_rows * d_model;
    if (strcmp(name, "embed") == 0) return keep(g, "embed", x, n, err);
    char key[DIST_NAME_LEN];
    snprintf(key, sizeof key, "%s.%lld", name, (long long)layer);
    return keep(g, key, x, n, err);
}

/* Prefill sink on the last stage: logits of every prompt row. */
static enum gsae_status prompt_logits(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                      const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)d_model;
    struct golden *g = ctx;
    int64_t n = rows->batch->n_rows, V = g->cfg.n_vocab;
    float *logits = malloc(((size_t)(n * V) + 1) * sizeof(float));
    if (!logits)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for %lld rows of logits",
                         (long long)n);
    enum gsae_status st = pipe_logits(p, x, n, logits, err);
    if (st == GSAE_OK) st = keep(g, "logits", logits, n * V, err);
    free(logits);
    return st;
}

/* Greedy sampler on the last stage: argmax, keeping the logits that chose the token. */
static enum gsae_status greedy_pick(void *ctx, const struct pipe_rows *rows, int64_t i,
                                    const float *logits, int64_t n_vocab, int32_t *token,
                                    struct gsae_error *err)
{
    (void)i;
    (void)err;
    struct golden *g = ctx;
    memcpy(g->greedy_logits + rows->step * n_vocab, logits, (size_t)n_vocab * sizeof(float));
    *token = sampler_argmax(logits, n_vocab);
    return GSAE_OK;
}

/* One line per rank on rank 0's stderr: the stage, what it maps, what it allocated. */
static enum gsae_status report(const struct dist *d, const struct plan *plan, const struct ckpt *ck,
                               const struct pipe *p, int n_threads, bool print,
                               struct gsae_error *err)
{
    const struct plan_stage *s = &plan->stages[d->stage_index];
    char line[DIST_LINE_LEN], *lines = NULL, layers[64] = "no layers";
    if (s->layer_end > s->layer_begin)
        snprintf(layers, sizeof layers, "layers %lld-%lld", (long long)s->layer_begin,
                 (long long)s->layer_end - 1);
    snprintf(line, sizeof line,
             "rank %d: stage %d/%d of replica %d/%d, %s%s%s, weights %.2f MiB mapped, "
             "activations+KV %.2f MiB, %d threads",
             d->rank, d->stage_index, d->n_stages, d->replica, d->n_replicas, layers,
             s->has_embed ? " +embed" : "", s->has_unembed ? " +unembed" : "",
             (double)ckpt_bytes_selected(ck) / 1048576.0, (double)pipe_bytes(p) / 1048576.0,
             n_threads);
    if (d->rank == 0 && !(lines = malloc((size_t)d->size * DIST_LINE_LEN)))
        return gsae_fail(err, GSAE_ENOMEM, "golden: out of memory");
    enum gsae_status st = dist_gather_lines(d, line, lines, err);
    for (int r = 0; st == GSAE_OK && print && d->rank == 0 && r < d->size; r++)
        fprintf(stderr, "%s\n", lines + (size_t)r * DIST_LINE_LEN);
    free(lines);
    return st;
}

/* Rank 0: the tensor called name, from the collected blobs or the local arrays. */
static bool lookup(const struct golden *g, const char *name, struct gsae_tensor *t)
{
    if (golden_sae_lookup(&g->sae, name, g->all, g->n_all, g->cfg.n_vocab, t)) return true;
    if (golden_attrib_lookup(&g->attrib, name, g->all, g->n_all, g->cfg.d_model, g->sae.sae.d_sae,
                             t))
        return true;
    memset(t, 0, sizeof *t);
    if (strcmp(name, "tokens") == 0 || strcmp(name, "greedy") == 0) {
        bool prompt = name[0] == 't';
        *t = (struct gsae_tensor){.data = prompt ? g->tokens : g->greedy,
                                  .dtype = GSAE_DTYPE_I32,
                                  .n_dims = 1,
                                  .shape = {prompt ? g->n_tok : g->n_new}};
        return g->n_new > 0 || prompt;
    }
    if (strcmp(name, "greedy.logits") != 0 && strcmp(name, "logits") != 0 &&
        strcmp(name, "embed") != 0 && strncmp(name, "resid_post.", 11) != 0)
        return false;
    for (int64_t i = 0; i < g->n_all; i++) {
        if (strcmp(g->all[i].name, name) != 0) continue;
        int64_t width = strstr(name, "logits") ? g->cfg.n_vocab : g->cfg.d_model;
        *t = (struct gsae_tensor){.data = g->all[i].data,
                                  .dtype = GSAE_DTYPE_F32,
                                  .n_dims = 2,
                                  .shape = {g->all[i].n / width, width}};
        return true;
    }
    return false;
}

/* Rank 0: write, in the expected file's order, every tensor gsae computes; list the others. */
static enum gsae_status write_out(const struct sft_file *expected, const struct golden *g,
                                  const char *out_path, struct gsae_error *err)
{
    struct sft_item *items = calloc((size_t)expected->n_entries + 1, sizeof *items);
    if (!items) return gsae_fail(err, GSAE_ENOMEM, "golden: no memory");
    int64_t n = 0;
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; i < expected->n_entries && st == GSAE_OK; i++) {
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
    if (st == GSAE_OK) st = sft_write(out_path, items, n, NULL, 0, err);
    free(items);
    return st;
}

/* Inputs every rank reads: meta.json, the prompt, the config. Local. */
static enum gsae_status read_case(const struct options *o, struct sft_file *expected,
                                  struct golden *g, struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.safetensors", o->dir);
    enum gsae_status st = read_n_new(o->dir, &g->n_new, err);
    if (st == GSAE_OK) st = sft_open(expected, path, err);
    if (st == GSAE_OK) st = read_prompt(expected, g, err);
    if (st == GSAE_OK) st = ckpt_config_load(o->dir, &g->cfg, err);
    if (st == GSAE_OK) st = golden_sae_read(&g->sae, o->dir, &g->cfg, g->n_tok, err);
    if (st == GSAE_OK)
        st = golden_attrib_read(&g->attrib, o->dir, &g->sae, g->tokens, g->n_tok, g->cfg.n_vocab,
                                err);
    if (st == GSAE_OK) {
        g->greedy = calloc((size_t)g->n_new + 1, sizeof *g->greedy);
        g->greedy_logits = calloc((size_t)((g->n_new + 1) * g->cfg.n_vocab), sizeof(float));
        if (!g->greedy || !g->greedy_logits)
            st = gsae_fail(err, GSAE_ENOMEM, "golden: no memory for %lld greedy tokens",
                           (long long)g->n_new);
    }
    return st;
}

static enum gsae_status keep_sae(void *ctx, const char *name, const float *x, int64_t n,
                                 struct gsae_error *err)
{
    return keep(ctx, name, x, n, err);
}

/* The pipeline part: prefill with captures, greedy generation, the SAE experiments, collection
 * on rank 0. */
static enum gsae_status run(struct pipe *p, struct golden *g, const struct dist *d,
                            struct gsae_error *err)
{
    int64_t mb_first[2] = {0, 1};
    const int32_t *prompt[1] = {g->tokens};
    struct pipe_work work = {1, prompt, &g->n_tok, 1, mb_first};
    struct pipe_hook hook = {capture, g};
    struct pipe_sink sink = {prompt_logits, g};
    struct pipe_sampler sampler = {greedy_pick, g};
    g->fail_in_hook = fault_here(d->rank, "stream");
    enum gsae_status st = pipe_prefill(p, &work, &hook, &sink, err);
    if (st == GSAE_OK && g->n_new > 0)
        st = pipe_generate(p, &work, g->n_new, NULL, &sampler, g->greedy, err);
    if (st == GSAE_OK && g->n_new > 0 && p->stage.has_unembed && p->replica == 0)
        st = keep(g, "greedy.logits", g->greedy_logits, g->n_new * g->cfg.n_vocab, err);
    struct golden_sae_keep keep_cb = {keep_sae, g};
    if (st == GSAE_OK) st = golden_sae_run(&g->sae, p, &work, &keep_cb, err);
    if (st == GSAE_OK) st = golden_attrib_run(&g->attrib, &g->sae, p, &work, &keep_cb, err);
    if (st == GSAE_OK) st = dist_collect(d, g->blobs, g->n_blobs, &g->all, &g->n_all, err);
    return st;
}

/* The pipeline over every layer with logits; the case's own SAE is golden_sae's. A rank told
 * to fail at "open" maps its stage from a directory that does not exist. Collective. */
static enum gsae_status golden_open(const struct options *o, struct golden *g, struct engine *e,
                                    enum gsae_status local, struct gsae_error *err)
{
    char stage_dir[4096];
    snprintf(stage_dir, sizeof stage_dir, "%s%s", o->dir,
             fault_here(cli_world_rank(), "open") ? "/injected-fault-missing" : "");
    int64_t mb_first[2] = {0, 1};
    struct pipe_work shape = {1, NULL, &g->n_tok, 1, mb_first};
    int64_t n_new = g->n_new > golden_sae_n_new(&g->sae) ? g->n_new : golden_sae_n_new(&g->sae);
    struct engine_config cfg = {.model_dir = o->dir,
                                .stage_dir = stage_dir,
                                .n_stages = o->n_stages,
                                .layers = o->layers,
                                .n_threads = o->n_threads,
                                .dtype = GSAE_DTYPE_F32,
                                .ctx_len = g->n_tok,
                                .shape = &shape,
                                .n_new = n_new,
                                .compute = o->compute,
                                .local = local};
    return engine_open(engine_job_comm(), &cfg, e, err);
}

int cmd_golden(int argc, char **argv)
{
    struct options o;
    int rc = opt_parse(&golden_cmd, argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    struct gsae_error err = {0};
    struct sft_file expected = {0};
    struct golden g = {0};
    struct engine e = {0};
    bool agreed = true;
    /* Reading the case is deterministic: every rank gets the same result. */
    enum gsae_status st = golden_open(&o, &g, &e, read_case(&o, &expected, &g, &err), &err);
    const struct dist *d = &e.d;
    if (st == GSAE_OK)
        st = report(d, &e.plan, &e.ck, &e.p, e.n_threads, o.verbose || d->size > 1, &err);
    if (st == GSAE_OK && fault_here(d->rank, "kill")) raise(SIGKILL);
    if (st == GSAE_OK && fault_here(d->rank, "stall"))
        sleep(120); /* a test kills another rank meanwhile */
    /* After a stream error a rank may have failed alone (see mpi/pipe.h). */
    if (st == GSAE_OK) {
        st = run(&e.p, &g, d, &err);
        agreed = st == GSAE_OK;
    }
    if (st == GSAE_OK) {
        if (d->rank == 0) st = write_out(&expected, &g, o.out, &err);
        st = dist_agree(d->world, st, &err);
    }
    if (st != GSAE_OK) cli_report("golden", &err);
    /* An agreed failure: every rank has its message printed before main() aborts the job. */
    if (st != GSAE_OK && agreed && st != GSAE_EMPI && cli_world_size() > 1) dist_barrier(d);
    engine_close(&e, agreed && st != GSAE_EMPI);
    golden_free(&g);
    sft_close(&expected);
    return st == GSAE_OK ? 0 : 1;
}
