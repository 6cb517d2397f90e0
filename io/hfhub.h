/* hfhub.h: names as researchers write them, resolved in the local Hugging Face hub cache.
 *
 * The cache (what `huggingface-cli download` and transformers write) lives at $HF_HUB_CACHE,
 * else $HF_HOME/hub, else ~/.cache/huggingface/hub. A repository org/name is the folder
 *     models--org--name/refs/<revision>         a file holding a 40-digit hex commit hash
 *     models--org--name/snapshots/<hash>/...    the files at that commit (links into blobs/)
 * Nothing here touches the network: a name that is not in the cache is an error whose message
 * lists every path tried and the `huggingface-cli download` command that would fetch it.
 *
 * Model names (hfhub_model_path): a checkpoint directory (used as is); a repo id "org/name"
 * (when no such directory exists); or a cache folder ".../models--org--name" itself. The
 * revision (NULL: "main") is a branch or tag (refs/<revision>) or a commit hash naming a
 * snapshot directly.
 *
 * SAE names (hfhub_sae_path): a file or folder (used as is); or a Gemma Scope id
 * RELEASE/layer_L/width_W/average_l0_N (repo google/RELEASE; ORG/RELEASE/layer_L/... names
 * another organisation), resolved to snapshots/<hash>/layer_L/... at refs/main.
 *
 * A name that is neither an existing path nor of these forms is returned unchanged, so the
 * caller's own "cannot open" message names it. Returned paths are malloc'd (caller frees).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../src/gsae.h"

/* The cache root into root (cap bytes) and what chose it ("$HF_HUB_CACHE", "$HF_HOME/hub" or
 * "~/.cache/huggingface/hub") into *source. Errors: GSAE_ENOTFOUND (no variable set and no
 * $HOME), GSAE_ERANGE (too long). Local. */
enum gsae_status hfhub_cache_root(char *root, size_t cap, const char **source,
                                  struct gsae_error *err);

/* Whether s has the form of a repo id "org/name": two non-empty parts of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
bool hfhub_is_repo_id(const char *s);

/* The directory of the model named name at revision (NULL: "main"), see above. *path is
 * malloc'd. Errors: GSAE_ENOTFOUND (not in the cache: the message lists the paths tried and
 * the download command), GSAE_EFORMAT (a refs file that does not hold a hex commit hash),
 * GSAE_EINVAL (a malformed revision, or a revision given with a plain checkpoint directory),
 * GSAE_ENOMEM. Local. */
enum gsae_status hfhub_model_path(const char *name, const char *revision, char **path,
                                  struct gsae_error *err);

/* The SAE file or folder named name, see above. *path is malloc'd. Errors as
 * hfhub_model_path's. Local. */
enum gsae_status hfhub_sae_path(const char *name, char **path, struct gsae_error *err);
