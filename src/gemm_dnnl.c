/* gemm_dnnl.c: bf16 matmuls through oneDNN, with packed weights and a primitive cache
 * (gemm_dnnl.h). */
#include "gemm_dnnl.h"

#include <dnnl.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#define GEMM_DNNL_AVX512 1
#include <immintrin.h>
#else
#define GEMM_DNNL_AVX512 0
#endif

/* Cached primitives: the projections of a layer have five weight shapes, times a few row
 * counts (full micro-batches, the last partial one, logits), plus attention tiles. */
#define GEMM_DNNL_CACHE 128

/* Work is cut into tiles of at most GEMM_DNNL_ROWS rows by GEMM_DNNL_COLS output columns,
 * each run by one thread with oneDNN on that thread alone. The tiling depends only on the
 * product's shape, so results do not depend on the number of threads (oneDNN's own threading
 * divides the work, and with it the summation, by the thread count). A tile's output goes to
 * a dense per-thread buffer first: oneDNN 2.6 has no fast kernel for a strided destination. */
#define GEMM_DNNL_ROWS 64
#define GEMM_DNNL_COLS 256

/* A weight (n, k) packed in slices of GEMM_DNNL_COLS output rows (the last may be narrower). */
struct packed {
    const void *src; /* the tensor's data pointer: the key */
    int64_t n, k, n_slices;
    dnnl_memory_desc_t md[2]; /* (k, cols) in oneDNN's blocked layout: full slice, last slice */
    dnnl_memory_t *mem;       /* (n_slices) */
};

/* A primitive for one product shape: src (m, k) with row stride lda, weights md, dst (m, n)
 * with row stride ldc, scaled by alpha. */
struct prim {
    int64_t m, n, k, lda, ldc;
    dnnl_memory_desc_t w_md;
    float alpha;
    uint64_t last_use;
    dnnl_primitive_t p;
    dnnl_memory_desc_t a_md, c_md, s_md; /* s_md: its scratchpad (user-managed) */
    size_t s_bytes;
};

struct gemm_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;   /* the calling thread's */
    dnnl_stream_t *streams; /* (n_streams) for gemm_dnnl_bf16_on, one per OpenMP thread */
    int n_streams;
    struct packed *packed;
    int64_t n_packed, cap_packed;
    size_t packed_bytes;
    struct prim cache[GEMM_DNNL_CACHE];
    uint64_t clock;
    uint16_t *xb; /* (max_rows * max_k) bf16 inputs */
    int64_t xb_elems;
    void **scratch;       /* (n_streams) one scratchpad per thread, scratch_bytes each */
    float *tile;          /* (n_streams, GEMM_DNNL_ROWS * GEMM_DNNL_COLS) tile outputs */
    size_t scratch_bytes; /* the largest any cached primitive needs */
};

static enum gsae_status dnnl_check(dnnl_status_t s, const char *what, struct gsae_error *err)
{
    if (s == dnnl_success) return GSAE_OK;
    enum gsae_status code = s == dnnl_out_of_memory ? GSAE_ENOMEM : GSAE_EINTERNAL;
    return gsae_fail(err, code, "oneDNN: %s failed (dnnl_status %d)", what, (int)s);
}

#define DNNL_TRY(call, what)                                                                       \
    do {                                                                                           \
        if ((st = dnnl_check((call), (what), err)) != GSAE_OK) goto fail;                          \
    } while (0)

