/* cmd_generate.c: `gsae generate MODEL_DIR ...`: prefill a prompt and sample new tokens on one
 * process, with the KV cache (src/generate.h). */
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "../io/ckpt.h"
#include "../io/hfhub.h"
#include "../io/tokenizer_load.h"
#include "../src/generate.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "opt.h"

struct options {
    const char *dir, *ids, *text, *tokenizer, *revision;
    int64_t max_new, top_k;
    double temperature, top_p;
    uint64_t seed;
    int n_threads;
    bool stop_at_eos, no_eos;
    enum gemma_compute compute; /* --compute f32|bf16 */
};

static const struct opt_choice computes[] = {
    {"f32", GEMMA_COMPUTE_F32}, {"bf16", GEMMA_COMPUTE_BF16}, {0}};

#define O(f) offsetof(struct options, f)
static const struct opt generate_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "MODEL",
     .help = "the checkpoint"},
    {"ids", OPT_STR, O(ids), .meta = "I,J,...", .help = "the prompt as token ids"},
    {"text", OPT_STR, O(text), .meta = "TEXT", .help = "the prompt as text (<bos> first)"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "FILE", .help = "tokenizer.json(.zst)"},
    {"revision", OPT_STR, O(revision), .meta = "REV",
     .help = "branch, tag or commit of a hub MODEL"},
    {"max-new", OPT_I64, O(max_new), "32", 0, INT32_MAX, .meta = "N", .help = "new tokens"},
    {"temperature", OPT_F64, O(temperature), "0", .meta = "T", .help = "0: greedy"},
    {"top-k", OPT_I64, O(top_k), "0", 0, INT32_MAX, .meta = "K",
     .help = "sample from the K most likely (0: all)"},
    {"top-p", OPT_F64, O(top_p), "1", .meta = "P", .help = "nucleus mass"},
    {"seed", OPT_U64, O(seed), "0", .meta = "S", .help = "sampling seed"},
    {"threads", OPT_INT, O(n_threads), .min = 0, .max = 100000, .meta = "N",
     .help = "BLAS and loop threads (default: OPENBLAS_NUM_THREADS, else all cores)"},
    {"compute", OPT_ENUM, O(compute), "f32", .choices = computes, .meta = "f32|bf16",
     .help = "GEMM arithmetic: f32 or bf16 inputs and weights, f32 accumulation"},
    {"no-eos", OPT_FLAG, O(no_eos), .help = "do not stop at the eos token"},
    {0},
};
#undef O

const struct opt_cmd generate_cmd = {
    "generate",
    .synopsis = "MODEL (--ids I,J,... | --text TEXT --tokenizer FILE)\n"
                "                     [--max-new N] [--temperature T] [--top-k K] [--top-p P]\n"
                "                     [--seed S] [--threads N] [--compute f32|bf16] [--no-eos]\n"
                "                     [--revision REV]",
    .about =
        "Prefill the prompt (token ids, or TEXT encoded with <bos> first) through every layer\n"
        "of the checkpoint MODEL and generate up to N new tokens with the KV cache.\n"
        "Sampling: greedy when T is 0, else temperature T, the K most likely and the\n"
        "nucleus of mass P, drawn with seed S. Stops at the eos token unless --no-eos.\n"
        "Prints the new ids, the text when a tokenizer is given, and prefill/decode speeds.\n"
        "\n" HUB_CLI_MODEL_USAGE,
    .size = sizeof(struct options),
    .groups = {{generate_table, 0}},
};

static int parse_args(int argc, char **argv, struct options *o)
{
    int rc = opt_parse(&generate_cmd, argc, argv, o);
    if (rc != OPT_RUN) return rc == 0 ? -1 : rc;
    o->stop_at_eos = !o->no_eos;
    if (!o->ids == !o->text || (o->text && !o->tokenizer)) {
        fprintf(stderr, "gsae generate: give --ids, or --text with --tokenizer\n");
        return 2;
    }
    return 0;
}

