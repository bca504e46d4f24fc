-- Authorization grants (include/examstore/access.hpp): teacher -> course, proctor -> exam,
-- exam -> course, question -> course. A course is a paper path "school/department/major/course".
-- user_id has no foreign key yet: the users table arrives with migration 0005 (accounts), and
-- the reference can be added once both are merged.
CREATE TABLE teacher_courses (
  user_id bigint NOT NULL CHECK (user_id > 0),
  course  text   NOT NULL,
  PRIMARY KEY (user_id, course)
);

CREATE TABLE exam_proctors (
  user_id bigint NOT NULL CHECK (user_id > 0),
  exam_id bigint NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, exam_id)
);
CREATE INDEX exam_proctors_exam_idx ON exam_proctors (exam_id);

CREATE TABLE exam_courses (
  exam_id bigint PRIMARY KEY REFERENCES exams (id) ON DELETE CASCADE,
  course  text   NOT NULL
);

CREATE TABLE question_courses (
  question_id bigint PRIMARY KEY REFERENCES questions (id) ON DELETE CASCADE,
  course      text   NOT NULL
);
