/* store_id.c: identity hashes of stores (see store_id.h). */
#include "store_id.h"

#include <stdio.h>
#include <string.h>

#include "../src/hash.h"

uint64_t store_id_sae(const struct sae_params *p)
{
    uint64_t h =
        gsae_hash_update(GSAE_HASH_INIT, p->w_enc, (size_t)(p->d_model * p->d_sae) * sizeof(float));
    h = gsae_hash_update(h, p->b_enc, (size_t)p->d_sae * sizeof(float));
    return gsae_hash_update(h, p->threshold, (size_t)p->d_sae * sizeof(float));
}

uint64_t store_id_tokenizer(const struct tokenizer *tk)
{
    uint64_t h = gsae_hash_update(GSAE_HASH_INIT, &tk->n_vocab, sizeof tk->n_vocab);
    for (int32_t id = 0; id < tk->n_vocab; id++) {
        size_t len = 0;
        const char *piece = tokenizer_piece(tk, id, &len);
        h = gsae_hash_update(h, &len, sizeof len);
        if (piece) h = gsae_hash_update(h, piece, len);
    }
    return h;
}

void store_id_hex(uint64_t h, char *out, size_t size)
{
    snprintf(out, size, "%016llx", (unsigned long long)h);
}

void store_id_harvest_job(const struct store_id_harvest *h, const char *corpus_lines, char *out,
                          size_t size)
{
    char settings[512];
    snprintf(settings, sizeof settings, "%s %s %s %lld %lld %lld %lld %d %lld", h->model_hash,
             h->sae_hash, h->tokenizer_hash, (long long)h->layer, (long long)h->context,
             (long long)h->windows_per_part, (long long)h->max_windows, (int)h->resid,
             (long long)h->top_k);
    /* f32 runs keep the hash they always had; a resume must not mix bf16 parts with them */
    size_t used = strlen(settings);
    if (h->compute_bf16)
        used += (size_t)snprintf(settings + used, sizeof settings - used, " compute=bf16");
    if (h->sae_compute_bf16) snprintf(settings + used, sizeof settings - used, " sae-compute=bf16");
    store_id_hex(gsae_hash_update(gsae_hash_str(settings), corpus_lines, strlen(corpus_lines)), out,
                 size);
}

void store_id_synth_job(const char *corpus_lines, int64_t context, int64_t windows_per_part,
                        int64_t d_sae, int64_t d_model, bool bf16, int64_t max_windows, char *out,
                        size_t size)
{
    uint64_t settings = (uint64_t)(context * 131 + windows_per_part * 17 + d_sae * 7 + d_model * 3 +
                                   bf16 + max_windows * 101);
    snprintf(out, size, "synth-%016llx",
             (unsigned long long)(gsae_hash_str(corpus_lines) ^ gsae_hash_mix64(settings)));
}