/* "2,651,1234" into ids. */
static enum gsae_status parse_ids(const char *s, struct tokenizer_ids *ids, struct gsae_error *err)
{
    while (*s) {
        char *end = NULL;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0'))
            return gsae_fail(err, GSAE_EINVAL, "--ids: '%s' is not a list of token ids", s);
        enum gsae_status st = tokenizer_ids_push(ids, (int32_t)v, err);
        if (st) return st;
        s = *end == ',' ? end + 1 : end;
    }
    return ids->n ? GSAE_OK : gsae_fail(err, GSAE_EINVAL, "--ids: no ids");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Run generation and print what it made. */
static enum gsae_status run(const struct options *o, const struct ckpt *ck,
                            const struct tokenizer *tk, const struct tokenizer_ids *prompt,
                            struct gsae_error *err)
{
    const struct gemma_config *c = &ck->cfg;
    int64_t n_prompt = (int64_t)prompt->n;
    struct gemma_state s = {0};
    struct sampler sm = {0};
    struct tokenizer_text text = {0};
    int32_t *out_ids = malloc((size_t)(o->max_new > 0 ? o->max_new : 1) * sizeof *out_ids);
    if (!out_ids) return gsae_fail(err, GSAE_ENOMEM, "generate: no memory");
    struct sampler_params sp = {
        .temperature = (float)o->temperature, .top_k = o->top_k, .top_p = (float)o->top_p};
    enum gsae_status st = sampler_init(&sm, &sp, c->n_vocab, err);
    if (!st) st = gemma_weights_check(c, &ck->w, 0, c->n_layers, true, err);
    if (!st)
        st = gemma_state_init(&s, c, 0, c->n_layers, 1, n_prompt + o->max_new,
                              n_prompt < 512 ? n_prompt : 512, err);
    if (!st) st = gemma_state_set_compute(&s, &ck->w, o->compute, true, err);
    struct gemma_timing tm = {0};
    double t0 = now();
    if (!st) {
        s.n_threads = o->n_threads;
        s.timing = &tm;
        struct rng r;
        rng_seed(&r, o->seed);
        struct generate_params gp = {
            .max_new = o->max_new, .slot = 0, .stop_at_eos = o->stop_at_eos};
        struct generate_out out = {.tokens = out_ids};
        st = generate_run(&ck->w, &s, prompt->ids, n_prompt, &gp, &sm, &r, NULL, &out, err);
        double secs = now() - t0;
        if (!st) {
            printf("ids:");
            for (int64_t i = 0; i < out.n_new; i++)
                printf("%s%d", i ? "," : " ", out_ids[i]);
            printf("\n");
            if (tk && !(st = tokenizer_decode(tk, out_ids, (size_t)out.n_new, false, &text, err)))
                printf("text: %.*s\n", (int)text.len, text.data);
            printf("%lld prompt + %lld new tokens in %.2f s (projections %.2f s, attention "
                   "%.2f s, other %.2f s; %d threads)\n",
                   (long long)n_prompt, (long long)out.n_new, secs, tm.proj, tm.attn, tm.other,
                   s.n_threads);
        }
    }
    tokenizer_text_free(&text);
    sampler_free(&sm);
    gemma_state_free(&s);
    free(out_ids);
    return st;
}

int cmd_generate(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (o.n_threads <= 0) {
        const char *env = getenv("OPENBLAS_NUM_THREADS");
        int64_t n = 0;
        o.n_threads = env && gsae_parse_i64(env, 1, INT32_MAX, &n) ? (int)n : omp_get_num_procs();
    }
    openblas_set_num_threads(o.n_threads);
    omp_set_num_threads(o.n_threads); /* oneDNN's threads in bf16 mode */
    struct gsae_error err = {0};
    struct ckpt ck = {0};
    struct tokenizer tk = {0};
    struct tokenizer_ids prompt = {0};
    enum gsae_status st = GSAE_OK;
    if (o.tokenizer) st = tokenizer_load(&tk, o.tokenizer, &err);
    if (!st && o.ids) st = parse_ids(o.ids, &prompt, &err);
    if (!st && o.text)
        st = tokenizer_encode(&tk, o.text, strlen(o.text), true, NULL, &prompt, &err);
    char *dir = NULL;
    if (!st) st = hfhub_model_path(o.dir, o.revision, &dir, &err);
    if (!st) st = ckpt_open(&ck, dir, NULL, &err);
    if (!st) st = run(&o, &ck, o.tokenizer ? &tk : NULL, &prompt, &err);
    if (st) cli_report("generate", &err);
    tokenizer_ids_free(&prompt);
    tokenizer_free(&tk);
    ckpt_close(&ck);
    free(dir);
    return st ? 1 : 0;
}
