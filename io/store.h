/* store.h: NetCDF-4 activation stores: SAE features (sparse) and optional residuals per token.
 * (Writer: store_write.c; reader: store_read.c; shared checksum and durable renames: store.c;
 * the identity hashes a store records: store_id.h.)
 *
 * A store is a directory:
 *   part-00000.nc part-00001.nc ...   parts: runs of whole windows, one writer each
 *   manifest.json                     the parts that are complete, their checksums, and where
 *                                     the corpus stands (io/manifest.h); readers trust only it
 *   feature_stats.nc                  per-feature statistics (io/featstats_nc.h)
 *
 * A part is written as part-NNNNN.nc.tmp, closed, fsync'd and renamed into place; only then is
 * it added to the manifest (itself written to a temporary name, fsync'd and renamed). A crash
 * therefore leaves at most a stale .tmp or an unlisted part, never a listed half-written one.
 * Part k holds windows [k * windows_per_part, (k + 1) * windows_per_part) of the corpus stream
 * (src/window.h); the last part may hold fewer. Which rank wrote a part does not change its
 * content, so stores written with different numbers of replicas hold the same parts.
 *
 * Part schema, schema_version 2 (`ncdump -h part-00000.nc`). Parts are xarray-native: every
 * variable runs along token or nnz (resid_post also along d_model), the two dimensions that
 * concatenate across parts, and the sparse entries are indexed by per-token counts (not
 * offsets), which concatenate too, so the parts of a store read as one dataset (recipe in
 * README.md, "Reading stores from Python"; io/python/gsae_store.py):
 *
 *   dimensions:
 *     token = UNLIMITED ;   // n_windows * context_size tokens, window after window
 *     nnz = UNLIMITED ;     // non-zero SAE activations in the part
 *     d_model = D ;         // only when resid_post is stored
 *   variables:                  (every one has long_name and units; units "1": a count, an
 *                                index or a dimensionless value)
 *     int64  token(token) ;        // coordinate: global token number in the store,
 *                                  // window * context_size + position in the window; token t
 *                                  // of the part is token_offset + t
 *     int    token_id(token) ;     // tokenizer ids
 *     int64  doc(token) ;          // document number in the corpus (io/corpus.h numbering)
 *     int    pos(token) ;          // position in the document; -1 for an inserted <bos>
 *     int    sae_row_size(token) ; // CF contiguous ragged array count, attribute
 *                                  // sample_dimension = "nnz": the token's activations are the
 *                                  // next sae_row_size entries of sae_index/sae_value, tokens
 *                                  // in order (offsets are the running sum from 0, in the part
 *                                  // or in the parts concatenated in order)
 *     ushort sae_index(nnz) ;      // feature index, increasing within a token; NC_USHORT when
 *                                  // d_sae <= 65536, else NC_UINT
 *     float  sae_value(nnz) ;      // feature activation (JumpReLU output), non-zero
 *     float  resid_post(token, d_model) ;   // optional: the hooked residual stream, f32; or
 *     ushort resid_post(token, d_model) ;   // bf16 bits (upper half of binary32), attribute
 *                                           // encoding = "bfloat16"
 *   global attributes:
 *     schema_version (int) = 2; title; gsae_version; model; model_config_hash; sae_source;
 *     sae_hash; hook (e.g. "resid_post.20"); layer (int); d_model (int64, the model's, whether
 *     or not residuals are stored; 0 only where no model is known: `gsae store synth`), d_sae
 *     (int64); context_size, bos_token_id (int); tokenizer_hash; corpus (shard paths, one per
 *     line); job; window_rule; windows_per_part, part_index, first_window, token_offset
 *     (= first_window * context_size), n_windows, n_tokens, nnz (int64); content_fnv1a64 (16
 *     hex digits, see below).
 *
 * A writer cannot know how many entries earlier parts hold (replicas write parts at the same
 * time), so nothing in a part depends on other parts but the token numbers, which follow from
 * the part index alone.
 *
 * Schema_version 1 (still read by store_part_read; written by gsae before xarray-native parts)
 * had a dimension row = token + 1 and int64 sae_row_ptr(row), CSR offsets from 0 in each part,
 * instead of the token coordinate and sae_row_size; no token_offset and no long_name/units on
 * most variables; d_model 0 unless residuals were stored.
 * A harvest does not extend a store whose parts have another schema_version (pstore_harvest
 * refuses it), so the parts of a store always share one.
 *
 * Chunking and compression: every variable is chunked and compressed with shuffle + deflate
 * (level 4). Chunks: token/token_id/doc/pos/sae_row_size 16384 elements; sae_index/sae_value
 * 262144 elements; resid_post (64 tokens, d_model). Fill values are off.
 *
 * Content checksum: FNV-1a 64 over each variable's values as little-endian bytes of their
 * stored type (sae_index always as u32), each variable hashed separately from the FNV offset
 * basis; the part's checksum is FNV-1a over those hashes (as LE u64) in this order:
 *   version 2: token_id, doc, pos, sae_row_size, sae_index, sae_value, resid_post, token
 *   version 1: token_id, doc, pos, sae_row_ptr, sae_index, sae_value, resid_post
 * (resid_post hashes nothing when absent). It is stored in the part (content_fnv1a64) and in
 * the manifest; `gsae store verify` recomputes it. It catches corruption and edits, not a
 * deliberate forger.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"

#define STORE_SCHEMA_VERSION     2 /* what store_part_open writes */
#define STORE_SCHEMA_VERSION_MIN 1 /* the oldest store_part_read reads */

