/* test_ckpt.c: checkpoint directories (config.json, single file and shards), selections, and
 * the canonical configs; error paths checked for status and for messages naming file and
 * tensor or field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "../../io/ckpt.h"
#include "../../src/hash.h"
#include "../common/check.h"

/* A small model: 3 layers, d_model 16, ffn 24, 2 heads (1 kv) of 8, vocab 32. */
#define CONFIG_FMT                                                                                 \
    "{\"_name_or_path\": \"test/tiny\", \"model_type\": \"gemma2\", \"vocab_size\": 32,"           \
    " \"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": %d,"                  \
    " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 8,"                    \
    " \"sliding_window\": 4, \"query_pre_attn_scalar\": 8, \"rms_norm_eps\": 1e-06,"               \
    " \"attn_logit_softcapping\": 50.0, \"final_logit_softcapping\": null,"                        \
    " \"eos_token_id\": [1, 107], \"tie_word_embeddings\": true%s}"

static const char *const suffixes[] = {
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "post_feedforward_layernorm.weight",
};
static const int64_t shapes[][2] = {{16, 16}, {8, 16}, {8, 16}, {16, 16}, {24, 16}, {24, 16},
                                    {16, 24}, {16, 0}, {16, 0}, {16, 0},  {16, 0}};

static void write_config(const char *dir, int n_layers, const char *extra)
{
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(text, sizeof text, CONFIG_FMT, n_layers, extra);
    check_write_text(path, text);
}

/* Tensor names and shapes of a model with n_layers layers (plus one tensor of the wrong
 * shape or dtype when asked); names live in the static buffer. */
struct model {
    int64_t n;
    char names[64][80];
    struct sft_item items[64];
};

static float zeros[32 * 16];

static void list_model(struct model *m, int n_layers, enum gsae_dtype dt)
{
    m->n = 0;
    snprintf(m->names[m->n], 80, "model.embed_tokens.weight");
    m->items[m->n] = (struct sft_item){m->names[m->n], {zeros, dt, 2, {32, 16}}};
    m->n++;
    for (int l = 0; l < n_layers; l++)
        for (int i = 0; i < 11; i++) {
            snprintf(m->names[m->n], 80, "model.layers.%d.%s", l, suffixes[i]);
            m->items[m->n] = (struct sft_item){
                m->names[m->n], {zeros, dt, shapes[i][1] ? 2 : 1, {shapes[i][0], shapes[i][1]}}};
            m->n++;
        }
    snprintf(m->names[m->n], 80, "model.norm.weight");
    m->items[m->n] = (struct sft_item){m->names[m->n], {zeros, dt, 1, {16}}};
    m->n++;
}

static void write_model(const char *dir, const struct model *m)
{
    char path[256];
    struct gsae_error err = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(sft_write(path, m->items, m->n, NULL, 0, &err), GSAE_OK);
}

static void make_dir(const char *dir, int n_layers)
{
    mkdir(dir, 0755);
    write_config(dir, n_layers, "");
    struct model m;
    list_model(&m, n_layers, GSAE_DTYPE_BF16);
    write_model(dir, &m);
}

static void expect_open_fail(const char *dir, const struct ckpt_select *sel, enum gsae_status code,
                             ...)
{
    struct ckpt c;
    struct gsae_error err = {0};
    enum gsae_status st = ckpt_open(&c, dir, sel, &err);
    if (st != code)
        print_error("status %s, expected %s (%s)\n", gsae_status_name(st), gsae_status_name(code),
                    err.msg);
    assert_int_equal(st, code);
    assert_null(strchr(err.msg, '\n'));
    va_list ap;
    va_start(ap, code);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(err.msg, s)) print_error("message '%s' lacks '%s'\n", err.msg, s);
        assert_non_null(strstr(err.msg, s));
    }
    va_end(ap);
    ckpt_close(&c);
}

