DROP TABLE upgrade_in_progress;
DROP TABLE upgrade;
