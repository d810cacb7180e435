/* Decoding of process.Process request messages (proto3 JSON mapping): pure
 * functions over jansson values, no I/O and no process table, so they are unit
 * tested and fuzzed (tests/fuzz/fuzz_envd_rpc_request.c). Messages use
 * lowerCamelCase names, may omit default values, carry 32-bit integers as
 * numbers or quoted decimals and bytes as base64; unknown fields are ignored. */
#ifndef ENVD_RPC_DECODE_H
#define ENVD_RPC_DECODE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* An unsigned 32-bit value given as a number or a decimal string: 0 or -1. */
int rpc_json_u32(json_t *v, uint32_t *out);
/* 1 if v is absent, null, or an object whose values are all strings. */
int rpc_string_map_ok(json_t *v);
/* "pty": {"size": {"cols": C, "rows": R}}: 0 with the size (0 when absent), or -1. */
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): cols, rows as in the proto */
int rpc_pty_size(json_t *pty, unsigned short *cols, unsigned short *rows);

/* A ProcessSelector (msg's "process": {"pid": N} or {"tag": "..."}): 0 with *pid
 * (0 when by tag) and *tag (borrowed from msg; NULL when by pid), or -1 with why. */
int rpc_selector_decode(json_t *msg, uint32_t *pid, const char **tag, char *err,
                        size_t errlen);

/* A ProcessInput ({"stdin": base64} or {"pty": base64}): 0 with the bytes in *data
 * (the caller frees them), *len and *pty; -1 with why (*oom set when it was memory,
 * not the input). */
int rpc_input_decode(json_t *input, int *pty, uint8_t **data, size_t *len, int *oom,
                     char *err, size_t errlen);

/* What a Start request asks for; strings and values are borrowed from msg. */
struct rpc_start {
    const char *cmd; /* non-empty */
    json_t *args;    /* array of strings, or NULL */
    json_t *envs;    /* object of strings, or NULL */
    const char *cwd; /* NULL: the default */
    const char *tag; /* NULL: none */
    int pty;         /* with cols x rows (0: the default) */
    unsigned short cols, rows;
    int stdin_pipe; /* absent or true: a pipe; false: /dev/null */
};

/* Validate and decode a Start message: 0, or -1 with why (invalid_argument). */
int rpc_start_decode(json_t *msg, struct rpc_start *s, char *err, size_t errlen);

#endif
