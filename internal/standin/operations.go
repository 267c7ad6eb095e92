package standin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

// operations lists the actions the stand-in speaks, keyed by the name after
// "secretsmanager." in X-Amz-Target.
func (s *Server) operations() map[string]operation {
	return map[string]operation{
		"CreateSecret":                 handle(classWrite, s.createSecret),
		"DeleteSecret":                 handle(classWrite, s.deleteSecret),
		"ReplicateSecretToRegions":     handle(classWrite, s.replicateSecretToRegions),
		"RemoveRegionsFromReplication": handle(classWrite, s.removeRegionsFromReplication),
		"StopReplicationToReplica":     handle(classWrite, s.stopReplicationToReplica),
		"DescribeSecret":               handle(classRead, s.describeSecret),
		"ListSecrets":                  handle(classRead, s.listSecrets),
		"GetSecretValue":               handle(classNone, s.getSecretValue),
	}
}

type createSecretInput struct {
	Name                        string              `json:"Name"`
	ClientRequestToken          string              `json:"ClientRequestToken"`
	Description                 string              `json:"Description"`
	KMSKeyID                    string              `json:"KmsKeyId"`
	SecretString                *string             `json:"SecretString"`
	SecretBinary                []byte              `json:"SecretBinary"`
	Tags                        []tagJSON           `json:"Tags"`
	AddReplicaRegions           []replicaRegionJSON `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool                `json:"ForceOverwriteReplicaSecret"`
}

type createSecretOutput struct {
	ARN               string                  `json:"ARN"`
	Name              string                  `json:"Name"`
	VersionID         string                  `json:"VersionId,omitempty"`
	ReplicationStatus []replicationStatusJSON `json:"ReplicationStatus,omitempty"`
}

func (s *Server) createSecret(_ context.Context, region string, in *createSecretInput) (any, *apiError) {
	if err := validateName(in.Name); err != nil {
		return nil, err
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, errInvalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if in.SecretString != nil && len(*in.SecretString) > 65536 || len(in.SecretBinary) > 65536 {
		return nil, errInvalidParameter("The secret value must be at most 65536 bytes.")
	}
	if len(in.Description) > 2048 {
		return nil, errInvalidParameter("Description must be at most 2048 characters.")
	}
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) < 32 || len(in.ClientRequestToken) > 64) {
		return nil, errInvalidParameter("ClientRequestToken must be between 32 and 64 characters.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	now := time.Now()
	if existing := st.regions[region][in.Name]; existing != nil {
		if existing.scheduledForDeletion() {
			return nil, errScheduledForDeletionCreate()
		}
		// A retry of a create that succeeded (same idempotency token, same
		// value) answers the existing secret, as AWS does; the SDK always
		// sends a token, so this is what a retried timeout looks like.
		if v := existing.value; v != nil && in.ClientRequestToken != "" && v.versionID == in.ClientRequestToken &&
			equalStringPtr(v.str, in.SecretString) && bytes.Equal(v.bin, in.SecretBinary) {
			return createSecretOutput{ARN: existing.arn, Name: existing.name, VersionID: v.versionID,
				ReplicationStatus: st.statusList(existing, now)}, nil
		}
		return nil, errSecretExists(in.Name)
	}
	sec := &secret{
		name:        in.Name,
		suffix:      arnSuffix(),
		region:      region,
		description: in.Description,
		kmsKeyID:    in.KMSKeyID,
		tags:        in.Tags,
		created:     now,
		changed:     now,
	}
	sec.arn = secretARN(region, s.account, sec.name, sec.suffix)
	if in.SecretString != nil || in.SecretBinary != nil {
		id := in.ClientRequestToken
		if id == "" {
			id = newVersionID()
		}
		sec.value = &secretValue{versionID: id, str: in.SecretString, bin: in.SecretBinary, created: now}
	}
	// Replica Regions are checked before anything is stored, so a bad
	// Region fails the whole create as it does on AWS (moto too).
	if len(in.AddReplicaRegions) > 0 {
		if err := s.checkReplicaRegions(sec, in.AddReplicaRegions); err != nil {
			return nil, err
		}
	}
	st.region(region)[sec.name] = sec
	out := createSecretOutput{ARN: sec.arn, Name: sec.name}
	if sec.value != nil {
		out.VersionID = sec.value.versionID
	}
	if len(in.AddReplicaRegions) > 0 {
		out.ReplicationStatus = s.replicate(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, now)
	}
	return out, nil
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

type secretIDInput struct {
	SecretID string `json:"SecretId"`
}

func (s *Server) describeSecret(_ context.Context, region string, in *secretIDInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.state.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	// DescribeSecret works on a secret scheduled for deletion: it is how a
	// client sees DeletedDate.
	return s.state.describe(sec, time.Now()), nil
}

type listSecretsInput struct {
	IncludePlannedDeletion bool   `json:"IncludePlannedDeletion"`
	MaxResults             *int   `json:"MaxResults"`
	NextToken              string `json:"NextToken"`
	SortOrder              string `json:"SortOrder"`
	Filters                []struct {
		Key    string   `json:"Key"`
		Values []string `json:"Values"`
	} `json:"Filters"`
}

type listSecretsOutput struct {
	SecretList []describeJSON `json:"SecretList"`
	NextToken  string         `json:"NextToken,omitempty"`
}

// listSecrets supports the "name" filter (prefix match) and the
// "primary-region" filter; other filter keys are refused rather than
// silently ignored, so a test never passes by accident. Secrets are listed
// by CreatedDate, oldest first unless SortOrder is "desc".
func (s *Server) listSecrets(_ context.Context, region string, in *listSecretsInput) (any, *apiError) {
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errInvalidParameter("MaxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	offset := 0
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, errInvalidNextToken()
		}
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 0 {
			return nil, errInvalidNextToken()
		}
		offset = n
	}
	for _, f := range in.Filters {
		if f.Key != "name" && f.Key != "primary-region" {
			return nil, errInvalidParameter("The stand-in supports only the name and primary-region filters, not " + strconv.Quote(f.Key) + ".")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var matched []*secret
	for _, sec := range s.state.regions[region] {
		if sec.scheduledForDeletion() && !in.IncludePlannedDeletion {
			continue
		}
		if matchesFilters(sec, in) {
			matched = append(matched, sec)
		}
	}
	slices.SortFunc(matched, func(a, b *secret) int {
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.name, b.name))
	})
	if in.SortOrder == "desc" {
		slices.Reverse(matched)
	}
	out := listSecretsOutput{SecretList: []describeJSON{}}
	if offset > len(matched) {
		return nil, errInvalidNextToken()
	}
	end := min(offset+limit, len(matched))
	for _, sec := range matched[offset:end] {
		d := s.state.describe(sec, now)
		// SecretListEntry names the map differently and has no
		// ReplicationStatus.
		d.SecretVersionsToStages, d.VersionIdsToStages = d.VersionIdsToStages, nil
		d.ReplicationStatus = nil
		out.SecretList = append(out.SecretList, d)
	}
	if end < len(matched) {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return out, nil
}

func matchesFilters(sec *secret, in *listSecretsInput) bool {
	for _, f := range in.Filters {
		ok := false
		for _, v := range f.Values {
			switch f.Key {
			case "name":
				ok = ok || strings.HasPrefix(sec.name, v)
			case "primary-region":
				ok = ok || sec.primaryRegion == v
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type replicateInput struct {
	SecretID                    string              `json:"SecretId"`
	AddReplicaRegions           []replicaRegionJSON `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool                `json:"ForceOverwriteReplicaSecret"`
}

