package standin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// TestFailingAPIAnswers500AndChangesNothing: a failing action is refused
// with InternalServiceError every time, as moto refuses
// StopReplicationToReplica, while every other action works.
func TestFailingAPIAnswers500AndChangesNothing(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{})
	c := smtest.NewClientsWithoutRetries(url)
	ctx := context.Background()
	name := smtest.UniqueName("failingapi")
	smtest.CreateSecret(t, c, smtest.PrimaryRegion, name)
	smtest.Replicate(t, c, name, false, smtest.Region(smtest.OtherRegion))
	smtest.WaitInSync(t, c, name, smtest.OtherRegion)

	if err := srv.SetFaults(standin.Faults{FailingAPIs: []string{"StopReplicationToReplica"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, err := c.In(smtest.OtherRegion).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{SecretId: &name})
		smtest.WantAPIError(t, err, standin.CodeInternalServiceError, "")
		if got := smtest.HTTPStatus(err); got != http.StatusInternalServerError {
			t.Errorf("HTTP status %d, want 500", got)
		}
	}
	if rep := smtest.Describe(t, c, smtest.OtherRegion, name); aws.ToString(rep.PrimaryRegion) != smtest.PrimaryRegion {
		t.Errorf("a refused StopReplicationToReplica promoted the replica: primary %q", aws.ToString(rep.PrimaryRegion))
	}

	// Through the admin endpoint, and back.
	req, _ := http.NewRequest(http.MethodPost, url+"/_standin/faults", strings.NewReader(`{"failingApis":[]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var f standin.Faults
	if err := json.Unmarshal(body, &f); err != nil || len(f.FailingAPIs) != 0 {
		t.Fatalf("POST faults: %s %v", body, err)
	}
	if _, err := c.In(smtest.OtherRegion).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{SecretId: &name}); err != nil {
		t.Errorf("StopReplicationToReplica after the fault was cleared: %v", err)
	}
	if err := (standin.Faults{FailingAPIs: []string{"StopReplication"}}).Validate(); err == nil {
		t.Error("an unknown failing API was accepted")
	}
}
