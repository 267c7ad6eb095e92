package standin

import (
	"context"
	"time"
)

type putSecretValueInput struct {
	SecretID           string  `json:"SecretId"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

// putSecretValue stores a new current version of a primary or standalone
// secret and its replicas (AWS replicates new versions), and moves
// LastChangedDate: what a failback compares to tell that an old primary
// was written to while its Region was cut off. Replicas refuse it, as on
// AWS. The stand-in keeps only the current version.
func (s *Server) putSecretValue(ctx context.Context, region string, in *putSecretValueInput) (any, *apiError) {
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, errInvalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if in.SecretString == nil && in.SecretBinary == nil {
		return nil, errInvalidParameter("You must provide either SecretString or SecretBinary.")
	}
	if in.SecretString != nil && len(*in.SecretString) > 65536 || len(in.SecretBinary) > 65536 {
		return nil, errInvalidParameter("The secret value must be at most 65536 bytes.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateOf(ctx)
	sec, err := st.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	if sec.isReplica() {
		return nil, errReplicaRegionCall()
	}
	id := in.ClientRequestToken
	if id == "" {
		id = newVersionID()
	}
	now := time.Now()
	v := &secretValue{versionID: id, str: in.SecretString, bin: in.SecretBinary, created: now}
	sec.value, sec.changed = v, now
	for _, r := range sec.replicas {
		if rs := st.region(r.region)[sec.name]; rs != nil && rs.isReplica() && rs.primaryRegion == sec.region {
			rs.value, rs.changed = v, now
		}
	}
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionID: id, VersionStages: []string{"AWSCURRENT"}}, nil
}
