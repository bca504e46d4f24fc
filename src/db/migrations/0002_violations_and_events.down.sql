DROP TABLE dead_letters;
DROP TABLE events;
DROP TABLE violations;
