/* cmd_mksae.c: `gsae mksae`: write a random JumpReLU SAE in Gemma Scope or SAELens layout.
 *
 * The SAE is random but behaves like a trained one on the residuals it will see:
 *   W_dec   rows are random unit directions (normal draws, normalized)
 *   W_enc   = W_dec^T (the usual initialization), b_enc = 0, b_dec = 0
 *   threshold[f] = mean_f + z * std_f of feature f's pre-activation over calibration rows,
 *                  z the standard normal quantile of 1 - density
 * so about `density` of the features fire on a typical row. Calibration rows are the model's
 * own resid_post.L on random tokens when --model is given (and --calib-tokens > 0), else
 * Gaussian rows with RMS --input-rms. Same arguments, same bytes.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jobs/cli.h"
#include "../jobs/commands.h"
#include "../jobs/opt.h"
#include "../jobs/sae_cli.h"
#include "../src/rng.h"

struct mksae_options {
    const char *out, *model_dir, *model_name, *from;
    int64_t d_model, d_sae, layer, calib_tokens;
    enum sae_layout layout;
    enum npz_compression compression;
    uint64_t seed;
    double density, input_rms;
    uint64_t given;
};

static const struct opt_choice layouts[] = {
    {"npz", SAE_LAYOUT_NPZ}, {"saelens", SAE_LAYOUT_SAELENS}, {0}};
static const struct opt_choice compressions[] = {
    {"stored", NPZ_COMPRESSION_STORED}, {"deflated", NPZ_COMPRESSION_DEFLATED}, {0}};

#define O(f) offsetof(struct mksae_options, f)
static const struct opt mksae_table[] = {
    {NULL, OPT_STR, O(out), .flags = OPT_POS, .meta = "OUT", .help = "the .npz or SAELens folder"},
    {"model", OPT_STR, O(model_dir), .meta = "MODEL",
     .help = "take d_model and the model name from a checkpoint; calibrate on it"},
    {"d-model", OPT_I64, O(d_model), "-1", 1, INT32_MAX, .meta = "D",
     .help = "residual width when there is no --model"},
    {"d-sae", OPT_I64, O(d_sae), "-1", 1, INT32_MAX, .meta = "S",
     .help = "number of features (required when drawing)"},
    {"layer", OPT_I64, O(layer), "-1", 0, 100000, .meta = "L",
     .help = "hooked layer (required for saelens and for calibration on --model)"},
    {"layout", OPT_ENUM, O(layout), "npz", .choices = layouts, .meta = "X",
     .help = "npz or saelens"},
    {"compression", OPT_ENUM, O(compression), "stored", .choices = compressions, .meta = "X",
     .help = "npz members stored (like np.savez) or deflated"},
    {"seed", OPT_U64, O(seed), "0", .meta = "N", .help = "random seed"},
    {"density", OPT_F64, O(density), "0.02", .meta = "P",
     .help = "target fraction of features active per row, in (0, 1)"},
    {"calib-tokens", OPT_I64, O(calib_tokens), "128", 0, 1 << 20, .meta = "N",
     .help = "random tokens run through --model for calibration (0: Gaussian rows)"},
    {"input-rms", OPT_F64, O(input_rms), "1", .meta = "R",
     .help = "RMS of the Gaussian calibration rows (> 0)"},
    {"model-name", OPT_STR, O(model_name), .meta = "NAME",
     .help = "model name recorded in a SAELens cfg.json"},
    {"from", OPT_STR, O(from), .meta = "SAE",
     .help = "convert an existing SAE (either layout); layer and model name default to its"},
    {0},
};
#undef O

const struct opt_cmd mksae_cmd = {
    "mksae",
    .synopsis =
        "OUT (--model MODEL | --d-model D) --d-sae S [--layer L]\n"
        "                  [--layout npz|saelens] [--compression stored|deflated] [--seed N]\n"
        "                  [--density P] [--calib-tokens N] [--input-rms R] [--model-name NAME]\n"
        "       gsae mksae OUT --from SAE [--layout npz|saelens] [--compression X] [--layer L]\n"
        "                  [--model-name NAME]",
    .about = "Write a random JumpReLU SAE whose thresholds make about P of the features fire on\n"
             "typical residuals (calibrated on the model's resid_post.L for random tokens with\n"
             "--model, else on Gaussian rows of RMS R). OUT is an .npz file (Gemma Scope layout:\n"
             "W_enc, W_dec, b_enc, b_dec, threshold in f32) or a SAELens directory (cfg.json +\n"
             "sae_weights.safetensors). MODEL is a directory or a Hugging Face name (see gsae\n"
             "inspect --help).\n",
    .size = sizeof(struct mksae_options),
    .groups = {{mksae_table, 0}},
    .given = OPT_GIVEN(struct mksae_options, given),
};

static int parse_options(int argc, char **argv, struct mksae_options *o)
{
    int rc = opt_parse(&mksae_cmd, argc, argv, o);
    if (rc != OPT_RUN) return rc;
    static const char *const draw[] = {"model", "d-model", "d-sae",    "calib-tokens",
                                       "seed",  "density", "input-rms"};
    const char *draw_only = NULL; /* an option of drawing an SAE, which --from does not do */
    for (size_t i = 0; i < sizeof draw / sizeof draw[0]; i++)
        if (opt_given(&mksae_cmd, o, draw[i])) draw_only = draw[i];
    if (!(o->density > 0 && o->density < 1) || !(o->input_rms > 0)) {
        fprintf(stderr, "gsae mksae: --%s '%g' is not valid (see gsae mksae --help)\n",
                o->input_rms > 0 ? "density" : "input-rms",
                o->input_rms > 0 ? o->density : o->input_rms);
        return 2;
    }
    if (o->from && draw_only) {
        fprintf(stderr, "gsae mksae: --%s does not apply with --from (see gsae mksae --help)\n",
                draw_only);
        return 2;
    }
    if (o->from && o->out && (o->layout == SAE_LAYOUT_NPZ || o->layer >= 0)) return OPT_RUN;
    const char *missing = !o->out                                           ? "OUT"
                          : o->from                                         ? "--layer"
                          : o->d_sae < 0                                    ? "--d-sae"
                          : !o->model_dir && o->d_model < 0                 ? "--model or --d-model"
                          : o->layout == SAE_LAYOUT_SAELENS && o->layer < 0 ? "--layer"
                          : o->model_dir && o->calib_tokens > 0 && o->layer < 0
                              ? "--layer (to calibrate on --model)"
                              : NULL;
    if (missing) {
        fprintf(stderr, "gsae mksae: %s is required\n\n", missing);
        opt_usage(&mksae_cmd, stderr);
        return 2;
    }
    return OPT_RUN;
}

