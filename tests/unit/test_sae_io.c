/* test_sae_io.c: SAE files: Gemma Scope .npz and SAELens directories written and read back bit
 * for bit, the accepted spellings (w_enc, log_threshold, bf16 as <u2, b_dec folded into b_enc),
 * probing without tensors, the layer and model checks, and malformed files rejected naming the
 * file and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/npz.h"
#include "../../io/sae_io.h"
#include "../../io/safetensors.h"
#include "../common/check.h"

enum { D = 6, S = 10 };

static char dir[128]; /* scratch directory of the whole file */

static void make_sae(struct sae_params *p, uint64_t seed)
{
    struct gsae_error err = {0};
    assert_int_equal(sae_params_init(p, D, S, &err), GSAE_OK);
    check_fill_normal(p->w_enc, D * S, seed, 0.5);
    check_fill_normal(p->w_dec, S * D, seed + 1, 0.5);
    check_fill_normal(p->b_enc, S, seed + 2, 0.1);
    check_fill_normal(p->b_dec, D, seed + 3, 0.1);
    for (int f = 0; f < S; f++)
        p->threshold[f] = 0.05f * (float)(f + 1);
}

static void assert_same_sae(const struct sae_params *a, const struct sae_params *b)
{
    assert_int_equal(a->d_model, b->d_model);
    assert_int_equal(a->d_sae, b->d_sae);
    assert_memory_equal(a->w_enc, b->w_enc, sizeof(float) * D * S);
    assert_memory_equal(a->w_dec, b->w_dec, sizeof(float) * D * S);
    assert_memory_equal(a->b_enc, b->b_enc, sizeof(float) * S);
    assert_memory_equal(a->b_dec, b->b_dec, sizeof(float) * D);
    assert_memory_equal(a->threshold, b->threshold, sizeof(float) * S);
}

static const char *at(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, rel);
    return buf;
}

static void mkdirs(const char *rel)
{
    char path[512];
    at(rel, path, sizeof path);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

static void test_npz_round_trip(void **state)
{
    (void)state;
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 1);
    mkdirs("scope/layer_3/width_16/average_l0_7");
    for (int c = 0; c < 2; c++) {
        struct sae_save_opts o = {.layout = SAE_LAYOUT_NPZ,
                                  .compression =
                                      c ? NPZ_COMPRESSION_DEFLATED : NPZ_COMPRESSION_STORED};
        at("scope/layer_3/width_16/average_l0_7/params.npz", path, sizeof path);
        assert_int_equal(sae_save(path, &p, &o, &err), GSAE_OK);
        assert_int_equal(sae_load(path, &q, &info, &err), GSAE_OK);
        assert_same_sae(&p, &q);
        assert_int_equal(info.layout, SAE_LAYOUT_NPZ);
        assert_int_equal(info.layer, 3); /* the path's layer_3 */
        assert_int_equal(info.dtype, GSAE_DTYPE_F32);
        assert_null(info.model_name);
        assert_string_equal(info.path, path);
        sae_params_free(&q);
        sae_info_free(&info);
        /* the folder holding params.npz loads the same file */
        assert_int_equal(sae_load(at("scope/layer_3/width_16/average_l0_7/", path, sizeof path), &q,
                                  &info, &err),
                         GSAE_OK);
        assert_same_sae(&p, &q);
        assert_non_null(strstr(info.path, "average_l0_7/params.npz"));
        sae_params_free(&q);
        sae_info_free(&info);
    }
    /* probing reads no tensor: the layer hint only */
    assert_int_equal(sae_probe(path, &info, &err), GSAE_OK);
    assert_int_equal(info.layout, SAE_LAYOUT_NPZ);
    assert_int_equal(info.layer, 3);
    sae_info_free(&info);
    sae_params_free(&p);
}

static void test_saelens_round_trip(void **state)
{
    (void)state;
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 2);
    struct sae_save_opts o = {
        .layout = SAE_LAYOUT_SAELENS, .layer = 2, .model_name = "google/gemma-2-2b"};
    at("lens", path, sizeof path);
    assert_int_equal(sae_save(path, &p, &o, &err), GSAE_OK);
    const char *spellings[] = {"lens", "lens/", "lens/cfg.json", "lens/sae_weights.safetensors"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        assert_int_equal(sae_load(at(spellings[i], path, sizeof path), &q, &info, &err), GSAE_OK);
        assert_same_sae(&p, &q);
        assert_int_equal(info.layout, SAE_LAYOUT_SAELENS);
        assert_int_equal(info.layer, 2);
        assert_string_equal(info.model_name, "google/gemma-2-2b");
        assert_string_equal(info.path, at("lens", path, sizeof path));
        sae_params_free(&q);
        sae_info_free(&info);
    }
    assert_int_equal(sae_probe(at("lens", path, sizeof path), &info, &err), GSAE_OK);
    assert_int_equal(info.layout, SAE_LAYOUT_SAELENS);
    assert_int_equal(info.layer, 2);
    assert_string_equal(info.model_name, "google/gemma-2-2b");
    sae_info_free(&info);
    o.layer = -1;
    check_error(sae_save(at("lens2", path, sizeof path), &p, &o, &err), GSAE_EINVAL, &err, "lens2",
                "hook layer");
    sae_params_free(&p);
}

