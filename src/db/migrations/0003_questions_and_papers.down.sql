DROP TABLE paper_items;
DROP TABLE papers;
DROP TABLE question_knowledge_points;
DROP TABLE question_versions;
DROP TABLE questions;
DROP TABLE knowledge_points;
