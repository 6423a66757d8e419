-- One row per applied upgrade, in the seed system's layout (`upgrade`, `applied`): a history
-- table left by the seed system is adopted as it is, and gains the columns below.
CREATE TABLE IF NOT EXISTS {history} (
    upgrade VARCHAR(255) NOT NULL PRIMARY KEY,
    applied TIMESTAMP NOT NULL
);
ALTER TABLE {history} ADD COLUMN duration_ms BIGINT;
ALTER TABLE {history} ADD COLUMN checksum VARCHAR(64);
ALTER TABLE {history} ADD COLUMN method VARCHAR(16) NOT NULL DEFAULT 'run';
-- An upgrade that started and has not finished (used where DDL cannot be rolled back).
CREATE TABLE {in_progress} (
    upgrade VARCHAR(255) NOT NULL PRIMARY KEY,
    started TIMESTAMP NOT NULL,
    runner VARCHAR(255) NOT NULL,
    error TEXT
);