enum gsae_status gemm_dnnl_init(struct gemm_dnnl **out, int64_t max_rows, int64_t max_k,
                                struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    struct gemm_dnnl *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g) return gsae_fail(err, GSAE_ENOMEM, "oneDNN context: out of memory");
    DNNL_TRY(dnnl_engine_create(&g->engine, dnnl_cpu, 0), "creating the CPU engine");
    DNNL_TRY(dnnl_stream_create(&g->stream, g->engine, dnnl_stream_default_flags),
             "creating a stream");
    g->n_streams = omp_get_max_threads();
    if (!(g->streams = calloc((size_t)g->n_streams, sizeof *g->streams))) {
        st = gsae_fail(err, GSAE_ENOMEM, "oneDNN context: out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_streams; i++)
        DNNL_TRY(dnnl_stream_create(&g->streams[i], g->engine, dnnl_stream_default_flags),
                 "creating a stream");
    g->tile = aligned_alloc(64, (size_t)g->n_streams * GEMM_DNNL_ROWS * GEMM_DNNL_COLS * 4);
    if (!g->tile || !(g->scratch = calloc((size_t)g->n_streams, sizeof *g->scratch))) {
        st = gsae_fail(err, GSAE_ENOMEM, "oneDNN context: out of memory");
        goto fail;
    }
    g->xb_elems = max_rows * max_k;
    g->xb = aligned_alloc(64, ((size_t)g->xb_elems * 2 + 63) & ~(size_t)63);
    if (!g->xb) {
        st = gsae_fail(err, GSAE_ENOMEM, "oneDNN context: cannot allocate %lld bf16 inputs",
                       (long long)g->xb_elems);
        goto fail;
    }
    *out = g;
    return GSAE_OK;
fail:
    gemm_dnnl_free(&g);
    return st;
}

void gemm_dnnl_free(struct gemm_dnnl **gp)
{
    struct gemm_dnnl *g = *gp;
    if (!g) return;
    for (int i = 0; i < GEMM_DNNL_CACHE; i++)
        if (g->cache[i].p) dnnl_primitive_destroy(g->cache[i].p);
    for (int64_t i = 0; i < g->n_packed; i++) {
        for (int64_t j = 0; j < g->packed[i].n_slices; j++)
            if (g->packed[i].mem[j]) dnnl_memory_destroy(g->packed[i].mem[j]);
        free(g->packed[i].mem);
    }
    free(g->packed);
    for (int i = 0; g->scratch && i < g->n_streams; i++)
        free(g->scratch[i]);
    free(g->scratch);
    free(g->tile);
    free(g->xb);
    if (g->stream) dnnl_stream_destroy(g->stream);
    for (int i = 0; g->streams && i < g->n_streams; i++)
        if (g->streams[i]) dnnl_stream_destroy(g->streams[i]);
    free(g->streams);
    if (g->engine) dnnl_engine_destroy(g->engine);
    free(g);
    *gp = NULL;
}

size_t gemm_dnnl_packed_bytes(const struct gemm_dnnl *g)
{
    return g ? g->packed_bytes : 0;
}

void gemm_dnnl_round(uint16_t *dst, const float *src, int64_t n)
{
    int64_t i = 0;
#if GEMM_DNNL_AVX512 && defined(__AVX512BF16__)
    /* vcvtneps2bf16 rounds to nearest even, as gsae_f32_to_bf16 (NaNs stay NaN). */
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
#endif
    for (; i < n; i++)
        dst[i] = gsae_f32_to_bf16(src[i]);
}

static struct packed *find_packed(struct gemm_dnnl *g, const void *src)
{
    for (int64_t i = 0; i < g->n_packed; i++)
        if (g->packed[i].src == src) return &g->packed[i];
    return NULL;
}

/* Matmul primitive descriptor for a (m, k) x w_md -> (m, n) f32 product. */
static enum gsae_status make_pd(struct gemm_dnnl *g, dnnl_primitive_desc_t *pd,
                                const dnnl_memory_desc_t *a_md, const dnnl_memory_desc_t *w_md,
                                const dnnl_memory_desc_t *c_md, float alpha, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_matmul_desc_t md;
    DNNL_TRY(dnnl_matmul_desc_init(&md, a_md, w_md, NULL, c_md), "describing a matmul");
    DNNL_TRY(dnnl_primitive_attr_create(&attr), "creating attributes");
    /* each thread passes its own scratchpad, so one primitive may run on several at once */
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
             "setting the scratchpad mode");
    if (alpha != 1.0f)
        DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "setting the scale");
    DNNL_TRY(dnnl_primitive_desc_create(pd, &md, attr, g->engine, NULL), "creating a matmul");
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

