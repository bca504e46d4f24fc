DROP INDEX grading_tasks_student_idx;
DROP FUNCTION examstore_erase_grading_text(bigint);
