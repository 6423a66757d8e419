UPDATE {history} SET method = 'run' WHERE method = 'adopted';
