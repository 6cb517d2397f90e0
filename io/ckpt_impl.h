/* ckpt_impl.h: what the checkpoint opener (ckpt.c) and its config.json reader (ckpt_config.c)
 * share: small-file and JSON helpers. Internal to the ckpt module. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"

/* config and index files are kilobytes */
#define CKPT_JSON_FILE_MAX ((size_t)64 << 20)

/* dir/name in a new allocation, or NULL when out of memory. */
char *ckpt_path_join(const char *dir, const char *name);

/* The whole of a small file (at most CKPT_JSON_FILE_MAX bytes), NUL-terminated; caller frees
 * *out. */
enum gsae_status ckpt_read_small_file(const char *path, char **out, size_t *len,
                                      struct gsae_error *err);

/* Parse a JSON object from text; duplicate keys are an error (transformers would silently
 * keep the last one). */
enum gsae_status ckpt_load_json(const char *path, const char *text, size_t len, json_t **out,
                                struct gsae_error *err);

/* "an object", "an array", "a string", ...: what a JSON value is, for messages. */
const char *ckpt_json_kind(const json_t *v);

/* Load dir/config.json; also its name and hash when name/hash are not NULL. */
enum gsae_status ckpt_config_read(const char *dir, struct gemma_config *cfg, char **name,
                                  uint64_t *hash, struct gsae_error *err);
