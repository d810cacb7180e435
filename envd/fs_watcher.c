/* Polled watchers: CreateWatcher starts a watch (same core and options as
 * WatchDir: recursive, includeEntry, allowNetworkMounts) and answers its id;
 * GetWatcherEvents hands over the events queued since the last poll and
 * empties the queue; RemoveWatcher ends the watch.
 *
 * Nothing ends a watcher but RemoveWatcher (or envd's exit), so both the
 * number of watchers and each queue are bounded. A queue that fills up
 * because nobody polls drops further events and counts them; the next poll
 * then fails with resource_exhausted (and clears the queue) rather than
 * answer a silently incomplete list, so the client knows to rescan. */
#include "fs_watcher.h"

#include "connect_rpc.h"
#include "fs_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define WATCHERS_MAX 128
#define WATCHER_MAX_EVENTS 4096
#define WATCHER_ID_LEN 20

struct watcher {
    struct watcher *next;
    char id[WATCHER_ID_LEN + 1];
    struct fs_watch *w;
    json_t *events; /* array */
    unsigned long dropped;
};

static struct watcher *watchers;
static size_t nwatchers;

static void watcher_free(struct watcher *x)
{
    fs_watch_free(x->w);
    json_decref(x->events);
    free(x);
}

static int watcher_emit(json_t *ev, void *arg)
{
    struct watcher *x = arg;

    if (json_array_size(x->events) >= WATCHER_MAX_EVENTS) {
        x->dropped++;
        json_decref(ev);
        return 0;
    }
    json_array_append_new(x->events, ev);
    return 0;
}

static struct watcher **find(json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "watcherId"));

    for (struct watcher **p = &watchers; id && *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0)
            return p;
    return NULL;
}

static int make_id(char *out)
{
    unsigned char r[WATCHER_ID_LEN / 2];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -1;
    for (size_t i = 0; i < sizeof(r); i++)
        (void)snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

void fs_watcher_create(struct evhttp_request *req, json_t *msg, const struct envd_user *u)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct watcher *x;
    enum connect_code code;
    char err[512];

    if (nwatchers >= WATCHERS_MAX) {
        connect_error(req, CONNECT_RESOURCE_EXHAUSTED,
                      "too many watchers (%d): remove some with RemoveWatcher",
                      WATCHERS_MAX);
        return;
    }
    x = calloc(1, sizeof(*x));
    if (!x || !evcon || !(x->events = json_array()) || make_id(x->id) != 0) {
        if (x)
            json_decref(x->events);
        free(x);
        connect_error(req, CONNECT_INTERNAL, "cannot create a watcher");
        return;
    }
    x->w = fs_watch_new(evhttp_connection_get_base(evcon), msg, u, watcher_emit, x, &code,
                        err, sizeof(err));
    if (!x->w) {
        watcher_free(x);
        connect_error(req, code, "%s", err);
        return;
    }
    x->next = watchers;
    watchers = x;
    nwatchers++;
    connect_unary_reply(req, json_pack("{s:s}", "watcherId", x->id));
}

void fs_watcher_events(struct evhttp_request *req, json_t *msg, const struct envd_user *u)
{
    struct watcher **p = find(msg);
    struct watcher *x;
    json_t *events;

    (void)u;
    if (!p) {
        connect_error(req, CONNECT_NOT_FOUND, "watcher not found");
        return;
    }
    x = *p;
    events = x->events;
    x->events = json_array();
    if (!x->events) {
        x->events = events;
        connect_error(req, CONNECT_INTERNAL, "out of memory");
        return;
    }
    if (x->dropped) {
        connect_error(req, CONNECT_RESOURCE_EXHAUSTED,
                      "watcher queue overflowed (%d events): %lu events were lost; "
                      "poll more often",
                      WATCHER_MAX_EVENTS, x->dropped);
        x->dropped = 0;
        json_decref(events);
        return;
    }
    connect_unary_reply(req, json_pack("{s:o}", "events", events));
}

void fs_watcher_remove(struct evhttp_request *req, json_t *msg, const struct envd_user *u)
{
    struct watcher **p = find(msg);
    struct watcher *x;

    (void)u;
    if (!p) {
        connect_error(req, CONNECT_NOT_FOUND, "watcher not found");
        return;
    }
    x = *p;
    *p = x->next;
    nwatchers--;
    watcher_free(x);
    connect_unary_reply(req, json_object());
}

void fs_watchers_free_all(void)
{
    while (watchers) {
        struct watcher *x = watchers;
        watchers = x->next;
        watcher_free(x);
    }
    nwatchers = 0;
}
