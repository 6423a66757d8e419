-- The rows a seed table held when the engine adopted it: the engine did not run them (a run
-- always records its duration), and they were recorded as `run` before `adopted` existed.
UPDATE {history} SET method = 'adopted' WHERE method = 'run' AND duration_ms IS NULL;
