/* sae_io.h: load, validate and save JumpReLU SAEs in the two layouts in use.
 *
 * Gemma Scope: one params.npz (a zip of .npy members, stored or deflated) with
 *     W_enc (d_in, d_sae)   W_dec (d_sae, d_in)   b_enc (d_sae)   b_dec (d_in)   threshold (d_sae)
 * (lower-case w_enc / w_dec accepted), each <f4, <f2, or bf16 stored as <u2 (also <f8), C order.
 * The file does not say which layer it belongs to; a "layer_N" component of its path (as in
 * the Gemma Scope repositories, layer_20/width_16k/average_l0_71/params.npz) is taken as a hint.
 *
 * SAELens: a directory with cfg.json and sae_weights.safetensors (same tensor names and
 * shapes, F32/F16/BF16; log_threshold accepted in place of threshold). cfg.json must say
 * architecture "jumprelu" and hook_name "blocks.L.hook_resid_post"; d_in and d_sae must match
 * the tensors; hook_layer, when present, must equal L; apply_b_dec_to_input = true is folded
 * into b_enc (b_enc - b_dec W_enc, the same map); normalize_activations must be null or "none".
 *
 * Shapes are checked against each other and every value must be finite. Each error is one line
 * naming the file, the key and what was found versus expected. Parameters are held in f32.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/gemma.h"
#include "../src/gsae.h"
#include "../src/sae.h"
#include "npz.h"

enum sae_layout {
    SAE_LAYOUT_NPZ,     /* Gemma Scope params.npz */
    SAE_LAYOUT_SAELENS, /* cfg.json + sae_weights.safetensors */
};

/* What the file says about itself (strings owned; release with sae_info_free). */
struct sae_info {
    enum sae_layout layout;
    char *path;            /* the .npz file or the SAELens directory */
    int64_t layer;         /* hooked layer recorded in (or hinted by) the file; -1: unknown */
    char *model_name;      /* SAELens model_name; NULL when not recorded */
    enum gsae_dtype dtype; /* stored dtype of W_enc */
};

void sae_info_free(struct sae_info *info);

/* Load the SAE at path: an .npz file, a SAELens directory (or its cfg.json or
 * sae_weights.safetensors), or a directory holding params.npz. Fills p (caller frees with
 * sae_params_free) and info. Errors: GSAE_EIO / GSAE_ENOTFOUND (missing file or key),
 * GSAE_EFORMAT (malformed archive, header, dtype, shape, config, non-finite value),
 * GSAE_ENOMEM. On failure nothing is left allocated. */
enum gsae_status sae_load(const char *path, struct sae_params *p, struct sae_info *info,
                          struct gsae_error *err);

/* What sae_load would report in info (layout, path, layer, model name) without reading any
 * tensor: cfg.json for SAELens, the path's "layer_N" hint for an .npz. For ranks that need the
 * hooked layer but not the weights. Errors: those of cfg.json (see sae_load). */
enum gsae_status sae_probe(const char *path, struct sae_info *info, struct gsae_error *err);

/* Check a requested layer (>= 0; -1: none) against a "layer_N" component of info->path (a
 * Gemma Scope folder names its layer so): they must agree. Errors: GSAE_EINVAL naming the path
 * and both layers. */
enum gsae_status sae_check_layer(const struct sae_info *info, int64_t requested_layer,
                                 struct gsae_error *err);

/* Check an SAE against the model it is used with: d_in must equal the hidden size, and the
 * layer (requested >= 0, else the file's) must exist and, when both are known, agree with the
 * file's and with a layer_N in its path (sae_check_layer). On success *layer is the layer to hook,
 * -1 when neither the request nor the file names one. When the file records a model name that
 * differs from model_name (ignoring case and an "org/" prefix), a one-line warning is written
 * to warning (empty otherwise). Errors: GSAE_EINVAL / GSAE_EFORMAT naming the file. */
enum gsae_status sae_check_model(const struct sae_info *info, const struct sae_params *p,
                                 const struct gemma_config *cfg, const char *model_name,
                                 int64_t requested_layer, int64_t *layer, char *warning,
                                 size_t warning_len, struct gsae_error *err);

/* How to write an SAE. */
struct sae_save_opts {
    enum sae_layout layout;
    enum npz_compression compression; /* npz only */
    int64_t layer;                    /* SAELens hook_name / hook_layer */
    const char *model_name;           /* SAELens model_name (NULL: "unknown") */
};

/* Write p to path: an .npz file (f32 members W_enc, W_dec, b_enc, b_dec, threshold), or a
 * SAELens directory (created if needed) with cfg.json and sae_weights.safetensors in f32.
 * Files are written through path.tmp and renamed. */
enum gsae_status sae_save(const char *path, const struct sae_params *p,
                          const struct sae_save_opts *opts, struct gsae_error *err);
