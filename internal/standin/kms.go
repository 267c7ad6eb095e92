package standin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The stand-in answers a small part of AWS KMS on the same endpoint,
// recognised by the "kms" service in the request's SigV4 credential scope
// (the JSON 1.1 protocol, X-Amz-Target TrentService.*), so that replicad can
// resolve a key alias in a Region through the SDK exactly as against AWS:
// CreateKey, CreateAlias, DescribeKey and ListAliases (one page). Keys are
// per (account, Region), like AWS's: an alias created in one Region does
// not exist in another. Keys are never used to encrypt anything; replicas
// keep whatever key reference they were created with.
//
// The AWS managed key alias/aws/secretsmanager exists in every Region of
// every account, as it does once Secrets Manager has been used there.

// kmsManagedAlias is the AWS managed key of Secrets Manager.
const kmsManagedAlias = "alias/aws/secretsmanager"

// KMS key states, as DescribeKey's KeyMetadata.KeyState names them
// (SetKMSKey).
const (
	KMSKeyEnabled         = "Enabled"
	KMSKeyDisabled        = "Disabled"
	KMSKeyPendingDeletion = "PendingDeletion"
)

// CodeKMSNotFound is KMS's error for a key that does not exist.
const CodeKMSNotFound = "NotFoundException"

type kmsKeyEntry struct {
	id, arn, description string
	managed              bool
	created              time.Time
	// state is the KeyState DescribeKey reports ("" is Enabled).
	state string
}

// kmsRegion is one (account, Region)'s keys and aliases (alias name, with
// its "alias/" prefix, to key id).
type kmsRegion struct {
	keys    map[string]*kmsKeyEntry
	aliases map[string]string
}

type kmsPlace struct{ account, region string }

// kmsRegionOf returns (account, region)'s keys, created on first use with
// the AWS managed key. Caller holds s.mu.
func (s *Server) kmsRegionOf(account, region string) *kmsRegion {
	k := kmsPlace{account, region}
	kr := s.kms[k]
	if kr == nil {
		kr = &kmsRegion{keys: map[string]*kmsKeyEntry{}, aliases: map[string]string{}}
		s.kms[k] = kr
		managed := kr.newKey(account, region, "Default key that protects my Secrets Manager data when no other key is defined")
		managed.managed = true
		kr.aliases[kmsManagedAlias] = managed.id
	}
	return kr
}

func (kr *kmsRegion) newKey(account, region, description string) *kmsKeyEntry {
	return kr.newKeyWithID(account, region, newVersionID(), description)
}

func (kr *kmsRegion) newKeyWithID(account, region, id, description string) *kmsKeyEntry {
	e := &kmsKeyEntry{id: id, arn: "arn:aws:kms:" + region + ":" + account + ":key/" + id,
		description: description, created: time.Now().UTC()}
	kr.keys[id] = e
	return e
}

// lookup finds the key a DescribeKey KeyId names: a key id or key ARN, an
// alias name or alias ARN, of this account and Region.
func (kr *kmsRegion) lookup(account, region, ref string) *kmsKeyEntry {
	prefix := "arn:aws:kms:" + region + ":" + account + ":"
	if rest, ok := strings.CutPrefix(ref, prefix); ok {
		switch {
		case strings.HasPrefix(rest, "key/"):
			ref = strings.TrimPrefix(rest, "key/")
		case strings.HasPrefix(rest, "alias/"):
			ref = rest
		default:
			return nil
		}
	} else if strings.HasPrefix(ref, "arn:") {
		// Another Region's or account's key: not here.
		return nil
	}
	if strings.HasPrefix(ref, "alias/") {
		return kr.keys[kr.aliases[ref]]
	}
	return kr.keys[ref]
}

