-- Users and the login log (include/examstore/accounts.hpp). Users are never deleted (status
-- 'deleted' keeps the name reserved and the login log's references valid).
CREATE TABLE users (
  id                  bigserial   PRIMARY KEY,
  name                text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
  role                text        NOT NULL
                      CHECK (role IN ('student', 'teacher', 'proctor', 'administrator')),
  status              text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'locked', 'deleted')),
  -- a student's account is linked to exactly one student record; other roles to none
  student_id          bigint      REFERENCES students (id),
  password_hash       text        NOT NULL,  -- libsodium crypto_pwhash_str (Argon2id)
  created_at          timestamptz NOT NULL,
  password_changed_at timestamptz NOT NULL,
  CHECK ((role = 'student') = (student_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_student_id_idx ON users (student_id) WHERE student_id IS NOT NULL;

-- Every login attempt, written synchronously: it is security evidence.
CREATE TABLE login_log (
  id       bigserial   PRIMARY KEY,
  user_id  bigint      REFERENCES users (id),  -- NULL when the name matched no user
  name     text        NOT NULL,               -- the name tried, truncated to 64 characters
  ip       text        NOT NULL,
  at       timestamptz NOT NULL,
  success  boolean     NOT NULL,
  reason   text        NOT NULL
);
CREATE INDEX login_log_user_idx ON login_log (user_id, id DESC);
CREATE INDEX login_log_ip_idx ON login_log (ip, id DESC);
