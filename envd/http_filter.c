/* The connection front in front of evhttp. See http_filter.h.
 *
 * Each connection is a bufferevent_filter over a socket bufferevent
 * (evhttp_set_bevcb; BEV_CTRL_SET_FD is forwarded to the socket). The input
 * filter runs libhttp-parser over everything read, one request after the
 * other:
 *
 *   F_HEAD     a head is being read; its bytes are held back until it is
 *              complete, then passed on (any request but POST /files) or
 *              dropped (an upload: its head was parsed here).
 *   F_PASS     the body of a passed-on request: bytes go on to evhttp as read.
 *   F_UPLOAD   a sink's body: de-chunked bytes go to its consumer (an
 *              upload to files_upload.c, a StreamInput to process_input.c).
 *   F_DISCARD  the rest of a refused or failed upload's body: dropped.
 *   F_RAW      after an upgrade or a head this parser refused: every byte
 *              goes on to evhttp, which answers (or closes) by its own rules.
 *   F_DEAD     after a broken upload body: the connection is closing.
 *
 * While an upload's body is read the socket bufferevent stops reading and an
 * event of ours reads the socket in 1 MiB reads (DIRECT_READ): libevent 2.1
 * reads at most 4 KiB per evbuffer_read. Whatever follows the body is framed
 * from the same buffer, so nothing is read twice or pushed back.
 *
 * Not BEV_OPT_DEFER_CALLBACKS: a deferred write callback runs even if more
 * output was queued meanwhile, and evhttp would take a reply as sent too
 * early. evhttp runs from our callbacks only as their last step (and frees a
 * connection only in a later loop turn), so nothing is used after it. */
#include "http_filter.h"

#include "files_upload.h"
#include "process_input.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define DIRECT_READ ((size_t)1 << 20)
/* Bytes read per wakeup before other connections get their turn. */
#define DIRECT_BUDGET ((size_t)8 << 20)
/* Same as evhttp's max headers size (envd_http.c). */
#define HEAD_MAX ((size_t)64 * 1024)
#define MARKER "X-Cube-Upload"

enum fstate { F_HEAD, F_PASS, F_UPLOAD, F_DISCARD, F_RAW, F_DEAD };

struct result {
    TAILQ_ENTRY(result) link;
    int status;
    json_t *body;
};

struct conn {
    LIST_ENTRY(conn) link;
    struct bufferevent *bev;   /* the filter: evhttp's side */
    struct bufferevent *under; /* the socket */
    struct event *rd;          /* direct reads while a body streams */
    struct event *flush;       /* writes evhttp's output once per loop turn */
    struct event *wr;          /* the socket can take more of it */
    int flushing;
    uint8_t *rbuf;
    http_parser p;
    enum fstate st;
    int lf_pending; /* the head's last LF is parsed once more as the body starts */
    int write_failed;
    int in_value; /* the last header callback was a value */
    int maybe;    /* -1 unknown, else whether the target may be /files */
    struct evbuffer *head;
    struct http_head h;
    const struct body_sink *sink; /* the request whose body is being consumed */
    void *sk;                     /* its state; NULL once finished or failed */
    int bulk;                     /* that sink takes large bodies: direct reads */
    char stand_path[40];          /* path of its stand-in request */
    TAILQ_HEAD(, result) results;
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);

/* The requests whose bodies are consumed here as they arrive. */
static const struct body_sink *const sinks[] = {&files_upload_sink, &process_input_sink};
#define NSINKS (sizeof(sinks) / sizeof(sinks[0]))
static char marker[33]; /* per process: stand-ins cannot be forged */

const char *http_head_get(const struct http_head *h, const char *name)
{
    for (int i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i] ? h->values[i] : "";
    return NULL;
}

static void head_clear(struct http_head *h)
{
    for (int i = 0; i < h->nheaders; i++) {
        free(h->names[i]);
        free(h->values[i]);
    }
    free(h->names);
    free(h->values);
    free(h->url);
    memset(h, 0, sizeof(*h));
}

/* Append p[0..n) to the string *s (NULL = empty). */
static int append(char **s, const char *p, size_t n)
{
    size_t have = *s ? strlen(*s) : 0;
    char *t;

    if (have + n > HEAD_MAX)
        return -1;
    t = realloc(*s, have + n + 1);
    if (!t)
        return -1;
    memcpy(t + have, p, n);
    t[have + n] = '\0';
    *s = t;
    return 0;
}

