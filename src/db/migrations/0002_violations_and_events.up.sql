-- Anti-cheat violations (reviewed by proctors), the raw event log, and the dead-letter store of
-- the write-behind queue. Violation and event ids are assigned before the row is written (the
-- caller gets the id at once), so a replayed write finds its row and changes nothing.

-- INCREMENT 1000: each nextval reserves a block of 1000 ids (see db::kIdBlockSize)
CREATE SEQUENCE violation_id_seq AS bigint INCREMENT BY 1000;
CREATE TABLE violations (
  id              bigint PRIMARY KEY,
  exam_id         bigint NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
  student_id      bigint NOT NULL REFERENCES students (id) ON DELETE CASCADE,
  kind            text NOT NULL
                  CHECK (kind IN ('tab_switch', 'focus_lost', 'multiple_faces', 'no_face',
                                  'copy_paste', 'screen_share', 'custom')),
  severity        smallint NOT NULL CHECK (severity BETWEEN 1 AND 5),
  reason          text NOT NULL DEFAULT '',
  screenshot_path text,
  occurred_at     timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'confirmed', 'dismissed')),
  reviewed_by     text,
  reviewed_at     timestamptz,
  review_note     text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE violation_id_seq OWNED BY violations.id;
-- an exam's violations in time order (proctor timeline, time-window queries)
CREATE INDEX violations_exam_occurred_idx ON violations (exam_id, occurred_at);
-- one student's violations across exams
CREATE INDEX violations_student_occurred_idx ON violations (student_id, occurred_at);
-- statistics per exam by kind and severity
CREATE INDEX violations_exam_kind_idx ON violations (exam_id, kind, severity);
-- the review queue: small, because most violations leave 'open' quickly
CREATE INDEX violations_open_idx ON violations (exam_id, occurred_at) WHERE state = 'open';

CREATE SEQUENCE event_id_seq AS bigint INCREMENT BY 1000;
CREATE TABLE events (
  id          bigint PRIMARY KEY,
  exam_id     bigint NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
  student_id  bigint NOT NULL REFERENCES students (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  payload     json NOT NULL DEFAULT '{}'::json,  -- verbatim, as for exams.config
  occurred_at timestamptz NOT NULL
);
ALTER SEQUENCE event_id_seq OWNED BY events.id;
-- replaying one student's operation log in an exam
CREATE INDEX events_exam_student_occurred_idx ON events (exam_id, student_id, occurred_at);

CREATE TABLE dead_letters (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue      text NOT NULL,
  payload    text NOT NULL,
  error      text NOT NULL,
  sqlstate   text,
  attempts   integer NOT NULL DEFAULT 1,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
-- "examstore deadletter list" per queue, oldest first
CREATE INDEX dead_letters_queue_idx ON dead_letters (queue, id);
