package validate

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/secretid"
)

// DefaultAllowedRegions are the Regions Secrets Manager is offered in (the
// commercial, China and GovCloud partitions), used when the server is not
// given its own allow-list.
var DefaultAllowedRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1",
}

// Rules validates requests with the server's configuration.
type Rules struct {
	allowed       map[string]bool
	defaultRegion string
}

// NewRules returns Rules allowing the given Regions (DefaultAllowedRegions
// if empty) and resolving bare secret names to defaultRegion (empty: bare
// names are refused, callers must pass ARNs).
func NewRules(allowedRegions []string, defaultRegion string) (*Rules, error) {
	if len(allowedRegions) == 0 {
		allowedRegions = DefaultAllowedRegions
	}
	r := &Rules{allowed: make(map[string]bool, len(allowedRegions)), defaultRegion: defaultRegion}
	for _, reg := range allowedRegions {
		if !WellFormedRegion(reg) {
			return nil, fmt.Errorf("allowed Region %q is not a Region code", reg)
		}
		r.allowed[reg] = true
	}
	if defaultRegion != "" && !r.allowed[defaultRegion] {
		return nil, fmt.Errorf("default Region %q is not in the allowed Regions", defaultRegion)
	}
	return r, nil
}

// Target is a validated secret reference.
type Target struct {
	ID secretid.ID
	// PrimaryRegion is the ARN's Region, or the default Region for a name.
	PrimaryRegion string
}

// Replicate validates a ReplicateRequest.
func (r *Rules) Replicate(req *replicadv1.ReplicateRequest) (Target, error) {
	var c collector
	t := r.target(&c, "secret_id", req.GetSecretId())
	if len(req.GetRegions()) == 0 {
		c.add("regions", "REQUIRED", "at least one Region is required")
	}
	if len(req.GetRegions()) > MaxRegions {
		c.add("regions", "TOO_MANY", "at most %d Regions per request", MaxRegions)
	}
	seen := map[string]bool{}
	// Past the limit the request is refused as a whole: checking every
	// element would only make the answer, and its cost, grow with the
	// request.
	for i, rr := range firstN(req.GetRegions(), MaxRegions) {
		field := fmt.Sprintf("regions[%d]", i)
		reg := rr.GetRegion()
		if r.replicaRegion(&c, field+".region", reg, t, seen) {
			r.kmsKey(&c, field+".kms_key_id", rr.GetKmsKeyId(), reg)
		}
	}
	r.mutation(&c, req.GetRequestId(), req.GetReason(), req.GetLabels())
	return t, c.err()
}

// Remove validates a RemoveRequest.
func (r *Rules) Remove(req *replicadv1.RemoveRequest) (Target, error) {
	var c collector
	t := r.target(&c, "secret_id", req.GetSecretId())
	if len(req.GetRegions()) == 0 {
		c.add("regions", "REQUIRED", "at least one Region is required")
	}
	if len(req.GetRegions()) > MaxRegions {
		c.add("regions", "TOO_MANY", "at most %d Regions per request", MaxRegions)
	}
	seen := map[string]bool{}
	for i, reg := range firstN(req.GetRegions(), MaxRegions) {
		r.replicaRegion(&c, fmt.Sprintf("regions[%d]", i), reg, t, seen)
	}
	r.mutation(&c, req.GetRequestId(), req.GetReason(), req.GetLabels())
	return t, c.err()
}

// Promote validates a PromoteRequest. Whether the Region really holds a
// replica is AWS's to say; the worker checks it with DescribeSecret.
func (r *Rules) Promote(req *replicadv1.PromoteRequest) (Target, error) {
	var c collector
	t := r.target(&c, "secret_id", req.GetSecretId())
	// The primary's own Region holds no replica to promote: refused here,
	// like Replicate and Remove, rather than accepted and failed by the worker.
	if r.region(&c, "region", req.GetRegion()) && req.GetRegion() == t.PrimaryRegion {
		c.add("region", "PRIMARY_REGION", "the Region is the secret's primary Region; promote a replica's Region")
	}
	r.mutation(&c, req.GetRequestId(), req.GetReason(), req.GetLabels())
	return t, c.err()
}

// Status validates a StatusRequest.
func (r *Rules) Status(req *replicadv1.StatusRequest) (Target, error) {
	var c collector
	t := r.target(&c, "secret_id", req.GetSecretId())
	if n := req.GetRecentOperations(); n < 0 || n > MaxRecentOps {
		c.add("recent_operations", "OUT_OF_RANGE", "must be between 0 and %d", MaxRecentOps)
	}
	return t, c.err()
}

// ListOperations validates a ListOperationsRequest's filter and page size;
// the page token is checked where it is decoded.
func (r *Rules) ListOperations(req *replicadv1.ListOperationsRequest) (secretid.ID, error) {
	var c collector
	var id secretid.ID
	if s := req.GetSecretId(); s != "" {
		var err error
		if id, err = secretid.Parse(s); err != nil {
			c.add("secret_id", "INVALID_SECRET_ID", "%s", describeParse(err))
		}
	}
	if _, ok := replicadv1.OperationState_name[int32(req.GetState())]; !ok {
		c.add("state", "INVALID_ENUM", "not a known operation state")
	}
	if req.GetPageSize() < 0 {
		c.add("page_size", "OUT_OF_RANGE", "must not be negative")
	}
	return id, c.err()
}

