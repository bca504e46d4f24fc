-- Grading records (include/examstore/grading.hpp, src/grading/grading_db_pg.cpp): classes and
-- their members, assignments, submissions, grading tasks with leases and fencing tokens, and the
-- append-only results, error findings and completed runs of each task.
--
-- Every lookup goes through a primary key or one narrow index. Claiming scans only the partial
-- index of pending and running tasks, in the order claims take them. Results, findings and runs
-- are never updated or deleted (the application role may not: examstore db roles); a regrade
-- starts a new run and the current results are those of the latest completed run.

CREATE TABLE classes (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL,
  teacher    text NOT NULL,
  subject    text NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE class_members (
  class_id   bigint NOT NULL REFERENCES classes (id),
  student_id bigint NOT NULL REFERENCES students (id),
  PRIMARY KEY (class_id, student_id)
);
-- classes_of(student) and the foreign key to students.
CREATE INDEX class_members_student_idx ON class_members (student_id);

CREATE TABLE assignments (
  id             bigserial PRIMARY KEY,
  class_id       bigint NOT NULL REFERENCES classes (id),
  teacher        text NOT NULL,
  subject        text NOT NULL,
  title          text NOT NULL,
  description    text NOT NULL,
  rubric_text    text NOT NULL,
  rubric_json    text NOT NULL,  -- verbatim ('' for none); validated as JSON by the repository
  question_count integer NOT NULL CHECK (question_count BETWEEN 1 AND 1000),
  max_score      double precision NOT NULL CHECK (max_score > 0),
  mode           text NOT NULL CHECK (mode IN ('ai', 'human', 'mixed')),
  deadline       timestamptz NOT NULL,
  created_at     timestamptz NOT NULL
);
CREATE INDEX assignments_class_idx ON assignments (class_id, id);

-- Scores, grade level, evaluations and annotations are those of the latest completed run.
CREATE TABLE submissions (
  id            bigserial PRIMARY KEY,
  assignment_id bigint NOT NULL REFERENCES assignments (id),
  student_id    bigint NOT NULL REFERENCES students (id),
  answer_files  text[] NOT NULL,  -- object-store references, not the bytes
  submitted_at  timestamptz NOT NULL,
  late          boolean NOT NULL,
  total_score   double precision,
  max_score     double precision,
  percentage    double precision,
  grade_level   text NOT NULL DEFAULT '',
  evaluations   text NOT NULL DEFAULT '',  -- JSON or ''
  annotations   text NOT NULL DEFAULT '',
  UNIQUE (assignment_id, student_id)
);
CREATE INDEX submissions_student_idx ON submissions (student_id);

-- One task per submission or per exam attempt. assignment_id, class_id and exam_id are copied
-- from what it grades so that filters, statistics and rankings need no join.
CREATE TABLE grading_tasks (
  id               bigserial PRIMARY KEY,
  submission_id    bigint UNIQUE REFERENCES submissions (id),
  attempt_id       bigint UNIQUE REFERENCES attempts (id),
  assignment_id    bigint REFERENCES assignments (id),
  class_id         bigint REFERENCES classes (id),
  exam_id          bigint REFERENCES exams (id),
  student_id       bigint NOT NULL REFERENCES students (id),
  state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'running', 'completed', 'failed')),
  run              integer NOT NULL DEFAULT 1 CHECK (run >= 1),
  tries            integer NOT NULL DEFAULT 0 CHECK (tries >= 0),
  max_tries        integer NOT NULL CHECK (max_tries >= 1),
  token            bigint NOT NULL DEFAULT 0,  -- fencing token: +1 on every claim, never reset
  lease_owner      text NOT NULL DEFAULT '',
  lease_expires_at timestamptz,
  available_at     timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  last_error       text NOT NULL DEFAULT '',
  CHECK ((submission_id IS NULL) <> (attempt_id IS NULL)),
  CHECK (state <> 'running' OR lease_expires_at IS NOT NULL)
);
-- claim() takes the oldest of two candidates: the first pending task by (available_at, id), and
-- the first running task whose lease expired. Pending tasks have an index of their own: were
-- running tasks in it too, their live leases would sit at its head and every claim would walk
-- them (pgbench, 2 clients, 100k tasks: 347 then 195 claims/s as 3.5k then 5.4k leases piled
-- up, against a steady 650 with these indexes). Completed and failed tasks, the bulk of the
-- table over time, are in neither.
CREATE INDEX grading_tasks_claim_idx ON grading_tasks (available_at, id) WHERE state = 'pending';
CREATE INDEX grading_tasks_assignment_claim_idx ON grading_tasks (assignment_id, available_at, id)
  WHERE state = 'pending' AND assignment_id IS NOT NULL;
CREATE INDEX grading_tasks_exam_claim_idx ON grading_tasks (exam_id, available_at, id)
  WHERE state = 'pending' AND exam_id IS NOT NULL;
-- Expired leases, for the reclaim candidate and the sweep (exhausted tasks -> failed).
CREATE INDEX grading_tasks_lease_idx ON grading_tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX grading_tasks_assignment_idx ON grading_tasks (assignment_id, id)
  WHERE assignment_id IS NOT NULL;
CREATE INDEX grading_tasks_class_idx ON grading_tasks (class_id) WHERE class_id IS NOT NULL;
CREATE INDEX grading_tasks_exam_idx ON grading_tasks (exam_id, id) WHERE exam_id IS NOT NULL;

-- Append-only: one row per question per completed run.
CREATE TABLE grading_results (
  task_id       bigint NOT NULL REFERENCES grading_tasks (id),
  run           integer NOT NULL,
  question      bigint NOT NULL,
  score         double precision NOT NULL,
  max_score     double precision NOT NULL CHECK (max_score > 0),
  feedback      text NOT NULL,
  strategy      text NOT NULL,
  grader_kind   text NOT NULL CHECK (grader_kind IN ('human', 'ai')),
  grader_name   text NOT NULL,
  model         text NOT NULL,
  model_version text NOT NULL,
  prompt_sha256 text NOT NULL,
  token         bigint NOT NULL,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (task_id, run, question)
);

-- Append-only: the error findings of a completed run, in the order the grader gave them.
CREATE TABLE grading_errors (
  task_id         bigint NOT NULL REFERENCES grading_tasks (id),
  run             integer NOT NULL,
  ord             integer NOT NULL,
  question        bigint NOT NULL,
  kind            text NOT NULL,
  knowledge_point text NOT NULL,
  note            text NOT NULL,
  PRIMARY KEY (task_id, run, ord)
);

-- Append-only: one row per completed run, the receipt an idempotent replay returns.
CREATE TABLE grading_runs (
  task_id      bigint NOT NULL REFERENCES grading_tasks (id),
  run          integer NOT NULL,
  token        bigint NOT NULL,
  total_score  double precision NOT NULL,
  max_score    double precision NOT NULL,
  percentage   double precision NOT NULL,
  grade_level  text NOT NULL,
  completed_at timestamptz NOT NULL,
  PRIMARY KEY (task_id, run),
  UNIQUE (task_id, token)
);