static void test_open_all(void **state)
{
    (void)state;
    make_dir("m1", 3);
    struct ckpt c;
    struct gsae_error err = {0};
    assert_int_equal(ckpt_open(&c, "m1", NULL, &err), GSAE_OK);
    assert_int_equal(c.cfg.n_layers, 3);
    assert_int_equal(c.cfg.d_model, 16);
    assert_int_equal(c.cfg.eos_id, 1);        /* first of a list */
    assert_true(c.cfg.softcap_final == 0.0f); /* null disables */
    assert_true(c.cfg.softcap_attn == 50.0f);
    assert_true(c.cfg.rope_theta == 10000.0f); /* default */
    assert_int_equal(c.cfg.max_pos, 8192);     /* default */
    assert_string_equal(c.model_name, "test/tiny");
    assert_int_equal(c.n_files, 1);
    assert_int_equal(c.n_tensors, 2 + 3 * 11);
    assert_non_null(c.w.embed.data);
    assert_non_null(c.w.norm_final.data);
    for (int l = 0; l < 3; l++) {
        assert_non_null(c.w.layers[l].attn_q.data);
        assert_non_null(c.w.layers[l].norm_ffn_post.data);
        assert_int_equal(c.w.layers[l].ffn_down.shape[1], 24);
        assert_int_equal(c.w.layers[l].attn_k.dtype, GSAE_DTYPE_BF16);
    }
    size_t per_layer = 2 * (16 * 16 * 2 + 8 * 16 * 2 + 24 * 16 * 3 + 16 * 4);
    assert_int_equal(ckpt_bytes_selected(&c), 2 * (32 * 16 + 16) + 3 * per_layer);

    /* the hash is that of config.json's bytes */
    char text[2048];
    snprintf(text, sizeof text, CONFIG_FMT, 3, "");
    assert_true(c.config_hash == gsae_hash(text, strlen(text)));
    ckpt_close(&c);
    ckpt_close(&c);

    struct gemma_config cfg;
    assert_int_equal(ckpt_config_load("m1", &cfg, &err), GSAE_OK);
    assert_int_equal(cfg.n_kv_heads, 1);

    /* with both a single file and an index, the single file is used (as transformers does) */
    check_write_text("m1/model.safetensors.index.json",
                     "{\"weight_map\": {\"model.norm.weight\": \"gone.safetensors\"}}");
    assert_int_equal(ckpt_open(&c, "m1", NULL, &err), GSAE_OK);
    assert_int_equal(c.n_files, 1);
    assert_non_null(strstr(c.files[0].path, "m1/model.safetensors"));
    ckpt_close(&c);
}

static void test_select_stage(void **state)
{
    (void)state;
    make_dir("m2", 3);
    struct gemma_config cfg;
    struct gsae_error err = {0};
    assert_int_equal(ckpt_config_load("m2", &cfg, &err), GSAE_OK);
    struct ckpt_select mid = ckpt_select_stage(&cfg, 1, 2);
    assert_false(mid.embed);
    assert_false(mid.norm_final);
    struct ckpt_select last = ckpt_select_stage(&cfg, 2, 3);
    assert_true(last.embed && last.norm_final);
    struct ckpt_select first = ckpt_select_stage(&cfg, 0, 1);
    assert_true(first.embed && !first.norm_final);

    struct ckpt c;
    assert_int_equal(ckpt_open(&c, "m2", &mid, &err), GSAE_OK);
    assert_null(c.w.embed.data);
    assert_null(c.w.norm_final.data);
    assert_null(c.w.layers[0].attn_q.data);
    assert_non_null(c.w.layers[1].attn_q.data);
    assert_null(c.w.layers[2].ffn_up.data);
    assert_int_equal(c.n_tensors, 11);
    ckpt_close(&c);

    struct ckpt_select bad = {2, 4, false, false};
    expect_open_fail("m2", &bad, GSAE_EINVAL, "layers [2, 4)", "[0, 3)", NULL);
}

/* Two shards: layers 0-1 and the embedding in one, layer 2 and the norm in the other. A stage
 * running layer 2 opens only the second: it works with the first shard gone. */
