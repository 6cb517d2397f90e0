/* cmd_export.c: `gsae export`: features as SAEDashboard / Neuronpedia data.
 *
 * Per feature: the activation density (fraction of tokens it fired on), its activation
 * histogram (feature_stats.nc's log-spaced bins), its top max-activating examples as token
 * strings with the feature's activation on every token of the context kept by the harvest
 * (read from the store's parts), and its logit effects (top positive and negative tokens of
 * W_dec[f] . W_U, final norm folded in). The layouts follow SAEDashboard's feature batch JSON
 * (sae_dashboard/neuronpedia/neuronpedia_dashboard.py: NeuronpediaDashboardBatch.to_dict) and
 * Neuronpedia's export (utils/neuronpedia-utils: features/ and activations/ JSONL records);
 * README.md "Export" lists each field and what gsae puts there. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "../io/dirs.h"
#include "../io/featstats_nc.h"
#include "../io/store.h"
#include "../io/tokenizer_load.h"
#include "cli.h"
#include "commands.h"
#include "featdash.h"
#include "opt.h"
#include "sae_cli.h"

struct export_opts {
    const char *store, *sae, *model, *format, *features, *out, *tok_path;
    const char *model_id, *source_id, *creator_id;
    bool all;
    int neuronpedia;
    int64_t top, logits, batch;
};

static const struct opt_choice formats[] = {{"saedashboard", 0}, {"neuronpedia", 1}, {0}};

#define O(f) offsetof(struct export_opts, f)
static const struct opt export_table[] = {
    {"store", OPT_STR, O(store), .flags = OPT_POS | OPT_REQUIRED, .meta = "STORE",
     .help = "the harvested store"},
    {"sae", OPT_STR, O(sae), .flags = OPT_REQUIRED, .meta = "SAE", .help = "its SAE"},
    {"model", OPT_STR, O(model), .flags = OPT_REQUIRED, .meta = "MODEL", .help = "its model"},
    {"format", OPT_ENUM, O(neuronpedia), .choices = formats, .flags = OPT_REQUIRED,
     .meta = "FORMAT", .help = "saedashboard or neuronpedia"},
    {"features", OPT_STR, O(features), .meta = "LIST", .help = "features, e.g. 3,17,40-45"},
    {"all", OPT_FLAG, O(all), .help = "every feature"},
    {"out", OPT_STR, O(out), .flags = OPT_REQUIRED, .meta = "DIR", .help = "output directory"},
    {"top", OPT_I64, O(top), "20", 1, 1024, .meta = "N", .help = "max-activating examples"},
    {"tokenizer", OPT_STR, O(tok_path), .meta = "PATH",
     .help = "default MODEL/tokenizer.json when present"},
    {"logits", OPT_I64, O(logits), "10", 1, 100000, .meta = "K",
     .help = "positive and negative logit effects"},
    {"batch-size", OPT_I64, O(batch), "128", 1, 1 << 20, .meta = "B",
     .help = "features per batch file"},
    {"model-id", OPT_STR, O(model_id), .meta = "ID", .help = "default the checkpoint's name"},
    {"source-id", OPT_STR, O(source_id), .meta = "ID", .help = "default LAYER-gsae-res-WIDTH"},
    {"creator-id", OPT_STR, O(creator_id), "gsae", .meta = "ID", .help = "creator"},
    {0},
};
#undef O

const struct opt_cmd export_cmd = {
    "export",
    .synopsis =
        "--store STORE --sae SAE --model MODEL --format saedashboard|neuronpedia\n"
        "                   (--features LIST | --all) --out DIR [--top N] [--tokenizer PATH]\n"
        "                   [--logits K] [--batch-size B] [--model-id ID] [--source-id ID]\n"
        "                   [--creator-id ID]",
    .about =
        "Features of STORE (harvested with SAE on MODEL) as feature-dashboard data: activation\n"
        "density, activation histogram, the top N (default 20) max-activating examples as token\n"
        "strings with the feature's activation on every token of the context the harvest kept,\n"
        "and the top K (default 10) positive and negative logit effects (W_dec[f] . W_U, the "
        "final\n"
        "norm folded in). --features takes a list (3,17,40-45); --all takes every feature.\n"
        "  saedashboard: DIR/batch-0.json, batch-1.json, ... (B features each, default 128), as\n"
        "                SAEDashboard's NeuronpediaRunner writes them.\n"
        "  neuronpedia:  DIR/MODEL_ID/SOURCE_ID/features/batch-N.jsonl and "
        "activations/batch-N.jsonl,\n"
        "                the records of a Neuronpedia export (gzip them for an upload).\n"
        "MODEL_ID defaults to the checkpoint directory's name, SOURCE_ID to LAYER-gsae-res-WIDTH\n"
        "(e.g. 20-gsae-res-16k), CREATOR_ID to gsae. Token strings are each token decoded alone\n"
        "(the tokenizer: --tokenizer, else MODEL/tokenizer.json); invalid UTF-8 becomes U+FFFD.\n"
        "Without a tokenizer, token strings are the ids in decimal. Under mpirun only rank 0 "
        "works.\n",
    .size = sizeof(struct export_opts),
    .groups = {{export_table, 0}},
};

struct export_state {
    const struct export_opts *o;
    struct featstats fs;
    struct tokenizer tk;
    bool has_tk;
    int64_t context_size, layer;
    char model_id[256], source_id[256], created_at[32];
};

static json_t *jstr(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_string("");
}

static json_t *token_str(const struct export_state *s, int32_t id)
{
    char *t = featdash_token_text(s->has_tk ? &s->tk : NULL, id);
    json_t *j = jstr(t);
    free(t);
    return j;
}

static void set_empty_lists(json_t *obj, const char *const *names)
{
    for (; *names; names++)
        json_object_set_new(obj, *names, json_array());
}

static const char *const alignment_fields[] = {
    "neuron_alignment_indices",    "neuron_alignment_values",
    "neuron_alignment_l1",         "correlated_neurons_indices",
    "correlated_neurons_l1",       "correlated_neurons_pearson",
    "correlated_features_indices", "correlated_features_l1",
    "correlated_features_pearson", NULL};

/* The logit, density and histogram fields both formats share (feature i of the batch). */
static void common_fields(const struct export_state *s, json_t *obj, int64_t f,
                          const struct logit_effects *le, int64_t i)
{
    json_t *neg_str = json_array(), *neg_val = json_array(), *pos_str = json_array(),
           *pos_val = json_array();
    for (int64_t r = 0; r < le->n_top; r++) {
        json_array_append_new(neg_str, token_str(s, le->neg_id[i * le->k + r]));
        json_array_append_new(neg_val, json_real(le->neg_value[i * le->k + r]));
        json_array_append_new(pos_str, token_str(s, le->pos_id[i * le->k + r]));
        json_array_append_new(pos_val, json_real(le->pos_value[i * le->k + r]));
    }
    json_object_set_new(obj, "neg_str", neg_str);
    json_object_set_new(obj, "neg_values", neg_val);
    json_object_set_new(obj, "pos_str", pos_str);
    json_object_set_new(obj, "pos_values", pos_val);
    const struct featstats *fs = &s->fs;
    double freq = fs->n_tokens > 0 ? (double)fs->fire_count[f] / (double)fs->n_tokens : 0.0;
    json_object_set_new(obj, "frac_nonzero", json_real(freq));
    json_t *hv = json_array(), *hh = json_array();
    for (int64_t b = 0; b < FEATSTATS_HIST_BINS; b++) {
        json_array_append_new(hv, json_real(featstats_hist_lower(b)));
        json_array_append_new(hh, json_integer(fs->hist[f * FEATSTATS_HIST_BINS + b]));
    }
    json_object_set_new(obj, "freq_hist_data_bar_values", hv);
    json_object_set_new(obj, "freq_hist_data_bar_heights", hh);
    json_object_set_new(obj, "logits_hist_data_bar_heights", json_array());
    json_object_set_new(obj, "logits_hist_data_bar_values", json_array());
}