/* z with P(N(0,1) > z) = p, by bisection on erfc (monotone; 60 halvings reach double
 * precision on [-10, 10]). */
static double normal_upper_quantile(double p)
{
    double lo = -10, hi = 10;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Residuals of the model at resid_post.layer for n random tokens after <bos> (at most the
 * model's max_position_embeddings): rows (*n_rows, d_model), the <bos> row left out. */
static enum gsae_status model_rows(const char *dir, int64_t layer, int64_t n, uint64_t seed,
                                   float **rows, int64_t *n_rows, struct gsae_error *err)
{
    struct ckpt c = {0};
    struct gemma_state s = {0};
    int32_t *tok = NULL;
    float *x = NULL;
    enum gsae_status st = ckpt_open(&c, dir, NULL, err);
    if (st != GSAE_OK) goto done;
    if (layer >= c.cfg.n_layers) {
        st = gsae_fail(err, GSAE_EINVAL, "%s: layer %lld does not exist (%lld layers)", dir,
                       (long long)layer, (long long)c.cfg.n_layers);
        goto done;
    }
    if (n > c.cfg.max_pos) n = c.cfg.max_pos;
    tok = malloc((size_t)n * sizeof *tok);
    x = malloc((size_t)(n * c.cfg.d_model) * sizeof *x);
    if (!tok || !x) {
        st = gsae_fail(err, GSAE_ENOMEM, "out of memory for %lld calibration rows", (long long)n);
        goto done;
    }
    struct rng r;
    rng_seed(&r, seed ^ 0x63616c6962ull);
    tok[0] = c.cfg.bos_id;
    for (int64_t i = 1; i < n; i++)
        tok[i] = (int32_t)(3 + rng_below(&r, (uint64_t)(c.cfg.n_vocab - 3)));
    if ((st = gemma_state_init(&s, &c.cfg, 0, layer + 1, 1, n, n, err)) != GSAE_OK ||
        (st = gemma_embed(&c.cfg, &c.w, tok, n, x, err)) != GSAE_OK)
        goto done;
    int64_t slot = 0, pos0 = 0;
    struct gemma_batch b = {.n_seq = 1, .n_rows = n, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    st = gemma_forward(&c.w, &s, &b, x, 0, layer + 1, NULL, err);
done:
    if (st == GSAE_OK) {
        /* drop the <bos> row: its residual is atypical and would skew the statistics */
        memmove(x, x + c.cfg.d_model, (size_t)((n - 1) * c.cfg.d_model) * sizeof *x);
        *rows = x;
        *n_rows = n - 1;
        x = NULL;
    }
    free(tok);
    free(x);
    gemma_state_free(&s);
    ckpt_close(&c);
    return st;
}

/* Thresholds from the calibration rows: mean + z std of each feature's pre-activation.
 * Returns the fraction of (row, feature) pairs that fire. */
static double calibrate(struct sae_params *p, const float *rows, int64_t n, double density)
{
    const int64_t S = p->d_sae, block = 64;
    double *sum = calloc((size_t)S, sizeof *sum), *sq = calloc((size_t)S, sizeof *sq);
    float *pre = malloc((size_t)(block * S) * sizeof *pre);
    GSAE_ASSERT(sum && sq && pre);
    for (int64_t r0 = 0; r0 < n; r0 += block) {
        int64_t m = n - r0 < block ? n - r0 : block;
        sae_pre_linear(p, rows + r0 * p->d_model, m, pre);
        for (int64_t i = 0; i < m; i++)
            for (int64_t f = 0; f < S; f++) {
                double v = pre[i * S + f];
                sum[f] += v;
                sq[f] += v * v;
            }
    }
    double z = normal_upper_quantile(density);
    for (int64_t f = 0; f < S; f++) {
        double mean = sum[f] / (double)n, var = sq[f] / (double)n - mean * mean;
        p->threshold[f] = (float)(mean + z * sqrt(var > 0 ? var : 0));
    }
    int64_t fired = 0;
    for (int64_t r0 = 0; r0 < n; r0 += block) {
        int64_t m = n - r0 < block ? n - r0 : block;
        sae_pre_linear(p, rows + r0 * p->d_model, m, pre);
        for (int64_t i = 0; i < m * S; i++)
            fired += pre[i] > p->threshold[i % S] && pre[i] > 0;
    }
    free(sum);
    free(sq);
    free(pre);
    return (double)fired / (double)(n * S);
}

/* Random unit decoder directions; W_enc = W_dec^T. */
static void draw_weights(struct sae_params *p, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    const int64_t d = p->d_model;
    for (int64_t f = 0; f < p->d_sae; f++) {
        float *w = p->w_dec + f * d;
        double norm = 0;
        for (int64_t i = 0; i < d; i++) {
            w[i] = (float)rng_normal(&r);
            norm += (double)w[i] * w[i];
        }
        float inv = (float)(1.0 / sqrt(norm > 0 ? norm : 1));
        for (int64_t i = 0; i < d; i++) {
            w[i] *= inv;
            p->w_enc[i * p->d_sae + f] = w[i];
        }
    }
}

/* --from: the same parameters, written in the requested layout. */
static int convert(const struct mksae_options *o)
{
    struct sae_params p;
    struct sae_info info;
    int64_t layer;
    if (!sae_cli_load("mksae", o->from, NULL, NULL, o->layer, false, &p, &info, &layer)) return 1;
    struct gsae_error err = {0};
    struct sae_save_opts so = {.layout = o->layout,
                               .compression = o->compression,
                               .layer = layer,
                               .model_name = o->model_name ? o->model_name : info.model_name};
    enum gsae_status st = sae_save(o->out, &p, &so, &err);
    if (st != GSAE_OK)
        cli_report("mksae", &err);
    else
        printf("wrote %s (%s) from %s: d_in %lld, d_sae %lld\n", o->out,
               o->layout == SAE_LAYOUT_SAELENS ? "saelens" : "npz", info.path, (long long)p.d_model,
               (long long)p.d_sae);
    sae_params_free(&p);
    sae_info_free(&info);
    return st == GSAE_OK ? 0 : 1;
}

/* With --model: take d_model from its config and check --layer against it. */
static enum gsae_status check_model(struct mksae_options *o, struct gsae_error *err)
{
    struct gemma_config cfg;
    enum gsae_status st = ckpt_config_load(o->model_dir, &cfg, err);
    if (st != GSAE_OK) return st;
    if (o->d_model >= 0 && o->d_model != cfg.d_model)
        return gsae_fail(err, GSAE_EINVAL, "--d-model %lld disagrees with %s (hidden_size %lld)",
                         (long long)o->d_model, o->model_dir, (long long)cfg.d_model);
    if (o->layer >= cfg.n_layers)
        return gsae_fail(err, GSAE_EINVAL, "--layer %lld does not exist in %s (%lld layers)",
                         (long long)o->layer, o->model_dir, (long long)cfg.n_layers);
    o->d_model = cfg.d_model;
    return GSAE_OK;
}

/* Calibration rows (*n_rows, d_model): the model's residuals, or Gaussian rows. */
static enum gsae_status calibration_rows(const struct mksae_options *o, float **rows,
                                         int64_t *n_rows, const char **source,
                                         struct gsae_error *err)
{
    if (o->model_dir && o->calib_tokens > 1) {
        *source = "model residuals";
        return model_rows(o->model_dir, o->layer, o->calib_tokens, o->seed, rows, n_rows, err);
    }
    *n_rows = 1024;
    *source = "Gaussian rows";
    if (!(*rows = malloc((size_t)(*n_rows * o->d_model) * sizeof **rows)))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for calibration rows");
    struct rng r;
    rng_seed(&r, o->seed ^ 0x6761757373ull);
    for (int64_t i = 0; i < *n_rows * o->d_model; i++)
        (*rows)[i] = (float)(o->input_rms * rng_normal(&r));
    return GSAE_OK;
}

/* The checkpoint's model name (malloc'd), or NULL. */
static char *checkpoint_name(const char *dir)
{
    struct ckpt c = {0};
    struct ckpt_select none = {0};
    struct gsae_error err;
    char *name = NULL;
    if (ckpt_open(&c, dir, &none, &err) == GSAE_OK && c.model_name &&
        (name = malloc(strlen(c.model_name) + 1)))
        strcpy(name, c.model_name);
    ckpt_close(&c);
    return name;
}

int cmd_mksae(int argc, char **argv)
{
    struct mksae_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    if (o.from) return convert(&o);
    struct gsae_error err = {0};
    struct sae_params p = {0};
    float *rows = NULL;
    int64_t n_rows = 0;
    const char *source = "";
    char *model_name = o.model_dir && !o.model_name ? checkpoint_name(o.model_dir) : NULL;
    enum gsae_status st = o.model_dir ? check_model(&o, &err) : GSAE_OK;
    if (st == GSAE_OK) st = sae_params_init(&p, o.d_model, o.d_sae, &err);
    if (st == GSAE_OK) {
        draw_weights(&p, o.seed);
        st = calibration_rows(&o, &rows, &n_rows, &source, &err);
    }
    double fired = st == GSAE_OK ? calibrate(&p, rows, n_rows, o.density) : 0;
    struct sae_save_opts so = {.layout = o.layout,
                               .compression = o.compression,
                               .layer = o.layer,
                               .model_name = o.model_name ? o.model_name : model_name};
    if (st == GSAE_OK) st = sae_save(o.out, &p, &so, &err);
    if (st == GSAE_OK) {
        char layer_txt[48] = "";
        if (o.layer >= 0) snprintf(layer_txt, sizeof layer_txt, ", layer %lld", (long long)o.layer);
        printf("wrote %s (%s): d_in %lld, d_sae %lld%s, %.1f MiB in memory; %.2f%% of features "
               "fire on %lld calibration %s\n",
               o.out, o.layout == SAE_LAYOUT_SAELENS ? "saelens" : "npz", (long long)o.d_model,
               (long long)o.d_sae, layer_txt,
               (double)sae_params_bytes(o.d_model, o.d_sae) / (1 << 20), 100 * fired,
               (long long)n_rows, source);
    } else {
        cli_report("mksae", &err);
    }
    free(rows);
    free(model_name);
    sae_params_free(&p);
    return st == GSAE_OK ? 0 : 1;
}
