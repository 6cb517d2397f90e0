/* sae_session.c: pipeline + SAE set-up shared by the SAE commands (see sae_session.h). */
#include "sae_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/arc_task.h"
#include "../io/tokenizer_load.h"
#include "../src/arc.h"
#include "../src/matmul.h"
#include "../src/sampler.h"
#include "cli.h"
#include "sae_cli.h"

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Append one prompt (ids taken over) under name. */
static enum gsae_status add_prompt(struct sae_session *s, const char *name, int32_t *ids, int64_t n,
                                   struct gsae_error *err)
{
    int64_t k = s->n_prompts;
    int32_t **l = realloc(s->prompt_list, (size_t)(k + 1) * sizeof *l);
    if (l) s->prompt_list = l;
    int64_t *len = l ? realloc(s->prompt_len, (size_t)(k + 1) * sizeof *len) : NULL;
    if (len) s->prompt_len = len;
    char **names = len ? realloc(s->prompt_names, (size_t)(k + 1) * sizeof *names) : NULL;
    if (names) s->prompt_names = names;
    char *copy = names ? malloc(strlen(name) + 1) : NULL;
    if (!copy) {
        free(ids);
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    strcpy(copy, name);
    s->prompt_list[k] = ids;
    s->prompt_len[k] = n;
    s->prompt_names[k] = copy;
    s->n_prompts = k + 1;
    return GSAE_OK;
}

/* The notebook's prompt for the ARC task file at path, tokenized, added under name. */
static enum gsae_status add_arc(struct sae_session *s, const char *path, const char *name,
                                struct gsae_error *err)
{
    struct arc_task task;
    char *text = NULL;
    size_t len;
    int32_t *ids = NULL;
    int64_t n = 0;
    enum gsae_status st = arc_task_load(path, &task, err);
    if (st == GSAE_OK) st = arc_prompt_build(&task, &text, &len, err);
    arc_task_free(&task);
    if (st == GSAE_OK) st = sae_session_tokenize(s, text, true, &ids, &n, err);
    free(text);
    return st == GSAE_OK ? add_prompt(s, name, ids, n, err) : st;
}

/* A task id in an ARC directory: DIR/id.json, DIR/training/id.json or DIR/evaluation/id.json. */
static enum gsae_status add_task(struct sae_session *s, const char *dir, const char *id,
                                 struct gsae_error *err)
{
    static const char *const subdirs[] = {"", "/training", "/evaluation"};
    char path[4096];
    struct stat sb;
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        snprintf(path, sizeof path, "%s%s/%s.json", dir, subdirs[i], id);
        if (stat(path, &sb) == 0) return add_arc(s, path, id, err);
    }
    return gsae_fail(err, GSAE_ENOTFOUND,
                     "%s: no task '%s' (looked for %s.json in it, training/ and evaluation/)", dir,
                     id, id);
}

/* Every task of a comma-separated list in an ARC directory. */
static enum gsae_status add_tasks(struct sae_session *s, const char *dir, const char *list,
                                  struct gsae_error *err)
{
    char *copy = malloc(strlen(list) + 1), *save = NULL;
    if (!copy) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    strcpy(copy, list);
    enum gsae_status st = GSAE_OK;
    for (char *t = strtok_r(copy, ",", &save); st == GSAE_OK && t; t = strtok_r(NULL, ",", &save))
        st = add_task(s, dir, t, err);
    free(copy);
    if (st == GSAE_OK && s->n_prompts == 0) st = gsae_fail(err, GSAE_EINVAL, "no task ids given");
    return st;
}

/* The prompts from --prompt, --arc, --prompts or --prompt-ids. Local (the same result on
 * every rank). */
