-- +goose Up
-- What a retrying operation shows its user (GetOperation, replictl --wait):
-- why its last attempt failed, when the next starts, and when it stops
-- retrying. The error is the engine's redacted description, never AWS's raw
-- message.
ALTER TABLE operations ADD COLUMN last_attempt_error_code integer;
ALTER TABLE operations ADD COLUMN last_attempt_error_message text;
ALTER TABLE operations ADD CONSTRAINT operations_last_attempt_error
    CHECK ((last_attempt_error_code IS NULL) = (last_attempt_error_message IS NULL));
ALTER TABLE operations ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE operations ADD COLUMN retry_deadline timestamptz;
-- Where the operation's mutating AWS call stands, which decides whether a
-- RUNNING operation may still be cancelled: '' none has gone through (never
-- sent, or AWS refused the last one), 'sending' an execution is sending it
-- (or died while it did: it may have gone through), 'applied' AWS took it.
-- Written in the transaction that checks the operation was not cancelled
-- just before the call, so a cancel and the next attempt cannot both win.
ALTER TABLE operations ADD COLUMN mutation text NOT NULL DEFAULT ''
    CONSTRAINT operations_mutation_check CHECK (mutation IN ('', 'sending', 'applied'));
-- No index: these columns are read with the row, never searched.

-- +goose Down
ALTER TABLE operations DROP COLUMN mutation;
ALTER TABLE operations DROP COLUMN retry_deadline;
ALTER TABLE operations DROP COLUMN next_attempt_at;
ALTER TABLE operations DROP CONSTRAINT operations_last_attempt_error;
ALTER TABLE operations DROP COLUMN last_attempt_error_message;
ALTER TABLE operations DROP COLUMN last_attempt_error_code;
