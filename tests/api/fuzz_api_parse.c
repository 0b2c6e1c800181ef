/*
 * libFuzzer target for the API's request parsing: the input is split into a
 * request target (path and query), a Content-Type and a body, and goes
 * through path decoding/cleaning, form parsing and parseKeyRequest's rules,
 * then the JSON string encoder. Nothing may crash, leak or read out of bounds,
 * and a few invariants are checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Layout: method byte, then target \n content-type \n body. */
    if (size < 1)
        return 0;
    static const api_method_t methods[] = {API_M_GET, API_M_HEAD, API_M_PUT, API_M_POST,
                                           API_M_DELETE};
    api_method_t m = methods[data[0] % 5];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl1 = memchr(p, '\n', n);
    size_t target_len = nl1 ? (size_t)(nl1 - p) : n;
    const char *ct = nl1 ? nl1 + 1 : NULL;
    size_t rest = nl1 ? n - target_len - 1 : 0;
    const char *nl2 = ct ? memchr(ct, '\n', rest) : NULL;
    size_t ct_len = nl2 ? (size_t)(nl2 - ct) : rest;
    const char *body = nl2 ? nl2 + 1 : NULL;
    size_t body_len = nl2 ? rest - ct_len - 1 : 0;

    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    api_path_t path;
    if (api_path_parse(&pool, p, target_len, &path) == 0) {
        if (path.redirect != NULL) {
            /* A redirect target is clean: parsing it again gives no redirect. */
            api_path_t again;
            const char *q = memchr(path.redirect, '?', path.redirect_len);
            size_t plen = q ? (size_t)(q - path.redirect) : path.redirect_len;
            check(api_path_parse(&pool, path.redirect, plen, &again) == 0);
            check(again.redirect == NULL);
        }
        const char *q = memchr(p, '?', target_len);
        const char *query = q ? q + 1 : "";
        size_t query_len = q ? target_len - (size_t)(q - p) - 1 : 0;
        api_keys_req_t kr;
        api_parse_error_t err;
        if (api_keys_parse(&pool, m, path.path, path.path_len, query, query_len, ct, ct_len, body,
                           body_len, &kr, &err) == 0) {
            check(kr.key_len >= 1 && kr.key[0] == '/');
            check(kr.key_len == 1 || kr.key[kr.key_len - 1] != '/');
            check(kr.prev_value == NULL || kr.prev_value_len > 0);
            api_buf_t b;
            api_buf_init(&b, &pool);
            api_json_string(&b, kr.key, kr.key_len);
            if (kr.value)
                api_json_string(&b, kr.value, kr.value_len);
            check(b.len >= 2 && b.data[0] == '"');
        } else {
            check(err.code >= 201 && err.code <= 212);
        }
    }
    api_buf_t b;
    api_buf_init(&b, NULL);
    api_json_string(&b, p, n);
    api_buf_free(&b);
    h2o_mem_clear_pool(&pool);
    return 0;
}