static void test_sharded(void **state)
{
    (void)state;
    mkdir("m3", 0755);
    write_config("m3", 3, "");
    struct model m;
    list_model(&m, 3, GSAE_DTYPE_F32);
    struct gsae_error err = {0};
    int64_t split = 1 + 2 * 11;
    assert_int_equal(sft_write("m3/a.safetensors", m.items, split, NULL, 0, &err), GSAE_OK);
    assert_int_equal(sft_write("m3/b.safetensors", m.items + split, m.n - split, NULL, 0, &err),
                     GSAE_OK);
    char index[8192];
    int at = snprintf(index, sizeof index, "{\"metadata\": {}, \"weight_map\": {");
    for (int64_t i = 0; i < m.n; i++)
        at += snprintf(index + at, sizeof index - (size_t)at, "%s\"%s\": \"%s\"", i ? ", " : "",
                       m.names[i], i < split ? "a.safetensors" : "b.safetensors");
    snprintf(index + at, sizeof index - (size_t)at, "}}");
    check_write_text("m3/model.safetensors.index.json", index);

    struct ckpt c;
    assert_int_equal(ckpt_open(&c, "m3", NULL, &err), GSAE_OK);
    assert_int_equal(c.n_files, 2);
    assert_int_equal(c.w.layers[2].attn_o.dtype, GSAE_DTYPE_F32);
    ckpt_close(&c);

    struct ckpt_select mid = {2, 3, false, true};
    unlink("m3/a.safetensors");
    assert_int_equal(ckpt_open(&c, "m3", &mid, &err), GSAE_OK);
    assert_int_equal(c.n_files, 1);
    ckpt_close(&c);
    expect_open_fail("m3", NULL, GSAE_ENOTFOUND, "model.safetensors.index.json",
                     "shard 'a.safetensors'", "model.embed_tokens.weight", NULL);

    check_write_text("m3/model.safetensors.index.json",
                     "{\"weight_map\": {\"model.embed_tokens.weight\": \"../x.safetensors\"}}");
    struct ckpt_select emb = {0, 0, true, false};
    expect_open_fail("m3", &emb, GSAE_EFORMAT, "model.embed_tokens.weight", "outside", NULL);
    expect_open_fail("m3", &mid, GSAE_ENOTFOUND, "index.json",
                     "'model.layers.2.self_attn.q_proj.weight'", "missing from weight_map", NULL);
    check_write_text("m3/model.safetensors.index.json", "{\"weight_map\": []}");
    expect_open_fail("m3", &mid, GSAE_EFORMAT, "index.json", "'weight_map'", NULL);
}

static void test_tensor_errors(void **state)
{
    (void)state;
    struct model m;
    mkdir("m4", 0755);
    write_config("m4", 3, "");
    list_model(&m, 3, GSAE_DTYPE_BF16);
    m.items[5].t.shape[0] = 25; /* layer 0 gate_proj */
    write_model("m4", &m);
    expect_open_fail("m4", NULL, GSAE_EFORMAT, "m4/model.safetensors",
                     "'model.layers.0.mlp.gate_proj.weight'", "shape [25, 16], expected [24, 16]",
                     NULL);
    list_model(&m, 3, GSAE_DTYPE_BF16);
    m.items[2].t.dtype = GSAE_DTYPE_I16;
    write_model("m4", &m);
    expect_open_fail("m4", NULL, GSAE_EFORMAT, "'model.layers.0.self_attn.k_proj.weight'",
                     "dtype I16", NULL);
    list_model(&m, 3, GSAE_DTYPE_BF16);
    m.items[m.n - 2] = m.items[m.n - 1]; /* drop layer 2's post_feedforward_layernorm */
    m.n--;
    write_model("m4", &m);
    expect_open_fail("m4", NULL, GSAE_ENOTFOUND,
                     "'model.layers.2.post_feedforward_layernorm.weight'", "missing", NULL);
    /* a selection that does not need the missing tensor still opens */
    struct ckpt c;
    struct ckpt_select first = {0, 2, true, false};
    struct gsae_error err = {0};
    assert_int_equal(ckpt_open(&c, "m4", &first, &err), GSAE_OK);
    ckpt_close(&c);
    /* more layers in the weights than in the config */
    list_model(&m, 4, GSAE_DTYPE_BF16);
    write_model("m4", &m);
    expect_open_fail("m4", NULL, GSAE_EFORMAT, "'model.layers.3.", "num_hidden_layers 3", NULL);
    unlink("m4/model.safetensors");
    expect_open_fail("m4", NULL, GSAE_ENOTFOUND, "model.safetensors.index.json", NULL);
}

