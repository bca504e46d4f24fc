-- Back to one plain table each, with the rows of every attached partition and of the default
-- partition. Partitions detached by `examstore maintain --detach` are separate tables by then:
-- they are left as they are (their rows do not come back).
ALTER TABLE violations RENAME TO violations_partitioned;
CREATE TABLE violations (LIKE violations_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO violations SELECT * FROM violations_partitioned;
ALTER SEQUENCE violation_id_seq OWNED BY violations.id;
DROP TABLE violations_partitioned;
ALTER TABLE violations ADD PRIMARY KEY (id),
  ADD FOREIGN KEY (exam_id) REFERENCES exams (id) ON DELETE CASCADE,
  ADD FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE;
CREATE INDEX violations_exam_occurred_idx ON violations (exam_id, occurred_at);
CREATE INDEX violations_student_occurred_idx ON violations (student_id, occurred_at);
CREATE INDEX violations_exam_kind_idx ON violations (exam_id, kind, severity);
CREATE INDEX violations_open_idx ON violations (exam_id, occurred_at) WHERE state = 'open';

ALTER TABLE events RENAME TO events_partitioned;
CREATE TABLE events (LIKE events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO events SELECT * FROM events_partitioned;
ALTER SEQUENCE event_id_seq OWNED BY events.id;
DROP TABLE events_partitioned;
ALTER TABLE events ADD PRIMARY KEY (id),
  ADD FOREIGN KEY (exam_id) REFERENCES exams (id) ON DELETE CASCADE,
  ADD FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE;
CREATE INDEX events_exam_student_occurred_idx ON events (exam_id, student_id, occurred_at);