static struct gsae_tensor f32(const float *x, int n_dims, int64_t a, int64_t b)
{
    struct gsae_tensor t = {.data = x, .dtype = GSAE_DTYPE_F32, .n_dims = n_dims};
    t.shape[0] = a;
    t.shape[1] = b;
    return t;
}

/* lower-case w_enc/w_dec; W_enc in bf16 stored as <u2 (NumPy has no bfloat16) */
static void test_npz_spellings(void **state)
{
    (void)state;
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 3);
    uint16_t enc16[D * S];
    for (int i = 0; i < D * S; i++) {
        enc16[i] = gsae_f32_to_bf16(p.w_enc[i]);
        p.w_enc[i] = gsae_bf16_to_f32(enc16[i]);
    }
    struct npz_item items[] = {
        {"w_enc", {.data = enc16, .dtype = GSAE_DTYPE_U16, .n_dims = 2, .shape = {D, S}}},
        {"w_dec", f32(p.w_dec, 2, S, D)},
        {"b_enc", f32(p.b_enc, 1, S, 0)},
        {"b_dec", f32(p.b_dec, 1, D, 0)},
        {"threshold", f32(p.threshold, 1, S, 0)},
        {"unrelated", f32(p.b_dec, 1, D, 0)}, /* other arrays are ignored */
    };
    assert_int_equal(
        npz_write(at("spell.npz", path, sizeof path), items, 6, NPZ_COMPRESSION_DEFLATED, &err),
        GSAE_OK);
    assert_int_equal(sae_load(path, &q, &info, &err), GSAE_OK);
    assert_same_sae(&p, &q);
    assert_int_equal(info.dtype, GSAE_DTYPE_BF16);
    assert_int_equal(info.layer, -1); /* nothing in the path */
    sae_params_free(&q);
    sae_info_free(&info);
    sae_params_free(&p);
}

/* A SAELens directory written by hand: cfg.json text and the tensors given. */
static void write_lens(const char *rel, const char *cfg, const struct sft_item *items, int n)
{
    char path[512], file[600];
    mkdirs(rel);
    at(rel, path, sizeof path);
    snprintf(file, sizeof file, "%s/cfg.json", path);
    check_write_text(file, cfg);
    snprintf(file, sizeof file, "%s/sae_weights.safetensors", path);
    struct gsae_error err = {0};
    assert_int_equal(sft_write(file, items, n, NULL, 0, &err), GSAE_OK);
}

#define CFG(extra)                                                                                 \
    "{\"architecture\": \"jumprelu\", \"d_in\": 6, \"d_sae\": 10, "                                \
    "\"hook_name\": \"blocks.4.hook_resid_post\"" extra "}"

/* log_threshold in place of threshold; apply_b_dec_to_input folded into b_enc */
static void test_saelens_spellings(void **state)
{
    (void)state;
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 4);
    float logt[S];
    for (int f = 0; f < S; f++)
        logt[f] = logf(p.threshold[f]);
    struct sft_item items[] = {
        {"W_enc", f32(p.w_enc, 2, D, S)},      {"W_dec", f32(p.w_dec, 2, S, D)},
        {"b_enc", f32(p.b_enc, 1, S, 0)},      {"b_dec", f32(p.b_dec, 1, D, 0)},
        {"log_threshold", f32(logt, 1, S, 0)},
    };
    write_lens("fold", CFG(", \"apply_b_dec_to_input\": true, \"hook_layer\": 4"), items, 5);
    assert_int_equal(sae_load(at("fold", path, sizeof path), &q, &info, &err), GSAE_OK);
    assert_int_equal(info.layer, 4);
    assert_memory_equal(q.w_enc, p.w_enc, sizeof p.w_enc[0] * D * S);
    for (int f = 0; f < S; f++) {
        assert_true(check_close(q.threshold[f], p.threshold[f], 1e-6, 0));
        double want = p.b_enc[f];
        for (int i = 0; i < D; i++)
            want -= (double)p.b_dec[i] * p.w_enc[i * S + f];
        if (!check_close(q.b_enc[f], want, 1e-5, 1e-6))
            fail_msg("b_enc[%d] %.9g, expected b_enc - b_dec W_enc = %.9g", f, (double)q.b_enc[f],
                     want);
    }
    sae_params_free(&q);
    sae_info_free(&info);
    sae_params_free(&p);
}