static void test_config_errors(void **state)
{
    (void)state;
    make_dir("m5", 3);
    write_config("m5", 3, ", \"hidden_size\": 16");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "m5/config.json", "not valid JSON", NULL);
    check_write_text("m5/config.json", "{\"vocab_size\": 32,");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "m5/config.json", "not valid JSON", NULL);
    check_write_text("m5/config.json", "[]");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "m5/config.json", "not an object", NULL);
    check_write_text("m5/config.json", "{\"vocab_size\": 32}");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "m5/config.json", "'hidden_size' is missing", NULL);
    write_config("m5", 3, ", \"rope_theta\": \"10000\"");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", "'rope_theta' is a string", NULL);
    write_config("m5", 3, ", \"model_type\": \"llama\"");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", NULL); /* duplicate key */
    check_write_text("m5/config.json", "{\"model_type\": \"llama\"}");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", NULL);
    write_config("m5", 3, ", \"tie_word_embeddings\": false");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", NULL);
    write_config("m5", 0, "");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "m5/config.json", "'num_hidden_layers' is 0", NULL);
    write_config("m5", 3, ", \"rms_norm_eps_x\": 1, \"rope_theta\": -1");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", "'rope_theta'", NULL);
    write_config("m5", 3, ", \"bos_token_id\": 99");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", "'bos_token_id' is 99", NULL);
    write_config("m5", 3, ", \"sliding_window\": 1e400");
    expect_open_fail("m5", NULL, GSAE_EFORMAT, "config.json", NULL);
    unlink("m5/config.json");
    expect_open_fail("m5", NULL, GSAE_ENOTFOUND, "m5/config.json", NULL);
    expect_open_fail("no-such-dir", NULL, GSAE_ENOTFOUND, "no-such-dir/config.json", NULL);
}

static void test_canonical_configs(void **state)
{
    (void)state;
    struct gemma_config (*fns[])(void) = {gemma_config_2b, gemma_config_9b, gemma_config_27b,
                                          gemma_config_tiny};
    struct gsae_error err = {0};
    for (size_t i = 0; i < 4; i++) {
        struct gemma_config c = fns[i]();
        assert_int_equal(gemma_config_validate(&c, &err), GSAE_OK);
        assert_true(c.softcap_attn == 50.0f && c.softcap_final == 30.0f);
        assert_int_equal(c.window_local, 4096);
        assert_int_equal(c.n_vocab, 256000);
    }
    struct gemma_config c = gemma_config_9b();
    assert_int_equal(c.d_model, 3584);
    assert_int_equal(c.n_layers, 42);
    assert_int_equal(c.n_heads, 16);
    assert_int_equal(c.n_kv_heads, 8);
    assert_int_equal(c.d_head, 256);
    assert_int_equal(c.d_ff, 14336);
    assert_true(c.query_pre_attn_scalar == 256.0f);
    assert_true(gemma_config_27b().query_pre_attn_scalar == 144.0f);
    assert_int_equal(gemma_config_2b().d_ff, 9216);

    c.n_kv_heads = 3;
    assert_int_equal(gemma_config_validate(&c, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "'num_attention_heads' is 16"));
    c = gemma_config_9b();
    c.n_heads = 0;
    assert_int_equal(gemma_config_validate(&c, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "'num_attention_heads' is 0"));
    c = gemma_config_9b();
    c.rms_eps = NAN;
    assert_int_equal(gemma_config_validate(&c, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "'rms_norm_eps'"));
    c = gemma_config_9b();
    c.softcap_attn = 0.0f; /* disabled is valid */
    assert_int_equal(gemma_config_validate(&c, &err), GSAE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_all),      cmocka_unit_test(test_select_stage),
        cmocka_unit_test(test_sharded),       cmocka_unit_test(test_tensor_errors),
        cmocka_unit_test(test_config_errors), cmocka_unit_test(test_canonical_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
