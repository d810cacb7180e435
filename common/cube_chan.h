/* The worker <-> envd channel: one AF_UNIX SOCK_SEQPACKET socketpair per sandbox,
 * made by the spawner. The worker keeps one end; the other becomes fd CUBE_CHAN_FD of
 * cube-init (argv "--channel-fd 3"), which hands it to the first envd it starts (argv
 * "--channel-fd 3") and keeps no copy. Every message is one datagram whose first byte
 * is its type:
 *
 *   envd -> worker  'R'         envd's listener is bound and listening (readiness,
 *                               instead of the worker polling GET /health)
 *   worker -> envd  'I' <json>  the /init body (docs/internals.md); envd applies it
 *                               before it serves any other request, then closes its end
 *
 * EOF on the worker's end before 'R' means envd (or the sandbox) died; EOF on envd's
 * end means the worker is gone (a restarted worker then uses POST /init). Why a
 * socketpair and not /health + /init: docs/decisions.md, "envd channel". */
#ifndef CUBE_CHAN_H
#define CUBE_CHAN_H

#define CUBE_CHAN_FD 3           /* fd number in cube-init and envd */
#define CUBE_CHAN_FD_ARG "3"     /* the same, as it appears on their command lines */
#define CUBE_CHAN_READY 'R'      /* envd -> worker */
#define CUBE_CHAN_INIT 'I'       /* worker -> envd, followed by the JSON body */
#define CUBE_CHAN_MAX (4u << 20) /* largest message either side accepts */

#endif