// CreateKMSKey creates a customer managed key in account's region with the
// given aliases (each "alias/NAME") and returns its id and ARN. An empty
// account means the default account.
func (s *Server) CreateKMSKey(account, region string, aliases ...string) (id, arn string, err error) {
	if account == "" {
		account = s.account
	}
	if !isKnownRegion(region) {
		return "", "", errInvalidParameter("unknown region " + region)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kr := s.kmsRegionOf(account, region)
	for _, a := range aliases {
		if aerr := checkAliasName(a); aerr != nil {
			return "", "", aerr
		}
		if _, ok := kr.aliases[a]; ok {
			return "", "", errKMS("AlreadyExistsException", "An alias with the name "+a+" already exists")
		}
	}
	k := kr.newKey(account, region, "")
	for _, a := range aliases {
		kr.aliases[a] = k.id
	}
	return k.id, k.arn, nil
}

// SetKMSKey puts the key ref names (a key id, key ARN or alias/NAME) of
// account ("" for the default one) in region in state, creating it (under
// that alias, or with that id) if it does not exist; an empty state
// deletes the key and its aliases, as a key deleted after its waiting
// period is gone. Readiness tests use it to model disabled and missing
// keys.
func (s *Server) SetKMSKey(account, region, ref, state string) {
	if account == "" {
		account = s.account
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kr := s.kmsRegionOf(account, region)
	k := kr.lookup(account, region, ref)
	if state == "" {
		if k == nil || k.managed {
			return
		}
		delete(kr.keys, k.id)
		for a, id := range kr.aliases {
			if id == k.id {
				delete(kr.aliases, a)
			}
		}
		return
	}
	if k == nil {
		switch name, isAlias := strings.CutPrefix(ref, "alias/"); {
		case isAlias && name != "":
			k = kr.newKey(account, region, "")
			kr.aliases[ref] = k.id
		default:
			id := ref
			if i := strings.LastIndex(ref, ":key/"); i >= 0 {
				id = ref[i+len(":key/"):]
			}
			k = kr.newKeyWithID(account, region, id, "")
		}
	}
	k.state = state
}

// ensureKMSAlias creates a key for alias in (account, region) unless the
// alias exists: a seeded replica encrypted under an alias implies that the
// alias exists there. Caller holds s.mu.
func (s *Server) ensureKMSAlias(account, region, alias string) {
	if !strings.HasPrefix(alias, "alias/") || checkAliasName(alias) != nil {
		return
	}
	kr := s.kmsRegionOf(account, region)
	if _, ok := kr.aliases[alias]; !ok {
		kr.aliases[alias] = kr.newKey(account, region, "").id
	}
}

func checkAliasName(a string) *apiError {
	name, ok := strings.CutPrefix(a, "alias/")
	switch {
	case !ok || name == "" || len(a) > 256:
		return errKMS("ValidationException", "Alias must start with the prefix \"alias/\".")
	case strings.HasPrefix(name, "aws/"):
		return errKMS("NotAuthorizedException", "The alias prefix alias/aws/ is reserved for AWS managed keys.")
	}
	return nil
}

func errKMS(code, message string) *apiError {
	status := http.StatusBadRequest
	if code == "KMSInternalException" {
		status = http.StatusInternalServerError
	}
	return newAPIError(status, code, message)
}

// isKMSRequest reports whether the request is a KMS call: signed for KMS
// and naming a KMS action. A Secrets Manager action signed for KMS is the
// Secrets Manager API's to refuse (wrong credential scope).
func isKMSRequest(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Authorization"), "/kms/aws4_request") &&
		strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
}

type kmsKeyMetadataJSON struct {
	AWSAccountID string  `json:"AWSAccountId"`
	KeyID        string  `json:"KeyId"`
	Arn          string  `json:"Arn"`
	CreationDate float64 `json:"CreationDate"`
	Enabled      bool    `json:"Enabled"`
	Description  string  `json:"Description"`
	KeyUsage     string  `json:"KeyUsage"`
	KeyState     string  `json:"KeyState"`
	Origin       string  `json:"Origin"`
	KeyManager   string  `json:"KeyManager"`
	KeySpec      string  `json:"KeySpec"`
}

func (k *kmsKeyEntry) metadata(account string) kmsKeyMetadataJSON {
	m := kmsKeyMetadataJSON{AWSAccountID: account, KeyID: k.id, Arn: k.arn,
		CreationDate: float64(k.created.UnixMilli()) / 1000, Enabled: true, Description: k.description,
		KeyUsage: "ENCRYPT_DECRYPT", KeyState: KMSKeyEnabled, Origin: "AWS_KMS", KeyManager: "CUSTOMER", KeySpec: "SYMMETRIC_DEFAULT"}
	if k.state != "" {
		m.KeyState, m.Enabled = k.state, k.state == KMSKeyEnabled
	}
	if k.managed {
		m.KeyManager = "AWS"
	}
	return m
}

type kmsAliasJSON struct {
	AliasName   string `json:"AliasName"`
	AliasArn    string `json:"AliasArn"`
	TargetKeyID string `json:"TargetKeyId,omitempty"`
}

func (s *Server) serveKMS(w http.ResponseWriter, r *http.Request) {
	region, aerr := kmsRegionFromAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		s.writeError(w, aerr)
		return
	}
	if s.currentFaults().regionDown(region) {
		s.writeError(w, errKMS("KMSInternalException", "The service is unavailable in this Region."))
		return
	}
	account := s.accountOfRequest(r)
	name, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		s.writeError(w, errSerialization("could not read the request body"))
		return
	}
	var in struct {
		KeyID       string `json:"KeyId"`
		AliasName   string `json:"AliasName"`
		TargetKeyID string `json:"TargetKeyId"`
		Description string `json:"Description"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			s.writeError(w, errSerialization(err.Error()))
			return
		}
	}
	// Counted in the stats as TrentService.NAME (one entry per known
	// action), outside the Secrets Manager budgets: KMS has its own
	// quotas.
	op := "TrentService.Unknown"
	if slices.Contains([]string{"DescribeKey", "ListAliases", "CreateKey", "CreateAlias"}, name) {
		op = "TrentService." + name
	}
	s.meter.admit(region, op, classNone, 0)
	out, aerr := s.kmsCall(r.Context(), account, region, name, in.KeyID, in.AliasName, in.TargetKeyID, in.Description)
	if aerr != nil {
		s.meter.finish(region, op, outcomeClientError)
		s.writeError(w, aerr)
		return
	}
	s.meter.finish(region, op, outcomeOK)
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) kmsCall(_ context.Context, account, region, name, keyID, aliasName, target, description string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kr := s.kmsRegionOf(account, region)
	notFound := func(ref string) *apiError {
		if strings.HasPrefix(ref, "alias/") {
			ref = "arn:aws:kms:" + region + ":" + account + ":" + ref
		}
		return errKMS(CodeKMSNotFound, "Key '"+ref+"' does not exist")
	}
	switch name {
	case "DescribeKey":
		if keyID == "" {
			return nil, errKMS("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
		}
		k := kr.lookup(account, region, keyID)
		if k == nil {
			return nil, notFound(keyID)
		}
		return map[string]any{"KeyMetadata": k.metadata(account)}, nil
	case "ListAliases":
		var target *kmsKeyEntry
		if keyID != "" {
			if target = kr.lookup(account, region, keyID); target == nil {
				return nil, notFound(keyID)
			}
		}
		names := make([]string, 0, len(kr.aliases))
		for a, id := range kr.aliases {
			if target == nil || id == target.id {
				names = append(names, a)
			}
		}
		slices.Sort(names)
		out := make([]kmsAliasJSON, 0, len(names))
		for _, a := range names {
			out = append(out, kmsAliasJSON{AliasName: a, AliasArn: "arn:aws:kms:" + region + ":" + account + ":" + a, TargetKeyID: kr.aliases[a]})
		}
		return map[string]any{"Aliases": out, "Truncated": false}, nil
	case "CreateKey":
		return map[string]any{"KeyMetadata": kr.newKey(account, region, description).metadata(account)}, nil
	case "CreateAlias":
		if aerr := checkAliasName(aliasName); aerr != nil {
			return nil, aerr
		}
		if _, ok := kr.aliases[aliasName]; ok {
			return nil, errKMS("AlreadyExistsException", "An alias with the name arn:aws:kms:"+region+":"+account+":"+aliasName+" already exists")
		}
		k := kr.lookup(account, region, target)
		if k == nil || strings.HasPrefix(target, "alias/") {
			return nil, notFound(target)
		}
		kr.aliases[aliasName] = k.id
		return struct{}{}, nil
	}
	return nil, errKMS("UnknownOperationException", "")
}

// kmsRegionFromAuthorization is regionFromAuthorization for the kms
// service's credential scope.
func kmsRegionFromAuthorization(header string) (string, *apiError) {
	_, rest, ok := strings.Cut(header, "Credential=")
	if !ok {
		return "", errMissingAuthentication()
	}
	cred, _, _ := strings.Cut(rest, ",")
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[3] != "kms" || !isKnownRegion(scope[2]) {
		return "", errIncompleteSignature("Credential should be scoped to a valid region and to 'kms'.")
	}
	return scope[2], nil
}
