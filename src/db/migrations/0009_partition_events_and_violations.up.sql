-- events and violations become partitioned by month of occurred_at (docs/partitioning.md).
--
-- The rows are moved into a new partitioned table rather than the old table being attached as
-- one partition: attaching would need its primary key rebuilt anyway (a partitioned table's keys
-- must include the partition key) and would leave one partition spanning all of history, which
-- retention could never detach. Moving costs one copy of the rows inside this transaction.
--
-- Keys: the primary key becomes (id, occurred_at); ids still come from the sequences, and the
-- inserts skip a row whose id exists in any partition (db/pg_stores.cpp), so a replayed write
-- stays a no-op. Partitions are named <table>_pYYYY_MM and bound by UTC months; a DEFAULT
-- partition keeps a row whose month has no partition (examstore maintain moves such rows into
-- the partition it creates for their month).

-- The columns, defaults and checks as they are; the keys, foreign keys and indexes come back
-- once the rows are in.
ALTER TABLE violations RENAME TO violations_unpartitioned;
CREATE TABLE violations (LIKE violations_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (occurred_at);
ALTER TABLE events RENAME TO events_unpartitioned;
CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (occurred_at);

-- One partition for every UTC month holding rows, and for the current month and the three after
-- it; then the default partition.
DO $$
DECLARE
  t text;
  m timestamp;
BEGIN
  FOREACH t IN ARRAY ARRAY['violations', 'events'] LOOP
    FOR m IN EXECUTE format(
        'SELECT DISTINCT date_trunc(''month'', occurred_at AT TIME ZONE ''UTC'')'
        '  FROM %I_unpartitioned'
        ' UNION SELECT date_trunc(''month'', now() AT TIME ZONE ''UTC'') + n * interval ''1 month'''
        '  FROM generate_series(0, 3) AS n', t) LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     t || '_p' || to_char(m, 'YYYY_MM'), t,
                     to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                     to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t || '_default', t);
  END LOOP;
END $$;

INSERT INTO violations SELECT * FROM violations_unpartitioned;
INSERT INTO events SELECT * FROM events_unpartitioned;
-- the sequences would go with the old tables
ALTER SEQUENCE violation_id_seq OWNED BY violations.id;
ALTER SEQUENCE event_id_seq OWNED BY events.id;
DROP TABLE violations_unpartitioned;
DROP TABLE events_unpartitioned;

ALTER TABLE violations ADD PRIMARY KEY (id, occurred_at),
  ADD FOREIGN KEY (exam_id) REFERENCES exams (id) ON DELETE CASCADE,
  ADD FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE;
CREATE INDEX violations_exam_occurred_idx ON violations (exam_id, occurred_at);
CREATE INDEX violations_student_occurred_idx ON violations (student_id, occurred_at);
CREATE INDEX violations_exam_kind_idx ON violations (exam_id, kind, severity);
CREATE INDEX violations_open_idx ON violations (exam_id, occurred_at) WHERE state = 'open';

ALTER TABLE events ADD PRIMARY KEY (id, occurred_at),
  ADD FOREIGN KEY (exam_id) REFERENCES exams (id) ON DELETE CASCADE,
  ADD FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE;
CREATE INDEX events_exam_student_occurred_idx ON events (exam_id, student_id, occurred_at);
