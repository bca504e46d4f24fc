DROP TABLE question_courses;
DROP TABLE exam_courses;
DROP TABLE exam_proctors;
DROP TABLE teacher_courses;
