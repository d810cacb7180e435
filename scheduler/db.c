#include "db.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_log.h"

int db_exec(MYSQL *db, const char *sql)
{
    if (mysql_query(db, sql) != 0) {
        log_error("mariadb: %s (in: %.120s)", mysql_error(db), sql);
        return -1;
    }
    return 0;
}

MYSQL *db_connect(const char *socket_path, const char *database)
{
    MYSQL *db = mysql_init(NULL);
    char sql[256];
    unsigned int timeout = 5;

    if (db == NULL)
        return NULL;
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (mysql_real_connect(db, NULL, "root", NULL, NULL, 0, socket_path,
                           CLIENT_MULTI_STATEMENTS) == NULL) {
        log_error("mariadb connect via %s: %s", socket_path, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4",
             database);
    if (db_exec(db, sql) != 0 || mysql_select_db(db, database) != 0) {
        log_error("mariadb select %s: %s", database, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    return db;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Drain every result of a multi-statement query so the connection is usable again. */
static int drain_results(MYSQL *db)
{
    int status;
    do {
        MYSQL_RES *res = mysql_store_result(db);
        if (res)
            mysql_free_result(res);
        status = mysql_next_result(db);
        if (status > 0) {
            log_error("mariadb migration statement: %s", mysql_error(db));
            return -1;
        }
    } while (status == 0);
    return 0;
}

static int is_applied(MYSQL *db, int version)
{
    char sql[128];
    MYSQL_RES *res;
    int found;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM schema_migrations WHERE version=%d", version);
    if (db_exec(db, sql) != 0)
        return -1;
    res = mysql_store_result(db);
    if (res == NULL)
        return -1;
    found = mysql_num_rows(res) > 0;
    mysql_free_result(res);
    return found;
}

int db_migrate(MYSQL *db, const char *dir)
{
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
                    " applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))"
                    " ENGINE=InnoDB") != 0)
        return -1;
    d = opendir(dir);
    if (d == NULL) {
        log_error("migrations dir %s: cannot open", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0 || de->d_name[0] < '0' ||
            de->d_name[0] > '9')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **tmp = realloc(names, cap * sizeof(*names));
            if (tmp == NULL) {
                rc = -1;
                break;
            }
            names = tmp;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        int version = (int)strtol(names[i], NULL, 10); /* names start with digits */
        char path[4096], sql[1024];
        char *text;
        int applied = is_applied(db, version);

        if (applied < 0) {
            rc = -1;
            break;
        }
        if (applied)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        text = read_file(path);
        if (text == NULL) {
            log_error("migration %s: cannot read", path);
            rc = -1;
            break;
        }
        log_info("applying migration %s", names[i]);
        if (mysql_query(db, text) != 0 || drain_results(db) != 0) {
            log_error("migration %s failed: %s", names[i], mysql_error(db));
            rc = -1;
        } else {
            char esc[512];
            mysql_real_escape_string(db, esc, names[i], (unsigned long)strlen(names[i]));
            snprintf(sql, sizeof(sql),
                     "INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')",
                     version, esc);
            rc = db_exec(db, sql);
        }
        free(text);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
