/* cmd_inspect.c: `gsae inspect MODEL_DIR`: validate a checkpoint and describe it. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/ckpt.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "opt.h"

struct inspect_opts {
    const char *model, *layers, *revision;
    bool tensors;
};

#define O(f) offsetof(struct inspect_opts, f)
static const struct opt inspect_table[] = {
    {NULL, OPT_STR, O(model), .flags = OPT_POS | OPT_REQUIRED, .meta = "MODEL",
     .help = "the checkpoint"},
    {"revision", OPT_STR, O(revision), .meta = "REV",
     .help = "branch, tag or commit of a hub MODEL"},
    {"layers", OPT_STR, O(layers), .meta = "A-B",
     .help = "check only layers A..B (or A), as a pipeline stage would"},
    {"tensors", OPT_FLAG, O(tensors),
     .help = "list every checked tensor with dtype, shape, bytes and file"},
    {0},
};
#undef O

const struct opt_cmd inspect_cmd = {
    "inspect",
    .synopsis = "MODEL [--revision REV] [--layers A-B] [--tensors]",
    .about = "Validate a Hugging Face Gemma-2 checkpoint (config.json plus model.safetensors or\n"
             "model.safetensors.index.json and its shards) and print its configuration, tensor\n"
             "count and bytes by dtype. Exits 1 with a one-line error naming the file and the\n"
             "tensor or field when anything is missing or inconsistent. --layers A-B opens only\n"
             "the shards of layers A..B: the embedding when A is 0 or B is the last layer, the\n"
             "final norm when B is the last layer.\n"
             "\n" HUB_CLI_MODEL_USAGE,
    .size = sizeof(struct inspect_opts),
    .groups = {{inspect_table, 0}},
};

/* "A-B" or "A" with 0 <= A <= B; false on anything else. */
static bool parse_range(const char *s, int64_t *a, int64_t *b)
{
    char *end = NULL;
    long long x = strtoll(s, &end, 10), y = x;
    if (end == s || x < 0) return false;
    if (*end == '-') {
        const char *t = end + 1;
        y = strtoll(t, &end, 10);
        if (end == t) return false;
    }
    if (*end != '\0' || y < x) return false;
    *a = x;
    *b = y;
    return true;
}

static const char *preset_name(const struct gemma_config *c, bool *resized)
{
    static const struct {
        const char *name;
        struct gemma_config (*fn)(void);
    } presets[] = {{"2b", gemma_config_2b},
                   {"9b", gemma_config_9b},
                   {"27b", gemma_config_27b},
                   {"tiny", gemma_config_tiny}};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        struct gemma_config p = presets[i].fn(), q = *c;
        *resized = q.n_layers != p.n_layers || q.n_vocab != p.n_vocab;
        q.n_layers = p.n_layers;
        q.n_vocab = p.n_vocab;
        if (memcmp(&p, &q, sizeof p) == 0) return presets[i].name;
    }
    return NULL;
}

static void print_config(const struct ckpt *c)
{
    const struct gemma_config *g = &c->cfg;
    bool resized = false;
    const char *preset = preset_name(g, &resized);
    printf("checkpoint   %s\n", c->dir);
    printf("model        %s\n", c->model_name);
    printf("config hash  %016llx (FNV-1a of config.json)\n", (unsigned long long)c->config_hash);
    if (preset)
        printf("preset       %s%s\n", preset, resized ? " (other layer count or vocabulary)" : "");
    else
        printf("preset       none\n");
    printf("sizes        layers %lld, hidden %lld, ffn %lld, heads %lld (kv %lld) x %lld, "
           "vocab %lld\n",
           (long long)g->n_layers, (long long)g->d_model, (long long)g->d_ff, (long long)g->n_heads,
           (long long)g->n_kv_heads, (long long)g->d_head, (long long)g->n_vocab);
    printf("attention    window %lld on even layers, query_pre_attn_scalar %g, soft-caps %g / %g\n",
           (long long)g->window_local, (double)g->query_pre_attn_scalar, (double)g->softcap_attn,
           (double)g->softcap_final);
    printf(
        "other        rms_norm_eps %g, rope_theta %g, max positions %lld, bos %d eos %d pad %d\n",
        (double)g->rms_eps, (double)g->rope_theta, (long long)g->max_pos, (int)g->bos_id,
        (int)g->eos_id, (int)g->pad_id);
}

