/*
 * Plain JSON text: bytes Go's encoding/json (etcd's encoder, HTML escaping
 * on) writes as they are inside a string. ASCII 0x20-0x7f other than '"',
 * '\\', '<', '>' and '&' (Go's htmlSafeSet); any other byte is escaped or,
 * from 0x80 up, looked at as UTF-8. The store marks keys and values that
 * are plain when it writes them, so the API copies them without looking.
 */
#ifndef METCD_COMMON_JSONTEXT_H
#define METCD_COMMON_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1 for each plain ASCII byte. */
extern const uint8_t json_plain_ascii[128];

/* The length of a plain prefix of s[0..len), looked at 16 or 8 bytes at a
 * time: at most the whole plain prefix (the bytes after it are for a byte
 * loop to look at). */
size_t json_plain_prefix(const void *s, size_t len);

/* True when all of s[0..len) is plain. */
bool json_is_plain(const void *s, size_t len);

/* Copies src[0..len) to dst, checking it in the same pass: true when all
 * of it is plain; on false, dst holds some of the bytes. */
bool json_copy_plain(char *dst, const void *src, size_t len);

#endif /* METCD_COMMON_JSONTEXT_H */
