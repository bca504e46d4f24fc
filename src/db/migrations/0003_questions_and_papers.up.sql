-- The question bank (versioned questions, a knowledge-point tree) and papers (ordered question
-- references pinned to a version). Question ids come from a sequence unless an import keeps its
-- own ids; the sequence is then moved past them.

CREATE TABLE knowledge_points (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  parent_id bigint REFERENCES knowledge_points (id),
  name      text NOT NULL CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
  path      text NOT NULL UNIQUE,  -- 'math/algebra/linear': lookups and descendant searches
  UNIQUE (parent_id, name)
);
-- descendants of a point: path LIKE 'math/algebra/%' (C collation makes text_pattern_ops moot)
CREATE INDEX knowledge_points_path_prefix_idx ON knowledge_points (path text_pattern_ops);

CREATE SEQUENCE question_id_seq AS bigint;
CREATE TABLE questions (
  id              bigint PRIMARY KEY DEFAULT nextval('question_id_seq'),
  current_version integer NOT NULL DEFAULT 1 CHECK (current_version >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE question_id_seq OWNED BY questions.id;

-- Every version of a question, immutable once written: papers pin one.
CREATE TABLE question_versions (
  question_id bigint NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
  version     integer NOT NULL CHECK (version >= 1),
  type        text NOT NULL CHECK (type IN ('single', 'multiple', 'true_false', 'fill', 'essay')),
  stem        text NOT NULL CHECK (length(stem) >= 1),
  options     json NOT NULL DEFAULT '[]'::json,  -- array of strings, verbatim
  answer      json NOT NULL,                     -- the answer key, verbatim
  score       numeric(8, 2) NOT NULL CHECK (score > 0),
  difficulty  smallint NOT NULL CHECK (difficulty BETWEEN 1 AND 5),
  subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 64),
  media       json NOT NULL DEFAULT '[]'::json,  -- media references, verbatim
  author      text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (question_id, version)
);
-- search by subject, type and difficulty range (on current versions, joined through questions)
CREATE INDEX question_versions_search_idx ON question_versions (subject, type, difficulty);

CREATE TABLE question_knowledge_points (
  question_id bigint NOT NULL,
  version     integer NOT NULL,
  point_id    bigint NOT NULL REFERENCES knowledge_points (id),
  PRIMARY KEY (question_id, version, point_id),
  FOREIGN KEY (question_id, version) REFERENCES question_versions (question_id, version)
    ON DELETE CASCADE
);
-- "questions of point P (and descendants)"
CREATE INDEX question_knowledge_points_point_idx ON question_knowledge_points (point_id);

CREATE SEQUENCE paper_id_seq AS bigint;
CREATE TABLE papers (
  id         bigint PRIMARY KEY DEFAULT nextval('paper_id_seq'),
  school     text NOT NULL CHECK (school ~ '^[A-Za-z0-9_-]{1,64}$'),
  department text NOT NULL CHECK (department ~ '^[A-Za-z0-9_-]{1,64}$'),
  major      text NOT NULL CHECK (major ~ '^[A-Za-z0-9_-]{1,64}$'),
  course     text NOT NULL CHECK (course ~ '^[A-Za-z0-9_-]{1,64}$'),
  version    bigint NOT NULL DEFAULT 1,  -- +1 on every committed edit
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (school, department, major, course)
);
ALTER SEQUENCE paper_id_seq OWNED BY papers.id;

-- The durable order of a paper; Redis holds the same order as a sorted set with score gaps.
CREATE TABLE paper_items (
  paper_id         bigint NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
  position         integer NOT NULL CHECK (position >= 0),
  question_id      bigint NOT NULL,
  question_version integer NOT NULL,
  PRIMARY KEY (paper_id, position),  -- reading a paper in order
  UNIQUE (paper_id, question_id),    -- a question appears at most once in a paper
  FOREIGN KEY (question_id, question_version) REFERENCES question_versions (question_id, version)
);