/* One example: tokens and values over the window slots that exist; *peak the index of the
 * example's own token among them. */
static void example_lists(const struct export_state *s, const int32_t *ids, const float *acts,
                          int64_t len, int64_t before, json_t **tokens, json_t **values,
                          int64_t *peak, double *max_v, int64_t *max_at, double *min_v)
{
    *tokens = json_array();
    *values = json_array();
    int64_t n = 0;
    *peak = 0;
    *max_at = 0;
    for (int64_t t = 0; t < len; t++) {
        if (ids[t] < 0) continue;
        if (t == before) *peak = n;
        double v = (double)acts[t];
        if (n == 0 || v > *max_v) {
            *max_v = v;
            *max_at = n;
        }
        if (n == 0 || v < *min_v) *min_v = v;
        json_array_append_new(*tokens, token_str(s, ids[t]));
        json_array_append_new(*values, json_real(v));
        n++;
    }
}

static int write_json(const char *cmd, json_t *doc, const char *path, size_t flags)
{
    int rc = doc && json_dump_file(doc, path, flags) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "gsae %s: %s: cannot write\n", cmd, path);
    return rc;
}

static int make_dirs(const char *path)
{
    if (dirs_make(path, NULL) == GSAE_OK) return 0;
    fprintf(stderr, "gsae export: %s: cannot create the directory\n", path);
    return 1;
}