static enum gsae_status md_strided(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int64_t ld,
                                   dnnl_data_type_t t, struct gsae_error *err)
{
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    return dnnl_check(dnnl_memory_desc_init_by_strides(md, 2, dims, t, strides),
                      "describing a matrix", err);
}

/* (k, n) view of a row-major (n, k) matrix with row stride ld. */
static enum gsae_status md_transposed(dnnl_memory_desc_t *md, int64_t n, int64_t k, int64_t ld,
                                      struct gsae_error *err)
{
    dnnl_dims_t dims = {k, n}, strides = {1, ld};
    return dnnl_check(dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_bf16, strides),
                      "describing a weight", err);
}

/* The blocked layout oneDNN's matmul wants for a (k, cols) bf16 weight with m_hint rows. */
static enum gsae_status packed_layout(struct gemm_dnnl *g, dnnl_memory_desc_t *out, int64_t m_hint,
                                      int64_t cols, int64_t k, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t a_md, any_md, c_md;
    dnnl_dims_t wdims = {k, cols};
    if ((st = md_strided(&a_md, m_hint, k, k, dnnl_bf16, err)) ||
        (st = md_strided(&c_md, m_hint, cols, cols, dnnl_f32, err)))
        return st;
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&any_md, 2, wdims, dnnl_bf16, dnnl_format_tag_any),
             "describing a packed weight");
    if ((st = make_pd(g, &pd, &a_md, &any_md, &c_md, 1.0f, err))) goto fail;
    *out = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* A reorder from the (k, cols) view of a row-major bf16 (cols, k) matrix to layout md. */
static enum gsae_status make_reorder(struct gemm_dnnl *g, dnnl_primitive_t *out, int64_t cols,
                                     int64_t k, const dnnl_memory_desc_t *md,
                                     struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_memory_desc_t w_md;
    if ((st = md_transposed(&w_md, cols, k, k, err))) return st;
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, &w_md, g->engine, md, g->engine, NULL),
             "describing a weight reorder");
    DNNL_TRY(dnnl_primitive_create(out, rpd), "creating a weight reorder");
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return st;
}

/* Run reorder on rows [0, cols) of src (row-major, k per row) into a new memory of layout md. */
static enum gsae_status pack_slice(struct gemm_dnnl *g, dnnl_memory_t *out,
                                   dnnl_primitive_t reorder, const uint16_t *src, int64_t cols,
                                   int64_t k, const dnnl_memory_desc_t *md, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_memory_desc_t w_md;
    if ((st = md_transposed(&w_md, cols, k, k, err))) return st;
    DNNL_TRY(dnnl_memory_create(&from, &w_md, g->engine, (void *)src), "wrapping a weight");
    DNNL_TRY(dnnl_memory_create(&to, md, g->engine, DNNL_MEMORY_ALLOCATE),
             "allocating a packed weight");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_TRY(dnnl_primitive_execute(reorder, g->stream, 2, args), "packing a weight");
    DNNL_TRY(dnnl_stream_wait(g->stream), "packing a weight");
    *out = to;
    to = NULL;
fail:
    if (from) dnnl_memory_destroy(from);
    if (to) dnnl_memory_destroy(to);
    return st;
}