/* ---------------------------------------------------------------- parser callbacks */

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;

    head_clear(&c->h);
    c->in_value = 0;
    c->maybe = -1;
    return 0;
}

/* Once the target is known: can it be a sink's path? Heads of other requests
 * (most of them Connect calls, POSTs too) are then not kept. Conservative:
 * only a target that plainly names another path is ruled out. */
static int maybe_upload(struct conn *c)
{
    const char *u = c->h.url;
    size_t i, n;

    if (c->maybe >= 0)
        return c->maybe;
    c->maybe = u && u[0] != '/';
    for (i = 0; u && !c->maybe && i < NSINKS; i++) {
        n = strlen(sinks[i]->path);
        c->maybe = strncmp(u, sinks[i]->path, n) == 0 &&
                   (u[n] == '\0' || u[n] == '?' || u[n] == '#');
    }
    return c->maybe;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    /* Only a POST can be an upload: other heads are not kept. */
    return p->method == HTTP_POST ? append(&c->h.url, at, n) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    struct http_head *h = &c->h;

    if (p->method != HTTP_POST || !maybe_upload(c))
        return 0;
    if (h->nheaders == 0 || c->in_value) {
        char **nn = realloc(h->names, (size_t)(h->nheaders + 1) * sizeof(char *));
        char **vv =
            nn ? realloc(h->values, (size_t)(h->nheaders + 1) * sizeof(char *)) : NULL;
        if (nn)
            h->names = nn;
        if (!vv)
            return -1;
        h->values = vv;
        h->names[h->nheaders] = h->values[h->nheaders] = NULL;
        h->nheaders++;
        c->in_value = 0;
    }
    return append(&h->names[h->nheaders - 1], at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (p->method != HTTP_POST || c->h.nheaders == 0)
        return 0;
    c->in_value = 1;
    return append(&c->h.values[c->h.nheaders - 1], at, n);
}

/* Stop at the end of a head and of a message: the caller acts on both. */
static int on_pause(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static void upload_failed(struct conn *c, struct sink_result *r);

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    struct sink_result r;

    if (c->st == F_UPLOAD && c->sink->body(c->sk, (const uint8_t *)at, n, &r) != 0)
        upload_failed(c, &r);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_pause,
    .on_body = on_body,
    .on_message_complete = on_pause,
};

/* ---------------------------------------------------------------- framing */

static struct evbuffer *to_evhttp(struct conn *c)
{
    return bufferevent_get_input(c->bev);
}

/* The peer cannot take more: evhttp is told (later in this loop turn), and
 * closes the connection. */
static void fail_writes(struct conn *c)
{
    if (c->write_failed)
        return;
    c->write_failed = 1;
    bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
                              BEV_TRIG_DEFER_CALLBACKS);
}

/* Queue a sink's answer and hand evhttp its bodyless stand-in. */
static void stand_in(struct conn *c, struct sink_result *r, int close)
{
    struct result *res = calloc(1, sizeof(*res));
    const char *conn_hdr = http_head_get(&c->h, "Connection");

    if (!res) {
        json_decref(r->body);
        r->status = 500;
        r->body = NULL;
        close = 1;
    } else {
        res->status = r->status;
        res->body = r->body;
        TAILQ_INSERT_TAIL(&c->results, res, link);
    }
    if (close)
        conn_hdr = "close";
    /* Header values come from the parser: no CR or LF in them. */
    evbuffer_add_printf(to_evhttp(c),
                        "POST %s HTTP/%d.%d\r\n%s%s%s" MARKER ": %s\r\n"
                        "Content-Length: 0\r\n\r\n",
                        c->stand_path, c->p.http_major, c->p.http_minor,
                        conn_hdr ? "Connection: " : "", conn_hdr ? conn_hdr : "",
                        conn_hdr ? "\r\n" : "", res ? marker : "-");
}

static void release_sink(struct conn *c)
{
    if (c->sk)
        c->sink->release(c->sk);
    c->sk = NULL;
}

static void upload_failed(struct conn *c, struct sink_result *r)
{
    release_sink(c);
    c->st = F_DISCARD;
    stand_in(c, r, 0);
}