#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))

/* SOURCE_ID by default: LAYER-gsae-res-WIDTH (WIDTH in k when a multiple of 1024). */
static void default_source_id(struct export_state *s)
{
    int64_t w = s->fs.cfg.d_sae;
    char width[32];
    if (w % 1024 == 0)
        snprintf(width, sizeof width, "%lldk", (long long)(w / 1024));
    else
        snprintf(width, sizeof width, "%lld", (long long)w);
    if (s->layer >= 0)
        snprintf(s->source_id, sizeof s->source_id, "%lld-gsae-res-%s", (long long)s->layer, width);
    else
        snprintf(s->source_id, sizeof s->source_id, "gsae-res-%s", width);
}

/* Example j of feature f (its context ids/acts of len tokens, the peak at before) as a
 * SAEDashboard activation or a Neuronpedia activation record; *max_v gets its largest value. */
static json_t *example_record(const struct export_state *s, int64_t f, int64_t j,
                              const int32_t *ids, const float *acts, int64_t len, int64_t before,
                              double *max_v)
{
    const struct featstats *fs = &s->fs;
    json_t *tokens, *values;
    int64_t peak, max_at;
    double min_v = 0;
    *max_v = 0;
    example_lists(s, ids, acts, len, before, &tokens, &values, &peak, max_v, &max_at, &min_v);
    double top_v = (double)fs->top[f * fs->cfg.top_k].value;
    json_t *a = json_object();
    if (!s->o->neuronpedia) {
        /* SAEDashboard's "TOP ACTIVATIONS" group: bin_min -1, bin_max the max, -1 */
        json_object_set_new(a, "bin_min", json_real(-1));
        json_object_set_new(a, "bin_max", json_real(top_v));
        json_object_set_new(a, "bin_contains", json_real(-1));
        json_object_set_new(a, "tokens", tokens);
        json_object_set_new(a, "values", values);
        json_object_set_new(a, "qualifying_token_index", json_integer(peak));
        return a;
    }
    char id[64];
    snprintf(id, sizeof id, "gsae%lldx%lld", (long long)f, (long long)j);
    json_object_set_new(a, "id", json_string(id));
    json_object_set_new(a, "tokens", tokens);
    json_object_set_new(a, "modelId", jstr(s->model_id));
    json_object_set_new(a, "layer", jstr(s->source_id));
    json_object_set_new(a, "index", json_integer(f));
    json_object_set_new(a, "maxValue", json_real(*max_v));
    json_object_set_new(a, "maxValueTokenIndex", json_integer(max_at));
    json_object_set_new(a, "minValue", json_real(min_v));
    json_object_set_new(a, "values", values);
    json_object_set_new(a, "dfaValues", json_array());
    json_object_set_new(a, "dfaTargetIndex", json_null());
    json_object_set_new(a, "dfaMaxValue", json_null());
    json_object_set_new(a, "creatorId", jstr(s->o->creator_id));
    json_object_set_new(a, "createdAt", jstr(s->created_at));
    json_object_set_new(a, "lossValues", json_array());
    json_object_set_new(a, "logitContributions", json_null());
    json_object_set_new(a, "binContains", json_real(-1));
    json_object_set_new(a, "binMax", json_real(top_v));
    json_object_set_new(a, "binMin", json_real(-1));
    json_object_set_new(a, "qualifyingTokenIndex", json_integer(peak));
    json_object_set_new(a, "dataIndex", json_null());
    json_object_set_new(a, "dataSource", json_null());
    return a;
}

