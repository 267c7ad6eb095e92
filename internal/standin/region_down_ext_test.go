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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// TestRegionDownFailover walks the documented recovery with the primary's
// Region refusing every call: promote each replica in its own Region, then
// replicate from the new primary over the other promoted (same-name,
// standalone) secret with ForceOverwriteReplicaSecret.
func TestRegionDownFailover(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{})
	c := smtest.NewClientsWithoutRetries(url)
	ctx := context.Background()
	name := smtest.UniqueName("regiondown")
	arn := smtest.CreateSecret(t, c, smtest.PrimaryRegion, name)
	smtest.Replicate(t, c, name, false, smtest.Region(smtest.OtherRegion), smtest.RegionWithKey(smtest.ReplicaEU, "alias/eu-key"))
	smtest.WaitInSync(t, c, name, smtest.OtherRegion, smtest.ReplicaEU)

	if err := srv.SetFaults(standin.Faults{DownRegions: []string{smtest.PrimaryRegion}}); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats()
	for _, call := range []func() error{
		func() error {
			_, err := c.In(smtest.PrimaryRegion).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
			return err
		},
		func() error {
			_, err := c.In(smtest.PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{smtest.Region(smtest.ReplicaAP)},
			})
			return err
		},
	} {
		err := call()
		smtest.WantAPIError(t, err, standin.CodeServiceUnavailable, "The Region is unavailable (stand-in fault).")
		if got := smtest.HTTPStatus(err); got != http.StatusServiceUnavailable {
			t.Errorf("HTTP status %d, want 503", got)
		}
	}
	if b, a := before.Region(smtest.PrimaryRegion).Total().Requests, srv.Stats().Region(smtest.PrimaryRegion).Total().Requests; a != b {
		t.Errorf("the down Region counted %d requests: it never saw them", a-b)
	}

	// The replicas' Regions still answer.
	for _, r := range []string{smtest.OtherRegion, smtest.ReplicaEU} {
		smtest.Check(c.In(r).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{
			SecretId: aws.String(smtest.InRegion(arn, r)),
		})).Must(t)
		d := smtest.Describe(t, c, r, name)
		if aws.ToString(d.PrimaryRegion) != r || len(d.ReplicationStatus) != 0 {
			t.Errorf("promoted in %s: PrimaryRegion %q, ReplicationStatus %s", r, aws.ToString(d.PrimaryRegion), smtest.StatusString(d.ReplicationStatus))
		}
	}

	// Without force the same-name standalone secret in eu-west-3 blocks
	// replication; with force it is overwritten and the Region's key kept
	// because the request names it again.
	fromWest := func(force bool) *secretsmanager.ReplicateSecretToRegionsOutput {
		t.Helper()
		return smtest.Check(c.In(smtest.OtherRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId:                    aws.String(smtest.InRegion(arn, smtest.OtherRegion)),
			AddReplicaRegions:           []types.ReplicaRegionType{smtest.RegionWithKey(smtest.ReplicaEU, "alias/eu-key")},
			ForceOverwriteReplicaSecret: force,
		})).Must(t)
	}
	rep := fromWest(false)
	if st, _ := smtest.LastStatus(rep.ReplicationStatus, smtest.ReplicaEU); st.Status != types.StatusTypeFailed {
		t.Fatalf("replicating onto a same-name secret without force: %s, want Failed", smtest.StatusString(rep.ReplicationStatus))
	}
	rep = fromWest(true)
	if st, _ := smtest.LastStatus(rep.ReplicationStatus, smtest.ReplicaEU); st.Status == types.StatusTypeFailed || aws.ToString(st.KmsKeyId) != "alias/eu-key" {
		t.Errorf("replicating over it with force: %s (key %q), want InProgress or InSync with alias/eu-key",
			smtest.StatusString(rep.ReplicationStatus), aws.ToString(st.KmsKeyId))
	}
	if eu := smtest.Describe(t, c, smtest.ReplicaEU, name); aws.ToString(eu.PrimaryRegion) != smtest.OtherRegion {
		t.Errorf("eu-west-3 is a replica of %q, want %s", aws.ToString(eu.PrimaryRegion), smtest.OtherRegion)
	}

	// The Region comes back through the admin endpoint.
	req, _ := http.NewRequest(http.MethodPost, url+"/_standin/faults", strings.NewReader(`{"downRegions":[]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var f standin.Faults
	if err := json.Unmarshal(body, &f); err != nil || len(f.DownRegions) != 0 {
		t.Fatalf("POST faults: %s %v", body, err)
	}
	smtest.Describe(t, c, smtest.PrimaryRegion, name)
}

func TestRegionDownRefusesUnknownRegion(t *testing.T) {
	t.Parallel()
	if err := (standin.Faults{DownRegions: []string{"mars-1"}}).Validate(); err == nil {
		t.Error("an unknown down Region was accepted")
	}
}