/* The sink whose path the request target's is (as evhttp will route it), or
 * NULL. */
static const struct body_sink *find_sink(struct conn *c)
{
    const struct body_sink *yes = NULL;
    struct evhttp_uri *uri;
    const char *path;
    size_t i;

    if (c->p.method != HTTP_POST || !maybe_upload(c))
        return NULL;
    uri = evhttp_uri_parse_with_flags(c->h.url, EVHTTP_URI_NONCONFORMANT);
    if (!uri)
        return NULL;
    path = evhttp_uri_get_path(uri);
    for (i = 0; path && !yes && i < NSINKS; i++)
        if (strcmp(path, sinks[i]->path) == 0)
            yes = sinks[i];
    evhttp_uri_free(uri);
    if (yes) {
        char *q = strchr(c->h.url, '?');
        c->h.query = q ? q + 1 : NULL;
        if (q && strchr(q, '#'))
            *strchr(q, '#') = '\0';
    }
    return yes;
}

static void head_complete(struct conn *c)
{
    const struct body_sink *sink = find_sink(c);
    struct sink_result r;
    const char *expect;
    int cont;

    if (!sink) {
        evbuffer_add_buffer(to_evhttp(c), c->head);
        head_clear(&c->h);
        c->st = F_PASS;
        return;
    }
    evbuffer_drain(c->head, evbuffer_get_length(c->head));
    c->h.major = c->p.http_major;
    c->h.minor = c->p.http_minor;
    expect = http_head_get(&c->h, "Expect");
    cont = expect && strcasecmp(expect, "100-continue") == 0;
    c->sink = sink;
    c->bulk = sink->bulk;
    (void)snprintf(c->stand_path, sizeof(c->stand_path), "%s", sink->path);
    c->sk = sink->start(&c->h, &r);
    if (!c->sk) {
        /* A client that waits for 100 Continue will not send the body:
         * the connection cannot be reused after the answer. */
        c->st = F_DISCARD;
        stand_in(c, &r, cont);
        return;
    }
    c->st = F_UPLOAD;
    /* Only while nothing is queued before us: a 100 must not overtake an
     * earlier answer on this connection. */
    if (cont && TAILQ_EMPTY(&c->results) && evbuffer_get_length(to_evhttp(c)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        send(bufferevent_getfd(c->under), "HTTP/1.1 100 Continue\r\n\r\n", 25,
             MSG_NOSIGNAL) < 0)
        fail_writes(c);
}

static void message_complete(struct conn *c)
{
    if (c->st == F_UPLOAD) {
        struct sink_result r;
        c->sink->finish(c->sk, &r);
        release_sink(c);
        stand_in(c, &r, 0);
    }
    head_clear(&c->h);
    /* After an upgrade (or CONNECT) the bytes are another protocol. */
    c->st = c->p.upgrade ? F_RAW : F_HEAD;
}

/* The body is not valid HTTP (a broken chunk): answer 400 and close. */
static void body_broken(struct conn *c)
{
    struct sink_result r = {400, NULL};

    if (c->st == F_PASS) {
        c->st = F_RAW; /* evhttp finds out itself */
        return;
    }
    r.body = json_pack("{s:i,s:s}", "code", 400, "message", "malformed request body");
    if (c->sk) {
        release_sink(c);
        stand_in(c, &r, 1);
    } else {
        /* Already answered: nothing can follow on this connection. */
        json_decref(r.body);
        bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
                                  BEV_TRIG_DEFER_CALLBACKS);
    }
    c->st = F_DEAD;
}

