-- The append-only, hash-chained audit log (include/examstore/audit.hpp). Ids are assigned
-- contiguously under the lock of audit_head, so a deleted entry leaves a gap as well as a broken
-- chain. The application role may INSERT here but never UPDATE or DELETE (examstore db roles).
CREATE TABLE audit_log (
    id          bigint      PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor_id    bigint      NOT NULL,
    actor_name  text        NOT NULL,
    actor_role  text        NOT NULL,
    ip          text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    before      text        NOT NULL,
    after       text        NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- The newest entry: appends lock this row, so the chain is a total order.
CREATE TABLE audit_head (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id    bigint  NOT NULL,
    last_hash  text    NOT NULL
);
INSERT INTO audit_head (one, last_id, last_hash) VALUES (true, 0, repeat('0', 64));
