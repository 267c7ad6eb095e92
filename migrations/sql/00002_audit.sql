-- +goose Up
-- audit_events is the append-only audit trail. `body` is the event's
-- canonical JSON, exactly as hashed; the other columns project it for
-- queries, and verification checks they still agree with it. Events are
-- inserted without a hash; a single chainer (under an advisory lock) links
-- them in batches: chain_pos, prev_hash and hash are set once, from NULL.
CREATE TABLE audit_events (
    seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid        NOT NULL UNIQUE,
    time            timestamptz NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('rpc', 'aws_call')),
    principal       text        NOT NULL,
    method          text        NOT NULL,
    secret          text        NOT NULL DEFAULT '',
    code            integer     NOT NULL,
    operation_id    uuid,
    request_id      text        NOT NULL DEFAULT '',
    client_address  text        NOT NULL DEFAULT '',
    transport       text        NOT NULL,
    aws_region      text        NOT NULL DEFAULT '',
    aws_request_id  text        NOT NULL DEFAULT '',
    body            text        NOT NULL,
    chain_pos       bigint      UNIQUE,
    prev_hash       bytea,
    hash            bytea,
    CONSTRAINT audit_events_chained CHECK ((chain_pos IS NULL) = (hash IS NULL) AND (hash IS NULL) = (prev_hash IS NULL))
);
CREATE INDEX audit_events_time ON audit_events (time DESC, seq DESC);
CREATE INDEX audit_events_unchained ON audit_events (seq) WHERE chain_pos IS NULL;
CREATE INDEX audit_events_principal ON audit_events (principal, seq DESC);
CREATE INDEX audit_events_secret ON audit_events (secret, seq DESC) WHERE secret <> '';
CREATE INDEX audit_events_operation ON audit_events (operation_id) WHERE operation_id IS NOT NULL;

-- audit_anchors records where retention cut the chain: verification of what
-- remains starts from the newest anchor's hash.
CREATE TABLE audit_anchors (
    chain_pos   bigint      PRIMARY KEY,
    hash        bytea       NOT NULL,
    pruned      bigint      NOT NULL,
    exported_to text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- DELETE: only retention, which exports events first and anchors the
    -- chain at the cut, in a transaction that declares itself.
    IF current_setting('replicad.audit_prune', true) = 'on' AND OLD.chain_pos IS NOT NULL THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: events cannot be deleted' USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- +goose Down
DROP TABLE audit_anchors;
DROP TABLE audit_events;
DROP FUNCTION audit_append_only();
DROP FUNCTION audit_events_guard();