/* Frame data[0..len): every byte is used here, none is left over. */
static void feed(struct conn *c, const char *data, size_t len)
{
    while (len > 0) {
        enum http_errno e;
        size_t n;

        if (c->st == F_DEAD)
            return;
        if (c->st == F_RAW) {
            evbuffer_add(to_evhttp(c), data, len);
            return;
        }
        n = http_parser_execute(&c->p, &settings, data, len);
        e = HTTP_PARSER_ERRNO(&c->p);
        if (c->st == F_HEAD) {
            if (e == HPE_OK) {
                evbuffer_add(c->head, data, n);
            } else if (e == HPE_PAUSED && n < len && data[n] == '\n') {
                evbuffer_add(c->head, data, n + 1);
                http_parser_pause(&c->p, 0);
                c->lf_pending = 1;
                head_complete(c);
            } else {
                /* Not a head this parser takes: evhttp gets it as it came. */
                evbuffer_add_buffer(to_evhttp(c), c->head);
                head_clear(&c->h);
                c->st = F_RAW;
                n = 0;
            }
        } else {
            size_t skip = c->lf_pending && n > 0 ? 1 : 0;
            if (c->st == F_PASS && n > skip)
                evbuffer_add(to_evhttp(c), data + skip, n - skip);
            if (n > 0)
                c->lf_pending = 0;
            if (e == HPE_PAUSED) {
                http_parser_pause(&c->p, 0);
                message_complete(c);
            } else if (e != HPE_OK) {
                body_broken(c);
                if (c->st == F_RAW) {
                    data += n;
                    len -= n;
                    continue;
                }
                return;
            }
        }
        data += n;
        len -= n;
    }
}

/* ---------------------------------------------------------------- direct reads */

static int in_body(const struct conn *c)
{
    return c->st == F_UPLOAD || c->st == F_DISCARD;
}

static void leave_direct(struct conn *c)
{
    event_del(c->rd);
    free(c->rbuf);
    c->rbuf = NULL;
    bufferevent_enable(c->under, EV_READ);
}

/* Let evhttp see what was queued for it, if it is reading. */
static void kick(struct conn *c)
{
    if (evbuffer_get_length(to_evhttp(c)) > 0 &&
        (bufferevent_get_enabled(c->bev) & EV_READ))
        bufferevent_trigger(c->bev, EV_READ, 0);
}

static void direct_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    bufferevent_event_cb ecb = NULL;
    size_t budget = DIRECT_BUDGET;

    (void)what;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
    if (!ecb) {
        /* evhttp has let go of the connection (closing after a reply). */
        event_del(c->rd);
        return;
    }
    while (budget > 0 && in_body(c)) {
        ssize_t r = read(fd, c->rbuf, DIRECT_READ);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            /* The client went away mid-body: the upload is void. The socket
             * bufferevent reads the same end and evhttp closes. */
            release_sink(c);
            c->st = F_DEAD;
            break;
        }
        feed(c, (const char *)c->rbuf, (size_t)r);
        budget -= (size_t)r < budget ? (size_t)r : budget;
    }
    if (!in_body(c))
        leave_direct(c);
    kick(c);
}

static void enter_direct(struct conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->under);

    if (!c->rd)
        c->rd = event_new(bufferevent_get_base(c->bev), fd, EV_READ | EV_PERSIST,
                          direct_cb, c);
    if (!c->rbuf)
        c->rbuf = malloc(DIRECT_READ);
    if (!c->rd || !c->rbuf) {
        /* Out of memory: stay with the socket bufferevent's small reads. */
        free(c->rbuf);
        c->rbuf = NULL;
        return;
    }
    bufferevent_disable(c->under, EV_READ);
    event_add(c->rd, NULL);
}

/* ---------------------------------------------------------------- the filter */

static enum bufferevent_filter_result in_filter(struct evbuffer *src,
                                                struct evbuffer *dst, ev_ssize_t lim,
                                                enum bufferevent_flush_mode mode,
                                                void *ctx)
{
    struct conn *c = ctx;

    (void)dst;
    (void)lim;
    (void)mode;
    while (evbuffer_get_length(src) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
            break;
        feed(c, v.iov_base, v.iov_len);
        evbuffer_drain(src, v.iov_len);
    }
    /* Bulk bodies in large reads; a stream of small messages (StreamInput) stays
     * with the bufferevent's, so an idle one holds no 1 MiB buffer. */
    if (in_body(c) && c->bulk && !c->rbuf)
        enter_direct(c);
    return BEV_OK;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    c->flushing = 1;
    bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
    c->flushing = 0;
}

/* evhttp's output. Not while evhttp is adding to it: the filter would see
 * each piece as it is added (a chunk's size line, its data, its CRLF) and,
 * once writing is enabled, send each alone; and a reply added before writing
 * is enabled would not be seen again (enabling a filter does not flush it).
 * So additions schedule `flush` for this loop turn (output_added), which
 * sends all that was added at once.
 *
 * Output is written straight to the socket, from evhttp's own buffer: no copy
 * to a second buffer, and sendfile chains stay sendfile. What the socket does
 * not take stays where it is until `wr` says it can take more; so evhttp's
 * buffer is empty, and evhttp hears "written", only once the kernel has all
 * of it, and closing after a reply loses nothing. */
