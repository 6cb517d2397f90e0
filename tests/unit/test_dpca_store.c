/* test_dpca_store.c: PCA row sources over an activation store (mpi/dpca_store.c).
 *
 * Alone it writes a small store (3 parts of 2 windows of 16 tokens, f32 residuals, sparse
 * activations) and checks the rows each source yields: every token for residual rows, the
 * firing tokens for a feature list, the token numbers and the context windows. With
 * --make-store DIR it writes the same store plus DIR/W_dec.npy for tests/pca/t_pca_store.sh,
 * which checks `gsae pca STORE` against numpy and scikit-learn. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../io/manifest.h"
#include "../../io/npy.h"
#include "../../io/store.h"
#include "../../mpi/dpca_store.h"
#include "../../src/rng.h"

enum { CTX = 16, WPP = 2, PARTS = 3, D_MODEL = 24, D_SAE = 40 };

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Token ids 1000 + global token number, so contexts are easy to check. Feature f fires on a
 * token with probability 1/8, with value 1 + (f % 3); residuals are Gaussian with a per-column
 * scale. */
static int make_store(const char *dir)
{
    struct gsae_error err = {0};
    struct store_meta meta = {.model = "test",
                              .model_config_hash = "0",
                              .sae_source = "test",
                              .sae_hash = "none",
                              .tokenizer_hash = "0",
                              .corpus = "test",
                              .job = "test",
                              .layer = 1,
                              .context_size = CTX,
                              .bos_token_id = 2,
                              .d_sae = D_SAE,
                              .d_model = D_MODEL,
                              .windows_per_part = WPP,
                              .resid = STORE_RESID_F32};
    struct manifest m;
    manifest_init(&m, "test", CTX, WPP);
    struct rng r;
    rng_seed(&r, 99);
    int32_t ids[CTX];
    int64_t doc[CTX], pos[CTX], row_ptr[CTX + 1];
    uint32_t index[CTX * D_SAE];
    float value[CTX * D_SAE], resid[CTX * D_MODEL];
    for (int p = 0; p < PARTS; p++) {
        struct store_part_writer *w = NULL;
        if (store_part_open(dir, p, &meta, &w, &err) != GSAE_OK) goto fail;
        for (int win = 0; win < WPP; win++) {
            int64_t nnz = 0, t0 = ((int64_t)p * WPP + win) * CTX;
            row_ptr[0] = 0;
            for (int t = 0; t < CTX; t++) {
                ids[t] = (int32_t)(1000 + t0 + t);
                doc[t] = (t0 + t) / 20;
                pos[t] = (t0 + t) % 20;
                for (int f = 0; f < D_SAE; f++)
                    if (rng_below(&r, 8) == 0) {
                        index[nnz] = (uint32_t)f;
                        value[nnz++] = 1.0f + (float)(f % 3);
                    }
                row_ptr[t + 1] = nnz;
                for (int c = 0; c < D_MODEL; c++)
                    resid[t * D_MODEL + c] = (float)(rng_normal(&r) * (1.0 + c % 5));
            }
            if (store_part_append(w, CTX, ids, doc, pos, row_ptr, index, value, resid, &err) !=
                GSAE_OK) {
                store_part_abort(w);
                goto fail;
            }
        }
        struct manifest_part mp = {0};
        if (store_part_commit(w, &mp.info, &err) != GSAE_OK || manifest_add(&m, &mp, &err))
            goto fail;
    }
    if (manifest_save(&m, dir, &err) != GSAE_OK) goto fail;
    manifest_free(&m);
    float w_dec[D_SAE * D_MODEL];
    for (int i = 0; i < D_SAE * D_MODEL; i++)
        w_dec[i] = (float)rng_normal(&r);
    char path[4096];
    snprintf(path, sizeof path, "%s/W_dec.npy", dir);
    struct gsae_tensor t = {
        .data = w_dec, .dtype = GSAE_DTYPE_F32, .n_dims = 2, .shape = {D_SAE, D_MODEL}};
    if (npy_save(path, &t, &err) != GSAE_OK) goto fail;
    return 0;
fail:
    fprintf(stderr, "make_store: %s\n", err.msg);
    manifest_free(&m);
    return 1;
}

static void check_sources(const char *dir)
{
    struct gsae_error err = {0};
    struct dpca_store_rows src;
    struct dpca_rows rows;
    CHECK(dpca_store_rows_open(dir, DPCA_STORE_RESID, NULL, 0, NULL, 0, 0, 1, &src, &rows, &err) ==
          GSAE_OK);
    CHECK(rows.d == D_MODEL && rows.n_local == PARTS * WPP * CTX);
    double buf[3 * D_MODEL];
    /* Rows 30..32 straddle the first part's end (32 tokens). */
    CHECK(rows.read(rows.ctx, 30, 3, buf, &err) == GSAE_OK);
    CHECK(src.token[31] == 31 && src.token_id[31] == 1031);
    /* Token 17 is the second token of window 1: context 5 before reach outside the window. */
    const int32_t *c = src.context + 17 * DPCA_CONTEXT_LEN;
    CHECK(c[0] == -1 && c[3] == -1 && c[4] == 1016 && c[5] == 1017 && c[8] == 1020);
    dpca_store_rows_free(&src);

    int64_t feats[2] = {3, 7};
    double w_rows[2 * D_MODEL] = {0};
    CHECK(dpca_store_rows_open(dir, DPCA_STORE_FEATURES, feats, 2, w_rows, D_MODEL, 0, 1, &src,
                               &rows, &err) == GSAE_OK);
    /* Each of 96 tokens fires a given feature with probability 1/8: 1 - (7/8)^2 of them. */
    CHECK(rows.n_local > 5 && rows.n_local < 50);
    for (int64_t i = 1; i < rows.n_local; i++)
        CHECK(src.token[i] > src.token[i - 1]);
    dpca_store_rows_free(&src);

    CHECK(dpca_store_rows_open("/nonexistent-store", DPCA_STORE_RESID, NULL, 0, NULL, 0, 0, 1, &src,
                               &rows, &err) != GSAE_OK);
    CHECK(strstr(err.msg, "nonexistent-store") != NULL);
    dpca_store_rows_free(&src);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--make-store") == 0)
        return mkdir(argv[2], 0777) == 0 ? make_store(argv[2]) : 1;
    char dir[] = "/tmp/gsae-dpca-store.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    if (make_store(dir) != 0) return 1;
    check_sources(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) failures++;
    printf("%d failures\n", failures);
    return failures != 0;
}
