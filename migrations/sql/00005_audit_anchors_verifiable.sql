-- +goose Up
-- Retention anchors become verifiable, and pruning goes through one door.
--
-- Before: anyone able to INSERT into audit_anchors could add an anchor at
-- the newest position, and verification, which starts after the newest
-- anchor, then checked nothing; any role could SET LOCAL
-- replicad.audit_prune = 'on' and delete events.
--
-- Now each anchor names the export file and its SHA-256, and is chained to
-- the anchor before it (anchor_hash over prev_anchor_hash and its own
-- fields, computed here, not taken from the inserter), so that
-- verification can check every anchor against its export file; an anchor
-- must name a chained event and that event's hash. Events are deleted only
-- together with an anchor covering them, inserted in the same transaction:
-- by audit_prune(), which does both. The setting no longer opens anything.
ALTER TABLE audit_anchors
    -- first_pos: the first position the anchor's export holds (the
    -- previous anchor's position + 1).
    ADD COLUMN first_pos        bigint,
    -- export_sha256: SHA-256 of the export file; NULL only for anchors
    -- made before this migration.
    ADD COLUMN export_sha256    bytea,
    ADD COLUMN prev_anchor_hash bytea,
    ADD COLUMN anchor_hash      bytea,
    -- xact: the transaction that inserted the anchor, so the delete guard
    -- can tell the pruning transaction from any other.
    ADD COLUMN xact             xid8;

-- +goose StatementBegin
CREATE FUNCTION audit_anchor_hash(a audit_anchors) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(a.prev_anchor_hash || int8send(a.chain_pos) || a.hash || int8send(a.first_pos) || int8send(a.pruned)
        || int4send(octet_length(a.exported_to)) || convert_to(a.exported_to, 'UTF8') || coalesce(a.export_sha256, ''::bytea))
$$;
-- +goose StatementEnd

-- Chain the anchors made before this migration, oldest first. The
-- append-only trigger is bypassed for this one backfill only.
ALTER TABLE audit_anchors DISABLE TRIGGER audit_anchors_append_only;
-- +goose StatementBegin
DO $$
DECLARE
    a    audit_anchors;
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    last bigint := 0;
BEGIN
    FOR a IN SELECT * FROM audit_anchors ORDER BY chain_pos LOOP
        a.first_pos := last + 1;
        a.prev_anchor_hash := prev;
        UPDATE audit_anchors SET first_pos = a.first_pos, prev_anchor_hash = prev, anchor_hash = audit_anchor_hash(a)
            WHERE chain_pos = a.chain_pos RETURNING anchor_hash INTO prev;
        last := a.chain_pos;
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE audit_anchors ENABLE TRIGGER audit_anchors_append_only;
ALTER TABLE audit_anchors
    ALTER COLUMN first_pos SET NOT NULL,
    ALTER COLUMN prev_anchor_hash SET NOT NULL,
    ALTER COLUMN anchor_hash SET NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION audit_anchor_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev       audit_anchors;
    event_hash bytea;
