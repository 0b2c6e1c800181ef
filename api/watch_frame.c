/*
 * api/watch_frame.c: an event as its watchers receive it, encoded once.
 *
 * A PUT on a key that 10,000 clients watch used to be encoded 10,000 times,
 * once per watcher, before the PUT itself was answered. A frame holds the
 * bytes once, with HTTP/1.1 chunk framing around them, and every watcher
 * that gets the event keeps a reference until its write completes: no
 * per-watcher allocation or formatting.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"

api_watch_frame_t *api_watch_frame_new(const store_event_t *ev)
{
    /*
     * Encoded in place, behind room for the header and the longest chunk
     * head: a listing's frame is hundreds of KB, and a copy of it would
     * cost about as much as its encoding.
     */
    size_t room = offsetof(api_watch_frame_t, bytes) + API_FRAME_HEAD_MAX;
    api_buf_t b;
    api_buf_init(&b, NULL);
    api_buf_reserve(&b, room + api_json_event_size_hint(ev) + 3);
    b.len = room;
    api_json_event(&b, ev, false);
    api_buf_append(&b, "\n\r\n", 3);
    size_t body_len = b.len - room - 2;

    char head[API_FRAME_HEAD_MAX + 1];
    int hl = snprintf(head, sizeof(head), "%zx\r\n", body_len);
    /* Give back what the buffer's doubling left over (kept frames stay a while). */
    api_watch_frame_t *f = (api_watch_frame_t *)b.data;
    if (b.cap - b.len > b.len / 4) {
        void *p = realloc(b.data, b.len);
        if (p != NULL)
            f = p;
    }
    f->refcount = 1;
    f->head_len = (uint32_t)hl;
    f->body_len = body_len;
    memcpy(f->bytes + API_FRAME_HEAD_MAX - hl, head, (size_t)hl);
    return f;
}

void api_watch_frame_release(api_watch_frame_t *f)
{
    if (f != NULL && --f->refcount == 0)
        free(f);
}
