DROP TABLE {checkpoint};