enum gsae_status gemm_dnnl_pack(struct gemm_dnnl *g, const struct gsae_tensor *w, int64_t m_hint,
                                struct gsae_error *err)
{
    if (find_packed(g, w->data)) return GSAE_OK;
    enum gsae_status st = GSAE_OK;
    int64_t n = w->shape[0], k = w->shape[1];
    uint16_t *conv = NULL;
    dnnl_primitive_t reorder[2] = {NULL, NULL};
    m_hint = m_hint <= 0 ? 1 : m_hint > GEMM_DNNL_ROWS ? GEMM_DNNL_ROWS : m_hint;
    if (g->n_packed == g->cap_packed) {
        int64_t cap = g->cap_packed ? 2 * g->cap_packed : 16;
        struct packed *p = realloc(g->packed, (size_t)cap * sizeof *p);
        if (!p) return gsae_fail(err, GSAE_ENOMEM, "oneDNN: out of memory packing weights");
        g->packed = p;
        g->cap_packed = cap;
    }
    struct packed pk = {.src = w->data, .n = n, .k = k};
    pk.n_slices = (n + GEMM_DNNL_COLS - 1) / GEMM_DNNL_COLS;
    int64_t last = n - (pk.n_slices - 1) * GEMM_DNNL_COLS;
    if (!(pk.mem = calloc((size_t)pk.n_slices, sizeof *pk.mem)))
        return gsae_fail(err, GSAE_ENOMEM, "oneDNN: out of memory packing weights");
    if ((st = packed_layout(g, &pk.md[0], m_hint, n < GEMM_DNNL_COLS ? n : GEMM_DNNL_COLS, k,
                            err)) ||
        (st = packed_layout(g, &pk.md[1], m_hint, last, k, err)))
        goto fail;
    const uint16_t *src = w->data;
    if (w->dtype != GSAE_DTYPE_BF16) {
        /* Round to bf16 once, in rows of k, through f32. */
        conv = malloc((size_t)n * (size_t)k * sizeof *conv);
        float *row = malloc((size_t)k * sizeof *row);
        if (!conv || !row) {
            free(row);
            st = gsae_fail(err, GSAE_ENOMEM, "oneDNN: out of memory converting a weight");
            goto fail;
        }
        size_t es = gsae_dtype_size(w->dtype);
        for (int64_t r = 0; r < n; r++) {
            gsae_to_f32(row, (const char *)w->data + (size_t)r * (size_t)k * es, w->dtype, k);
            gemm_dnnl_round(conv + r * k, row, k);
        }
        free(row);
        src = conv;
    }
    int64_t full = n < GEMM_DNNL_COLS ? n : GEMM_DNNL_COLS;
    if ((st = make_reorder(g, &reorder[0], full, k, &pk.md[0], err)) ||
        (st = make_reorder(g, &reorder[1], last, k, &pk.md[1], err)))
        goto fail;
    for (int64_t j = 0; j < pk.n_slices && !st; j++) {
        bool is_last = j == pk.n_slices - 1;
        st = pack_slice(g, &pk.mem[j], reorder[is_last], src + j * GEMM_DNNL_COLS * k,
                        is_last ? last : full, k, &pk.md[is_last], err);
    }
    if (!st) {
        g->packed_bytes += (size_t)(pk.n_slices - 1) * dnnl_memory_desc_get_size(&pk.md[0]) +
                           dnnl_memory_desc_get_size(&pk.md[1]);
        g->packed[g->n_packed++] = pk;
        pk.mem = NULL;
    }
fail:
    for (int i = 0; i < 2; i++)
        if (reorder[i]) dnnl_primitive_destroy(reorder[i]);
    for (int64_t j = 0; pk.mem && j < pk.n_slices; j++)
        if (pk.mem[j]) dnnl_memory_destroy(pk.mem[j]);
    free(pk.mem);
    free(conv);
    return st;
}