type replicationOutput struct {
	ARN               string                  `json:"ARN"`
	ReplicationStatus []replicationStatusJSON `json:"ReplicationStatus"`
}

func (s *Server) replicateSecretToRegions(_ context.Context, region string, in *replicateInput) (any, *apiError) {
	if len(in.AddReplicaRegions) == 0 {
		return nil, errInvalidParameter("AddReplicaRegions must contain at least one Region.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.state.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	if sec.isReplica() {
		return nil, errReplicaRegionCall()
	}
	if sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	if err := s.checkReplicaRegions(sec, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	statuses := s.replicate(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, time.Now())
	return replicationOutput{ARN: sec.arn, ReplicationStatus: statuses}, nil
}

// checkReplicaRegions refuses the whole request if any Region is invalid:
// unknown, the primary's own Region, named twice, or already holding this
// secret's replica (InProgress or InSync). A Region whose entry is Failed
// may be named again: that is how AWS retries a failed replication.
//
// The message for the own-Region case is AWS's. AWS documents nothing for
// the other three; they get the same code and message here. For the last
// one moto instead appends a second, Failed entry for the Region, which
// contradicts the one-entry-per-Region ReplicationStatus AWS documents.
func (s *Server) checkReplicaRegions(sec *secret, regions []replicaRegionJSON) *apiError {
	seen := map[string]bool{}
	for _, rr := range regions {
		if !isKnownRegion(rr.Region) || rr.Region == sec.region || seen[rr.Region] {
			return errInvalidReplicaRegion()
		}
		seen[rr.Region] = true
		if len(rr.KMSKeyID) > 2048 {
			return errInvalidParameter("KmsKeyId must be at most 2048 characters.")
		}
		if r := sec.replicaIn(rr.Region); r != nil && r.failed == "" {
			return errInvalidReplicaRegion()
		}
	}
	return nil
}

// replicate starts replication of primary p to regions, already checked by
// checkReplicaRegions, and returns p's whole ReplicationStatus with the new
// entries InProgress. Caller holds s.mu.
func (s *Server) replicate(p *secret, regions []replicaRegionJSON, force bool, now time.Time) []replicationStatusJSON {
	st := s.state
	p.primaryRegion = p.region
	fresh := map[string]bool{}
	for _, rr := range regions {
		entry := &replica{region: rr.Region, kmsKeyID: rr.KMSKeyID, readyAt: now.Add(s.delay)}
		target := st.region(rr.Region)
		if other := target[p.name]; other != nil {
			switch {
			case !force:
				entry.failed = MsgNameExistsInRegion
			case len(other.replicas) > 0:
				// Overwriting a secret that is itself a primary would orphan
				// its replicas; refuse even with force. AWS documents nothing
				// here, so the status message is the same conflict message.
				entry.failed = MsgNameExistsInRegion
			default:
				if other.isReplica() {
					// It was another primary's replica: that primary loses it.
					if op := st.primaryOf(other); op != nil {
						op.dropReplica(rr.Region)
					}
				}
				delete(target, p.name)
			}
		}
		if entry.failed == "" {
			target[p.name] = &secret{
				name:          p.name,
				suffix:        p.suffix,
				region:        rr.Region,
				arn:           secretARN(rr.Region, s.account, p.name, p.suffix),
				description:   p.description,
				kmsKeyID:      rr.KMSKeyID,
				tags:          slices.Clone(p.tags),
				value:         p.value,
				created:       now,
				changed:       now,
				primaryRegion: p.region,
			}
			fresh[rr.Region] = true
		}
		// A retried Region replaces its Failed entry in place.
		if i := slices.IndexFunc(p.replicas, func(r *replica) bool { return r.region == rr.Region }); i >= 0 {
			p.replicas[i] = entry
		} else {
			p.replicas = append(p.replicas, entry)
		}
	}
	out := st.statusList(p, now)
	for i := range out {
		if fresh[out[i].Region] {
			out[i].Status, out[i].StatusMessage = StatusInProgress, ""
		}
	}
	return out
}

type removeInput struct {
	SecretID             string   `json:"SecretId"`
	RemoveReplicaRegions []string `json:"RemoveReplicaRegions"`
}

// removeRegionsFromReplication deletes the replicas at once, as AWS says it
// does. A Region that holds no replica of the secret is ignored (moto does
// the same; AWS does not document the case).
func (s *Server) removeRegionsFromReplication(_ context.Context, region string, in *removeInput) (any, *apiError) {
	if len(in.RemoveReplicaRegions) == 0 {
		return nil, errInvalidParameter("RemoveReplicaRegions must contain at least one Region.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	sec, err := st.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	if sec.isReplica() {
		return nil, errReplicaRegionCall()
	}
	if sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	for _, r := range in.RemoveReplicaRegions {
		if sec.replicaIn(r) == nil {
			continue
		}
		if rs := st.replicaOf(sec, r); rs != nil {
			delete(st.regions[r], rs.name)
		}
		sec.dropReplica(r)
	}
	statuses := st.statusList(sec, time.Now())
	if statuses == nil {
		// The response lists the remaining replicas; none is an empty list.
		statuses = []replicationStatusJSON{}
	}
	return replicationOutput{ARN: sec.arn, ReplicationStatus: statuses}, nil
}

type arnOutput struct {
	ARN string `json:"ARN"`
}

// stopReplicationToReplica promotes a replica, called in its Region, to a
// standalone secret: it keeps its ARN, reports its own Region as
// PrimaryRegion and leaves its former primary's ReplicationStatus.
func (s *Server) stopReplicationToReplica(_ context.Context, region string, in *secretIDInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	sec, err := st.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	if !sec.isReplica() {
		return nil, errNotAReplica()
	}
	if p := st.primaryOf(sec); p != nil {
		p.dropReplica(region)
	}
	sec.primaryRegion = sec.region
	sec.changed = time.Now()
	return arnOutput{ARN: sec.arn}, nil
}

type deleteInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool  `json:"ForceDeleteWithoutRecovery"`
}

type deleteOutput struct {
	ARN          string     `json:"ARN"`
	Name         string     `json:"Name"`
	DeletionDate *epochTime `json:"DeletionDate,omitempty"`
}

// deleteSecret schedules deletion after a recovery window (default 30 days)
// or, with ForceDeleteWithoutRecovery, deletes at once. Scheduled secrets are
// never purged: a stand-in run is shorter than the 7-day minimum window.
func (s *Server) deleteSecret(_ context.Context, region string, in *deleteInput) (any, *apiError) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		if force {
			// The real service's wording.
			return nil, errInvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, errInvalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	now := time.Now()
	sec, err := st.lookup(region, in.SecretID)
	if err != nil {
		if force && err.code == CodeResourceNotFound && !strings.HasPrefix(in.SecretID, "arn:") {
			// Force-deleting a secret that is not there succeeds, so a
			// cleanup can be retried. This follows moto, which implements it
			// on purpose; AWS does not document it.
			return deleteOutput{ARN: secretARN(region, s.account, in.SecretID, arnSuffix()), Name: in.SecretID, DeletionDate: ts(now)}, nil
		}
		return nil, err
	}
	if sec.isReplica() {
		return nil, errReplicaRegionCall()
	}
	if len(sec.replicas) > 0 {
		regions := make([]string, 0, len(sec.replicas))
		for _, r := range sec.replicas {
			regions = append(regions, r.region)
		}
		return nil, errStillHasReplicas(sec.arn, regions)
	}
	if force {
		delete(st.regions[region], sec.name)
		return deleteOutput{ARN: sec.arn, Name: sec.name, DeletionDate: ts(now)}, nil
	}
	if sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	sec.deletion = now.Add(time.Duration(days) * 24 * time.Hour)
	return deleteOutput{ARN: sec.arn, Name: sec.name, DeletionDate: ts(sec.deletion)}, nil
}

type getSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string     `json:"ARN"`
	Name          string     `json:"Name"`
	VersionID     string     `json:"VersionId"`
	SecretString  *string    `json:"SecretString,omitempty"`
	SecretBinary  []byte     `json:"SecretBinary,omitempty"`
	VersionStages []string   `json:"VersionStages"`
	CreatedDate   *epochTime `json:"CreatedDate,omitempty"`
}

// getSecretValue serves the current version only (the stand-in keeps no
// history). It records LastAccessedDate, which AWS truncates to the day.
func (s *Server) getSecretValue(_ context.Context, region string, in *getSecretValueInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.state.lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	if sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	stage := cmp.Or(in.VersionStage, "AWSCURRENT")
	v := sec.value
	if v == nil || stage != "AWSCURRENT" || (in.VersionID != "" && in.VersionID != v.versionID) {
		return nil, errSecretValueNotFound(stage)
	}
	sec.lastAccessed = time.Now().UTC().Truncate(24 * time.Hour)
	return getSecretValueOutput{
		ARN: sec.arn, Name: sec.name, VersionID: v.versionID,
		SecretString: v.str, SecretBinary: v.bin,
		VersionStages: []string{"AWSCURRENT"}, CreatedDate: ts(v.created),
	}, nil
}
