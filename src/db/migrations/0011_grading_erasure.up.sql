-- GDPR erasure of grading records (include/examstore/personal_data.hpp, docs/personal-data.md).
--
-- grading_results and grading_errors are append-only: the application role may not UPDATE them
-- (examstore db roles). An erasure must still blank the free text they hold about an erased
-- student (feedback, notes), so this function, owned by the role that ran the migrations and
-- run with its rights (SECURITY DEFINER), is the one way to do it. It can only blank text, and
-- only of a student already erased (students.erased_at, set by the erasure's first step): it
-- cannot forge a result or touch anyone else's. Scores, grades, strategies, grader identities
-- and finding kinds stay for the statistics. Returns the rows it changed (0 when done already).
CREATE FUNCTION examstore_erase_grading_text(p_student bigint) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER
  -- a SECURITY DEFINER function must not resolve names through the caller's search_path
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  total bigint := 0;
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.students WHERE id = p_student AND erased_at IS NOT NULL) THEN
    RAISE EXCEPTION 'student % is not erased', p_student USING ERRCODE = 'check_violation';
  END IF;
  UPDATE public.submissions SET answer_files = '{}', evaluations = '', annotations = ''
   WHERE student_id = p_student
     AND (cardinality(answer_files) > 0 OR evaluations <> '' OR annotations <> '');
  GET DIAGNOSTICS n = ROW_COUNT;
  total := total + n;
  UPDATE public.grading_results r SET feedback = ''
    FROM public.grading_tasks t
   WHERE t.student_id = p_student AND r.task_id = t.id AND r.feedback <> '';
  GET DIAGNOSTICS n = ROW_COUNT;
  total := total + n;
  UPDATE public.grading_errors e SET note = ''
    FROM public.grading_tasks t
   WHERE t.student_id = p_student AND e.task_id = t.id AND e.note <> '';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN total + n;
END
$$;
-- Functions are executable by PUBLIC by default; `examstore db roles` grants it to the
-- application role.
REVOKE ALL ON FUNCTION examstore_erase_grading_text(bigint) FROM PUBLIC;
-- tasks_of(student) for exports and erasures
CREATE INDEX grading_tasks_student_idx ON grading_tasks (student_id);
