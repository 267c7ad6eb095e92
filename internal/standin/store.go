package standin

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// KMSKeyIDDefault is the key AWS uses when a request names none, as
// ReplicationStatus reports it.
const KMSKeyIDDefault = "alias/aws/secretsmanager"

// Replication statuses, as the API spells them.
const (
	StatusInProgress = "InProgress"
	StatusInSync     = "InSync"
	StatusFailed     = "Failed"
)

// secret is one secret in one Region. A replica is a separate secret in its
// own Region that shares the primary's name and ARN suffix, as on AWS.
type secret struct {
	name   string
	suffix string // the 6 characters AWS appends to the name in the ARN
	region string
	arn    string

	description string
	kmsKeyID    string // "" means the AWS managed key
	tags        []tagJSON
	value       *secretValue // nil when created without a value

	created      time.Time
	changed      time.Time
	lastAccessed time.Time // midnight UTC of the last GetSecretValue day

	// deletion is the scheduled deletion date; zero unless DeleteSecret was
	// called with a recovery window.
	deletion time.Time

	// primaryRegion is "" for a secret that never took part in replication,
	// its own Region for a primary (or a promoted replica), and the primary's
	// Region for a replica. It is reported as PrimaryRegion when not "":
	// AWS reports PrimaryRegion for replicated secrets and not for plain ones
	// (ListSecrets shows it "only in secrets with replication enabled",
	// according to public reports); once set it is kept, which AWS does not
	// document either way.
	primaryRegion string

	// replicas is a primary's ReplicationStatus, in the order Regions were
	// added.
	replicas []*replica
}

type secretValue struct {
	versionID string
	str       *string
	bin       []byte
	created   time.Time
}

// replica is one entry of a primary's ReplicationStatus.
type replica struct {
	region   string
	kmsKeyID string // "" means the AWS managed key
	failed   string // StatusMessage when Failed; "" otherwise
	// readyAt is when an InProgress replica becomes InSync. Status is
	// computed from it at read time, so no goroutine drives replication and
	// nothing is left running when a test ends.
	readyAt time.Time
}

func (r *replica) status(now time.Time) (status, message string) {
	switch {
	case r.failed != "":
		return StatusFailed, r.failed
	case now.Before(r.readyAt):
		// AWS's examples show no StatusMessage while InProgress.
		return StatusInProgress, ""
	default:
		return StatusInSync, MsgReplicationSucceeded
	}
}

func (s *secret) isReplica() bool { return s.primaryRegion != "" && s.primaryRegion != s.region }

func (s *secret) scheduledForDeletion() bool { return !s.deletion.IsZero() }

func (s *secret) replicaIn(region string) *replica {
	for _, r := range s.replicas {
		if r.region == region {
			return r
		}
	}
	return nil
}

func (s *secret) dropReplica(region string) {
	kept := s.replicas[:0]
	for _, r := range s.replicas {
		if r.region != region {
			kept = append(kept, r)
		}
	}
	s.replicas = kept
}

func secretARN(region, account, name, suffix string) string {
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + name + "-" + suffix
}

// arnSuffix returns AWS's 6 random characters. AWS uses letters and digits;
// moto only letters, which clients must not rely on either way.
func arnSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 6)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// newVersionID returns a random UUID (version 4) for secrets created without
// a ClientRequestToken.
func newVersionID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
}

// validateName applies AWS's rule: 1 to 512 of ASCII letters, digits and
// /_+=.@-.
func validateName(name string) *apiError {
	if name == "" || len(name) > 512 {
		return errInvalidParameter("Invalid name. The name must be between 1 and 512 characters.")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("/_+=.@-", c) >= 0:
		default:
			return errInvalidParameter(MsgInvalidName)
		}
	}
	return nil
}

// validateSecretID applies the documented SecretId length limits.
func validateSecretID(id string) *apiError {
	if id == "" || len(id) > 2048 {
		return errInvalidParameter("SecretId must be between 1 and 2048 characters.")
	}
	return nil
}

// epochTime is a timestamp on the wire: AWS JSON 1.1 sends epoch seconds as
// a JSON number with a fractional part.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

func ts(t time.Time) *epochTime {
	if t.IsZero() {
		return nil
	}
	e := epochTime(t)
	return &e
}

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type replicaRegionJSON struct {
	Region   string `json:"Region"`
	KMSKeyID string `json:"KmsKeyId,omitempty"`
}

type replicationStatusJSON struct {
	Region           string     `json:"Region"`
	KMSKeyID         string     `json:"KmsKeyId,omitempty"`
	Status           string     `json:"Status"`
	StatusMessage    string     `json:"StatusMessage,omitempty"`
	LastAccessedDate *epochTime `json:"LastAccessedDate,omitempty"`
}

