DROP TABLE exam_attendance;
DROP TABLE students;
DROP TABLE exam_config_changes;
DROP TABLE exams;
