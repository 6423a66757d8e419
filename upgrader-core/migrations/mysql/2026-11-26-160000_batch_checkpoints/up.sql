-- Where a batched upgrade stands (`Context::batches`): committed with each batch, so a run killed
-- or stopped by a failure resumes after the last batch that committed; removed in the transaction
-- that records the upgrade as applied.
CREATE TABLE {checkpoint} (
    upgrade VARCHAR(255) NOT NULL PRIMARY KEY,
    resume_after BIGINT NOT NULL,
    rows_done BIGINT NOT NULL,
    rows_total BIGINT,
    finished SMALLINT NOT NULL DEFAULT 0,
    updated DATETIME(6) NOT NULL
);
