-- Drops the blind index and the erasure marker. The email and phone columns keep the sealed
-- values: going down does not decrypt them (no key is available to SQL), so code older than
-- this migration shows sealed text where it expects an address. Erased rows stay anonymised.
DROP INDEX students_email_bidx_idx;
ALTER TABLE students DROP COLUMN erased_at;
ALTER TABLE students DROP COLUMN email_bidx;
