/*
 * store/errors.c: the v2 error table (code, message), error
 * values, action names, and the store's allocation policy.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

const char *store_error_message(int code)
{
    switch (code) {
#define STORE_ERROR_MSG(name, c, msg)                                                              \
    case c:                                                                                        \
        return msg;
        STORE_ERRORS(STORE_ERROR_MSG)
#undef STORE_ERROR_MSG
    default:
        return NULL;
    }
}

void store_error_clear(store_error_t *err)
{
    if (!err)
        return;
    free(err->cause);
    err->cause = NULL;
    err->cause_len = 0;
    err->code = 0;
    err->index = 0;
}

int store_error_set(store_error_t *err, int code, const char *cause, uint64_t index)
{
    return store_error_setn(err, code, cause, cause ? strlen(cause) : 0, index);
}

int store_error_setn(store_error_t *err, int code, const char *cause, size_t len, uint64_t index)
{
    if (err) {
        store_error_clear(err);
        err->code = code;
        err->index = index;
        if (cause != NULL) {
            /* memcpy, not strndup: the cause may quote a key or value with a
             * NUL inside, and etcd reports it whole ("/k\u0000x"). */
            err->cause = store_xmalloc(len + 1);
            if (len)
                memcpy(err->cause, cause, len);
            err->cause[len] = '\0';
            err->cause_len = len;
        }
    }
    return -code;
}

const char *store_action_name(store_action_t action)
{
    switch (action) {
    case STORE_ACTION_GET:
        return "get";
    case STORE_ACTION_SET:
        return "set";
    case STORE_ACTION_CREATE:
        return "create";
    case STORE_ACTION_UPDATE:
        return "update";
    case STORE_ACTION_CAS:
        return "compareAndSwap";
    case STORE_ACTION_DELETE:
        return "delete";
    case STORE_ACTION_CAD:
        return "compareAndDelete";
    case STORE_ACTION_EXPIRE:
        return "expire";
    }
    return "unknown";
}

/* No I/O in the store, not even a message: the caller's abort handler reports it. */
static void store_oom(size_t n)
{
    (void)n;
    abort();
}

void *store_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        store_oom(n);
    return p;
}

void *store_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        store_oom(n * size);
    return p;
}

void *store_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        store_oom(n);
    return q;
}