/* The cached primitive for this shape, created on first use (least recently used replaced). */
static enum gsae_status get_prim(struct gemm_dnnl *g, struct prim **out, int64_t m, int64_t n,
                                 int64_t k, int64_t lda, int64_t ldc,
                                 const dnnl_memory_desc_t *w_md, float alpha,
                                 struct gsae_error *err)
{
    struct prim *victim = &g->cache[0];
    g->clock++;
    for (int i = 0; i < GEMM_DNNL_CACHE; i++) {
        struct prim *c = &g->cache[i];
        if (c->p && c->m == m && c->n == n && c->k == k && c->lda == lda && c->ldc == ldc &&
            c->alpha == alpha && dnnl_memory_desc_equal(&c->w_md, w_md)) {
            c->last_use = g->clock;
            *out = c;
            return GSAE_OK;
        }
        if (!c->p || (victim->p && c->last_use < victim->last_use)) victim = c;
    }
    enum gsae_status st = GSAE_OK;
    dnnl_primitive_desc_t pd = NULL;
    struct prim fresh = {.m = m, .n = n, .k = k, .lda = lda, .ldc = ldc, .alpha = alpha};
    fresh.w_md = *w_md;
    if ((st = md_strided(&fresh.a_md, m, k, lda, dnnl_bf16, err)) ||
        (st = md_strided(&fresh.c_md, m, n, ldc, dnnl_f32, err)) ||
        (st = make_pd(g, &pd, &fresh.a_md, w_md, &fresh.c_md, alpha, err)))
        goto fail;
    fresh.s_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    fresh.s_bytes = dnnl_memory_desc_get_size(&fresh.s_md);
    if (fresh.s_bytes > g->scratch_bytes) {
        for (int t = 0; t < g->n_streams; t++) {
            void *b = aligned_alloc(64, (fresh.s_bytes + 63) & ~(size_t)63);
            if (!b) {
                st = gsae_fail(err, GSAE_ENOMEM, "oneDNN: cannot allocate a %zu-byte scratchpad",
                               fresh.s_bytes);
                goto fail;
            }
            free(g->scratch[t]);
            g->scratch[t] = b;
        }
        g->scratch_bytes = fresh.s_bytes;
    }
    DNNL_TRY(dnnl_primitive_create(&fresh.p, pd), "creating a matmul primitive");
    if (victim->p) dnnl_primitive_destroy(victim->p);
    fresh.last_use = g->clock;
    *victim = fresh;
    *out = victim;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Run p on a, weights memory w, c, on thread t's stream with its scratchpad. */
static enum gsae_status run_prim(struct gemm_dnnl *g, int t, const struct prim *p, const void *a,
                                 dnnl_memory_t w, float *c, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_memory_t ma = NULL, mc = NULL, ms = NULL;
    dnnl_stream_t stream = g->streams[t];
    DNNL_TRY(dnnl_memory_create(&ma, &p->a_md, g->engine, (void *)a), "wrapping an input");
    DNNL_TRY(dnnl_memory_create(&mc, &p->c_md, g->engine, c), "wrapping an output");
    DNNL_TRY(dnnl_memory_create(&ms, &p->s_md, g->engine, g->scratch[t]), "wrapping a scratchpad");
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, ms}};
    DNNL_TRY(dnnl_primitive_execute(p->p, stream, 4, args), "running a matmul");
    DNNL_TRY(dnnl_stream_wait(stream), "running a matmul");
fail:
    if (ma) dnnl_memory_destroy(ma);
    if (mc) dnnl_memory_destroy(mc);
    if (ms) dnnl_memory_destroy(ms);
    return st;
}

/* dst (rows, cols) with row stride ld = the dense tile. */
static void copy_tile(float *dst, int64_t ld, const float *tile, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * ld, tile + r * cols, (size_t)cols * sizeof *dst);
}

/* Threads for n_tiles tiles: the caller's OpenMP count, at most one per stream and per tile. */
static int tile_threads(const struct gemm_dnnl *g, int64_t n_tiles)
{
    int nt = omp_get_max_threads();
    nt = nt < g->n_streams ? nt : g->n_streams;
    return n_tiles < nt ? (int)n_tiles : nt;
}

static enum gsae_status run_strided(struct gemm_dnnl *g, int t, const struct prim *p, float *c,
                                    const uint16_t *a, const uint16_t *b, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    dnnl_memory_t mb = NULL;
    DNNL_TRY(dnnl_memory_create(&mb, &p->w_md, g->engine, (void *)b), "wrapping a matrix");
    st = run_prim(g, t, p, a, mb, c, err);
fail:
    if (mb) dnnl_memory_destroy(mb);
    return st;
}

/* A product cut into tiles: rows and cols of the full and the last tile, the primitives for
 * each combination, the bf16 input a, the weights (packed slices, or a strided b), the output. */
