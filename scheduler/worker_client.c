#include "worker_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    char *tmp;

    if (b == NULL)
        return n;              /* discard */
    if (b->len + n > 64 << 20) /* a worker answer this large is not ours */
        return 0;
    tmp = realloc(b->data, b->len + n + 1);
    if (tmp == NULL)
        return 0;
    b->data = tmp;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static long request(const char *addr, const char *method, const char *path,
                    struct body *b, long timeout_ms)
{
    char url[512];
    long status = -1;
    CURL *c = curl_easy_init();

    if (c == NULL)
        return -1;
    if (strncmp(addr, "unix:", 5) == 0) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, addr + 5);
        (void)snprintf(url, sizeof(url), "http://worker%s", path);
    } else {
        (void)snprintf(url, sizeof(url), "http://%s%s", addr, path);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

long worker_call(const char *addr, const char *method, const char *id, const char *action)
{
    char path[256];

    if ((size_t)snprintf(path, sizeof(path), "/sandboxes/%s%s", id, action) >=
        sizeof(path))
        return -1;
    return request(addr, method, path, NULL, 15000L);
}

json_t *worker_get_json(const char *addr, const char *path, int want_array)
{
    struct body b = {NULL, 0};
    json_t *j = NULL;

    if (request(addr, "GET", path, &b, 4000L) == 200 && b.data)
        j = json_loads(b.data, 0, NULL);
    free(b.data);
    if (j && (want_array ? !json_is_array(j) : !json_is_object(j))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}
