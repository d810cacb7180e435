-- Cube's durable records. Applied once, in order, by cube-scheduler migrate.
CREATE TABLE api_keys (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(128)    NOT NULL,
    key_hash    CHAR(64)        NOT NULL UNIQUE,
    key_prefix  VARCHAR(16)     NOT NULL,
    created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    revoked_at  DATETIME(3)     NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE templates (
    template_id  VARCHAR(32)  NOT NULL PRIMARY KEY,
    alias        VARCHAR(128) NULL UNIQUE,
    cpu_count    INT          NOT NULL,
    memory_mb    INT          NOT NULL,
    disk_mb      INT          NOT NULL,
    envd_version VARCHAR(32)  NOT NULL,
    created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE nodes (
    node_id      VARCHAR(32)  NOT NULL PRIMARY KEY,
    addr         VARCHAR(255) NOT NULL,
    first_seen   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    last_seen    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    state        VARCHAR(16)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