struct tiles {
    int64_t n_rt, n_ct, rows[2], cols[2];
    struct prim *p[2][2]; /* [last row tile][last column tile] */
    const uint16_t *a;
    int64_t lda;
    const struct packed *pk; /* packed weights, or else: */
    const uint16_t *b;       /* (k, n) with row stride ldb, or (n, k) when b_trans */
    int64_t ldb;
    int b_trans;
    float *c;
    int64_t ldc;
};

static void tiles_shape(struct tiles *tl, int64_t m, int64_t n)
{
    tl->n_rt = (m + GEMM_DNNL_ROWS - 1) / GEMM_DNNL_ROWS;
    tl->n_ct = (n + GEMM_DNNL_COLS - 1) / GEMM_DNNL_COLS;
    tl->rows[0] = m < GEMM_DNNL_ROWS ? m : GEMM_DNNL_ROWS;
    tl->rows[1] = m - (tl->n_rt - 1) * GEMM_DNNL_ROWS;
    tl->cols[0] = n < GEMM_DNNL_COLS ? n : GEMM_DNNL_COLS;
    tl->cols[1] = n - (tl->n_ct - 1) * GEMM_DNNL_COLS;
}

/* Run every tile, one thread each, into that thread's dense buffer, then copy it out. */
static enum gsae_status run_tiles(struct gemm_dnnl *g, const struct tiles *tl,
                                  struct gsae_error *err)
{
    int64_t n_tiles = tl->n_rt * tl->n_ct;
    struct gsae_error first = {0};
#pragma omp parallel num_threads(tile_threads(g, n_tiles))
    {
        int t = omp_get_thread_num();
        struct gsae_error e;
        float *tile = g->tile + (size_t)t * GEMM_DNNL_ROWS * GEMM_DNNL_COLS;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n_tiles; i++) {
            int64_t c = i / tl->n_rt, r = i % tl->n_rt; /* a thread's tiles share weight slices */
            bool last_r = r == tl->n_rt - 1, last_c = c == tl->n_ct - 1;
            const struct prim *p = tl->p[last_r][last_c];
            const uint16_t *a = tl->a + r * GEMM_DNNL_ROWS * tl->lda;
            int64_t c0 = c * GEMM_DNNL_COLS;
            enum gsae_status s2 =
                tl->pk ? run_prim(g, t, p, a, tl->pk->mem[c], tile, &e)
                       : run_strided(g, t, p, tile, a,
                                     tl->b_trans ? tl->b + c0 * tl->ldb : tl->b + c0, &e);
            if (s2 == GSAE_OK)
                copy_tile(tl->c + r * GEMM_DNNL_ROWS * tl->ldc + c0, tl->ldc, tile,
                          tl->rows[last_r], tl->cols[last_c]);
            else {
#pragma omp critical(gemm_dnnl_error)
                if (first.code == GSAE_OK) first = e;
            }
        }
    }
    if (first.code == GSAE_OK) return GSAE_OK;
    *err = first;
    return first.code;
}

enum gsae_status gemm_dnnl_xwt(struct gemm_dnnl *g, float *y, int64_t ldy, const float *x,
                               int64_t m, int64_t k, const struct gsae_tensor *w,
                               struct gsae_error *err)
{
    const struct packed *pk = find_packed(g, w->data);
    GSAE_ASSERT(pk && pk->k == k && ldy >= pk->n);
    if (m <= 0) return GSAE_OK;
    if (m * k > g->xb_elems)
        return gsae_fail(err, GSAE_ERANGE, "oneDNN: %lld x %lld inputs, scratch holds %lld",
                         (long long)m, (long long)k, (long long)g->xb_elems);
    gemm_dnnl_round(g->xb, x, m * k);
    struct tiles tl = {.a = g->xb, .lda = k, .pk = pk, .c = y, .ldc = ldy};
    tiles_shape(&tl, m, pk->n);
    enum gsae_status st = GSAE_OK;
    for (int i = 0; i < 2 && !st; i++)
        for (int j = 0; j < 2 && !st; j++)
            st = get_prim(g, &tl.p[i][j], tl.rows[i], tl.cols[j], k, k, tl.cols[j], &pk->md[j],
                          1.0f, err);
    return st ? st : run_tiles(g, &tl, err);
}