static void expect_lens_error(const char *rel, const char *cfg, enum gsae_status code,
                              const char *file, const char *needle)
{
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 5);
    struct sft_item items[] = {
        {"W_enc", f32(p.w_enc, 2, D, S)},         {"W_dec", f32(p.w_dec, 2, S, D)},
        {"b_enc", f32(p.b_enc, 1, S, 0)},         {"b_dec", f32(p.b_dec, 1, D, 0)},
        {"threshold", f32(p.threshold, 1, S, 0)},
    };
    write_lens(rel, cfg, items, 5);
    char want_file[600];
    snprintf(want_file, sizeof want_file, "%s/%s", rel, file);
    check_error(sae_load(at(rel, path, sizeof path), &q, &info, &err), code, &err, want_file,
                needle);
    assert_null(q.w_enc);
    assert_null(info.path);
    sae_params_free(&p);
}

static void test_saelens_errors(void **state)
{
    (void)state;
    expect_lens_error("e1", "{\"architecture\": \"standard\"}", GSAE_EFORMAT, "cfg.json",
                      "'architecture' is \"standard\"");
    expect_lens_error("e2", "{\"d_in\": 6}", GSAE_EFORMAT, "cfg.json", "'architecture' is missing");
    expect_lens_error("e3", "{\"architecture\": \"jumprelu\", \"d_in\": 6}", GSAE_EFORMAT,
                      "cfg.json", "'d_sae'");
    expect_lens_error("e4",
                      "{\"architecture\": \"jumprelu\", \"d_in\": 6, \"d_sae\": 10, "
                      "\"hook_name\": \"blocks.4.hook_mlp_out\"}",
                      GSAE_EFORMAT, "cfg.json", "'hook_name' is blocks.4.hook_mlp_out");
    expect_lens_error("e5", CFG(", \"hook_layer\": 5"), GSAE_EFORMAT, "cfg.json", "'hook_layer' 5");
    expect_lens_error("e6", CFG(", \"normalize_activations\": \"expected_average_only_in\""),
                      GSAE_EFORMAT, "cfg.json", "'normalize_activations'");
    expect_lens_error("e7",
                      "{\"architecture\": \"jumprelu\", \"d_in\": 7, \"d_sae\": 10, "
                      "\"hook_name\": \"blocks.4.hook_resid_post\"}",
                      GSAE_EFORMAT, "cfg.json", "'d_in' 7");
    expect_lens_error("e8", "{\"architecture\": \"jumprelu\",", GSAE_EFORMAT, "cfg.json", "line 1");
    /* no cfg.json at all */
    struct sae_params q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    mkdirs("empty");
    check_error(sae_load(at("empty", path, sizeof path), &q, &info, &err), GSAE_ENOTFOUND, &err,
                "empty/cfg.json");
}

/* An .npz with the five members, then one changed by edit. */
static void expect_npz_error(const char *name, int edit, const char *needle, enum gsae_status code)
{
    struct sae_params p, q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    make_sae(&p, 6);
    int32_t ints[S] = {0};
    struct npz_item items[6] = {
        {"W_enc", f32(p.w_enc, 2, D, S)},         {"W_dec", f32(p.w_dec, 2, S, D)},
        {"b_enc", f32(p.b_enc, 1, S, 0)},         {"b_dec", f32(p.b_dec, 1, D, 0)},
        {"threshold", f32(p.threshold, 1, S, 0)},
    };
    int n = 5;
    switch (edit) {
    case 0:
        n = 4;
        break; /* threshold missing */
    case 1:
        items[1].t = f32(p.w_dec, 2, D, S);
        break; /* W_dec transposed */
    case 2:
        items[2].t.dtype = GSAE_DTYPE_I32, items[2].t.data = ints;
        break; /* int b_enc */
    case 3:
        items[n++] = (struct npz_item){"w_enc", f32(p.w_enc, 2, D, S)};
        break;
    case 4:
        p.b_dec[3] = NAN;
        break;
    case 5:
        items[0].t = f32(p.w_enc, 1, D * S, 0);
        break; /* W_enc not a matrix */
    case 6:
        items[3].t = f32(p.b_dec, 1, D - 1, 0);
        break; /* b_dec short */
    }
    assert_int_equal(npz_write(at(name, path, sizeof path), items, n, NPZ_COMPRESSION_STORED, &err),
                     GSAE_OK);
    check_error(sae_load(path, &q, &info, &err), code, &err, name, needle);
    assert_null(q.w_enc);
    assert_null(info.path);
    sae_params_free(&p);
}