static enum bufferevent_filter_result out_filter(struct evbuffer *src,
                                                 struct evbuffer *dst, ev_ssize_t lim,
                                                 enum bufferevent_flush_mode mode,
                                                 void *ctx)
{
    struct conn *c = ctx;
    evutil_socket_t fd = bufferevent_getfd(c->under);

    (void)dst;
    (void)lim;
    (void)mode;
    if (!c->flushing) {
        event_active(c->flush, EV_WRITE, 0);
        return BEV_NEED_MORE;
    }
    while (!c->write_failed && evbuffer_get_length(src) > 0) {
        int n;
        errno = 0;
        n = evbuffer_write_atmost(src, fd, -1);
        if (n > 0)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!c->wr)
                c->wr =
                    event_new(bufferevent_get_base(c->bev), fd, EV_WRITE, flush_cb, c);
            if (c->wr && event_add(c->wr, NULL) == 0)
                return BEV_NEED_MORE;
        }
        /* The peer is gone, or a file being sent shrank (sendfile hit its
         * end). */
        fail_writes(c);
    }
    if (c->write_failed) {
        evbuffer_drain(src, evbuffer_get_length(src));
        return BEV_NEED_MORE;
    }
    return BEV_OK;
}

/* evhttp added output: send it this loop turn (see out_filter). */
static void output_added(struct evbuffer *b, const struct evbuffer_cb_info *info,
                         void *arg)
{
    struct conn *c = arg;

    (void)b;
    if (info->n_added)
        event_active(c->flush, EV_WRITE, 0);
}

static void conn_free(void *arg)
{
    struct conn *c = arg;
    struct result *r;

    LIST_REMOVE(c, link);
    if (c->rd)
        event_free(c->rd);
    if (c->flush)
        event_free(c->flush);
    if (c->wr)
        event_free(c->wr);
    free(c->rbuf);
    release_sink(c);
    while ((r = TAILQ_FIRST(&c->results))) {
        TAILQ_REMOVE(&c->results, r, link);
        json_decref(r->body);
        free(r);
    }
    head_clear(&c->h);
    if (c->head)
        evbuffer_free(c->head);
    free(c);
}

struct bufferevent *http_filter_bev(struct event_base *base, void *arg)
{
    struct conn *c = calloc(1, sizeof(*c));

    (void)arg;
    if (!marker[0]) {
        unsigned char rnd[16];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return NULL;
        for (size_t i = 0; i < sizeof(rnd); i++)
            (void)snprintf(marker + 2 * i, 3, "%02x", rnd[i]);
        http_parser_set_max_header_size((uint32_t)HEAD_MAX);
    }
    if (!c)
        return NULL;
    TAILQ_INIT(&c->results);
    c->head = evbuffer_new();
    c->under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->flush = event_new(base, -1, 0, flush_cb, c);
    if (!c->head || !c->under || !c->flush)
        goto fail;
    c->bev = bufferevent_filter_new(c->under, in_filter, out_filter,
                                    BEV_OPT_CLOSE_ON_FREE, conn_free, c);
    if (!c->bev)
        goto fail;
    LIST_INSERT_HEAD(&conns, c, link);
    evbuffer_add_cb(bufferevent_get_output(c->bev), output_added, c);
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    return c->bev;
fail:
    if (c->flush)
        event_free(c->flush);
    if (c->under)
        bufferevent_free(c->under);
    if (c->head)
        evbuffer_free(c->head);
    free(c);
    return NULL;
}

int http_filter_take_result(struct evhttp_request *req, int *status, json_t **body)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    const char *m = evhttp_find_header(evhttp_request_get_input_headers(req), MARKER);
    struct result *r;
    struct conn *c;

    if (!bev || !m || !marker[0] || strcmp(m, marker) != 0)
        return -1;
    LIST_FOREACH(c, &conns, link)
    {
        if (c->bev != bev)
            continue;
        r = TAILQ_FIRST(&c->results);
        if (!r)
            return -1;
        TAILQ_REMOVE(&c->results, r, link);
        *status = r->status;
        *body = r->body;
        free(r);
        return 0;
    }
    return -1;
}
