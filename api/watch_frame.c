/*
 * api/watch_frame.c: an event as its watchers receive it, encoded once.
 *
 * A PUT on a key that 10,000 clients watch used to be encoded 10,000 times,
 * once per watcher, before the PUT itself was answered. A frame holds the
 * bytes once, with HTTP/1.1 chunk framing around them, and every watcher
 * that gets the event keeps a reference until its write completes: no
 * per-watcher allocation or formatting.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"

/* "<hex size>\r\n": a size_t in hex is at most 16 digits. */
#define FRAME_HEAD_MAX 18

api_watch_frame_t *api_watch_frame_new(const store_event_t *ev, api_buf_t *scratch)
{
    scratch->len = 0;
    api_buf_reserve(scratch, api_json_event_size_hint(ev) + 1);
    api_json_event(scratch, ev, false);
    api_buf_append(scratch, "\n", 1);

    char head[FRAME_HEAD_MAX + 1];
    int hl = snprintf(head, sizeof(head), "%zx\r\n", scratch->len);
    api_watch_frame_t *f = malloc(sizeof(*f) + (size_t)hl + scratch->len + 2);
    if (f == NULL)
        abort(); /* the API's policy, as h2o's allocators: die if impossible */
    f->refcount = 1;
    f->head_len = (uint32_t)hl;
    f->body_len = scratch->len;
    memcpy(f->bytes, head, (size_t)hl);
    memcpy(f->bytes + hl, scratch->data, scratch->len);
    memcpy(f->bytes + hl + scratch->len, "\r\n", 2);
    return f;
}

void api_watch_frame_release(api_watch_frame_t *f)
{
    if (f != NULL && --f->refcount == 0)
        free(f);
}
