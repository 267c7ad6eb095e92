package standin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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
		kmsTarget:                      handle(classRead, s.describeKey),
		"ListSecrets":                  handle(classRead, s.listSecrets),
		"GetSecretValue":               handle(classNone, s.getSecretValue),
		"PutSecretValue":               handle(classWrite, s.putSecretValue),
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

func (s *Server) createSecret(ctx context.Context, region string, in *createSecretInput) (any, *apiError) {
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
	st := s.stateOf(ctx)
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
	sec.arn = secretARN(region, st.account, sec.name, sec.suffix)
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
		out.ReplicationStatus = s.replicate(st, sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, now)
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

func (s *Server) describeSecret(ctx context.Context, region string, in *secretIDInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.stateOf(ctx).lookup(region, in.SecretID)
	if err != nil {
		return nil, err
	}
	// DescribeSecret works on a secret scheduled for deletion: it is how a
	// client sees DeletedDate.
	return s.stateOf(ctx).describe(sec, time.Now()), nil
}

type listSecretsInput struct {
	IncludePlannedDeletion bool         `json:"IncludePlannedDeletion"`
	MaxResults             *int         `json:"MaxResults"`
	NextToken              string       `json:"NextToken"`
	SortBy                 string       `json:"SortBy"`
	SortOrder              string       `json:"SortOrder"`
	Filters                []listFilter `json:"Filters"`
}

type listFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type listSecretsOutput struct {
	SecretList []describeJSON `json:"SecretList"`
	NextToken  string         `json:"NextToken,omitempty"`
}

// filterValuePattern is the documented pattern of a Filter value.
var filterValuePattern = regexp.MustCompile(`^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$`)

// validateFilters applies the documented limits of ListSecrets' Filters: a
// known key, 1 to 10 values of at most 512 characters matching the
// documented pattern. AWS's exact messages for these are not documented.
func validateFilters(filters []listFilter) *apiError {
	for _, f := range filters {
		switch f.Key {
		case "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return errInvalidParameter("Invalid filter key " + strconv.Quote(f.Key) + ".")
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return errInvalidParameter("A filter must have between 1 and 10 values.")
		}
		for _, v := range f.Values {
			if len(v) > 512 || !filterValuePattern.MatchString(v) {
				return errInvalidParameter("Invalid filter value.")
			}
		}
	}
	return nil
}

// listSecrets lists a Region's secrets page by page. Filters follow the
// API reference (Filter): every key is a prefix match, case-sensitive
// except description and all; "all" splits its value into words and
// matches any of them against the name, description, tag keys and tag
// values, ignoring case. Several values of one filter match if any does; a
// value starting with "!" matches secrets that do not match the rest; all
// filters must match. Secrets are listed by CreatedDate (or SortBy), oldest
// first unless SortOrder is "desc".
func (s *Server) listSecrets(ctx context.Context, region string, in *listSecretsInput) (any, *apiError) {
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
	if err := validateFilters(in.Filters); err != nil {
		return nil, err
	}
	switch in.SortBy {
	case "", "created-date", "last-accessed-date", "last-changed-date", "name":
	default:
		return nil, errInvalidParameter("Invalid SortBy " + strconv.Quote(in.SortBy) + ".")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var matched []*secret
	st := s.stateOf(ctx)
	for _, sec := range st.regions[region] {
		if sec.scheduledForDeletion() && !in.IncludePlannedDeletion {
			continue
		}
		if matchesFilters(sec, in.Filters) {
			matched = append(matched, sec)
		}
	}
	slices.SortFunc(matched, func(a, b *secret) int {
		switch in.SortBy {
		case "name":
			return strings.Compare(a.name, b.name)
		case "last-changed-date":
			return cmp.Or(a.changed.Compare(b.changed), strings.Compare(a.name, b.name))
		case "last-accessed-date":
			return cmp.Or(a.lastAccessed.Compare(b.lastAccessed), strings.Compare(a.name, b.name))
		}
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
		d := st.describe(sec, now)
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

func matchesFilters(sec *secret, filters []listFilter) bool {
	for _, f := range filters {
		if !matchesFilter(sec, f) {
			return false
		}
	}
	return true
}

// matchesFilter: any positive value matches (or there is none) and no
// negated value matches.
func matchesFilter(sec *secret, f listFilter) bool {
	anyPositive, positive := false, false
	for _, v := range f.Values {
		if neg, ok := strings.CutPrefix(v, "!"); ok {
			if matchesValue(sec, f.Key, neg) {
				return false
			}
			continue
		}
		anyPositive = true
		positive = positive || matchesValue(sec, f.Key, v)
	}
	return positive || !anyPositive
}

func matchesValue(sec *secret, key, v string) bool {
	switch key {
	case "name":
		return strings.HasPrefix(sec.name, v)
	case "description":
		return strings.HasPrefix(strings.ToLower(sec.description), strings.ToLower(v))
	case "primary-region":
		return sec.primaryRegion != "" && strings.HasPrefix(sec.primaryRegion, v)
	case "owning-service":
		return false // the stand-in's secrets are never service-owned
	case "tag-key":
		return slices.ContainsFunc(sec.tags, func(t tagJSON) bool { return strings.HasPrefix(t.Key, v) })
	case "tag-value":
		return slices.ContainsFunc(sec.tags, func(t tagJSON) bool { return strings.HasPrefix(t.Value, v) })
	case "all":
		attrs := []string{sec.name, sec.description}
		for _, t := range sec.tags {
			attrs = append(attrs, t.Key, t.Value)
		}
		var have []string
		for _, a := range attrs {
			have = append(have, searchWords(a)...)
		}
		for _, w := range searchWords(v) {
			if slices.ContainsFunc(have, func(h string) bool { return strings.HasPrefix(h, w) }) {
				return true
			}
		}
	}
	return false
}

// searchWords splits text the way the user guide says a search without a
// filter does: at every change from lower to upper case, from letter to
// digit and at punctuation; words are compared in lower case.
func searchWords(text string) []string {
	var words []string
	var cur []rune
	kind := func(r rune) int {
		switch {
		case unicode.IsLower(r):
			return 1
		case unicode.IsUpper(r):
			return 2
		case unicode.IsDigit(r):
			return 3
		}
		return 0
	}
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prev := 0
	for _, r := range text {
		k := kind(r)
		switch {
		case k == 0:
			flush()
		case prev == 1 && k == 2, prev == 3 && k != 3, prev != 3 && prev != 0 && k == 3:
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = k
	}
	flush()
	return words
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

func (s *Server) replicateSecretToRegions(ctx context.Context, region string, in *replicateInput) (any, *apiError) {
	if len(in.AddReplicaRegions) == 0 {
		return nil, errInvalidParameter("AddReplicaRegions must contain at least one Region.")
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
	if sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	if err := s.checkReplicaRegions(sec, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	statuses := s.replicate(st, sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, time.Now())
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
func (s *Server) replicate(st *state, p *secret, regions []replicaRegionJSON, force bool, now time.Time) []replicationStatusJSON {
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
				arn:           secretARN(rr.Region, st.account, p.name, p.suffix),
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
func (s *Server) removeRegionsFromReplication(ctx context.Context, region string, in *removeInput) (any, *apiError) {
	if len(in.RemoveReplicaRegions) == 0 {
		return nil, errInvalidParameter("RemoveReplicaRegions must contain at least one Region.")
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
func (s *Server) stopReplicationToReplica(ctx context.Context, region string, in *secretIDInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateOf(ctx)
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
func (s *Server) deleteSecret(ctx context.Context, region string, in *deleteInput) (any, *apiError) {
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
	st := s.stateOf(ctx)
	now := time.Now()
	sec, err := st.lookup(region, in.SecretID)
	if err != nil {
		if force && err.code == CodeResourceNotFound && !strings.HasPrefix(in.SecretID, "arn:") {
			// Force-deleting a secret that is not there succeeds, so a
			// cleanup can be retried. This follows moto, which implements it
			// on purpose; AWS does not document it.
			return deleteOutput{ARN: secretARN(region, st.account, in.SecretID, arnSuffix()), Name: in.SecretID, DeletionDate: ts(now)}, nil
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
func (s *Server) getSecretValue(ctx context.Context, region string, in *getSecretValueInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.stateOf(ctx).lookup(region, in.SecretID)
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