// OperationID validates an operation id field.
func OperationID(field, id string) error {
	var c collector
	switch {
	case id == "":
		c.add(field, "REQUIRED", "an operation id is required")
	case !IsUUID(id):
		c.add(field, "INVALID_OPERATION_ID", "an operation id is a UUID")
	}
	return c.err()
}

// CancelReason validates CancelOperation's free-text reason.
func CancelReason(reason string) error {
	var c collector
	reasonRules(&c, "reason", reason)
	return c.err()
}

func (r *Rules) target(c *collector, field, raw string) Target {
	if raw == "" {
		c.add(field, "REQUIRED", "a secret name or ARN is required")
		return Target{}
	}
	id, err := secretid.Parse(raw)
	if err != nil {
		c.add(field, "INVALID_SECRET_ID", "%s", describeParse(err))
		return Target{}
	}
	t := Target{ID: id, PrimaryRegion: id.Region}
	switch {
	case id.IsARN() && !r.allowed[id.Region]:
		c.add(field, "REGION_NOT_ALLOWED", "the ARN's Region is not one this server may act in")
	case !id.IsARN() && r.defaultRegion == "":
		c.add(field, "ARN_REQUIRED", "this server has no default Region: name the secret by its full ARN")
	case !id.IsARN():
		t.PrimaryRegion = r.defaultRegion
	}
	return t
}

// region checks a Region code's form and the allow-list.
func (r *Rules) region(c *collector, field, reg string) bool {
	switch {
	case reg == "":
		c.add(field, "REQUIRED", "a Region code is required")
	case !WellFormedRegion(reg):
		c.add(field, "INVALID_REGION", "not a Region code (like us-east-1 or eu-west-3)")
	case !r.allowed[reg]:
		c.add(field, "REGION_NOT_ALLOWED", "not one of the Regions this server may act in")
	default:
		return true
	}
	return false
}

// replicaRegion checks a Region a replica is added to or removed from.
func (r *Rules) replicaRegion(c *collector, field, reg string, t Target, seen map[string]bool) bool {
	if !r.region(c, field, reg) {
		return false
	}
	switch {
	case seen[reg]:
		c.add(field, "DUPLICATE_REGION", "the Region is listed more than once")
	case reg == t.PrimaryRegion:
		c.add(field, "PRIMARY_REGION", "the Region is the secret's primary Region; a replica must be elsewhere")
	case t.PrimaryRegion != "" && Partition(reg) != Partition(t.PrimaryRegion):
		c.add(field, "CROSS_PARTITION", "secrets replicate only within their partition (%s)", Partition(t.PrimaryRegion))
	default:
		seen[reg] = true
		return true
	}
	seen[reg] = true
	return false
}

func (r *Rules) kmsKey(c *collector, field, key, region string) {
	switch {
	case key == "":
		return // aws/secretsmanager
	case len(key) > MaxKMSKeyLength:
		c.add(field, "TOO_LONG", "at most %d characters", MaxKMSKeyLength)
	case kmsKeyIDRE.MatchString(key), aliasRE.MatchString(key):
	default:
		m := kmsARNRE.FindStringSubmatch(key)
		switch {
		case m == nil:
			c.add(field, "INVALID_KMS_KEY", "a KMS key is a key id (UUID), alias/NAME, a key ARN or an alias ARN")
		case m[2] != region:
			c.add(field, "KMS_KEY_REGION", "the KMS key must be in the replica's Region")
		case m[1] != Partition(region):
			c.add(field, "CROSS_PARTITION", "the KMS key's partition differs from the Region's")
		}
	}
}

func (r *Rules) mutation(c *collector, requestID, reason string, labels map[string]string) {
	if requestID != "" && !IsUUID(requestID) {
		c.add("request_id", "INVALID_REQUEST_ID", "a request_id is a UUID (AIP-155)")
	}
	reasonRules(c, "reason", reason)
	if len(labels) > MaxLabels {
		c.add("labels", "TOO_MANY", "at most %d labels", MaxLabels)
		return
	}
	for _, k := range sortedKeys(labels) {
		field := "labels"
		if len(k) <= maxEchoedKey && printableASCII(k) {
			field = fmt.Sprintf("labels[%q]", k)
		}
		switch {
		case !labelKeyRE.MatchString(k):
			c.add(field, "INVALID_LABEL_KEY", "a label key is 1-63 lowercase letters, digits, _ . or -, starting with a letter")
		case utf8.RuneCountInString(labels[k]) > MaxLabelValue:
			c.add(field, "TOO_LONG", "a label value is at most %d characters", MaxLabelValue)
		}
	}
}

func reasonRules(c *collector, field, reason string) {
	if utf8.RuneCountInString(reason) > MaxReasonLength {
		c.add(field, "TOO_LONG", "at most %d characters", MaxReasonLength)
	}
}

func describeParse(err error) string {
	if errors.Is(err, secretid.ErrInvalid) {
		// secretid's messages describe the rule, never the value.
		return err.Error()
	}
	return "not a valid secret id"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func firstN[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Allowed reports whether reg is a Region this server may act in.
func (r *Rules) Allowed(reg string) bool { return r.allowed[reg] }
