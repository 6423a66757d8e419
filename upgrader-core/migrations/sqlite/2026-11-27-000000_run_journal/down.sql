DROP TABLE {run_upgrade};
DROP TABLE {run};
