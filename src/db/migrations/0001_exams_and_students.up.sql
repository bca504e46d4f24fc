-- Exams, their configuration history, students and attendance.
-- Ids come from sequences, never from Redis, so a flushed cache can never make an id reused.

CREATE SEQUENCE exam_id_seq AS bigint;
CREATE TABLE exams (
  id             bigint PRIMARY KEY DEFAULT nextval('exam_id_seq'),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  starts_at      timestamptz NOT NULL,
  ends_at        timestamptz NOT NULL,
  status         text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'finished', 'cancelled')),
  -- json, not jsonb: the document is returned exactly as it was set, on every backend
  config         json NOT NULL DEFAULT '{}'::json,
  config_version bigint NOT NULL DEFAULT 1 CHECK (config_version >= 1),
  version        bigint NOT NULL DEFAULT 1 CHECK (version >= 1),  -- +1 on any change
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
ALTER SEQUENCE exam_id_seq OWNED BY exams.id;
-- "running exams", "pending exams starting in the next hour": status first, then time window.
CREATE INDEX exams_status_starts_at_idx ON exams (status, starts_at);
-- time-window listings across all statuses
CREATE INDEX exams_starts_at_idx ON exams (starts_at);

CREATE TABLE exam_config_changes (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  exam_id      bigint NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
  version      bigint NOT NULL,
  changed_by   text NOT NULL,
  changed_at   timestamptz NOT NULL DEFAULT now(),
  old_config   json NOT NULL,
  new_config   json NOT NULL,
  UNIQUE (exam_id, version)  -- one change per version; also serves "history of one exam"
);

CREATE SEQUENCE student_id_seq AS bigint;
CREATE TABLE students (
  id          bigint PRIMARY KEY DEFAULT nextval('student_id_seq'),
  external_no text NOT NULL UNIQUE CHECK (length(external_no) BETWEEN 1 AND 64),
  name        text NOT NULL,
  class_name  text,
  email       text,
  phone       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE student_id_seq OWNED BY students.id;
-- class rosters
CREATE INDEX students_class_name_idx ON students (class_name);

CREATE TABLE exam_attendance (
  exam_id           bigint NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
  student_id        bigint NOT NULL REFERENCES students (id) ON DELETE CASCADE,
  -- dense 0-based index per exam in enrollment order: the position of the student in the
  -- exam's packed presence arrays in Redis
  seat              integer NOT NULL CHECK (seat >= 0),
  status            text NOT NULL DEFAULT 'enrolled'
                    CHECK (status IN ('enrolled', 'online', 'missing', 'offline', 'submitted')),
  login_at          timestamptz,
  logout_at         timestamptz,
  last_ip           text,
  last_heartbeat_at timestamptz,
  -- write-behind upserts carry a version; only a newer one may overwrite (replays are no-ops)
  version           bigint NOT NULL DEFAULT 0,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (exam_id, student_id),
  UNIQUE (exam_id, seat)  -- also serves loading an exam's seat map in seat order
);
-- "who is online/missing in exam X" from the durable side (dashboards after a cache loss)
CREATE INDEX exam_attendance_exam_status_idx ON exam_attendance (exam_id, status);
-- "every exam of student Y"
CREATE INDEX exam_attendance_student_idx ON exam_attendance (student_id);
