package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
)

// primaryRegion is where every benchmark secret lives.
const primaryRegion = "us-east-1"

// replicaRegion is the target of the k-th Replicate on a secret: each
// operation of a chain asks for a new Region, so it makes a real
// ReplicateSecretToRegions call rather than finding its Region InSync
// (after 14 operations on one secret the Regions repeat).
func replicaRegion(k int) string {
	regions := [...]string{
		"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
		"us-west-1", "us-west-2", "us-east-2", "ap-south-1", "ap-southeast-1",
		"ap-southeast-2", "ap-northeast-1", "ca-central-1", "sa-east-1",
	}
	return regions[k%len(regions)]
}

// clients are the gRPC connections of a load, one per simulated client.
type clients struct {
	conns []*grpc.ClientConn
	rpc   []replicadv1.ReplicationServiceClient
}

func dial(addr string, n int) (*clients, error) {
	c := &clients{}
	for range n {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
		c.rpc = append(c.rpc, replicadv1.NewReplicationServiceClient(conn))
	}
	return c, nil
}

func (c *clients) Close() {
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

func replicateRequest(secret, region string) *replicadv1.ReplicateRequest {
	return &replicadv1.ReplicateRequest{
		SecretId: secret,
		Regions:  []*replicadv1.ReplicaRegion{{Region: region}},
		Reason:   "benchmark",
	}
}

// Seed creates the secrets in primaryRegion, unreplicated, directly
// (SeedDirect): the stand-in holds them as CreateSecret would have left
// them, but no request is made, so seeding spends no budget, counts in no
// statistic and takes milliseconds rather than a CreateSecret round trip
// per secret (about 24,000 of them in a full run).
func (sm *Standin) Seed(ctx context.Context, names []string) error {
	seeds := make([]standin.SeedSecret, len(names))
	for i, name := range names {
		seeds[i] = standin.SeedSecret{Region: primaryRegion, Name: name}
	}
	return sm.SeedDirect(ctx, seeds)
}

// SetFaults changes the stand-in's faults through its admin endpoint, e.g.
// {"writeBudget": 50}.
func (sm *Standin) SetFaults(ctx context.Context, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sm.URL+"/_standin/faults", bytes.NewReader(body))
	if err != nil {
		return err
	}
	if _, err := do(req); err != nil {
		return fmt.Errorf("set faults: %w", err)
	}
	return nil
}

// Stats reads what the stand-in answered so far.
func (sm *Standin) Stats(ctx context.Context) (standin.Stats, error) {
	var st standin.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sm.URL+"/_standin/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
