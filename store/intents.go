package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
)

// Intent outcomes, as aws_call_intents.outcome stores them.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// InsertIntent records that a mutating AWS call is about to be sent. Run
// it in its own committed transaction before sending: that is what makes
// it write-ahead.
func InsertIntent(ctx context.Context, db DB, in domain.Intent) error {
	targets := in.Targets
	if targets == nil {
		targets = []string{}
	}
	_, err := db.Exec(ctx, `INSERT INTO aws_call_intents (id, operation_id, api, aws_region, target_regions, started_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, pgUUID(in.ID), pgUUID(in.OperationID), in.API, in.Region, targets, in.StartedAt)
	if err != nil {
		return fmt.Errorf("record AWS call intent: %w", err)
	}
	return nil
}

// CompleteIntent records a call's outcome (OutcomeSucceeded or
// OutcomeFailed) with the last attempt's request id and error code. An
// intent already adopted as unknown is left as it is.
func CompleteIntent(ctx context.Context, db DB, id uuid.UUID, outcome, requestID, errorCode string) error {
	_, err := db.Exec(ctx, `UPDATE aws_call_intents SET outcome = $2, request_id = nullif($3, ''), error_code = nullif($4, ''),
		ended_at = now() WHERE id = $1 AND outcome IS NULL`, pgUUID(id), outcome, requestID, errorCode)
	if err != nil {
		return fmt.Errorf("complete AWS call intent: %w", err)
	}
	return nil
}

// AdoptOpenIntents marks an operation's intents without an outcome as
// 'unknown': the execution calling it is the only one running for the
// operation, so those calls were cut off. Run it in the transaction that
// saves them into the operation's AWS calls.
func AdoptOpenIntents(ctx context.Context, db DB, operationID uuid.UUID) error {
	_, err := db.Exec(ctx, `UPDATE aws_call_intents SET outcome = 'unknown', ended_at = now()
		WHERE operation_id = $1 AND outcome IS NULL`, pgUUID(operationID))
	if err != nil {
		return fmt.Errorf("adopt AWS call intents: %w", err)
	}
	return nil
}