/* Feature f (i-th of the batch) as a SAEDashboard feature or a Neuronpedia feature record;
 * a SAEDashboard feature takes acts_list over. */
static json_t *feature_record(const struct export_state *s, int64_t f, int64_t i,
                              const struct logit_effects *le, json_t *acts_list, double max_approx)
{
    json_t *obj = json_object();
    if (!s->o->neuronpedia) {
        json_object_set_new(obj, "feature_index", json_integer(f));
        set_empty_lists(obj, alignment_fields);
        common_fields(s, obj, f, le, i);
        json_object_set_new(obj, "n_prompts_total",
                            json_integer((s->fs.n_tokens + s->context_size - 1) / s->context_size));
        json_object_set_new(obj, "n_tokens_in_prompt", json_integer(s->context_size));
        json_object_set_new(obj, "dataset", json_string(""));
        json_object_set_new(obj, "decoder_weights_dist", json_array());
        json_object_set_new(obj, "activations", acts_list);
        return obj;
    }
    json_object_set_new(obj, "modelId", jstr(s->model_id));
    json_object_set_new(obj, "layer", jstr(s->source_id));
    json_object_set_new(obj, "index", json_integer(f));
    json_object_set_new(obj, "creatorId", jstr(s->o->creator_id));
    json_object_set_new(obj, "createdAt", jstr(s->created_at));
    json_object_set_new(obj, "hasVector", json_false());
    json_object_set_new(obj, "vector", json_array());
    json_object_set_new(obj, "vectorLabel", json_null());
    json_object_set_new(obj, "hookName", json_null());
    json_object_set_new(obj, "topkCosSimIndices", json_array());
    json_object_set_new(obj, "topkCosSimValues", json_array());
    set_empty_lists(obj, alignment_fields);
    common_fields(s, obj, f, le, i);
    json_object_set_new(obj, "decoder_weights_dist", json_array());
    json_object_set_new(obj, "maxActApprox", json_real(max_approx));
    return obj;
}

/* The batch's files: DIR/batch-N.json, or dir/{features,activations}/batch-N.jsonl (one
 * compact record per line). */
static int write_batch(const struct export_state *s, int64_t batch, json_t *features,
                       json_t *np_features, json_t *np_acts, const char *dir)
{
    const struct export_opts *o = s->o;
    char path[4400];
    int rc = 0;
    if (!o->neuronpedia) {
        json_t *doc = json_object();
        json_object_set_new(doc, "model_id", jstr(s->model_id));
        json_object_set_new(doc, "layer", json_integer(s->layer));
        json_object_set_new(doc, "sae_set", jstr(s->source_id));
        json_object_set_new(doc, "sae_id_suffix", json_null());
        json_object_set(doc, "features", features);
        snprintf(path, sizeof path, "%s/batch-%lld.json", o->out, (long long)batch);
        rc = write_json("export", doc, path, JSON_FLAGS);
        json_decref(doc);
    }
    for (int which = 0; rc == 0 && o->neuronpedia && which < 2; which++) {
        snprintf(path, sizeof path, "%s/%s/batch-%lld.jsonl", dir,
                 which == 0 ? "features" : "activations", (long long)batch);
        FILE *fp = fopen(path, "w");
        size_t k;
        json_t *rec;
        json_array_foreach(which == 0 ? np_features : np_acts, k, rec)
        {
            if (!fp || json_dumpf(rec, fp, JSON_FLAGS) != 0 || fputc('\n', fp) == EOF) break;
        }
        if (!fp || fclose(fp) != 0) {
            fprintf(stderr, "gsae export: %s: cannot write\n", path);
            rc = 1;
        }
    }
    return rc;
}

