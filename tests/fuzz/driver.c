/* driver.c: a deterministic stand-in for libFuzzer so fuzz targets run inside `make test`.
 *
 * Usage: fuzz_X CORPUS_DIR [ITERATIONS] [SEED]. Every file in CORPUS_DIR is fed as is, then
 * ITERATIONS (default 20000) inputs made by mutating corpus entries (bit flips, byte
 * replacement, insertion, deletion, truncation, splicing) with a fixed-seed xorshift generator,
 * so a failure reproduces with the same arguments. Mutation stops early after
 * $GSAE_FUZZ_SECONDS (default 10; 0: no limit) so slow targets keep the suite short; the
 * inputs it ran are a prefix of the same sequence. The target must not crash or leak; it is
 * run under ASan/UBSan by `make san`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct blob {
    uint8_t *data;
    size_t size;
};

static int read_file(const char *path, struct blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return -1;
    b->data = buf;
    b->size = n;
    return 0;
}

static size_t mutate(uint8_t *buf, size_t n, size_t cap, const struct blob *other, uint64_t *s)
{
    int rounds = 1 + (int)(rng_next(s) % 4);
    for (int r = 0; r < rounds; r++) {
        switch (rng_next(s) % 6) {
        case 0: /* flip a bit */
            if (n) buf[rng_next(s) % n] ^= (uint8_t)(1u << (rng_next(s) % 8));
            break;
        case 1: /* replace a byte with an interesting value */
            if (n) {
                static const uint8_t vals[] = {0,   0xff, 0x7f, 0x80, '"', '\\', '{',  '}',
                                               ',', ':',  '0',  '9',  ' ', '\n', 0xc3, 0xe2};
                buf[rng_next(s) % n] = vals[rng_next(s) % sizeof vals];
            }
            break;
        case 2: /* insert a random byte */
            if (n < cap) {
                size_t at = n ? rng_next(s) % (n + 1) : 0;
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = (uint8_t)rng_next(s);
                n++;
            }
            break;
        case 3: /* delete a range */
            if (n) {
                size_t at = rng_next(s) % n, len = 1 + rng_next(s) % 16;
                if (len > n - at) len = n - at;
                memmove(buf + at, buf + at + len, n - at - len);
                n -= len;
            }
            break;
        case 4: /* truncate */
            if (n) n = rng_next(s) % n;
            break;
        case 5: /* splice a piece of another input */
            if (other->size) {
                size_t from = rng_next(s) % other->size, len = 1 + rng_next(s) % 64;
                if (len > other->size - from) len = other->size - from;
                size_t at = n ? rng_next(s) % (n + 1) : 0;
                if (n + len <= cap) {
                    memmove(buf + at + len, buf + at, n - at);
                    memcpy(buf + at, other->data + from, len);
                    n += len;
                }
            }
            break;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS] [SEED]\n", argv[0]);
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : 20000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0x9e3779b97f4a7c15ull;
    if (seed == 0) seed = 1;

    struct blob corpus[256];
    int n_corpus = 0;
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open corpus directory\n", argv[1]);
        return 2;
    }
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) && n_corpus < 256) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        if (read_file(path, &corpus[n_corpus]) == 0) n_corpus++;
    }
    closedir(d);
    if (n_corpus == 0) {
        fprintf(stderr, "%s: empty corpus\n", argv[1]);
        return 2;
    }
    /* readdir order is not stable: sort by content so runs reproduce. */
    for (int i = 1; i < n_corpus; i++)
        for (int j = i; j > 0; j--) {
            size_t m = corpus[j].size < corpus[j - 1].size ? corpus[j].size : corpus[j - 1].size;
            int c = memcmp(corpus[j].data, corpus[j - 1].data, m);
            if (c > 0 || (c == 0 && corpus[j].size >= corpus[j - 1].size)) break;
            struct blob t = corpus[j];
            corpus[j] = corpus[j - 1];
            corpus[j - 1] = t;
        }

    for (int i = 0; i < n_corpus; i++)
        LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].size);

    const char *lim = getenv("GSAE_FUZZ_SECONDS");
    double max_s = lim && *lim ? atof(lim) : 10.0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    if (!buf) return 2;
    long it = 0;
    for (; it < iters; it++) {
        if (max_s > 0 && (it & 63) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) > max_s)
                break;
        }
        const struct blob *base = &corpus[rng_next(&seed) % (uint64_t)n_corpus];
        const struct blob *other = &corpus[rng_next(&seed) % (uint64_t)n_corpus];
        size_t n = base->size < cap ? base->size : cap;
        memcpy(buf, base->data, n);
        n = mutate(buf, n, cap, other, &seed);
        /* exact-size copy so ASan sees reads past the end */
        uint8_t *in = malloc(n ? n : 1);
        if (!in) return 2;
        memcpy(in, buf, n);
        LLVMFuzzerTestOneInput(in, n);
        free(in);
    }
    printf("%s: %d corpus inputs, %ld mutations%s, no crash\n", argv[0], n_corpus, it,
           it < iters ? " (time limit)" : "");
    free(buf);
    for (int i = 0; i < n_corpus; i++)
        free(corpus[i].data);
    return 0;
}
