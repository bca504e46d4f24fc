DROP TABLE grading_runs;
DROP TABLE grading_errors;
DROP TABLE grading_results;
DROP TABLE grading_tasks;
DROP TABLE submissions;
DROP TABLE assignments;
DROP TABLE class_members;
DROP TABLE classes;