static void print_selection(const struct ckpt *c, bool list)
{
    const struct ckpt_select *s = &c->sel;
    if (s->layer_end > s->layer_begin)
        printf("checked      layers %lld-%lld", (long long)s->layer_begin,
               (long long)s->layer_end - 1);
    else
        printf("checked      no layers");
    printf("%s%s\n", s->embed ? ", embedding" : "", s->norm_final ? ", final norm" : "");
    printf("files        %lld opened\n", (long long)c->n_files);
    printf("tensors      %lld\n", (long long)c->n_tensors);
    static const enum gsae_dtype kinds[] = {GSAE_DTYPE_BF16, GSAE_DTYPE_F16, GSAE_DTYPE_F32};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t bytes = 0;
        int64_t count = 0;
        for (int64_t i = 0; i < c->n_tensors; i++)
            if (c->tensors[i].t.dtype == kinds[k]) {
                bytes += c->tensors[i].bytes;
                count++;
            }
        if (count)
            printf("bytes %-6s %zu (%.1f MiB, %lld tensors)\n", gsae_dtype_name(kinds[k]), bytes,
                   (double)bytes / 1048576.0, (long long)count);
    }
    printf("bytes total  %zu (%.1f MiB)\n", ckpt_bytes_selected(c),
           (double)ckpt_bytes_selected(c) / 1048576.0);
    for (int64_t i = 0; list && i < c->n_tensors; i++) {
        const struct ckpt_tensor *t = &c->tensors[i];
        printf("  %-52s %-4s [", t->name, gsae_dtype_name(t->t.dtype));
        for (int d = 0; d < t->t.n_dims; d++)
            printf("%s%lld", d ? ", " : "", (long long)t->t.shape[d]);
        const char *base = strrchr(t->file, '/');
        printf("] %zu %s\n", t->bytes, base ? base + 1 : t->file);
    }
}

/* Validate the checkpoint in dir (layers first..last when range is given) and describe it. */
static int inspect(const char *dir, const char *range, int64_t first, int64_t last, bool list)
{
    struct gsae_error err = {0};
    struct gemma_config cfg;
    struct ckpt c = {0};
    if (ckpt_config_load(dir, &cfg, &err) != GSAE_OK) {
        cli_report("inspect", &err);
        return 1;
    }
    struct ckpt_select sel = ckpt_select_all(&cfg);
    if (range) {
        if (last >= cfg.n_layers) {
            fprintf(stderr,
                    "gsae inspect: --layers %s, expected layers below %lld (num_hidden_layers)\n",
                    range, (long long)cfg.n_layers);
            return 2;
        }
        sel = ckpt_select_stage(&cfg, first, last + 1);
    }
    if (ckpt_open(&c, dir, &sel, &err) != GSAE_OK) {
        cli_report("inspect", &err);
        return 1;
    }
    print_config(&c);
    print_selection(&c, list);
    ckpt_close(&c);
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    struct inspect_opts o;
    int prc = opt_parse(&inspect_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *name = o.model, *range = o.layers, *revision = o.revision;
    bool list = o.tensors;
    int64_t first = 0, last = 0;
    if (range && !parse_range(range, &first, &last)) {
        fprintf(stderr, "gsae inspect: --layers '%s', expected A-B with 0 <= A <= B\n", range);
        return 2;
    }
    char *dir = hub_cli_model("inspect", name, revision);
    if (!dir) return 1;
    int rc = inspect(dir, range, first, last, list);
    free(dir);
    return rc;
}
