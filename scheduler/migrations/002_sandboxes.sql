-- Durable sandbox history, written by cube-scheduler from the cube:events stream.
CREATE TABLE sandboxes (
    sandbox_id   VARCHAR(64)  NOT NULL PRIMARY KEY,
    template_id  VARCHAR(64)  NULL,
    alias        VARCHAR(128) NULL,
    node_id      VARCHAR(32)  NULL,
    metadata     TEXT         NULL,
    state        VARCHAR(16)  NOT NULL,
    started_at   DATETIME(3)  NOT NULL,
    ended_at     DATETIME(3)  NULL,
    end_reason   VARCHAR(32)  NULL,
    KEY by_state (state),
    KEY by_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE sandbox_events (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    stream_id   VARCHAR(40)  NOT NULL UNIQUE,
    sandbox_id  VARCHAR(64)  NOT NULL,
    event       VARCHAR(16)  NOT NULL,
    reason      VARCHAR(32)  NULL,
    at          DATETIME(3)  NOT NULL,
    KEY by_sandbox (sandbox_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
