-- One row per applied upgrade. `upgrade` and `applied` keep the seed system's layout.
CREATE TABLE upgrade (
    upgrade VARCHAR(255) NOT NULL PRIMARY KEY,
    applied TIMESTAMP NOT NULL,
    duration_ms BIGINT,
    checksum VARCHAR(64),
    method VARCHAR(16) NOT NULL DEFAULT 'run'
);
-- An upgrade that started and has not finished (used where DDL cannot be rolled back).
CREATE TABLE upgrade_in_progress (
    upgrade VARCHAR(255) NOT NULL PRIMARY KEY,
    started TIMESTAMP NOT NULL,
    runner VARCHAR(255) NOT NULL,
    error TEXT
);
