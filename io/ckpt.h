/* ckpt.h: a Hugging Face Gemma-2 checkpoint directory, validated and memory-mapped.
 * (config.json: ckpt_config.c; tensors, files and checks: ckpt.c.)
 *
 * A checkpoint directory holds config.json and the weights, either in one model.safetensors
 * or in shards listed by model.safetensors.index.json ({"weight_map": {tensor: shard file}});
 * as in transformers, model.safetensors is used when both exist.
 * Tensor names follow transformers' Gemma2ForCausalLM:
 *     model.embed_tokens.weight                          (n_vocab, d_model)
 *     model.norm.weight                                  (d_model)
 *     model.layers.{i}.self_attn.{q,k,v,o}_proj.weight   see struct gemma_layer_weights
 *     model.layers.{i}.mlp.{gate,up,down}_proj.weight
 *     model.layers.{i}.{input_layernorm, post_attention_layernorm,
 *                       pre_feedforward_layernorm, post_feedforward_layernorm}.weight
 * There is no lm_head: the unembedding is tied to the embedding.
 *
 * A process opens only what it needs (struct ckpt_select): a pipeline stage maps the shards that
 * hold its layers, checks each of its tensors for presence, exact shape and a float dtype (F32,
 * F16, BF16), and never touches the data pages of anything else. Headers of the shards it opens
 * are validated in full (see safetensors.h); shards it does not need are not opened.
 *
 * Every error message names the file and the tensor or config field, with what was found and
 * what was expected, on one line.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gemma.h"
#include "../src/gsae.h"
#include "safetensors.h"

/* Which tensors a process needs. Layers are the half-open range [layer_begin, layer_end). */
struct ckpt_select {
    int64_t layer_begin, layer_end;
    bool embed; /* model.embed_tokens: first stage (lookup) and last stage (tied unembedding) */
    bool norm_final; /* model.norm: last stage */
};

/* Everything: all layers, the embedding and the final norm. */
struct ckpt_select ckpt_select_all(const struct gemma_config *cfg);

/* What a pipeline stage running layers [layer_begin, layer_end) of n_layers needs: the
 * embedding when it runs the first or the last layer, the final norm when it runs the last. */
struct ckpt_select ckpt_select_stage(const struct gemma_config *cfg, int64_t layer_begin,
                                     int64_t layer_end);

/* One tensor of the selection, for listings and reports. */
struct ckpt_tensor {
    char *name;           /* owned, HF name */
    struct gsae_tensor t; /* view into the mapping */
    const char *file;     /* path of the file holding it (owned by the ckpt) */
    size_t bytes;
};

struct ckpt {
    char *dir;               /* owned copy of the directory path */
    struct gemma_config cfg; /* validated */
    struct ckpt_select sel;
    struct gemma_weights w; /* views into the mappings; layers has cfg.n_layers entries,
                             * those outside the selection zeroed (data NULL) */
    char *model_name;       /* _name_or_path from config.json, else the directory's name */
    uint64_t config_hash;   /* gsae_hash of config.json's bytes */
    int64_t n_files;        /* safetensors files opened (only those the selection needs) */
    struct sft_file *files;
    int64_t n_tensors; /* tensors of the selection, in the order layers are used */
    struct ckpt_tensor *tensors;
    size_t bytes_selected; /* sum of the selected tensors' bytes */
};

/* Read and validate dir/config.json into cfg. Sizes (vocab_size, hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim) and
 * query_pre_attn_scalar are required; the other fields default to Gemma-2's values as in
 * transformers' Gemma2Config (sliding_window 4096, soft-caps 50/30, rms_norm_eps 1e-6,
 * rope_theta 10000, max_position_embeddings 8192, token ids bos 2 eos 1 pad 0). A soft-cap of
 * null means disabled (0). model_type, when present, must be "gemma2"; tie_word_embeddings,
 * when present, must be true. Fails with GSAE_ENOTFOUND, GSAE_EIO or GSAE_EFORMAT, the message
 * naming config.json and the field. */
enum gsae_status ckpt_config_load(const char *dir, struct gemma_config *cfg,
                                  struct gsae_error *err);

/* The same from len bytes of text already in memory; path names it in messages. Used by the
 * fuzz target and by callers that hold config.json's bytes. */
enum gsae_status ckpt_config_parse(const char *path, const char *text, size_t len,
                                   struct gemma_config *cfg, struct gsae_error *err);

/* Open the checkpoint in dir for the selection sel (NULL: everything): load the config, map the
 * files holding the selected tensors and fill c->w with views. Weights stay valid until
 * ckpt_close. The selection's layers must lie within [0, n_layers). On failure c may be passed
 * to ckpt_close. Local (no MPI). */
enum gsae_status ckpt_open(struct ckpt *c, const char *dir, const struct ckpt_select *sel,
                           struct gsae_error *err);

/* Unmap and free everything; safe on a zeroed or half-built struct, and twice. */
void ckpt_close(struct ckpt *c);

/* Bytes of weight data the selection maps (its resident size once every page is used). */
size_t ckpt_bytes_selected(const struct ckpt *c);
