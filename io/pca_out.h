/* pca_out.h: PCA results of `gsae pca` on a store as NetCDF-4 and CSV.
 *
 * NetCDF schema (pca.nc), schema_version 2 (version 1 called the dimension context_slot
 * "context", like the variable, which xarray refuses):
 *   dimensions:  row = n_rows ; component = k ; d = row length ;
 *                context_slot = context_len ; feature = n_features (feature rows only)
 *   variables:   (each with CF long_name and units = "1")
 *     double pc(row, component) ;           // centered rows projected on the components
 *     int64  token(row) ;                   // global token number in the store
 *                                           // (window * context_size + offset)
 *     int64  doc(row), pos(row) ;           // document and position (-1: inserted <bos>)
 *     int    token_id(row) ;
 *     int    context(row, context_slot) ;   // token ids around the token, the token at index
 *                                           // attribute context_before; -1 outside its window
 *     double components(component, d) ;     // unit rows, sign: largest |entry| positive
 *     double explained_variance(component) ; // eigenvalue / (n_rows - 1)
 *     double explained_variance_ratio(component) ;
 *     double mean(d) ;
 *     int64  feature(feature) ;             // coordinate: the feature list (feature rows only)
 *     int64  features(feature) ;            // the same (the name version 1 gave it)
 *     string token_text(row) ;              // the token's text (when a tokenizer was given)
 *     string context_text(row) ;            // "prefix|token|suffix": the text of the 5
 *                                           // tokens before, the token, the 3 after
 *   global attributes: schema_version = 2, title, source (store path), rows ("resid_post" or
 *     "features"), n_rows, total_variance, context_before, context_after.
 *   pc is chunked (min(n_rows, 65536) rows, k) and deflated (level 4) with shuffle.
 *
 * Report CSVs (what `gsae report` plots): pca_scores.csv `token,pc1,...,pck,token_id,
 * token_index,context` (token: the token's text when given, else its id; token_index: the
 * global token number) and pca_explained.csv `component,explained_variance,
 * explained_variance_ratio` (component PC1..PCk).
 *
 * CSV (pca.csv): header `row,token,doc,pos,token_id,PC1,...,PCk,context`, one line per row;
 * context is `prefix|token|suffix` (the text of the tokens before, the token, the tokens after)
 * when text is given, else the same with space-separated token ids; quoted as CSV requires.
 */
#pragma once

#include <stdint.h>

#include "../src/gsae.h"

struct pca_table {
    int64_t n_rows, k, d;
    const double *pc;                 /* (n_rows, k) */
    const int64_t *token, *doc, *pos; /* (n_rows) each */
    const int32_t *token_id;          /* (n_rows) */
    const int32_t *context;           /* (n_rows, context_len) */
    int64_t context_len, context_before;
    const double *components;                                    /* (k, d) */
    const double *explained_variance, *explained_variance_ratio; /* (k) */
    const double *mean;                                          /* (d) */
    double total_variance;
    const char *source, *rows_kind;
    const int64_t *features; /* (n_features), or NULL */
    int64_t n_features;
    /* Optional (NULL: not written): each row's token text and its context
     * "prefix|token|suffix" (n_rows NUL-terminated strings each). */
    const char *const *token_text, *const *context_text;
};

/* Write t to path (NetCDF-4, via path.tmp and rename). Local. Errors: GSAE_EIO naming the file
 * and the variable, with nc_strerror. */
enum gsae_status pca_nc_write(const char *path, const struct pca_table *t, struct gsae_error *err);

/* Write t to path as CSV. context_text (n_rows NUL-terminated strings, each already
 * "prefix|token|suffix") or NULL for ids. Local. Errors: GSAE_EIO. */
enum gsae_status pca_csv_write(const char *path, const struct pca_table *t,
                               const char *const *context_text, struct gsae_error *err);

/* Write pca_scores.csv-style rows to path. token_text and context_text: n_rows strings each, or
 * NULL for ids. Local. Errors: GSAE_EIO. */
enum gsae_status pca_scores_write(const char *path, const struct pca_table *t,
                                  const char *const *token_text, const char *const *context_text,
                                  struct gsae_error *err);

/* Write pca_explained.csv-style rows to path. Local. Errors: GSAE_EIO. */
enum gsae_status pca_explained_write(const char *path, const struct pca_table *t,
                                     struct gsae_error *err);

/* Each row of t's token text and its context "prefix|token|suffix" (t->context_before tokens
 * before, the token, the rest after; ids < 0 are skipped), decoded with the tokenizer at
 * tokenizer_path, as malloc'd strings in *token_text and *context_text (n_rows each; free
 * both with pca_texts_free, also after a failure). Local. Errors: those of tokenizer_load and
 * tokenizer_decode, GSAE_ENOMEM. */
enum gsae_status pca_texts_decode(const char *tokenizer_path, const struct pca_table *t,
                                  char ***token_text, char ***context_text, struct gsae_error *err);

/* Free n strings of texts and the array; safe with NULL. */
void pca_texts_free(char **texts, int64_t n);
