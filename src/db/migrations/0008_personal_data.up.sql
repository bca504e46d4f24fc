-- Personal data at rest (include/examstore/personal_data.hpp, docs/personal-data.md).
-- email and phone keep their text columns but hold sealed values from now on
-- ("v1:<key id>:<base64>", XChaCha20-Poly1305 bound to the row and field), never plaintext. Rows
-- written before this migration still hold plaintext: `examstore keys rotate` seals them (a
-- value that is not in the sealed format counts as one to re-encrypt).
ALTER TABLE students ADD COLUMN email_bidx text;  -- keyed BLAKE2b of the normalised email (hex)
ALTER TABLE students ADD COLUMN erased_at timestamptz;  -- set once by a GDPR erasure
-- find_by_email: an equality lookup on the blind index
CREATE INDEX students_email_bidx_idx ON students (email_bidx) WHERE email_bidx IS NOT NULL;