BEGIN
    SELECT * INTO prev FROM audit_anchors ORDER BY chain_pos DESC LIMIT 1;
    IF prev.chain_pos IS NOT NULL AND NEW.chain_pos <= prev.chain_pos THEN
        RAISE EXCEPTION 'audit anchors only move forward' USING ERRCODE = 'check_violation';
    END IF;
    SELECT hash INTO event_hash FROM audit_events WHERE chain_pos = NEW.chain_pos;
    IF event_hash IS NULL OR event_hash <> NEW.hash THEN
        RAISE EXCEPTION 'an audit anchor must name a chained event and its hash' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.exported_to = '' OR NEW.exported_to LIKE '%/%' OR NEW.export_sha256 IS NULL OR octet_length(NEW.export_sha256) <> 32 THEN
        RAISE EXCEPTION 'an audit anchor must name its export file and the file''s SHA-256' USING ERRCODE = 'check_violation';
    END IF;
    NEW.first_pos := coalesce(prev.chain_pos, 0) + 1;
    NEW.pruned := NEW.chain_pos - NEW.first_pos + 1;
    NEW.prev_anchor_hash := coalesce(prev.anchor_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.anchor_hash := audit_anchor_hash(NEW);
    NEW.xact := pg_current_xact_id();
    NEW.created_at := now();
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_anchors_link BEFORE INSERT ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_link();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Only the chainer's one-time linking is allowed.
        IF OLD.chain_pos IS NULL AND NEW.chain_pos IS NOT NULL
           AND (NEW.seq, NEW.id, NEW.time, NEW.kind, NEW.principal, NEW.method, NEW.secret, NEW.code,
                NEW.operation_id, NEW.request_id, NEW.client_address, NEW.transport, NEW.aws_region,
                NEW.aws_request_id, NEW.body)
               IS NOT DISTINCT FROM
               (OLD.seq, OLD.id, OLD.time, OLD.kind, OLD.principal, OLD.method, OLD.secret, OLD.code,
                OLD.operation_id, OLD.request_id, OLD.client_address, OLD.transport, OLD.aws_region,
                OLD.aws_request_id, OLD.body)
        THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: events cannot be changed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- DELETE: only of chained events covered by an anchor this very
    -- transaction inserted (audit_prune), so no event leaves the table
    -- without an anchor naming the export that holds it.
    IF OLD.chain_pos IS NOT NULL AND EXISTS (
        SELECT 1 FROM audit_anchors WHERE chain_pos >= OLD.chain_pos AND xact = pg_current_xact_id()
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: events are removed only by audit_prune(), which anchors the chain at the cut'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

-- audit_prune is the one way to remove events: it records the anchor (the
-- position and hash of the last event removed, the export file and its
-- SHA-256) and deletes the events up to it, in the caller's transaction.
-- SECURITY DEFINER, and not executable by PUBLIC: a role granted EXECUTE
-- can prune (a retention job's role) without any right on the tables.
-- +goose StatementBegin
CREATE FUNCTION audit_prune(p_chain_pos bigint, p_hash bytea, p_exported_to text, p_export_sha256 bytea) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to, export_sha256)
        VALUES (p_chain_pos, p_hash, 0, p_exported_to, p_export_sha256);
    DELETE FROM audit_events WHERE chain_pos <= p_chain_pos;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION audit_prune(bigint, bytea, text, bytea) FROM PUBLIC;

-- +goose Down
DROP FUNCTION audit_prune(bigint, bytea, text, bytea);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.chain_pos IS NULL AND NEW.chain_pos IS NOT NULL
           AND (NEW.seq, NEW.id, NEW.time, NEW.kind, NEW.principal, NEW.method, NEW.secret, NEW.code,
                NEW.operation_id, NEW.request_id, NEW.client_address, NEW.transport, NEW.aws_region,
                NEW.aws_request_id, NEW.body)
               IS NOT DISTINCT FROM
               (OLD.seq, OLD.id, OLD.time, OLD.kind, OLD.principal, OLD.method, OLD.secret, OLD.code,
                OLD.operation_id, OLD.request_id, OLD.client_address, OLD.transport, OLD.aws_region,
                OLD.aws_request_id, OLD.body)
        THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: events cannot be changed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('replicad.audit_prune', true) = 'on' AND OLD.chain_pos IS NOT NULL THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: events cannot be deleted' USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
DROP TRIGGER audit_anchors_link ON audit_anchors;
DROP FUNCTION audit_anchor_link();
DROP FUNCTION audit_anchor_hash(audit_anchors);
ALTER TABLE audit_anchors
    DROP COLUMN first_pos,
    DROP COLUMN export_sha256,
    DROP COLUMN prev_anchor_hash,
    DROP COLUMN anchor_hash,
    DROP COLUMN xact;
