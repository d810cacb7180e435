/* Start one program for the process table: a child that shares envd's memory
 * until it execs (clone with CLONE_VM | CLONE_VFORK), so envd's page tables are
 * never copied. On this kind of host copying them is most of a fork's cost. */
#ifndef CUBE_ENVD_PROC_EXEC_H
#define CUBE_ENVD_PROC_EXEC_H

#include "process.h"

#include <stddef.h>
#include <sys/types.h>

/* Run spec's program with fd_in/fd_out/fd_err as 0/1/2 (all three the pty
 * slave when spec->pty) in a session of its own, as spec->user, in spec->cwd.
 * Returns the pid once the program runs, or -1 with why in err (nothing is
 * left running then). */
pid_t proc_exec(const struct proc_spec *spec, int fd_in, int fd_out, int fd_err,
                char *err, size_t errlen);

#endif
