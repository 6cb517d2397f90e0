/* dpca_store.h: PCA rows from an activation store (io/store.h), as struct dpca_rows sources.
 *
 * Two kinds of rows, each rank streaming its own contiguous share of the store's parts
 * (parts [P r / size, P (r + 1) / size) of the P listed in the manifest, in index order):
 *   DPCA_STORE_RESID     every token's resid_post vector (the store must keep residuals);
 *   DPCA_STORE_FEATURES  the notebook's co-occurrence analysis: the tokens where a feature
 *                        list F fires (sum of its activations > 0), each reconstructed from
 *                        those features only, acts[t, F] @ W_dec[F] (src/pca.h).
 * Rows are in store order (part, then token), so the global row order is rank order.
 *
 * For every local row the source also keeps the token's identity and its context for reports:
 * the global token number (window * context_size + offset), doc, pos, token id, and the ids of
 * the DPCA_CONTEXT_BEFORE tokens before and DPCA_CONTEXT_AFTER after it within its window
 * (-1 where the window ends), the token itself in the middle.
 */
#pragma once

#include <stdint.h>

#include "../io/manifest.h"
#include "../io/store.h"
#include "../src/sae.h"
#include "dpca.h"

#define DPCA_CONTEXT_BEFORE 5
#define DPCA_CONTEXT_AFTER  3
#define DPCA_CONTEXT_LEN    (DPCA_CONTEXT_BEFORE + 1 + DPCA_CONTEXT_AFTER)

enum dpca_store_kind { DPCA_STORE_RESID, DPCA_STORE_FEATURES };

struct dpca_store_rows {
    enum dpca_store_kind kind;
    char dir[4096];
    struct manifest manifest;
    int64_t part_begin, part_end; /* this rank's parts, as positions in manifest.parts */
    int64_t d;                    /* row length (d_model) */
    int64_t n_local;
    /* Per local row (n_local each; context (n_local, DPCA_CONTEXT_LEN)). */
    int64_t *token, *doc, *pos;
    int32_t *token_id, *context;
    /* DPCA_STORE_FEATURES: the list, its W_dec rows (n_features, d) and each row's coefficients
     * (n_local, n_features). */
    int64_t *features, n_features;
    double *w_rows, *coef;
    /* DPCA_STORE_RESID: first local row of each of this rank's parts (part_end - part_begin + 1),
     * and the part currently loaded (-1: none). */
    int64_t *part_row0;
    int64_t loaded;
    struct store_part part;
};

/* Open this rank's share of the store in dir and describe it as rows for dpca_run. For
 * DPCA_STORE_FEATURES, features (n_features ids < d_sae) and w_rows (n_features, d_model; the
 * W_dec rows of those features, in list order) are copied. Local (no communication): the
 * caller's dpca_run agrees on the outcome. rows->ctx points to src, valid until
 * dpca_store_rows_free. Errors: GSAE_ENOTFOUND (no manifest), GSAE_EFORMAT (a part, naming the
 * file and the variable; no residuals for DPCA_STORE_RESID; d_model differs from w_rows'),
 * GSAE_EINVAL, GSAE_ENOMEM. */
enum gsae_status dpca_store_rows_open(const char *dir, enum dpca_store_kind kind,
                                      const int64_t *features, int64_t n_features,
                                      const double *w_rows, int64_t w_d, int rank, int size,
                                      struct dpca_store_rows *src, struct dpca_rows *rows,
                                      struct gsae_error *err);

/* Release everything (harmless on a zeroed or half-built struct, and twice). */
void dpca_store_rows_free(struct dpca_store_rows *src);

/* The per-row results of a store PCA gathered on rank 0 in rank order (NULL elsewhere). */
struct dpca_store_table {
    double *pc;                 /* (n_rows, k) */
    int64_t *token, *doc, *pos; /* (n_rows) each */
    int32_t *token_id;          /* (n_rows) */
    int32_t *context;           /* (n_rows, DPCA_CONTEXT_LEN) */
    int64_t n_rows;
};

/* Gather every rank's projected rows (r->transformed) and src's row descriptions into t on
 * rank 0 of comm. Collective on comm. Release with dpca_store_table_free. */
enum gsae_status dpca_store_gather(MPI_Comm comm, const struct dpca_result *r,
                                   const struct dpca_store_rows *src, struct dpca_store_table *t,
                                   struct gsae_error *err);

/* Free the arrays and zero t (harmless on a zeroed struct). */
void dpca_store_table_free(struct dpca_store_table *t);

/* The SAE a store was harvested with, as its parts record it (io/store.h global attributes of
 * the first part the manifest lists; gsae harvest writes the same ones into every part). */
#define DPCA_SAE_HASH_LEN 72
struct dpca_store_sae {
    char part[4200]; /* the part read */
    int64_t d_sae;
    char sae_hash[DPCA_SAE_HASH_LEN]; /* "none" for stores written without an SAE */
};

/* Read the SAE identity of the store in dir. Local. Errors: GSAE_ENOTFOUND (no manifest, or no
 * part listed), GSAE_EIO (the part cannot be opened), GSAE_EFORMAT (attribute missing). */
enum gsae_status dpca_store_sae_read(const char *dir, struct dpca_store_sae *out,
                                     struct gsae_error *err);

/* The SAE's identity as gsae harvest records it in sae_hash: FNV-1a 64 (src/hash.h) over W_enc,
 * b_enc and threshold as f32, in that order, written as 16 lower-case hex digits into out
 * (at least 17 bytes). */
void dpca_sae_hash(const struct sae_params *p, char *out, size_t size);

/* Check a decoder against the store's SAE: its width (d_sae rows, from the file named `what`)
 * must equal the store's d_sae, and when hash is not NULL and the store records an SAE (not
 * "none"), the hashes must be equal. Errors: GSAE_EINVAL naming the file, the field and the
 * value found versus the one the store expects. */
enum gsae_status dpca_store_sae_check(const struct dpca_store_sae *store, const char *what,
                                      int64_t d_sae, const char *hash, struct gsae_error *err);
