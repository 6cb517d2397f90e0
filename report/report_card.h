/* report_card.h: the drawings of one feature card of the report's dashboard
 * (report_dashboard.c): an example's tokens shaded by activation, the activation histogram and
 * the logit effects. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "../src/featstats.h"
#include "report_svg.h"

#define DASH_MAX_LOGITS 10 /* logit effects shown per sign */

/* One row of maxact_tokens.csv or logit_effects.csv, parsed. */
struct dash_token {
    int64_t feature, rank, offset; /* logit effects: offset = 0 for pos, 1 for neg */
    double value;
    const char *text; /* borrowed from the table */
};

/* The inline style shading an activation v against the feature's scale. */
void report_card_shade(FILE *f, double v, double scale);

/* The activation histogram of feature f from STORE/feature_stats.nc. */
void report_card_histogram(struct report *r, const struct featstats *fs, int64_t f);

/* Top positive and negative logit effects of one feature: v[i0..i1) sorted by sign, rank. */
void report_card_logits(struct report *r, const struct dash_token *v, int64_t i0, int64_t i1);

/* One example: the tokens of v[i0..i1) shaded, or (none) maxact.csv's left, token, right. act:
 * its activation as written. */
void report_card_example(struct report *r, const char *act, const struct dash_token *v, int64_t i0,
                         int64_t i1, double scale, const char *left, const char *tok,
                         const char *right);
