DROP TABLE login_log;
DROP TABLE users;