static void test_npz_errors(void **state)
{
    (void)state;
    expect_npz_error("missing.npz", 0, "missing key 'threshold'", GSAE_ENOTFOUND);
    expect_npz_error("wdec.npz", 1, "'W_dec' has shape (6, 10), expected (10, 6)", GSAE_EFORMAT);
    expect_npz_error("int.npz", 2, "'b_enc' has dtype I32", GSAE_EFORMAT);
    expect_npz_error("twice.npz", 3, "'W_enc' is given twice", GSAE_EFORMAT);
    expect_npz_error("nan.npz", 4, "b_dec", GSAE_EFORMAT);
    expect_npz_error("vector.npz", 5, "'W_enc' has shape (60,)", GSAE_EFORMAT);
    expect_npz_error("short.npz", 6, "'b_dec' has shape (5,), expected (6,)", GSAE_EFORMAT);
    struct sae_params q;
    struct sae_info info;
    struct gsae_error err = {0};
    char path[512];
    assert_int_not_equal(sae_load(at("none.npz", path, sizeof path), &q, &info, &err), GSAE_OK);
    assert_non_null(strstr(err.msg, "none.npz"));
    check_write_text(at("text.npz", path, sizeof path), "not a zip archive\n");
    check_error(sae_load(path, &q, &info, &err), GSAE_EFORMAT, &err, "text.npz");
}

static void test_checks(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 7);
    struct gsae_error err = {0};
    struct gemma_config cfg = {.n_layers = 6, .d_model = D};
    char warning[256];
    int64_t layer = -9;
    struct sae_info npz = {.layout = SAE_LAYOUT_NPZ, .path = "s/layer_5/w/params.npz", .layer = 5};
    assert_int_equal(sae_check_layer(&npz, 5, &err), GSAE_OK);
    assert_int_equal(sae_check_layer(&npz, -1, &err), GSAE_OK);
    check_error(sae_check_layer(&npz, 4, &err), GSAE_EINVAL, &err, "s/layer_5/w/params.npz",
                "layer_5", "layer 4");
    assert_int_equal(
        sae_check_model(&npz, &p, &cfg, "gemma", -1, &layer, warning, sizeof warning, &err),
        GSAE_OK);
    assert_int_equal(layer, 5);
    assert_string_equal(warning, "");
    cfg.n_layers = 5;
    check_error(sae_check_model(&npz, &p, &cfg, NULL, -1, &layer, warning, sizeof warning, &err),
                GSAE_EINVAL, &err, "params.npz", "layer 5 does not exist", "5 layers");
    cfg.d_model = D + 1;
    check_error(sae_check_model(&npz, &p, &cfg, NULL, -1, &layer, warning, sizeof warning, &err),
                GSAE_EFORMAT, &err, "params.npz", "'d_in' is 6", "hidden_size is 7");
    cfg = (struct gemma_config){.n_layers = 26, .d_model = D};
    struct sae_info lens = {.layout = SAE_LAYOUT_SAELENS,
                            .path = "lensdir",
                            .layer = 12,
                            .model_name = "google/gemma-2-2b"};
    check_error(sae_check_model(&lens, &p, &cfg, NULL, 13, &layer, warning, sizeof warning, &err),
                GSAE_EINVAL, &err, "lensdir", "blocks.12.hook_resid_post", "layer 13");
    assert_int_equal(
        sae_check_model(&lens, &p, &cfg, "Gemma-2-2B", 12, &layer, warning, sizeof warning, &err),
        GSAE_OK);
    assert_int_equal(layer, 12);
    assert_string_equal(warning, ""); /* case and "org/" do not matter */
    assert_int_equal(sae_check_model(&lens, &p, &cfg, "google/gemma-2-9b", -1, &layer, warning,
                                     sizeof warning, &err),
                     GSAE_OK);
    assert_non_null(strstr(warning, "gemma-2-2b"));
    assert_non_null(strstr(warning, "gemma-2-9b"));
    struct sae_info none = {.layout = SAE_LAYOUT_NPZ, .path = "plain.npz", .layer = -1};
    assert_int_equal(
        sae_check_model(&none, &p, &cfg, NULL, -1, &layer, warning, sizeof warning, &err), GSAE_OK);
    assert_int_equal(layer, -1);
    sae_params_free(&p);
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "sae-io");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return check_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npz_round_trip), cmocka_unit_test(test_saelens_round_trip),
        cmocka_unit_test(test_npz_spellings),  cmocka_unit_test(test_saelens_spellings),
        cmocka_unit_test(test_saelens_errors), cmocka_unit_test(test_npz_errors),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
