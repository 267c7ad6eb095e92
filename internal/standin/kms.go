package standin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// KMS: the stand-in answers DescribeKey (X-Amz-Target
// TrentService.DescribeKey), enough for a client to learn whether the key
// a replica is encrypted under can be used in its Region. Keys exist only
// as SetKMSKey declares them; the AWS managed key aws/secretsmanager
// exists, Enabled, in every Region. Any other key is missing: AWS answers
// NotFoundException for a key id, ARN or alias that is not there.

// KMS key states, as DescribeKey's KeyMetadata.KeyState names them.
const (
	KMSKeyEnabled         = "Enabled"
	KMSKeyDisabled        = "Disabled"
	KMSKeyPendingDeletion = "PendingDeletion"
)

// CodeKMSNotFound is KMS's error for a key that does not exist.
const CodeKMSNotFound = "NotFoundException"

// kmsTarget is the X-Amz-Target of KMS's DescribeKey.
const kmsTarget = "TrentService.DescribeKey"

// SetKMSKey declares a KMS key of account ("" for the default one) in
// region, under the reference clients name it by (a key id, a key ARN or
// "alias/name"), in state; an empty state removes it.
func (s *Server) SetKMSKey(account, region, ref, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "" {
		account = s.account
	}
	st := s.accountState(account)
	if st.kmsKeys == nil {
		st.kmsKeys = map[string]map[string]string{}
	}
	if st.kmsKeys[region] == nil {
		st.kmsKeys[region] = map[string]string{}
	}
	if state == "" {
		delete(st.kmsKeys[region], ref)
		return
	}
	st.kmsKeys[region][ref] = state
}

type describeKeyInput struct {
	KeyID string `json:"KeyId"`
}

type keyMetadataJSON struct {
	KeyID      string `json:"KeyId"`
	Arn        string `json:"Arn"`
	KeyState   string `json:"KeyState"`
	Enabled    bool   `json:"Enabled"`
	KeyManager string `json:"KeyManager"`
}

// kmsKeyName is how a reference is stored: an ARN is reduced to its
// "key/ID" or "alias/name" part, and "key/ID" to the id.
func kmsKeyName(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		if i := strings.Index(ref, ":key/"); i >= 0 {
			return ref[i+len(":key/"):]
		}
		if i := strings.Index(ref, ":alias/"); i >= 0 {
			return ref[i+1:]
		}
	}
	return ref
}

func (s *Server) describeKey(ctx context.Context, region string, in *describeKeyInput) (any, *apiError) {
	if in.KeyID == "" {
		return nil, newAPIError(http.StatusBadRequest, "ValidationException", "KeyId is required")
	}
	name := kmsKeyName(in.KeyID)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateOf(ctx)
	arn := fmt.Sprintf("arn:aws:kms:%s:%s:", region, st.account)
	if name == "alias/aws/secretsmanager" || name == "aws/secretsmanager" {
		return map[string]any{"KeyMetadata": keyMetadataJSON{KeyID: "aws-managed-secretsmanager", Arn: arn + "key/aws-managed-secretsmanager",
			KeyState: KMSKeyEnabled, Enabled: true, KeyManager: "AWS"}}, nil
	}
	state, ok := st.kmsKeys[region][name]
	if !ok {
		for ref, s := range st.kmsKeys[region] {
			if kmsKeyName(ref) == name {
				state, ok = s, true
				break
			}
		}
	}
	if !ok {
		// AWS names the key in the message; so does the stand-in, with
		// the Region and account the request was for.
		return nil, newAPIError(http.StatusBadRequest, CodeKMSNotFound, fmt.Sprintf("Key '%s%s' does not exist", arn, name))
	}
	return map[string]any{"KeyMetadata": keyMetadataJSON{KeyID: name, Arn: arn + name, KeyState: state,
		Enabled: state == KMSKeyEnabled, KeyManager: "CUSTOMER"}}, nil
}
