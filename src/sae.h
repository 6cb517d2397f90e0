/* sae.h: Gemma Scope JumpReLU sparse autoencoders: parameters, encode, decode, error term.
 *
 * For a residual row x (d_model):
 *     pre   = x W_enc + b_enc                       (d_sae)
 *     acts  = pre where (pre > threshold and pre > 0), else 0
 *     recon = acts W_dec + b_dec                     (d_model)
 *     error = x - recon
 * b_dec is not subtracted from the input (Gemma Scope; SAELens apply_b_dec_to_input = false,
 * or folded into b_enc by the loader when true).
 *
 * Encoding a block of rows is one sgemm (rows x d_model times d_model x d_sae) followed by a
 * mask pass that keeps the surviving entries as a sparse CSR result (row offsets, feature
 * indices, values; features ascending within a row). Decoding reads only the active rows of
 * W_dec. Everything is f32 and row-major. No I/O here: io/sae_io.h loads and saves files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsae.h"

struct gemm_dnnl; /* src/gemm_dnnl.h */

struct sae_params {
    int64_t d_model;  /* d_in: the residual width */
    int64_t d_sae;    /* number of features */
    float *w_enc;     /* (d_model, d_sae) */
    float *w_dec;     /* (d_sae, d_model) */
    float *b_enc;     /* (d_sae) */
    float *b_dec;     /* (d_model) */
    float *threshold; /* (d_sae) JumpReLU thresholds */
};

/* Allocate zeroed parameters for (d_model, d_sae). Caller owns; release with sae_params_free.
 * Errors: GSAE_EINVAL (non-positive size, d_sae above INT32_MAX), GSAE_ENOMEM. */
enum gsae_status sae_params_init(struct sae_params *p, int64_t d_model, int64_t d_sae,
                                 struct gsae_error *err);

/* Free everything and zero the struct; safe on a zeroed struct and twice. */
void sae_params_free(struct sae_params *p);

/* Bytes the parameters of a (d_model, d_sae) SAE take in memory. */
size_t sae_params_bytes(int64_t d_model, int64_t d_sae);

/* Check that every parameter is finite. name (a file) prefixes the message, which names the
 * tensor and the first bad index: GSAE_EFORMAT. */
enum gsae_status sae_params_check(const struct sae_params *p, const char *name,
                                  struct gsae_error *err);

/* Sparse activations of n_rows rows, CSR: row r has entries [row_ptr[r], row_ptr[r+1]) of
 * feature/value, features ascending. Grows as needed; caller owns. */
struct sae_acts {
    int64_t n_rows, rows_cap;
    int64_t nnz, nnz_cap;
    int64_t *row_ptr; /* (n_rows + 1) */
    int32_t *feature; /* (nnz) */
    float *value;     /* (nnz) */
};

/* Empty result with room for rows_cap rows and nnz_cap entries (either may be 0). */
enum gsae_status sae_acts_init(struct sae_acts *a, int64_t rows_cap, int64_t nnz_cap,
                               struct gsae_error *err);
void sae_acts_free(struct sae_acts *a);
/* Drop all rows (keeps the memory). */
void sae_acts_clear(struct sae_acts *a);

/* Append rows [r0, r1) of src to dst. */
enum gsae_status sae_acts_append(struct sae_acts *dst, const struct sae_acts *src, int64_t r0,
                                 int64_t r1, struct gsae_error *err);

/* Scatter into a dense (n_rows, d_sae) matrix (zeros elsewhere). */
void sae_acts_to_dense(const struct sae_acts *a, int64_t d_sae, float *dense);

/* Workspace of the encoder: pre-activations for block_rows rows at a time. */
struct sae_encoder {
    const struct sae_params *p; /* borrowed; must outlive the encoder */
    int64_t block_rows;
    float *pre; /* (block_rows, d_sae) */
    /* bf16 mode (sae_encoder_set_bf16): */
    struct gemm_dnnl *dnnl; /* NULL in f32 mode */
    uint16_t *w_enc_bf16;   /* (d_model, d_sae), W_enc rounded to bf16 */
    uint16_t *x_bf16;       /* (block_rows, d_model) */
};

/* Set up an encoder for p that runs block_rows rows per sgemm (0 picks a block that keeps
 * the pre-activation buffer within 256 MiB). Caller owns; release with sae_encoder_free. */
enum gsae_status sae_encoder_init(struct sae_encoder *e, const struct sae_params *p,
                                  int64_t block_rows, struct gsae_error *err);
void sae_encoder_free(struct sae_encoder *e);

/* Switch the encoder's product x W_enc to bf16 (through oneDNN, src/gemm_dnnl.h): x and W_enc
 * rounded to bf16 (nearest even), products accumulated in f32; b_enc, the threshold and the
 * comparison stay f32. Costs a bf16 copy of W_enc (2 bytes per element, d_model * d_sae) and
 * block_rows * d_model bf16 of input scratch. Results are deterministic for a given block size
 * and thread count; they differ from f32 mode where a pre-activation is within bf16 rounding
 * of its threshold. Errors: GSAE_ENOMEM, GSAE_EINTERNAL (no oneDNN CPU engine). */
enum gsae_status sae_encoder_set_bf16(struct sae_encoder *e, struct gsae_error *err);

/* Encode n_rows rows of x (n_rows, d_model) into out (cleared first, then grown as needed).
 * Errors: GSAE_ENOMEM. */
enum gsae_status sae_encode(struct sae_encoder *e, const float *x, int64_t n_rows,
                            struct sae_acts *out, struct gsae_error *err);

/* recon (n_rows, d_model) = acts W_dec + b_dec for the rows of a. */
void sae_decode(const struct sae_params *p, const struct sae_acts *a, float *recon);

/* Like sae_decode, but features listed in drop[0..n_drop) contribute nothing (ablation). */
void sae_decode_without(const struct sae_params *p, const struct sae_acts *a, const int32_t *drop,
                        int64_t n_drop, float *recon);

/* error (n_rows, d_model) = x - decode(a), the part of x the SAE does not reconstruct. */
void sae_error_term(const struct sae_params *p, const float *x, const struct sae_acts *a,
                    float *error);

/* x (n_rows, d_model) += coef * W_dec[feature] on every row (steering). */
void sae_steer(const struct sae_params *p, float *x, int64_t n_rows, int64_t feature, float coef);

/* pre (n_rows, d_sae) = x (n_rows, d_model) W_enc: the encoder's linear part without b_enc,
 * one f32 sgemm (OpenBLAS threads). n_rows, d_model and d_sae must fit in int (asserted). Local;
 * for statistics of pre-activations, such as the thresholds of a calibrated random SAE. */
void sae_pre_linear(const struct sae_params *p, const float *x, int64_t n_rows, float *pre);

/* Activation of one feature for one row x (the JumpReLU of its pre-activation). */
float sae_feature_act(const struct sae_params *p, const float *x, int64_t feature);