static enum gsae_status read_prompts(struct sae_session *s, const struct sae_session_opts *o,
                                     struct gsae_error *err)
{
    if (o->arc_path && is_dir(o->arc_path)) {
        if ((o->prompt != NULL) == (o->prompts != NULL) || o->prompt_ids)
            return gsae_fail(err, GSAE_EINVAL,
                             "with --arc DIR give the tasks as --prompt ID or --prompts ID,ID");
        return add_tasks(s, o->arc_path, o->prompts ? o->prompts : o->prompt, err);
    }
    if ((o->prompt != NULL) + (o->arc_path != NULL) + (o->prompt_ids != NULL) != 1 || o->prompts)
        return gsae_fail(err, GSAE_EINVAL,
                         "give exactly one of --prompt, --arc and --prompt-ids "
                         "(--prompts needs --arc DIR)");
    if (o->arc_path) {
        const char *base = strrchr(o->arc_path, '/');
        char name[256];
        snprintf(name, sizeof name, "%s", base ? base + 1 : o->arc_path);
        char *dot = strstr(name, ".json");
        if (dot) *dot = '\0';
        return add_arc(s, o->arc_path, name, err);
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (o->prompt) {
        enum gsae_status st = sae_session_tokenize(s, o->prompt, true, &ids, &n, err);
        return st == GSAE_OK ? add_prompt(s, "prompt", ids, n, err) : st;
    }
    int64_t *v;
    if (!sae_cli_i64_list(o->prompt_ids, 0, s->cfg.n_vocab - 1, &v, &n))
        return gsae_fail(err, GSAE_EINVAL,
                         "--prompt-ids '%s': expected comma-separated ids in [0, %lld)",
                         o->prompt_ids, (long long)s->cfg.n_vocab);
    ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; ids && i < n; i++)
        ids[i] = (int32_t)v[i];
    free(v);
    if (!ids) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    return add_prompt(s, "ids", ids, n, err);
}

void sae_session_select(struct sae_session *s, int64_t i)
{
    GSAE_ASSERT(i >= 0 && i < s->n_prompts);
    s->prompt = s->prompt_list[i];
    s->n_prompt = s->prompt_len[i];
    s->prompt_name = s->prompt_names[i];
}

static enum gsae_status load_tokenizer(struct sae_session *s, const struct sae_session_opts *o,
                                       struct gsae_error *err)
{
    char guess[4096];
    const char *path = o->tokenizer_path;
    struct stat sb;
    if (!path) {
        snprintf(guess, sizeof guess, "%s/tokenizer.json", o->model_dir);
        if (stat(guess, &sb) == 0) path = guess;
    }
    if (!path) {
        if (o->prompt || o->arc_path || o->prompts)
            return gsae_fail(err, GSAE_EINVAL,
                             "%s has no tokenizer.json: give --tokenizer PATH for a text prompt",
                             o->model_dir);
        return GSAE_OK;
    }
    enum gsae_status st = tokenizer_load(&s->tk, path, err);
    s->has_tokenizer = st == GSAE_OK;
    return st;
}

/* The model's configuration, the tokenizer and the prompts: local, the same on every rank. */
static enum gsae_status open_local(struct sae_session *s, const struct sae_session_opts *o,
                                   struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (!o->model_dir || !o->sae_path)
        st = gsae_fail(err, GSAE_EINVAL, "--model and --sae are required");
    if (st == GSAE_OK) st = ckpt_config_load(o->model_dir, &s->cfg, err);
    if (st == GSAE_OK) st = load_tokenizer(s, o, err);
    if (st == GSAE_OK) st = read_prompts(s, o, err);
    if (st == GSAE_OK) sae_session_select(s, 0);
    for (int64_t i = 0; i < s->n_prompts; i++)
        s->max_prompt = s->prompt_len[i] > s->max_prompt ? s->prompt_len[i] : s->max_prompt;
    return st;
}

enum gsae_status sae_session_open(struct sae_session *s, const char *cmd,
                                  const struct sae_session_opts *o, int64_t max_extra,
                                  struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    s->layer = -1;
    s->sae_bf16 = o->sae_compute == GEMMA_COMPUTE_BF16;
    enum gsae_status st = open_local(s, o, err);
    s->max_group = o->max_group > 1 ? o->max_group : 1;
    int64_t mb_first[2] = {0, s->max_group};
    int64_t *n_tok = malloc((size_t)s->max_group * sizeof *n_tok);
    if (st == GSAE_OK && !n_tok) st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    for (int64_t i = 0; n_tok && i < s->max_group; i++)
        n_tok[i] = s->max_prompt + max_extra;
    struct pipe_work shape = {s->max_group, NULL, n_tok, 1, mb_first};
    struct engine_sae saes[SAE_SESSION_MAX_SAES] = {{o->sae_path, o->layer}};
    for (int j = 0; j < o->n_saes && j < SAE_SESSION_MAX_SAES; j++)
        saes[j] = (struct engine_sae){o->sae_paths[j],
                                      o->sae_layers[j] >= 0 ? o->sae_layers[j] : o->layer};
    struct engine_config cfg = {.model_dir = o->model_dir,
                                .n_stages = o->n_stages,
                                .layers = o->layers,
                                .n_threads = o->n_threads,
                                .dtype = GSAE_DTYPE_BF16,
                                .ctx_len = s->max_prompt,
                                .saes = saes,
                                .n_saes = o->n_saes > 1 ? o->n_saes : 1,
                                .warn_model_name = true,
                                .shape = &shape,
                                .n_new = max_extra,
                                .compute = o->compute,
                                .local = st};
    st = engine_open(engine_job_comm(), &cfg, &s->e, err);
    free(n_tok);
    if (s->e.n_hooks >= 1) {
        const struct engine_hook *h = &s->e.hooks[0];
        s->sae = &s->e.hooks[0].sae;
        s->owns_layer = h->owned;
        s->layer = h->layer;
        s->d_sae = h->d_sae;
        s->n_threads = s->e.n_threads;
        for (int64_t j = 0; st == GSAE_OK && j < s->e.n_hooks; j++)
            if (s->e.hooks[j].warning[0] && s->e.d.replica == 0)
                fprintf(stderr, "gsae %s: warning: %s\n", cmd, s->e.hooks[j].warning);
    }
    return st;
}