// describeJSON is DescribeSecret's response and, with VersionIdsToStages
// renamed, a ListSecrets entry.
type describeJSON struct {
	ARN                    string                  `json:"ARN"`
	Name                   string                  `json:"Name"`
	Description            string                  `json:"Description,omitempty"`
	KMSKeyID               string                  `json:"KmsKeyId,omitempty"`
	CreatedDate            *epochTime              `json:"CreatedDate,omitempty"`
	LastChangedDate        *epochTime              `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *epochTime              `json:"LastAccessedDate,omitempty"`
	DeletedDate            *epochTime              `json:"DeletedDate,omitempty"`
	Tags                   []tagJSON               `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string     `json:"VersionIdsToStages,omitempty"`
	SecretVersionsToStages map[string][]string     `json:"SecretVersionsToStages,omitempty"`
	PrimaryRegion          string                  `json:"PrimaryRegion,omitempty"`
	ReplicationStatus      []replicationStatusJSON `json:"ReplicationStatus,omitempty"`
}

// statusList renders a primary's ReplicationStatus. LastAccessedDate comes
// from the replica secret in its Region, which is where GetSecretValue on
// the replica records it.
func (st *state) statusList(s *secret, now time.Time) []replicationStatusJSON {
	if len(s.replicas) == 0 {
		return nil
	}
	out := make([]replicationStatusJSON, 0, len(s.replicas))
	for _, r := range s.replicas {
		status, msg := r.status(now)
		e := replicationStatusJSON{Region: r.region, KMSKeyID: r.kmsKeyID, Status: status, StatusMessage: msg}
		if e.KMSKeyID == "" {
			e.KMSKeyID = KMSKeyIDDefault
		}
		if status != StatusFailed {
			if rs := st.replicaOf(s, r.region); rs != nil {
				e.LastAccessedDate = ts(rs.lastAccessed)
			}
		}
		out = append(out, e)
	}
	return out
}

func (st *state) describe(s *secret, now time.Time) describeJSON {
	d := describeJSON{
		ARN:              s.arn,
		Name:             s.name,
		Description:      s.description,
		KMSKeyID:         s.kmsKeyID, // omitted for the AWS managed key, as AWS does
		CreatedDate:      ts(s.created),
		LastChangedDate:  ts(s.changed),
		LastAccessedDate: ts(s.lastAccessed),
		DeletedDate:      ts(s.deletion),
		Tags:             s.tags,
		PrimaryRegion:    s.primaryRegion,
	}
	if s.value != nil {
		d.VersionIdsToStages = map[string][]string{s.value.versionID: {"AWSCURRENT"}}
	}
	// A replica's own DescribeSecret shows PrimaryRegion but not the
	// primary's ReplicationStatus: the replica is not replicated anywhere.
	// (moto copies the primary's list onto the replica; AWS documents
	// ReplicationStatus as the secret's replicas.)
	if !s.isReplica() {
		d.ReplicationStatus = st.statusList(s, now)
	}
	return d
}

// state is every Region's secrets. The Server guards it with one mutex:
// replication touches two Regions at once, and the stand-in is not meant to
// be fast, only right.
type state struct {
	account string
	regions map[string]map[string]*secret // Region -> name -> secret
	// kmsKeys are the KMS keys SetKMSKey declared: Region -> reference ->
	// KeyState (kms.go).
	kmsKeys map[string]map[string]string
}

func newState(account string) *state {
	return &state{account: account, regions: map[string]map[string]*secret{}}
}

func (st *state) region(r string) map[string]*secret {
	m := st.regions[r]
	if m == nil {
		m = map[string]*secret{}
		st.regions[r] = m
	}
	return m
}

// lookup finds a secret in a Region by name or full ARN. Partial ARNs (the
// ARN without the random suffix) are not supported.
func (st *state) lookup(region, id string) (*secret, *apiError) {
	if err := validateSecretID(id); err != nil {
		return nil, err
	}
	secrets := st.regions[region]
	if strings.HasPrefix(id, "arn:") {
		for _, s := range secrets {
			if s.arn == id {
				return s, nil
			}
		}
		return nil, errSecretNotFound()
	}
	if s := secrets[id]; s != nil {
		return s, nil
	}
	return nil, errSecretNotFound()
}

// replicaOf returns primary p's replica secret in region, if it is there.
func (st *state) replicaOf(p *secret, region string) *secret {
	s := st.regions[region][p.name]
	if s == nil || s.suffix != p.suffix || s.primaryRegion != p.region {
		return nil
	}
	return s
}

// primaryOf returns the primary of replica r, if it is still there.
func (st *state) primaryOf(r *secret) *secret {
	p := st.regions[r.primaryRegion][r.name]
	if p == nil || p.suffix != r.suffix || p.region != r.primaryRegion {
		return nil
	}
	return p
}
