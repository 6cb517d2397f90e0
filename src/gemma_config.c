/* gemma_config.c: the canonical Gemma-2 configurations and their consistency check (see gemma.h).
 *
 * Sizes are those of the released checkpoints' config.json (google/gemma-2-2b, -9b, -27b). The
 * three share the Gemma-2 constants: soft-caps 50 (attention) and 30 (logits), RMSNorm eps
 * 1e-6, RoPE theta 10000, a 4096-token sliding window on even layers, 8192 positions and
 * token ids bos 2, eos 1, pad 0. They differ only in sizes and in query_pre_attn_scalar:
 * head_dim (256) for 2B and 9B, d_model / n_heads (4608 / 32 = 144) for 27B.
 */
#include <math.h>

#include "gemma.h"

static struct gemma_config gemma2_base(void)
{
    struct gemma_config c = {0};
    c.n_vocab = 256000;
    c.window_local = 4096;
    c.max_pos = 8192;
    c.softcap_attn = 50.0f;
    c.softcap_final = 30.0f;
    c.rms_eps = 1e-6f;
    c.rope_theta = 10000.0f;
    c.bos_id = 2;
    c.eos_id = 1;
    c.pad_id = 0;
    return c;
}

struct gemma_config gemma_config_2b(void)
{
    struct gemma_config c = gemma2_base();
    c.n_layers = 26;
    c.d_model = 2304;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.d_head = 256;
    c.d_ff = 9216;
    c.query_pre_attn_scalar = 256.0f;
    return c;
}

struct gemma_config gemma_config_9b(void)
{
    struct gemma_config c = gemma2_base();
    c.n_layers = 42;
    c.d_model = 3584;
    c.n_heads = 16;
    c.n_kv_heads = 8;
    c.d_head = 256;
    c.d_ff = 14336;
    c.query_pre_attn_scalar = 256.0f;
    return c;
}

struct gemma_config gemma_config_27b(void)
{
    struct gemma_config c = gemma2_base();
    c.n_layers = 46;
    c.d_model = 4608;
    c.n_heads = 32;
    c.n_kv_heads = 16;
    c.d_head = 128;
    c.d_ff = 36864;
    c.query_pre_attn_scalar = 144.0f; /* d_model / n_heads, not d_head */
    return c;
}

/* Small enough for unit tests and the demo, with every Gemma-2 feature present: GQA (2 query
 * heads per kv head), local and global layers, soft-caps. The vocabulary stays the real one so
 * the real tokenizer's ids are valid; tests that want a small file override n_vocab. */
struct gemma_config gemma_config_tiny(void)
{
    struct gemma_config c = gemma2_base();
    c.n_layers = 4;
    c.d_model = 64;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_head = 16;
    c.d_ff = 128;
    c.query_pre_attn_scalar = 16.0f;
    return c;
}

/* Upper bound on every size: products of two sizes (n_vocab * d_model, n_heads * d_head, a
 * KV cache row) then fit easily in int64_t and size_t. */
#define SIZE_LIMIT ((int64_t)1 << 31)
/* Far above any Gemma-2 (46 layers), low enough that a corrupt config cannot make a loader
 * allocate per-layer tables of gigabytes before the weights disagree. */
#define LAYER_LIMIT ((int64_t)1 << 16)

static enum gsae_status check_size(const char *field, int64_t v, int64_t min,
                                   struct gsae_error *err)
{
    if (v < min || v >= SIZE_LIMIT)
        return gsae_fail(err, GSAE_EFORMAT, "'%s' is %lld, expected an integer in [%lld, %lld)",
                         field, (long long)v, (long long)min, (long long)SIZE_LIMIT);
    return GSAE_OK;
}

static enum gsae_status check_scalar(const char *field, float v, bool zero_ok,
                                     struct gsae_error *err)
{
    if (!isfinite(v) || v < 0.0f || (!zero_ok && v == 0.0f))
        return gsae_fail(err, GSAE_EFORMAT, "'%s' is %g, expected a finite number %s", field,
                         (double)v, zero_ok ? ">= 0 (0 disables)" : "> 0");
    return GSAE_OK;
}

static enum gsae_status check_token(const char *field, int32_t id, int64_t n_vocab,
                                    struct gsae_error *err)
{
    if (id < 0 || id >= n_vocab)
        return gsae_fail(err, GSAE_EFORMAT, "'%s' is %d, expected a token id in [0, %lld)", field,
                         (int)id, (long long)n_vocab);
    return GSAE_OK;
}

enum gsae_status gemma_config_validate(const struct gemma_config *c, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (st == GSAE_OK) st = check_size("num_hidden_layers", c->n_layers, 1, err);
    if (st == GSAE_OK && c->n_layers > LAYER_LIMIT)
        st = gsae_fail(err, GSAE_EFORMAT, "'num_hidden_layers' is %lld, expected at most %lld",
                       (long long)c->n_layers, (long long)LAYER_LIMIT);
    if (st == GSAE_OK) st = check_size("hidden_size", c->d_model, 1, err);
    if (st == GSAE_OK) st = check_size("num_attention_heads", c->n_heads, 1, err);
    if (st == GSAE_OK) st = check_size("num_key_value_heads", c->n_kv_heads, 1, err);
    if (st == GSAE_OK) st = check_size("head_dim", c->d_head, 1, err);
    if (st == GSAE_OK) st = check_size("intermediate_size", c->d_ff, 1, err);
    if (st == GSAE_OK) st = check_size("vocab_size", c->n_vocab, 1, err);
    if (st == GSAE_OK) st = check_size("sliding_window", c->window_local, 1, err);
    if (st == GSAE_OK) st = check_size("max_position_embeddings", c->max_pos, 1, err);
    if (st != GSAE_OK) return st;
    if (c->n_heads % c->n_kv_heads != 0)
        return gsae_fail(err, GSAE_EFORMAT,
                         "'num_attention_heads' is %lld, expected a multiple of "
                         "'num_key_value_heads' (%lld)",
                         (long long)c->n_heads, (long long)c->n_kv_heads);
    if (c->d_head % 2 != 0)
        return gsae_fail(err, GSAE_EFORMAT,
                         "'head_dim' is %lld, expected an even number (RoPE rotates halves)",
                         (long long)c->d_head);
    if (c->n_heads * c->d_head >= SIZE_LIMIT)
        return gsae_fail(err, GSAE_EFORMAT,
                         "'num_attention_heads' x 'head_dim' is %lld, expected under %lld",
                         (long long)(c->n_heads * c->d_head), (long long)SIZE_LIMIT);
    if (st == GSAE_OK)
        st = check_scalar("query_pre_attn_scalar", c->query_pre_attn_scalar, false, err);
    if (st == GSAE_OK) st = check_scalar("attn_logit_softcapping", c->softcap_attn, true, err);
    if (st == GSAE_OK) st = check_scalar("final_logit_softcapping", c->softcap_final, true, err);
    if (st == GSAE_OK) st = check_scalar("rms_norm_eps", c->rms_eps, false, err);
    if (st == GSAE_OK) st = check_scalar("rope_theta", c->rope_theta, false, err);
    if (st == GSAE_OK) st = check_token("bos_token_id", c->bos_id, c->n_vocab, err);
    if (st == GSAE_OK) st = check_token("eos_token_id", c->eos_id, c->n_vocab, err);
    if (st == GSAE_OK) st = check_token("pad_token_id", c->pad_id, c->n_vocab, err);
    return st;
}
