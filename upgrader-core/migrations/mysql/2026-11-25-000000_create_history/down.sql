DROP TABLE {in_progress};
DROP TABLE {history};
