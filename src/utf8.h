/* utf8.h: valid UTF-8 from arbitrary bytes (token text for JSON, which must be UTF-8). */
#pragma once

#include <stddef.h>

/* A NUL-terminated copy of the len bytes at s in which every byte that does not start a valid
 * UTF-8 sequence (ill-formed, overlong, surrogate, above U+10FFFF, truncated) and every NUL byte
 * is replaced by U+FFFD. malloc'd (caller frees); NULL when out of memory. */
char *utf8_valid_copy(const char *s, size_t len);
