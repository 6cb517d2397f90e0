/* test_window.c: SAELens windowing rules, worked by hand, and resuming at every boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/rng.h"
#include "../../src/window.h"

struct doc {
    int64_t n;
    int32_t ids[8];
};

/* Context 4, bos 1. Derived by stepping through SAELens's concat_and_batch_sequences. */
static void test_hand_worked(void **state)
{
    (void)state;
    const struct doc docs[] = {
        {5, {10, 11, 12, 13, 14}}, {2, {20, 21}}, {0, {0}}, {1, {30}}, {3, {1, 40, 41}},
    };
    const int32_t want_tok[4][4] = {
        {1, 10, 11, 12}, {1, 13, 14, 1}, {1, 20, 21, 1}, {1, 30, 1, 40}};
    const int64_t want_doc[4][4] = {{0, 0, 0, 0}, {0, 0, 0, 1}, {1, 1, 1, 3}, {3, 3, 4, 4}};
    const int64_t want_pos[4][4] = {{-1, 0, 1, 2}, {-1, 3, 4, -1}, {-1, 0, 1, -1}, {-1, 0, 0, 1}};
    struct window_builder wb;
    struct gsae_error err;
    assert_int_equal(window_builder_init(&wb, 4, 1, 0, &err), GSAE_OK);
    int64_t got = 0;
    for (int64_t d = 0; d < 5; d++) {
        assert_int_equal(window_builder_push_doc(&wb, d, docs[d].ids, docs[d].n, 0, &err), GSAE_OK);
        struct window w;
        while (window_builder_next(&wb, &w)) {
            assert_true(got < 4);
            assert_int_equal(w.index, got);
            assert_memory_equal(w.token, want_tok[got], sizeof want_tok[got]);
            assert_memory_equal(w.doc, want_doc[got], sizeof want_doc[got]);
            assert_memory_equal(w.pos, want_pos[got], sizeof want_pos[got]);
            got++;
        }
    }
    assert_int_equal(got, 4);
    int64_t doc, off, partial;
    window_builder_position(&wb, &doc, &off, &partial);
    assert_int_equal(doc, 4);
    assert_int_equal(off, 3);
    assert_int_equal(partial, 2); /* [bos, 41] is dropped at the end of the stream */
    window_builder_free(&wb);
    window_builder_free(&wb);
}

#define N_DOCS 40
#define CTX    7

struct stream {
    int32_t *ids[N_DOCS];
    int64_t n[N_DOCS];
};

/* Run the builder from (doc, offset) as window first; record all windows' tokens/pos. */
static int64_t run_from(const struct stream *s, int64_t doc0, int64_t off0, int64_t first,
                        int32_t *tok, int64_t *pos, int64_t (*bounds)[2])
{
    struct window_builder wb;
    struct gsae_error err;
    assert_int_equal(window_builder_init(&wb, CTX, 2, first, &err), GSAE_OK);
    int64_t n_w = 0;
    for (int64_t d = doc0; d < N_DOCS; d++) {
        assert_int_equal(
            window_builder_push_doc(&wb, d, s->ids[d], s->n[d], d == doc0 ? off0 : 0, &err),
            GSAE_OK);
        struct window w;
        while (window_builder_next(&wb, &w)) {
            assert_int_equal(w.index, first + n_w);
            memcpy(tok + n_w * CTX, w.token, CTX * sizeof *tok);
            memcpy(pos + n_w * CTX, w.pos, CTX * sizeof *pos);
            int64_t partial;
            if (bounds) /* position right after this window: where a resume starts */
                window_builder_position(&wb, &bounds[n_w][0], &bounds[n_w][1], &partial);
            n_w++;
        }
    }
    window_builder_free(&wb);
    return n_w;
}

static void test_resume_everywhere(void **state)
{
    (void)state;
    struct rng rng;
    rng_seed(&rng, 7);
    struct stream s;
    int64_t total = 0;
    for (int d = 0; d < N_DOCS; d++) {
        s.n[d] = (int64_t)(rng_u64(&rng) % 12);
        s.ids[d] = calloc((size_t)s.n[d] + 1, sizeof(int32_t));
        for (int64_t i = 0; i < s.n[d]; i++) /* bos (2) appears now and then inside documents */
            s.ids[d][i] = (int32_t)(rng_u64(&rng) % 9);
        total += s.n[d];
    }
    size_t cap = (size_t)(2 * total + 16) * CTX;
    int32_t *tok = calloc(cap, sizeof *tok), *tok2 = calloc(cap, sizeof *tok2);
    int64_t *pos = calloc(cap, sizeof *pos), *pos2 = calloc(cap, sizeof *pos2);
    int64_t(*bounds)[2] = calloc(cap, sizeof *bounds);
    int64_t n_w = run_from(&s, 0, 0, 0, tok, pos, bounds);
    assert_true(n_w > 10);
    /* every token of every document appears at most once, in order, across windows */
    for (int64_t k = 0; k + 1 < n_w; k++) {
        int64_t m = run_from(&s, bounds[k][0], bounds[k][1], k + 1, tok2, pos2, NULL);
        assert_int_equal(m, n_w - k - 1);
        assert_memory_equal(tok2, tok + (k + 1) * CTX, (size_t)m * CTX * sizeof *tok);
        assert_memory_equal(pos2, pos + (k + 1) * CTX, (size_t)m * CTX * sizeof *pos);
    }
    for (int d = 0; d < N_DOCS; d++)
        free(s.ids[d]);
    free(tok);
    free(tok2);
    free(pos);
    free(pos2);
    free(bounds);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct window_builder wb;
    struct gsae_error err;
    assert_int_equal(window_builder_init(&wb, 1, 2, 0, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "context_size"));
    assert_int_equal(window_builder_init(&wb, 4, 2, 0, &err), GSAE_OK);
    const int32_t ids[3] = {5, 6, 7};
    assert_int_equal(window_builder_push_doc(&wb, 0, ids, 3, 4, &err), GSAE_EINVAL);
    assert_int_equal(window_builder_push_doc(&wb, 0, ids, 2, 0, &err), GSAE_OK);
    struct window w;
    assert_false(window_builder_next(&wb, &w));
    /* re-entering a document mid-way while a window is partly filled is refused */
    assert_int_equal(window_builder_push_doc(&wb, 1, ids, 3, 1, &err), GSAE_EINVAL);
    window_builder_free(&wb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_resume_everywhere),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