void sae_session_close(struct sae_session *s)
{
    engine_close(&s->e, true);
    if (s->has_tokenizer) tokenizer_free(&s->tk);
    for (int64_t i = 0; i < s->n_prompts; i++) {
        free(s->prompt_list[i]);
        free(s->prompt_names[i]);
    }
    free(s->prompt_list);
    free(s->prompt_len);
    free(s->prompt_names);
    memset(s, 0, sizeof *s);
}

enum gsae_status sae_session_tokenize(struct sae_session *s, const char *text, bool add_bos,
                                      int32_t **ids, int64_t *n, struct gsae_error *err)
{
    *ids = NULL;
    *n = 0;
    if (!s->has_tokenizer)
        return gsae_fail(err, GSAE_EINVAL, "text needs a tokenizer (--tokenizer PATH)");
    struct tokenizer_work work = {0};
    struct tokenizer_ids out = {0};
    enum gsae_status st = tokenizer_encode(&s->tk, text, strlen(text), add_bos, &work, &out, err);
    for (size_t i = 0; st == GSAE_OK && i < out.n; i++)
        if (out.ids[i] >= s->cfg.n_vocab)
            st = gsae_fail(err, GSAE_ERANGE, "token id %d is outside the model's vocabulary (%lld)",
                           out.ids[i], (long long)s->cfg.n_vocab);
    if (st == GSAE_OK) {
        *ids = out.ids;
        *n = (int64_t)out.n;
        out.ids = NULL;
    }
    tokenizer_ids_free(&out);
    tokenizer_work_free(&work);
    return st;
}

char *sae_session_decode(const struct sae_session *s, const int32_t *ids, int64_t n)
{
    struct tokenizer_text t = {0};
    struct gsae_error err;
    if (s->has_tokenizer && tokenizer_decode(&s->tk, ids, (size_t)n, false, &t, &err) == GSAE_OK &&
        tokenizer_text_append(&t, "", 1, &err) == GSAE_OK)
        return t.data;
    tokenizer_text_free(&t);
    size_t cap = 16 + 12 * (size_t)n, at = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    at += (size_t)snprintf(out, cap, "[");
    for (int64_t i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%d", i ? ", " : "", ids[i]);
    snprintf(out + at, cap - at, "]");
    return out;
}

static enum gsae_status intervene_sub(void *ctx, const struct engine_hook *hook,
                                      const struct pipe_rows *rows, float *x, int64_t d_model,
                                      struct gsae_error *err)
{
    return intervene_apply(ctx, "resid_post", hook->layer, x, rows->batch, d_model, err);
}

enum gsae_status sae_session_subscribe_hook(struct sae_session *s, int64_t j, struct intervene *iv,
                                            struct gsae_error *err)
{
    if (!iv || !s->e.hooks[j].owned) return GSAE_OK;
    return engine_subscribe(&s->e, j, (struct engine_sub){intervene_sub, iv}, err);
}

enum gsae_status sae_session_subscribe(struct sae_session *s, struct intervene *iv,
                                       struct gsae_error *err)
{
    return sae_session_subscribe_hook(s, 0, iv, err);
}

void sae_session_unsubscribe(struct sae_session *s)
{
    engine_unsubscribe_all(&s->e);
}

struct logits_sink {
    const int64_t *rows;
    int64_t n_rows, n_vocab;
    float *out; /* (n_rows, n_vocab) on the last stage */
};

static enum gsae_status sink_logits(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                    const float *x, int64_t d_model, struct gsae_error *err)
{
    struct logits_sink *ls = ctx;
    (void)rows;
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; st == GSAE_OK && i < ls->n_rows; i++)
        st = pipe_logits(p, x + ls->rows[i] * d_model, 1, ls->out + i * ls->n_vocab, err);
    return st;
}

