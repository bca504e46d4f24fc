-- Attempts (one per exam and student, bound to a paper), the committed latest answer per
-- question, and every revision of every answer (the anti-cheat interval log).
--
-- Sized for 20 M students: every hot lookup goes through a primary key or one narrow index;
-- nothing scans an exam's attempts except mark_overdue (partial index below). Revisions are
-- the big table (tens of saves per student): its primary key is also its only index.

CREATE SEQUENCE attempt_id_seq AS bigint;
CREATE TABLE attempts (
  id           bigint PRIMARY KEY DEFAULT nextval('attempt_id_seq'),
  exam_id      bigint NOT NULL REFERENCES exams (id),
  student_id   bigint NOT NULL REFERENCES students (id),
  paper_id     bigint NOT NULL REFERENCES papers (id),
  state        text NOT NULL DEFAULT 'not_started' CHECK (state IN ('not_started', 'in_progress',
                 'submitted', 'graded', 'overdue', 'abandoned', 'voided')),
  duration     integer NOT NULL CHECK (duration > 0),               -- seconds
  extra_time   integer NOT NULL DEFAULT 0 CHECK (extra_time >= 0),  -- seconds
  started_at   timestamptz,
  deadline     timestamptz,  -- min(started_at + duration, exam ends_at) + extra_time
  submitted_at timestamptz,
  receipt      text,
  version      bigint NOT NULL DEFAULT 1,  -- +1 on every change
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE attempt_id_seq OWNED BY attempts.id;
-- One live attempt per (exam, student); it is also the lookup index of get()/start()/submit()
-- (exam first: an exam's attempts are contiguous). Voided attempts leave it, so a new attempt
-- can be created after a void.
CREATE UNIQUE INDEX attempts_live_idx ON attempts (exam_id, student_id) WHERE state <> 'voided';
-- mark_overdue: only in-progress attempts are candidates, a small part of the table at any time.
CREATE INDEX attempts_in_progress_idx ON attempts (exam_id, deadline) WHERE state = 'in_progress';
-- The FKs to students and papers need no index of their own: students and papers are never
-- deleted while attempts exist (no ON DELETE), and the "recent exams" query goes through exams.

-- The committed latest answer per attempt and question: upserted only by a higher seq.
CREATE TABLE answers (
  attempt_id  bigint NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  question_id bigint NOT NULL,
  seq         bigint NOT NULL CHECK (seq > 0),
  answer      json NOT NULL,  -- verbatim
  saved_at    timestamptz NOT NULL,
  PRIMARY KEY (attempt_id, question_id)
);

-- Every revision. The primary key makes a replayed write-behind op a no-op and serves "all
-- revisions of an attempt" as a range scan.
CREATE TABLE answer_revisions (
  attempt_id        bigint NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  question_id       bigint NOT NULL,
  seq               bigint NOT NULL CHECK (seq > 0),
  answer            json NOT NULL,
  saved_at          timestamptz NOT NULL,
  since_previous_ms bigint NOT NULL CHECK (since_previous_ms >= 0),
  PRIMARY KEY (attempt_id, question_id, seq)
);
