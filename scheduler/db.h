/* MariaDB access for cube-scheduler (libmysqlclient API): connection and migrations. */
#ifndef CUBE_SCHED_DB_H
#define CUBE_SCHED_DB_H

#include <mysql.h>

/* Connect over the Unix socket as the OS user (unix_socket auth), creating the
 * database if it does not exist. NULL on error (logged). */
MYSQL *db_connect(const char *socket_path, const char *database);
/* Apply every migrations/NNN_*.sql not yet recorded in schema_migrations, in order,
 * each in its own transaction where the statements allow. 0 on success. */
int db_migrate(MYSQL *db, const char *migrations_dir);
/* Run one statement; logs and returns -1 on error. */
int db_exec(MYSQL *db, const char *sql);

#endif