enum store_resid { STORE_RESID_NONE = 0, STORE_RESID_F32, STORE_RESID_BF16 };

/* What the store was made from; identical in every part. Strings are borrowed. */
struct store_meta {
    const char *model, *model_config_hash; /* checkpoint path/name and config hash */
    const char *sae_source, *sae_hash;
    const char *tokenizer_hash;
    const char *corpus; /* shard paths, one per line */
    const char *job;    /* job file, or "flags" */
    int64_t layer;      /* hook: resid_post.<layer> */
    int64_t context_size, bos_token_id;
    int64_t d_sae, d_model; /* d_model: the model's (0: none, e.g. synthetic stores); it is
                             * the residuals' width when resid != NONE */
    int64_t windows_per_part;
    enum store_resid resid;
};

/* The summary of a committed part (what the manifest lists). */
struct store_part_info {
    int64_t index, first_window, n_windows, n_tokens, nnz;
    uint64_t checksum;
    char file[32]; /* "part-00000.nc" */
};

struct store_part_writer;

/* Start part `index` (its first window is index * windows_per_part) in directory dir as
 * dir/part-NNNNN.nc.tmp (an old .tmp is replaced). Local. Owns the result: finish with
 * store_part_commit or store_part_abort. Errors: GSAE_EINVAL (meta), GSAE_EIO (netCDF). */
enum gsae_status store_part_open(const char *dir, int64_t index, const struct store_meta *meta,
                                 struct store_part_writer **out, struct gsae_error *err);

/* Append one window of n == context_size tokens: ids, doc and pos (n each), row_ptr (n + 1,
 * from 0: token t's features are index/value[row_ptr[t] .. row_ptr[t+1])), feature indices
 * (< d_sae) and values, and resid (n * d_model f32, row-major) when the store keeps residuals
 * (else NULL). Errors: GSAE_EINVAL (bad CSR, index out of range), GSAE_EIO. */
enum gsae_status store_part_append(struct store_part_writer *w, int64_t n, const int32_t *ids,
                                   const int64_t *doc, const int64_t *pos, const int64_t *row_ptr,
                                   const uint32_t *index, const float *value, const float *resid,
                                   struct gsae_error *err);

/* Close the part, fsync it and rename it into place; fill *info. Frees w (also on error, when
 * the .tmp file is removed). */
enum gsae_status store_part_commit(struct store_part_writer *w, struct store_part_info *info,
                                   struct gsae_error *err);

/* Drop an unfinished part: close and remove the .tmp file, free w (NULL is fine). */
void store_part_abort(struct store_part_writer *w);

/* A whole part read into memory. Arrays are malloc'd; store_part_free releases them. */
struct store_part {
    int64_t schema_version; /* STORE_SCHEMA_VERSION_MIN .. STORE_SCHEMA_VERSION */
    int64_t part_index, first_window, n_windows, n_tokens, nnz;
    int64_t context_size, d_sae;
    int64_t d_model; /* the attribute: the model's (version 1: 0 without residuals); the
                      * residuals' width when resid != NONE */
    enum store_resid resid;
    int32_t *token_id;      /* (n_tokens) */
    int64_t *doc;           /* (n_tokens) */
    int64_t *pos;           /* (n_tokens) */
    int64_t *row_ptr;       /* (n_tokens + 1) */
    uint32_t *index;        /* (nnz) */
    float *value;           /* (nnz) */
    float *resid_post;      /* (n_tokens, d_model) when read with residuals, else NULL */
    uint64_t checksum_attr; /* content_fnv1a64 as stored */
    uint64_t checksum;      /* recomputed from the data read (residuals only if read) */
};

/* Read a part of schema_version 1 or 2 (row_ptr is rebuilt from sae_row_size in version 2);
 * with_resid also reads resid_post (converted to f32). Checks schema_version, dimensions and
 * types, the token coordinate (version 2: token_offset + t) and the CSR structure (row_ptr
 * monotone from 0 to nnz, indices increasing within a token and < d_sae). Errors: GSAE_EIO
 * (cannot open), GSAE_EFORMAT (naming the file and the variable or attribute). */
enum gsae_status store_part_read(const char *path, bool with_resid, struct store_part *out,
                                 struct gsae_error *err);
void store_part_free(struct store_part *p);

/* The schema_version attribute of the part at path, without reading its data. Local. Errors:
 * GSAE_EIO (cannot open), GSAE_EFORMAT (no readable schema_version). */
enum gsae_status store_part_version(const char *path, int64_t *version, struct gsae_error *err);

/* Global attributes of a part as "name = value" lines in a malloc'd string (caller frees). */
enum gsae_status store_part_describe(const char *path, char **text, struct gsae_error *err);

/* "part-%05lld.nc" into buf (size >= 32). */
void store_part_name(int64_t index, char *buf, size_t size);

/* Write path.tmp with the given bytes, fsync, rename to path, fsync the directory. */
enum gsae_status store_write_atomic(const char *path, const void *data, size_t len,
                                    struct gsae_error *err);

/* Rename tmp to path and make both the file and the directory entry durable. */
enum gsae_status store_rename_durable(const char *tmp, const char *path, struct gsae_error *err);