static int export_batch(struct export_state *s, const int64_t *feats, int64_t n, int64_t batch)
{
    const struct export_opts *o = s->o;
    const struct featstats *fs = &s->fs;
    int64_t before = fs->cfg.ctx_before, after = fs->cfg.ctx_after, len = before + 1 + after;
    struct logit_effects le;
    int32_t *ids = NULL;
    float *acts = NULL;
    int64_t sae_layer = -1;
    if (featdash_logits("export", o->model, o->sae, feats, n, o->logits, &le, &sae_layer)) return 1;
    if (s->layer < 0) s->layer = sae_layer;
    if (featdash_contexts("export", o->store, fs, feats, n, o->top, before, after, &ids, &acts)) {
        logit_effects_free(&le);
        return 1;
    }
    if (!s->source_id[0]) default_source_id(s);
    json_t *features = json_array();
    json_t *np_features = NULL, *np_acts = NULL;
    char dir[4200] = "", path[4400];
    int rc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t f = feats[i];
        json_t *acts_list = json_array();
        double max_approx = 0, max_v;
        for (int64_t j = 0; j < fs->top_n[f] && j < o->top; j++) {
            const int64_t at = (i * o->top + j) * len;
            json_array_append_new(
                acts_list, example_record(s, f, j, ids + at, acts + at, len, before, &max_v));
            if (max_v > max_approx) max_approx = max_v;
        }
        json_t *obj = feature_record(s, f, i, &le, acts_list, max_approx);
        if (!o->neuronpedia) {
            json_array_append_new(features, obj);
            continue;
        }
        if (!np_features) {
            snprintf(dir, sizeof dir, "%s/%s/%s", o->out, s->model_id, s->source_id);
            snprintf(path, sizeof path, "%s/features", dir);
            rc = make_dirs(path);
            snprintf(path, sizeof path, "%s/activations", dir);
            if (rc == 0) rc = make_dirs(path);
            np_features = json_array();
            np_acts = json_array();
        }
        json_array_append_new(np_features, obj);
        size_t k;
        json_t *a;
        json_array_foreach(acts_list, k, a) json_array_append(np_acts, a);
        json_decref(acts_list);
    }
    if (rc == 0) rc = write_batch(s, batch, features, np_features, np_acts, dir);
    json_decref(features);
    json_decref(np_features);
    json_decref(np_acts);
    free(ids);
    free(acts);
    logit_effects_free(&le);
    return rc;
}

/* "3,17,40-45" into features (each < d_sae). */
static int parse_list(const char *spec, int64_t d_sae, int64_t **out, int64_t *n)
{
    *n = 0;
    int64_t cap = 16;
    *out = malloc((size_t)cap * sizeof **out);
    char *copy = strdup(spec), *save = NULL;
    int rc = !*out || !copy;
    for (char *t = rc ? NULL : strtok_r(copy, ",", &save); t && !rc;
         t = strtok_r(NULL, ",", &save)) {
        int64_t a, b;
        char *dash = strchr(t + 1, '-');
        if (dash) *dash = '\0';
        if (!sae_cli_i64(t, 0, d_sae - 1, &a) ||
            (dash && !sae_cli_i64(dash + 1, a, d_sae - 1, &b))) {
            fprintf(stderr, "gsae export: feature '%s%s%s' is not in 0..%lld\n", t, dash ? "-" : "",
                    dash ? dash + 1 : "", (long long)d_sae - 1);
            rc = 1;
            break;
        }
        if (!dash) b = a;
        for (int64_t f = a; f <= b && !rc; f++) {
            if (*n == cap) {
                int64_t *g = realloc(*out, (size_t)(cap *= 2) * sizeof **out);
                if (!g) {
                    rc = 1;
                    break;
                }
                *out = g;
            }
            (*out)[(*n)++] = f;
        }
    }
    free(copy);
    return rc;
}

