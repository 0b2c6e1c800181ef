/*
 * common/jsontext.c: which bytes Go's JSON encoder writes unescaped, found
 * 16 (SSE2) or 8 bytes at a time.
 */
#include <string.h>

#include "common/jsontext.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ASCII bytes Go writes as they are (htmlSafeSet): not control, ", \\, <, >, &. */
const uint8_t json_plain_ascii[128] = {
    ['\x20'] = 1, ['!'] = 1, ['#'] = 1,    ['$'] = 1, ['%'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1,    ['+'] = 1, [','] = 1,    ['-'] = 1, ['.'] = 1, ['/'] = 1,  ['0'] = 1, ['1'] = 1,
    ['2'] = 1,    ['3'] = 1, ['4'] = 1,    ['5'] = 1, ['6'] = 1, ['7'] = 1,  ['8'] = 1, ['9'] = 1,
    [':'] = 1,    [';'] = 1, ['='] = 1,    ['?'] = 1, ['@'] = 1, ['A'] = 1,  ['B'] = 1, ['C'] = 1,
    ['D'] = 1,    ['E'] = 1, ['F'] = 1,    ['G'] = 1, ['H'] = 1, ['I'] = 1,  ['J'] = 1, ['K'] = 1,
    ['L'] = 1,    ['M'] = 1, ['N'] = 1,    ['O'] = 1, ['P'] = 1, ['Q'] = 1,  ['R'] = 1, ['S'] = 1,
    ['T'] = 1,    ['U'] = 1, ['V'] = 1,    ['W'] = 1, ['X'] = 1, ['Y'] = 1,  ['Z'] = 1, ['['] = 1,
    [']'] = 1,    ['^'] = 1, ['_'] = 1,    ['`'] = 1, ['a'] = 1, ['b'] = 1,  ['c'] = 1, ['d'] = 1,
    ['e'] = 1,    ['f'] = 1, ['g'] = 1,    ['h'] = 1, ['i'] = 1, ['j'] = 1,  ['k'] = 1, ['l'] = 1,
    ['m'] = 1,    ['n'] = 1, ['o'] = 1,    ['p'] = 1, ['q'] = 1, ['r'] = 1,  ['s'] = 1, ['t'] = 1,
    ['u'] = 1,    ['v'] = 1, ['w'] = 1,    ['x'] = 1, ['y'] = 1, ['z'] = 1,  ['{'] = 1, ['|'] = 1,
    ['}'] = 1,    ['~'] = 1, ['\x7f'] = 1,
};

#ifdef __SSE2__
/*
 * A mask of the bytes among 16 that are not plain. Two pairs share a
 * compare: '"' (0x22) and '&' (0x26) are the only bytes that give 0x26
 * with bit 0x04 set, '<' (0x3c) and '>' (0x3e) the only ones that give
 * 0x3e with bit 0x02 set.
 */
static inline int sse_unsafe_mask(__m128i v)
{
    /* Signed compare: 0x80-0xff are negative, so below 0x20 as well. */
    __m128i bad = _mm_or_si128(
        _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_or_si128(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x04)), _mm_set1_epi8('&')),
                     _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x02)), _mm_set1_epi8('>'))));
    return _mm_movemask_epi8(bad);
}
#endif

/*
 * Non-zero when one of 8 bytes is unsafe: high, below 0x20, or one of the
 * five. A borrow may mark a byte above an unsafe one too, never a byte
 * when none is unsafe, so the test is exact for the 8 as a whole.
 */
static inline uint64_t swar_unsafe(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
#define HAS_ZERO(x) (((x)-ones) & ~(x)&highs)
    return (x & highs) | ((x - ones * 0x20) & ~x & highs) | HAS_ZERO(x ^ (ones * '"')) |
           HAS_ZERO(x ^ (ones * '\\')) | HAS_ZERO(x ^ (ones * '<')) | HAS_ZERO(x ^ (ones * '>')) |
           HAS_ZERO(x ^ (ones * '&'));
#undef HAS_ZERO
}

/*
 * The length of a prefix of s[0..len) that needs no escaping, looked at
 * 16 (SSE2) or 8 bytes at a time; the caller looks at the bytes after it
 * one by one. A listing is mostly such bytes: callgrind counted 467
 * instructions per key or value of a 1000-child listing byte by byte and
 * most of the request's time in this function. Unsafe: below 0x20, 0x80 or
 * above (looked at byte by byte for UTF-8), '"', '\\', '<', '>', '&'.
 */
size_t json_plain_prefix(const void *src, size_t len)
{
    const unsigned char *s = src;
    size_t i = 0;
#ifdef __SSE2__
    for (; len - i >= 16; i += 16) {
        int mask = sse_unsafe_mask(_mm_loadu_si128((const __m128i *)(s + i)));
        if (mask != 0)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    for (; len - i >= 8; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (swar_unsafe(x) != 0)
            break; /* the byte loop finds which */
    }
    return i;
}

/*
 * Copies src[0..len) to dst, checking it in the same pass, and returns
 * true when none of it needs escaping (almost every key and value); on
 * false, dst holds some of the bytes and the caller escapes instead. The
 * last block overlaps the one before rather than going byte by byte: a
 * listing checked each string once and then copied it, two passes over
 * its 100 KB of values, with the check at an eighth of its CPU (perf).
 */
bool json_copy_plain(char *dst, const void *src, size_t len)
{
    const unsigned char *s = src;
#ifdef __SSE2__
    if (len >= 16) {
        size_t i = 0;
        for (; len - i >= 16; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            if (sse_unsafe_mask(v) != 0)
                return false;
            _mm_storeu_si128((__m128i *)(dst + i), v);
        }
        if (i < len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + len - 16));
            if (sse_unsafe_mask(v) != 0)
                return false;
            _mm_storeu_si128((__m128i *)(dst + len - 16), v);
        }
        return true;
    }
#endif
    if (len >= 8) {
        uint64_t x;
        size_t i = 0;
        for (; len - i >= 8; i += 8) {
            memcpy(&x, s + i, 8);
            if (swar_unsafe(x) != 0)
                return false;
            memcpy(dst + i, &x, 8);
        }
        if (i < len) {
            memcpy(&x, s + len - 8, 8);
            if (swar_unsafe(x) != 0)
                return false;
            memcpy(dst + len - 8, &x, 8);
        }
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 0x80 || !json_plain_ascii[s[i]])
            return false;
        dst[i] = (char)s[i];
    }
    return true;
}

bool json_is_plain(const void *src, size_t len)
{
    const unsigned char *s = src;
    for (size_t i = json_plain_prefix(s, len); i < len; i++) {
        if (s[i] >= 0x80 || !json_plain_ascii[s[i]])
            return false;
    }
    return true;
}
