/* sae_cli.h: what the SAE subcommands (mksae, sae-info, features, steer, ablate) share:
 * option values, loading a model and its SAE with the checks of io/sae_io.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../io/ckpt.h"
#include "../io/sae_io.h"
#include "../src/sae.h"

/* Strict number parsing: the whole string, within [min, max]. */
bool sae_cli_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* An --sae value: "L:PATH" hooks PATH at resid_post.L (*layer = L, *path = PATH); anything else
 * is a path whose file names its layer (*layer = -1, *path = s). */
void sae_cli_layer_path(const char *s, int64_t *layer, const char **path);
bool sae_cli_f64(const char *s, double *out);

/* Comma-separated lists ("1,2,-3"); *out is malloc'd (caller frees). False on a bad entry. */
bool sae_cli_i64_list(const char *s, int64_t min, int64_t max, int64_t **out, int64_t *n);
bool sae_cli_f64_list(const char *s, double **out, int64_t *n);

/* Load the SAE at path and, when cfg is given, check it against the model (d_in, layer,
 * model name: a mismatch is printed as a warning). *layer gets the layer to hook
 * (requested_layer when >= 0, else the file's; with need_layer, not knowing it is an error).
 * On failure prints "gsae CMD: message" and returns false with nothing allocated. */
bool sae_cli_load(const char *cmd, const char *path, const struct gemma_config *cfg,
                  const char *model_name, int64_t requested_layer, bool need_layer,
                  struct sae_params *p, struct sae_info *info, int64_t *layer);