/* The layer the store was harvested at (its parts' "layer" attribute), or -1. */
static int64_t store_layer(const char *store)
{
    char path[4200], *text = NULL;
    struct gsae_error err;
    snprintf(path, sizeof path, "%s/part-00000.nc", store);
    if (store_part_describe(path, &text, &err) != GSAE_OK) return -1;
    const char *at = strstr(text, "\nlayer = ");
    int64_t layer = -1;
    const char *end = NULL;
    if (at && gsae_parse_i64_prefix(at + 9, &end, 0, INT64_MAX, &layer) != GSAE_OK) layer = -1;
    free(text);
    return layer;
}

static const char *base_name(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

int cmd_export(int argc, char **argv)
{
    struct export_opts o;
    int prc = opt_parse(&export_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    if (!o.features == !o.all) {
        fprintf(stderr, "gsae export: give one of --features or --all\n");
        return 2;
    }
    o.format = o.neuronpedia ? "neuronpedia" : "saedashboard";
    if (cli_world_rank() != 0) return 0;
    struct export_state s = {.o = &o, .layer = store_layer(o.store)};
    char path[4200], name[4200];
    snprintf(path, sizeof path, "%s/feature_stats.nc", o.store);
    struct gsae_error err;
    if (featstats_nc_read(path, &s.fs, &err) != GSAE_OK) {
        cli_report("export", &err);
        return 1;
    }
    int rc = 0;
    int64_t *feats = NULL, n = 0;
    if (o.all) {
        feats = malloc((size_t)s.fs.cfg.d_sae * sizeof *feats);
        for (int64_t f = 0; feats && f < s.fs.cfg.d_sae; f++)
            feats[n++] = f;
        rc = !feats;
    } else {
        rc = parse_list(o.features, s.fs.cfg.d_sae, &feats, &n);
    }
    if (rc == 0 && !o.tok_path) {
        /* the store's model directory may hold tokenizer.json; else the checkpoint's */
        snprintf(name, sizeof name, "%s/tokenizer.json", o.model);
        struct stat sb;
        if (stat(name, &sb) == 0) o.tok_path = name;
    }
    if (rc == 0 && o.tok_path) {
        if (tokenizer_load(&s.tk, o.tok_path, &err) != GSAE_OK) {
            cli_report("export", &err);
            rc = 1;
        } else {
            s.has_tk = true;
        }
    }
    if (rc == 0) {
        s.context_size = featdash_context_size("export", o.store);
        rc = s.context_size < 1;
    }
    if (rc == 0) {
        snprintf(s.model_id, sizeof s.model_id, "%s",
                 o.model_id ? o.model_id : base_name(o.model, name, sizeof name));
        if (o.source_id) snprintf(s.source_id, sizeof s.source_id, "%s", o.source_id);
        /* SOURCE_DATE_EPOCH (reproducible builds' convention) fixes the timestamp */
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        int64_t epoch = 0;
        time_t now = sde && gsae_parse_i64(sde, 0, INT64_MAX, &epoch) ? (time_t)epoch : time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s.created_at, sizeof s.created_at, "%Y-%m-%dT%H:%M:%S", &tm);
        rc = make_dirs(o.out);
    }
    for (int64_t b = 0; rc == 0 && b * o.batch < n; b++) {
        int64_t m = n - b * o.batch < o.batch ? n - b * o.batch : o.batch;
        rc = export_batch(&s, feats + b * o.batch, m, b);
    }
    if (rc == 0) printf("export: %lld features (%s) in %s\n", (long long)n, o.format, o.out);
    free(feats);
    featstats_free(&s.fs);
    if (s.has_tk) tokenizer_free(&s.tk);
    return rc;
}