enum gsae_status sae_session_logits(struct sae_session *s, const int32_t *tokens, int64_t n,
                                    struct intervene *iv, const int64_t *rows_wanted,
                                    int64_t n_wanted, float *logits, struct gsae_error *err)
{
    int64_t mb_first[2] = {0, 1};
    const int32_t *seqs[1] = {tokens};
    struct pipe_work work = {1, seqs, &n, 1, mb_first};
    struct dist_blob mine = {.name = "logits", .n = 0, .data = NULL};
    struct logits_sink ls = {rows_wanted, n_wanted, s->cfg.n_vocab, NULL};
    bool last = s->e.p.stage.has_unembed && s->e.p.replica == 0;
    if (last && n_wanted > 0 &&
        !(ls.out = malloc((size_t)(n_wanted * s->cfg.n_vocab) * sizeof(float))))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for logits");
    struct pipe_sink sink = {sink_logits, &ls};
    enum gsae_status st = sae_session_subscribe(s, iv, err);
    if (st == GSAE_OK) st = engine_prefill(&s->e, &work, n_wanted > 0 ? &sink : NULL, err);
    sae_session_unsubscribe(s);
    if (st == GSAE_OK && n_wanted > 0) {
        if (last) {
            mine.n = n_wanted * s->cfg.n_vocab;
            mine.data = ls.out;
        }
        struct dist_blob *all = NULL;
        int64_t n_all = 0;
        st = dist_collect(&s->e.d, &mine, last ? 1 : 0, &all, &n_all, err);
        if (st == GSAE_OK && s->e.d.rank == 0)
            for (int64_t i = 0; i < n_all; i++)
                if (strcmp(all[i].name, "logits") == 0)
                    memcpy(logits, all[i].data, (size_t)all[i].n * sizeof(float));
        dist_blobs_free(all, n_all);
    }
    free(ls.out);
    return st;
}

struct pick_ctx {
    struct sampler sm;
    struct rng rng;
};

static enum gsae_status pick(void *ctx, const struct pipe_rows *rows, int64_t i,
                             const float *logits, int64_t n_vocab, int32_t *token,
                             struct gsae_error *err)
{
    (void)rows, (void)i, (void)n_vocab, (void)err;
    struct pick_ctx *pc = ctx;
    *token = sampler_pick(&pc->sm, logits, &pc->rng);
    return GSAE_OK;
}

enum gsae_status sae_session_generate(struct sae_session *s, const int32_t *tokens, int64_t n,
                                      struct intervene *iv, int64_t n_new, float temperature,
                                      uint64_t seed, int32_t *out, struct gsae_error *err)
{
    int64_t mb_first[2] = {0, 1};
    const int32_t *seqs[1] = {tokens};
    struct pipe_work work = {1, seqs, &n, 1, mb_first};
    struct pick_ctx pc;
    struct sampler_params sp = {.temperature = temperature, .top_k = 0, .top_p = 1.0f};
    enum gsae_status st = sampler_init(&pc.sm, &sp, s->cfg.n_vocab, err);
    if (st != GSAE_OK) return st;
    rng_seed(&pc.rng, seed);
    struct pipe_sampler sampler = {pick, &pc};
    st = sae_session_subscribe(s, iv, err);
    if (st == GSAE_OK) st = engine_generate(&s->e, &work, n_new, &sampler, out, err);
    sae_session_unsubscribe(s);
    sampler_free(&pc.sm);
    return st;
}

/* Sequence i of a batch runs ivs[work index of i] on its own rows. */
struct many_hook {
    struct intervene *ivs;
};

static enum gsae_status many_hook_fn(void *ctx, const struct engine_hook *hook,
                                     const struct pipe_rows *rows, float *x, int64_t d_model,
                                     struct gsae_error *err)
{
    struct many_hook *mh = ctx;
    const struct gemma_batch *b = rows->batch;
    enum gsae_status st = GSAE_OK;
    int64_t row = 0;
    for (int64_t i = 0; st == GSAE_OK && i < b->n_seq; i++) {
        struct gemma_batch one = {1, b->n_tok[i], b->slot + i, b->pos0 + i, b->n_tok + i};
        st = intervene_apply(&mh->ivs[rows->seq[i]], "resid_post", hook->layer, x + row * d_model,
                             &one, d_model, err);
        row += b->n_tok[i];
    }
    return st;
}

