/* test_hfhub.c: repo ids, cache roots, refs, revisions and Gemma Scope ids in a scratch hub
 * cache; status codes and what the messages name. */
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

#include "../../io/hfhub.h"
#include "../common/check.h"

#define HASH1 "0123456789abcdef0123456789abcdef01234567"
#define HASH2 "89abcdef0123456789abcdef0123456789abcdef"

static char root[256]; /* the scratch HF_HOME */

static void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    if (text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    } else {
        mkdir(path, 0755);
    }
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(root, sizeof root, "hfhub");
    put("hub/models--o--n/refs/main", HASH1);
    put("hub/models--o--n/refs/v1", HASH2 "\n");
    put("hub/models--o--n/refs/bad", "../../x");
    put("hub/models--o--n/snapshots/" HASH1 "/config.json", "{}");
    put("hub/models--o--n/snapshots/" HASH2 "/config.json", "{}");
    put("hub/models--google--scope-res/refs/main", HASH1);
    put("hub/models--google--scope-res/snapshots/" HASH1
        "/layer_2/width_1k/average_l0_3/params.npz",
        "x");
    put("plain/config.json", "{}");
    setenv("HF_HOME", root, 1);
    unsetenv("HF_HUB_CACHE");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return check_rmtree(root);
}

static void test_repo_id(void **state)
{
    (void)state;
    assert_true(hfhub_is_repo_id("google/gemma-2-9b-it"));
    assert_true(hfhub_is_repo_id("a/b.c_d"));
    const char *no[] = {"a", "/a/b", "./a", "../a", "a/b/c", "a/", "/", "a/.b", "-a/b", "a b/c"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(hfhub_is_repo_id(no[i]));
}

static void test_cache_root(void **state)
{
    (void)state;
    char got[512], want[512];
    const char *source;
    struct gsae_error err = {0};
    assert_int_equal(hfhub_cache_root(got, sizeof got, &source, &err), GSAE_OK);
    snprintf(want, sizeof want, "%s/hub", root);
    assert_string_equal(got, want);
    assert_string_equal(source, "$HF_HOME/hub");
    setenv("HF_HUB_CACHE", "/elsewhere", 1);
    assert_int_equal(hfhub_cache_root(got, sizeof got, &source, &err), GSAE_OK);
    assert_string_equal(got, "/elsewhere");
    unsetenv("HF_HUB_CACHE");
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    unsetenv("HF_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(hfhub_cache_root(got, sizeof got, &source, &err), GSAE_OK);
    assert_string_equal(got, "/home/u/.cache/huggingface/hub");
    unsetenv("HOME");
    assert_int_equal(hfhub_cache_root(got, sizeof got, &source, &err), GSAE_ENOTFOUND);
    if (home) setenv("HOME", home, 1);
    free(home);
    setenv("HF_HOME", root, 1);
}

/* hfhub_model_path's result must end with suffix. */
static void expect_model(const char *name, const char *rev, const char *suffix)
{
    struct gsae_error err = {0};
    char *path = NULL;
    assert_int_equal(hfhub_model_path(name, rev, &path, &err), GSAE_OK);
    size_t n = strlen(path), k = strlen(suffix);
    assert_true(n >= k);
    assert_string_equal(path + n - k, suffix);
    free(path);
}

/* hfhub_model_path fails with code and a message holding each of the two strings. */
static void expect_model_error(const char *name, const char *rev, enum gsae_status code,
                               const char *a, const char *b)
{
    struct gsae_error err = {0};
    char *path = NULL;
    assert_int_equal(hfhub_model_path(name, rev, &path, &err), code);
    assert_null(path);
    assert_non_null(strstr(err.msg, a));
    if (b) assert_non_null(strstr(err.msg, b));
}

static void test_model(void **state)
{
    (void)state;
    char dir[512], folder[600];
    expect_model("o/n", NULL, "/hub/models--o--n/snapshots/" HASH1);
    expect_model("o/n", "v1", "/hub/models--o--n/snapshots/" HASH2);
    expect_model("o/n", HASH2, "/hub/models--o--n/snapshots/" HASH2);
    snprintf(folder, sizeof folder, "%s/hub/models--o--n/", root);
    expect_model(folder, NULL, "/hub/models--o--n/snapshots/" HASH1);
    expect_model(folder, "v1", "/hub/models--o--n/snapshots/" HASH2);
    snprintf(dir, sizeof dir, "%s/plain", root);
    expect_model(dir, NULL, "/plain");
    expect_model("/no/such/dir", NULL, "/no/such/dir"); /* not a hub name: the caller says */
    expect_model_error("o/m", NULL, GSAE_ENOTFOUND, "models--o--m (no such folder)",
                       "huggingface-cli download o/m");
    expect_model_error("o/n", "v2", GSAE_ENOTFOUND, "refs/v2 (no such file)",
                       "huggingface-cli download o/n --revision v2");
    expect_model_error("o/n", "bad", GSAE_EFORMAT, "refs/bad holds '../../x'", "commit hash");
    expect_model_error("o/n", "../v1", GSAE_EINVAL, "revision '../v1'", NULL);
    expect_model_error("o/n", "/etc", GSAE_EINVAL, "revision '/etc'", NULL);
    expect_model_error(dir, "v1", GSAE_EINVAL, "is a checkpoint directory", NULL);
}

static void test_sae(void **state)
{
    (void)state;
    const char *suffix = "/snapshots/" HASH1 "/layer_2/width_1k/average_l0_3";
    const char *ids[] = {"scope-res/layer_2/width_1k/average_l0_3",
                         "google/scope-res/layer_2/width_1k/average_l0_3",
                         "scope-res/layer_2/width_1k/average_l0_3/"};
    for (int i = 0; i < 3; i++) {
        struct gsae_error err = {0};
        char *path = NULL;
        assert_int_equal(hfhub_sae_path(ids[i], &path, &err), GSAE_OK);
        assert_true(strlen(path) > strlen(suffix));
        assert_string_equal(path + strlen(path) - strlen(suffix), suffix);
        free(path);
    }
    struct gsae_error err = {0};
    char *path = NULL;
    assert_int_equal(
        hfhub_sae_path("google/scope-res/layer_2/width_1k/average_l0_3/params.npz", &path, &err),
        GSAE_OK);
    assert_non_null(strstr(path, "/snapshots/" HASH1 "/layer_2/width_1k/average_l0_3/params.npz"));
    free(path);
    assert_int_equal(hfhub_sae_path("scope-res/layer_2/width_1k/average_l0_9", &path, &err),
                     GSAE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "layer_2/width_1k/average_l0_9 (no such file or folder)"));
    assert_non_null(strstr(
        err.msg,
        "huggingface-cli download google/scope-res --include 'layer_2/width_1k/average_l0_9/*'"));
    /* not ids: used as given (the loader reports them) */
    const char *plain[] = {"/abs/layer_2/x", "scope-res/layer_x/y", "a/b/c/layer_2/y",
                           "scope-res/layer_2/../../x", "sae.npz"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        assert_int_equal(hfhub_sae_path(plain[i], &path, &err), GSAE_OK);
        assert_string_equal(path, plain[i]);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_id),
        cmocka_unit_test(test_cache_root),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_sae),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
