/* HTTP reason phrases for the in-sandbox servers (cube-envd, cube-ci), including the
 * codes libevent 2.1's own table lacks or words differently. */
#ifndef CUBE_ENVD_HTTP_REASON_H
#define CUBE_ENVD_HTTP_REASON_H

/* The phrase for status, or NULL to let evhttp use its own table. */
const char *http_reason_phrase(int status);

#endif
