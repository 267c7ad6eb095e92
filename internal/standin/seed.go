package standin

import (
	"context"
	"fmt"
)

// DemoRegion is where SeedDemo creates its secrets.
const DemoRegion = "us-east-1"

// Seed creates a secret with a string value directly, not through the API:
// it needs no Authorization header, is never throttled or faulted and counts
// in no statistic. It returns the secret's ARN. It follows CreateSecret's
// rules, so an invalid Region or name or an existing secret is an error.
func (s *Server) Seed(ctx context.Context, region, name, value string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("standin: seed %s in %s: %w", name, region, err)
	}
	if !isKnownRegion(region) {
		return "", fmt.Errorf("standin: seed %s: unknown region %q", name, region)
	}
	out, aerr := s.createSecret(ctx, region, &createSecretInput{Name: name, SecretString: &value})
	if aerr != nil {
		return "", fmt.Errorf("standin: seed %s in %s: %w", name, region, aerr)
	}
	return out.(createSecretOutput).ARN, nil
}

// SeedDemo creates the demo secrets prod/payments/api-key and
// prod/db/primary in DemoRegion, unreplicated, so a demo or load run has
// something to replicate. Their values are placeholders, not credentials.
// It returns their ARNs.
func (s *Server) SeedDemo(ctx context.Context) ([]string, error) {
	demo := []struct{ name, value string }{
		{"prod/payments/api-key", `{"apiKey":"demo-not-a-real-key"}`},
		{"prod/db/primary", `{"username":"demo","password":"demo-not-a-real-password","host":"db.example.internal","port":5432}`},
	}
	arns := make([]string, 0, len(demo))
	for _, d := range demo {
		arn, err := s.Seed(ctx, DemoRegion, d.name, d.value)
		if err != nil {
			return arns, err
		}
		arns = append(arns, arn)
	}
	return arns, nil
}