/* One sampler stream per sequence, each seeded alike: sequence i draws what it would alone. */
struct many_pick {
    struct sampler sm;
    struct rng *rng;
};

static enum gsae_status many_pick_fn(void *ctx, const struct pipe_rows *rows, int64_t i,
                                     const float *logits, int64_t n_vocab, int32_t *token,
                                     struct gsae_error *err)
{
    (void)n_vocab, (void)err;
    struct many_pick *mp = ctx;
    *token = sampler_pick(&mp->sm, logits, &mp->rng[rows->seq[i]]);
    return GSAE_OK;
}

int64_t sae_session_group(const struct sae_session *s, int64_t n, int64_t n_want)
{
    int64_t g = n_want < s->max_group ? n_want : s->max_group;
    if (g > MATMUL_SMALL_ROWS) g = MATMUL_SMALL_ROWS;
    if (n <= MATMUL_SMALL_ROWS && g * n > MATMUL_SMALL_ROWS) g = MATMUL_SMALL_ROWS / n;
    return g > 1 ? g : 1;
}

enum gsae_status sae_session_generate_many(struct sae_session *s, const int32_t *tokens, int64_t n,
                                           struct intervene *ivs, int64_t n_seq, int64_t n_new,
                                           float temperature, uint64_t seed, int32_t *out,
                                           struct gsae_error *err)
{
    GSAE_ASSERT(n_seq >= 1 && n_seq <= s->max_group);
    int64_t mb_first[2] = {0, n_seq};
    const int32_t **seqs = malloc((size_t)n_seq * sizeof *seqs);
    int64_t *lens = malloc((size_t)n_seq * sizeof *lens);
    struct many_pick mp = {.rng = malloc((size_t)n_seq * sizeof *mp.rng)};
    if (!seqs || !lens || !mp.rng) {
        free(seqs), free(lens), free(mp.rng);
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n_seq; i++) {
        seqs[i] = tokens, lens[i] = n;
        rng_seed(&mp.rng[i], seed);
    }
    struct pipe_work work = {n_seq, seqs, lens, 1, mb_first};
    struct many_hook mh = {ivs};
    struct sampler_params sp = {.temperature = temperature, .top_k = 0, .top_p = 1.0f};
    enum gsae_status st = sampler_init(&mp.sm, &sp, s->cfg.n_vocab, err);
    if (st == GSAE_OK) {
        struct pipe_sampler sampler = {many_pick_fn, &mp};
        if (s->owns_layer && ivs)
            st = engine_subscribe(&s->e, 0, (struct engine_sub){many_hook_fn, &mh}, err);
        if (st == GSAE_OK) st = engine_generate(&s->e, &work, n_new, &sampler, out, err);
        sae_session_unsubscribe(s);
        sampler_free(&mp.sm);
    }
    free(seqs), free(lens), free(mp.rng);
    return st;
}

enum gsae_status sae_session_answer(struct sae_session *s, const char *answer,
                                    const char *answer_ids, bool no_space, int32_t **ids,
                                    int64_t *n, struct gsae_error *err)
{
    if (answer_ids) {
        int64_t *v;
        if (!sae_cli_i64_list(answer_ids, 0, s->cfg.n_vocab - 1, &v, n))
            return gsae_fail(err, GSAE_EINVAL, "--answer-ids: expected ids in [0, %lld)",
                             (long long)s->cfg.n_vocab);
        *ids = malloc((size_t)*n * sizeof **ids);
        for (int64_t i = 0; *ids && i < *n; i++)
            (*ids)[i] = (int32_t)v[i];
        free(v);
        return *ids ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    size_t len = strlen(answer);
    char *text = malloc(len + 2);
    if (!text) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    bool space = !no_space && answer[0] != ' ';
    snprintf(text, len + 2, "%s%s", space ? " " : "", answer);
    enum gsae_status st = sae_session_tokenize(s, text, false, ids, n, err);
    free(text);
    if (st == GSAE_OK && *n == 0) st = gsae_fail(err, GSAE_EINVAL, "--answer is empty");
    return st;
}
