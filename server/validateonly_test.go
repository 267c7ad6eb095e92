package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/server"
)

// A validate_only Replicate answers the operation it would create, checked
// as the real request is, and stores nothing: it is never listed and
// queues nothing. With a request_id already used it answers as the real
// request would.
func TestReplicateValidateOnlyStoresNothing(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()
	req := &replicadv1.ReplicateRequest{
		SecretId:                    "prod/db/primary",
		Regions:                     []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/replica"}, {Region: "us-west-2"}},
		ForceOverwriteReplicaSecret: true,
		Reason:                      "preview",
		ValidateOnly:                true,
	}
	rep, err := env.Client.Replicate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	op := rep.GetOperation()
	if op.GetId() != "" || op.GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING ||
		op.GetAwsRegion() != "us-east-1" || len(op.GetRegions()) != 2 || op.GetRegions()[0].GetKmsKeyId() != "alias/replica" ||
		!op.GetForce() || op.GetReasonFingerprint() == "" {
		t.Fatalf("preview: %v", protojson.Format(op))
	}

	// Over REST, the same; and a bad Region is refused as the real request
	// would be.
	code, body := env.REST(t, "POST", "/v1/secrets/prod%2Fdb%2Fprimary:replicate", `{"regions":[{"region":"eu-west-1"}],"validate_only":true}`)
	if code != http.StatusOK {
		t.Fatalf("REST preview: %d %s", code, body)
	}
	if p := decodeOperation(t, body); p.GetId() != "" || p.GetRegions()[0].GetRegion() != "eu-west-1" {
		t.Fatalf("REST preview: %s", body)
	}
	code, body = env.REST(t, "POST", "/v1/secrets/prod%2Fdb%2Fprimary:replicate", `{"regions":[{"region":"us-east-1"}],"validate_only":true}`)
	if _, vs := restViolations(t, body); code != http.StatusBadRequest || vs["regions[0].region"] != "PRIMARY_REGION" {
		t.Fatalf("REST preview of the primary's Region: %d %s", code, body)
	}

	list, err := env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetOperations()) != 0 {
		t.Fatalf("previews were stored: %v", list.GetOperations())
	}
	var jobs int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 0 {
		t.Fatalf("previews queued %d jobs", jobs)
	}

	// A request_id: the preview before the request does not use it up; the
	// preview after it answers the first operation; a different request
	// with it is refused, preview or not.
	rid := uuid.NewString()
	req.RequestId = rid
	if rep, err = env.Client.Replicate(ctx, req); err != nil || rep.GetOperation().GetId() != "" {
		t.Fatalf("preview with a request_id: %v %v", rep, err)
	}
	req.ValidateOnly = false
	first, err := env.Client.Replicate(ctx, req)
	if err != nil || first.GetOperation().GetId() == "" {
		t.Fatalf("real request after a preview with its request_id: %v %v", first, err)
	}
	req.ValidateOnly = true
	if rep, err = env.Client.Replicate(ctx, req); err != nil || rep.GetOperation().GetId() != first.GetOperation().GetId() {
		t.Fatalf("preview of a used request_id answers %v %v, want the first operation", rep, err)
	}
	req.Regions = req.Regions[:1]
	if _, err = env.Client.Replicate(ctx, req); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("preview of a different request with a used request_id: %v, want AlreadyExists", err)
	}
}

// Read-only console mode lets browsers call every read of every service,
// whichever proto file declares it, and nothing that may change anything.
func TestConsoleReadMethods(t *testing.T) {
	reads := server.ConsoleReadMethodsForTest()
	for _, m := range []string{"/replicad.v1.ReplicationService/GetOperation", "/replicad.v1.ReplicationService/ListOperations",
		"/replicad.v1.ReplicationService/Status", "/replicad.v1.AuditService/ListAuditEvents", "/replicad.v1.AuditService/VerifyAudit",
		"/replicad.v1.InventoryService/ListSecrets", "/replicad.v1.InventoryService/GetSecret"} {
		if !reads[m] {
			t.Errorf("%s refused in read-only mode", m)
		}
	}
	for _, m := range []string{"/replicad.v1.ReplicationService/Replicate", "/replicad.v1.ReplicationService/Remove",
		"/replicad.v1.ReplicationService/Promote", "/replicad.v1.ReplicationService/CancelOperation",
		"/replicad.v1.ReplicationService/ApproveOperation"} {
		if reads[m] {
			t.Errorf("%s allowed in read-only mode", m)
		}
	}
}
