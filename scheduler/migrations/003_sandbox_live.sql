-- What cube-scheduler needs to rebuild a sandbox's live record in Redis after Redis
-- lost it (restart, flush): the current end time and the record fields of the create
-- request (JSON object of cube:sb field -> value: cpu, mem_mb, disk_mb, envd_version,
-- auto_pause, auto_resume, allow_internet, network).
ALTER TABLE sandboxes
    ADD COLUMN end_at DATETIME(3) NULL,
    ADD COLUMN live_fields TEXT NULL;
