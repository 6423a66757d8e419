-- The run journal: one row per command that changed the history (a run, populate, mark,
-- resolve, accept, the adoption of a seed table), written outside the upgrades' transactions:
-- the row is committed when the command starts and completed when it ends, so a failure leaves
-- its trace and a killed runner leaves a row with no `finished`.
CREATE TABLE {run} (
    id BIGINT NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    started TIMESTAMP NOT NULL,
    finished TIMESTAMP,
    outcome VARCHAR(16),
    os_user VARCHAR(255),
    host VARCHAR(255),
    pid BIGINT,
    program VARCHAR(255),
    program_version VARCHAR(64),
    failed_upgrade VARCHAR(255),
    error TEXT,
    rolled_back BOOLEAN,
    warnings BIGINT NOT NULL DEFAULT 0,
    reason TEXT
);
-- What each of them did to each upgrade, in order (`seq`): applied, recorded, forgotten, cleared,
-- accepted, adopted; `detail` says more where there is more to say (an accepted upgrade's
-- checksums). Written in the same transaction as the history row it speaks of.
CREATE TABLE {run_upgrade} (
    run_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    upgrade VARCHAR(255) NOT NULL,
    action VARCHAR(16) NOT NULL,
    detail TEXT,
    PRIMARY KEY (run_id, seq)
);