/* Describe b for gemm_dnnl_bf16. */
static enum gsae_status b_desc(dnnl_memory_desc_t *b_md, int64_t ldb, int b_trans, int64_t n,
                               int64_t k, struct gsae_error *err)
{
    return b_trans ? md_transposed(b_md, n, k, ldb, err)
                   : md_strided(b_md, k, n, ldb, dnnl_bf16, err);
}

/* The cached primitive for this strided shape without changing the cache (NULL if none). */
static const struct prim *find_prim(const struct gemm_dnnl *g, int64_t m, int64_t n, int64_t k,
                                    int64_t lda, int64_t ldc, const dnnl_memory_desc_t *w_md,
                                    float alpha)
{
    for (int i = 0; i < GEMM_DNNL_CACHE; i++) {
        const struct prim *c = &g->cache[i];
        if (c->p && c->m == m && c->n == n && c->k == k && c->lda == lda && c->ldc == ldc &&
            c->alpha == alpha && dnnl_memory_desc_equal(&c->w_md, w_md))
            return c;
    }
    return NULL;
}

enum gsae_status gemm_dnnl_bf16(struct gemm_dnnl *g, float *c, int64_t ldc, const uint16_t *a,
                                int64_t lda, const uint16_t *b, int64_t ldb, int b_trans, int64_t m,
                                int64_t n, int64_t k, float alpha, struct gsae_error *err)
{
    if (m <= 0 || n <= 0) return GSAE_OK;
    struct tiles tl = {
        .a = a, .lda = lda, .b = b, .ldb = ldb, .b_trans = b_trans, .c = c, .ldc = ldc};
    tiles_shape(&tl, m, n);
    enum gsae_status st = GSAE_OK;
    for (int i = 0; i < 2 && !st; i++)
        for (int j = 0; j < 2 && !st; j++) {
            dnnl_memory_desc_t b_md;
            st = b_desc(&b_md, ldb, b_trans, tl.cols[j], k, err);
            if (!st)
                st = get_prim(g, &tl.p[i][j], tl.rows[i], tl.cols[j], k, lda, tl.cols[j], &b_md,
                              alpha, err);
        }
    return st ? st : run_tiles(g, &tl, err);
}

int gemm_dnnl_max_threads(const struct gemm_dnnl *g)
{
    return g->n_streams;
}

enum gsae_status gemm_dnnl_bf16_prepare(struct gemm_dnnl *g, int64_t lda, int64_t ldb, int b_trans,
                                        int64_t ldc, int64_t m, int64_t n, int64_t k, float alpha,
                                        struct gsae_error *err)
{
    dnnl_memory_desc_t b_md;
    struct prim *p;
    enum gsae_status st = b_desc(&b_md, ldb, b_trans, n, k, err);
    return st ? st : get_prim(g, &p, m, n, k, lda, ldc, &b_md, alpha, err);
}

enum gsae_status gemm_dnnl_bf16_on(struct gemm_dnnl *g, int thread, float *c, int64_t ldc,
                                   const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                                   int b_trans, int64_t m, int64_t n, int64_t k, float alpha,
                                   struct gsae_error *err)
{
    GSAE_ASSERT(thread >= 0 && thread < g->n_streams);
    dnnl_memory_desc_t b_md;
    enum gsae_status st = b_desc(&b_md, ldb, b_trans, n, k, err);
    if (st) return st;
    const struct prim *p = find_prim(g, m, n, k, lda, ldc, &b_md, alpha);
    GSAE_ASSERT(p); /* gemm_dnnl_bf16_prepare was called for this shape */
    return run_strided(g, thread, p, c, a, b, err);
}
