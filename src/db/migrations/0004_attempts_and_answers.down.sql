DROP TABLE answer_revisions;
DROP TABLE answers;
DROP TABLE attempts;
