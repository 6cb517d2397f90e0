/* tokenizer_load.h: build a struct tokenizer from a Hugging Face tokenizer.json.
 *
 * Reads tokenizer.json, or the same compressed (.zst, .gz, any filter libarchive knows; the
 * compression is detected from the content). Supported, with Hugging Face semantics: model BPE
 * (vocab, merges as "a b" strings or [a, b] pairs, byte_fallback, fuse_unk, unk_token,
 * ignore_merges), added_tokens (without lstrip/rstrip/single_word/normalized), a normalizer that
 * is one Replace of a string, a Split pre-tokenizer on the string that normalizer removes (a
 * no-op), a decoder of Replace + ByteFallback + Fuse, and a TemplateProcessing post-processor
 * that puts one special token before the text (the bos token). Anything else is reported as
 * unsupported (GSAE_EFORMAT, naming the field) rather than tokenized differently.
 */
#pragma once

#include "../src/gsae.h"
#include "../src/tokenizer.h"

/* Load path into tk (initialized here; free with tokenizer_free, also after a failure).
 * Errors name path and the field: GSAE_EIO, GSAE_EFORMAT, GSAE_ENOMEM. Local. */
enum gsae_status tokenizer_load(struct tokenizer *tk, const char *path, struct gsae_error *err);

/* Read a whole file, decompressing it if it is compressed (zstd, gzip, xz, ...), into out
 * (appended; caller frees with tokenizer_text_free). path "-" reads stdin. */
enum gsae_status tokenizer_read_file(const char *path, struct tokenizer_text *out,
                                     struct gsae_error *err);
