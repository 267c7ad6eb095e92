package smtest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/standin"
)

// Backend is an endpoint the suite runs against.
type Backend struct {
	// Name names the backend in test output.
	Name string
	// Endpoint is the Secrets Manager endpoint (BaseEndpoint).
	Endpoint string
	// Moto says the backend is moto: checks where moto is known to differ
	// from AWS are skipped, each with its reason logged, so a run lists
	// every difference it tolerated. Every other backend must behave as
	// AWS does in every check.
	Moto bool
	// StopReplication says the backend implements StopReplicationToReplica
	// (moto does not).
	StopReplication bool
}

// Run runs every scenario against b, in parallel subtests. Scenarios share
// the backend, so each uses its own secret names.
func Run(t *testing.T, b Backend) {
	t.Helper()
	c := NewClients(b.Endpoint)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(&conformance{t: t, c: c, b: b})
		})
	}
	for _, sc := range adapterScenarios() {
		t.Run("adapter/"+sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(&conformance{t: t, c: c, b: b, sm: newAdapter(t, b.Endpoint)})
		})
	}
}

type conformance struct {
	t  *testing.T
	c  *Clients
	b  Backend
	sm *adapter // the adapter scenarios' client
}

// motoDiffers reports whether the following check must be skipped because
// this backend is moto and moto is known to differ from AWS there; it logs
// why.
func (b *conformance) motoDiffers(reason string) bool {
	b.t.Helper()
	if b.b.Moto {
		b.t.Logf("skipped for moto: %s", reason)
	}
	return b.b.Moto
}

type scenario struct {
	name string
	run  func(b *conformance)
}

func scenarios() []scenario {
	ctx := context.Background()
	return []scenario{
		{"list secrets with filters and pages", func(b *conformance) {
			t, c := b.t, b.c
			prefix := UniqueName("list") + "/"
			sm := c.In(PrimaryRegion)
			mk := func(name, desc string, tags map[string]string) {
				in := &secretsmanager.CreateSecretInput{Name: aws.String(prefix + name), SecretString: aws.String("v"), Description: aws.String(desc)}
				for k, v := range tags {
					in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
				}
				Check(sm.CreateSecret(ctx, in)).Must(t)
			}
			mk("app/a", "Payments database", map[string]string{"team": "pay", "env": "prod"})
			mk("app/b", "search cache", map[string]string{"team": "search"})
			mk("web/c", "payments web", map[string]string{"owner": "web"})
			byName := types.Filter{Key: types.FilterNameStringTypeName, Values: []string{prefix}}
			list := func(filters ...types.Filter) string {
				t.Helper()
				var names []string
				p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{
					MaxResults: aws.Int32(1), Filters: append([]types.Filter{byName}, filters...),
				})
				for p.HasMorePages() {
					page := Check(p.NextPage(ctx)).Must(t)
					for _, e := range page.SecretList {
						names = append(names, strings.TrimPrefix(aws.ToString(e.Name), prefix))
					}
				}
				slices.Sort(names)
				return strings.Join(names, ",")
			}
			for _, tc := range []struct {
				filters []types.Filter
				want    string
			}{
				{nil, "app/a,app/b,web/c"},
				{[]types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix + "app/"}}}, "app/a,app/b"},
				{[]types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix + "web/", prefix + "app/b"}}}, "app/b,web/c"},
				{[]types.Filter{{Key: types.FilterNameStringTypeTagKey, Values: []string{"team"}}}, "app/a,app/b"},
				{[]types.Filter{{Key: types.FilterNameStringTypeTagValue, Values: []string{"sea"}}}, "app/b"},
				{[]types.Filter{{Key: types.FilterNameStringTypeTagKey, Values: []string{"team"}}, {Key: types.FilterNameStringTypeTagValue, Values: []string{"pay"}}}, "app/a"},
				{[]types.Filter{{Key: types.FilterNameStringTypeDescription, Values: []string{"payments"}}}, "app/a,web/c"},
				// Negation of a single-valued attribute; for tags, AWS does not
				// say whether "!k" means no key matches or some key does not.
				{[]types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"!" + prefix + "app/"}}}, "web/c"},
			} {
				if got := list(tc.filters...); got != tc.want {
					t.Errorf("ListSecrets(%s) = %q, want %q", FilterString(tc.filters), got, tc.want)
				}
			}
		}},

		{"create and describe", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("create")
			out := Check(c.In(PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: &name, SecretString: aws.String("v1"), Description: aws.String("conformance"),
			})).Must(t)
			WantSecretARN(t, aws.ToString(out.ARN), PrimaryRegion, name)
			if aws.ToString(out.Name) != name || aws.ToString(out.VersionId) == "" {
				t.Errorf("CreateSecret answered name %q version %q", aws.ToString(out.Name), aws.ToString(out.VersionId))
			}
			for _, id := range []string{name, aws.ToString(out.ARN)} {
				d := Describe(t, c, PrimaryRegion, id)
				if aws.ToString(d.ARN) != aws.ToString(out.ARN) || aws.ToString(d.Name) != name {
					t.Errorf("DescribeSecret(%s): ARN %q name %q", id, aws.ToString(d.ARN), aws.ToString(d.Name))
				}
				if aws.ToString(d.Description) != "conformance" {
					t.Errorf("Description %q", aws.ToString(d.Description))
				}
				if len(d.ReplicationStatus) != 0 || d.PrimaryRegion != nil {
					t.Errorf("a secret never replicated shows PrimaryRegion %q and ReplicationStatus %s",
						aws.ToString(d.PrimaryRegion), StatusString(d.ReplicationStatus))
				}
				if got := d.VersionIdsToStages[aws.ToString(out.VersionId)]; !slices.Equal(got, []string{"AWSCURRENT"}) {
					t.Errorf("VersionIdsToStages %v", d.VersionIdsToStages)
				}
				if d.CreatedDate == nil || d.DeletedDate != nil {
					t.Errorf("CreatedDate %v DeletedDate %v", d.CreatedDate, d.DeletedDate)
				}
			}
		}},

		{"replicate to two Regions with KMS keys", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("replicate")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			const euKey = "alias/replicad-eu"
			const apKey = "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
			rep := Replicate(t, c, name, false, RegionWithKey(ReplicaEU, euKey), RegionWithKey(ReplicaAP, apKey))
			if !b.motoDiffers("moto answers with the SecretId it was given as ARN, not the primary's ARN") &&
				aws.ToString(rep.ARN) != arn {
				t.Errorf("ReplicateSecretToRegions ARN %q, want the primary's %q", aws.ToString(rep.ARN), arn)
			}
			if len(rep.ReplicationStatus) != 2 {
				t.Fatalf("ReplicationStatus %s, want 2 entries", StatusString(rep.ReplicationStatus))
			}
			wantKeys := map[string]string{ReplicaEU: euKey, ReplicaAP: apKey}
			for i, r := range []string{ReplicaEU, ReplicaAP} {
				st := rep.ReplicationStatus[i]
				if aws.ToString(st.Region) != r {
					t.Errorf("entry %d is %s, want %s (request order)", i, aws.ToString(st.Region), r)
				}
				if st.Status != types.StatusTypeInProgress && st.Status != types.StatusTypeInSync {
					t.Errorf("%s: status %s", r, st.Status)
				}
				if !b.motoDiffers("moto reports a new replica InSync at once; AWS reports InProgress first") &&
					st.Status != types.StatusTypeInProgress {
					t.Errorf("%s: new replica is %s, want InProgress", r, st.Status)
				}
				if !b.motoDiffers("moto ignores KmsKeyId and always reports alias/aws/secretsmanager") &&
					aws.ToString(st.KmsKeyId) != wantKeys[r] {
					t.Errorf("%s: KmsKeyId %q, want %q", r, aws.ToString(st.KmsKeyId), wantKeys[r])
				}
			}

			d := WaitInSync(t, c, name, ReplicaEU, ReplicaAP)
			if len(d.ReplicationStatus) != 2 {
				t.Fatalf("DescribeSecret ReplicationStatus %s, want 2 entries", StatusString(d.ReplicationStatus))
			}
			for _, st := range d.ReplicationStatus {
				if aws.ToString(st.StatusMessage) != standin.MsgReplicationSucceeded {
					t.Errorf("%s: StatusMessage %q", aws.ToString(st.Region), aws.ToString(st.StatusMessage))
				}
				if !b.motoDiffers("moto ignores KmsKeyId") && aws.ToString(st.KmsKeyId) != wantKeys[aws.ToString(st.Region)] {
					t.Errorf("%s: KmsKeyId %q", aws.ToString(st.Region), aws.ToString(st.KmsKeyId))
				}
			}
			if !b.motoDiffers("moto omits PrimaryRegion on a primary; AWS's describe-secret example shows it") &&
				aws.ToString(d.PrimaryRegion) != PrimaryRegion {
				t.Errorf("PrimaryRegion %q, want %q", aws.ToString(d.PrimaryRegion), PrimaryRegion)
			}
		}},

		{"replica seen from its own Region", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("replica")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, arn, false, RegionWithKey(ReplicaEU, "alias/replicad-eu"))
			WaitInSync(t, c, arn, ReplicaEU)

			replicaARN := InRegion(arn, ReplicaEU)
			for _, id := range []string{name, replicaARN} {
				d := Describe(t, c, ReplicaEU, id)
				if aws.ToString(d.ARN) != replicaARN {
					t.Errorf("replica ARN %q, want the primary's with the Region changed: %q", aws.ToString(d.ARN), replicaARN)
				}
				WantSecretARN(t, aws.ToString(d.ARN), ReplicaEU, name)
				if aws.ToString(d.Name) != name || aws.ToString(d.PrimaryRegion) != PrimaryRegion {
					t.Errorf("replica name %q PrimaryRegion %q", aws.ToString(d.Name), aws.ToString(d.PrimaryRegion))
				}
				if !b.motoDiffers("moto ignores KmsKeyId") && aws.ToString(d.KmsKeyId) != "alias/replicad-eu" {
					t.Errorf("replica KmsKeyId %q", aws.ToString(d.KmsKeyId))
				}
			}
			// The primary ARN names another Region's secret.
			_, err := c.In(ReplicaEU).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
			WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)

			list := Check(c.In(ReplicaEU).ListSecrets(ctx, &secretsmanager.ListSecretsInput{
				Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{name}}},
			})).Must(t)
			if len(list.SecretList) != 1 || aws.ToString(list.SecretList[0].ARN) != replicaARN ||
				aws.ToString(list.SecretList[0].PrimaryRegion) != PrimaryRegion {
				t.Errorf("ListSecrets in the replica's Region: %+v", list.SecretList)
			}
		}},

		{"remove one Region", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("remove")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, name, false, Region(ReplicaEU), Region(ReplicaAP))
			WaitInSync(t, c, name, ReplicaEU, ReplicaAP)

			out := Check(c.In(PrimaryRegion).RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{ReplicaEU},
			})).Must(t)
			if !b.motoDiffers("moto answers with the SecretId it was given as ARN") && aws.ToString(out.ARN) != arn {
				t.Errorf("ARN %q, want %q", aws.ToString(out.ARN), arn)
			}
			if len(out.ReplicationStatus) != 1 || aws.ToString(out.ReplicationStatus[0].Region) != ReplicaAP {
				t.Errorf("remaining ReplicationStatus %s, want only %s", StatusString(out.ReplicationStatus), ReplicaAP)
			}
			d := Describe(t, c, PrimaryRegion, name)
			if len(d.ReplicationStatus) != 1 || aws.ToString(d.ReplicationStatus[0].Region) != ReplicaAP {
				t.Errorf("ReplicationStatus after removal %s", StatusString(d.ReplicationStatus))
			}
			// AWS deletes the removed replica at once.
			_, err := c.In(ReplicaEU).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
			WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
			Describe(t, c, ReplicaAP, name)
		}},

		{"describe an unknown secret", func(b *conformance) {
			t, c := b.t, b.c
			_, err := c.In(PrimaryRegion).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(UniqueName("missing"))})
			WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
			if RequestIDOf(err) == "" {
				t.Error("error carries no request id")
			}
			if !b.motoDiffers("moto answers ResourceNotFoundException with HTTP 404; the API reference says 400") &&
				HTTPStatus(err) != http.StatusBadRequest {
				t.Errorf("HTTP status %d, want 400", HTTPStatus(err))
			}
		}},

		{"replicate to the primary's own Region", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("own-region")
			CreateSecret(t, c, PrimaryRegion, name)
			_, err := c.In(PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(ReplicaEU), Region(PrimaryRegion)},
			})
			WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			// The request is refused as a whole: the valid Region was not
			// replicated either.
			if d := Describe(t, c, PrimaryRegion, name); len(d.ReplicationStatus) != 0 {
				t.Errorf("a refused request replicated: %s", StatusString(d.ReplicationStatus))
			}
		}},

		{"replicate to a Region that does not exist", func(b *conformance) {
			t, c := b.t, b.c
			if b.motoDiffers("moto crashes (HTTP 500, HTML body) on a Region it does not know") {
				return
			}
			name := UniqueName("bad-region")
			CreateSecret(t, c, PrimaryRegion, name)
			for _, r := range []string{"mars-east-1", "not_a_region", ""} {
				_, err := c.In(PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
					SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(ReplicaEU), Region(r)},
				})
				WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			}
			if d := Describe(t, c, PrimaryRegion, name); len(d.ReplicationStatus) != 0 {
				t.Errorf("a refused request replicated: %s", StatusString(d.ReplicationStatus))
			}
		}},

		{"primary-only calls in the wrong Region", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("wrong-region")
			CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, name, false, Region(ReplicaEU))
			WaitInSync(t, c, name, ReplicaEU)

			inReplica := c.In(ReplicaEU)
			_, err := inReplica.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(OtherRegion)},
			})
			WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)
			_, err = inReplica.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{ReplicaEU},
			})
			WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)
			_, err = inReplica.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name})
			WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)

			// In a Region that has neither the primary nor a replica, the
			// secret does not exist.
			_, err = c.In(OtherRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(ReplicaAP)},
			})
			WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)

			if d := Describe(t, c, PrimaryRegion, name); len(d.ReplicationStatus) != 1 {
				t.Errorf("refused calls changed replication: %s", StatusString(d.ReplicationStatus))
			}
		}},

		{"operations on a deleted secret", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("deleted")
			CreateSecret(t, c, PrimaryRegion, name)
			sm := c.In(PrimaryRegion)
			del := Check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, RecoveryWindowInDays: aws.Int64(7)})).Must(t)
			if del.DeletionDate == nil || time.Until(*del.DeletionDate) < 7*24*time.Hour-time.Hour || time.Until(*del.DeletionDate) > 7*24*time.Hour+time.Hour {
				t.Errorf("DeletionDate %v, want about 7 days from now", del.DeletionDate)
			}
			d := Describe(t, c, PrimaryRegion, name)
			if d.DeletedDate == nil || d.DeletedDate.Sub(*del.DeletionDate).Abs() > time.Second {
				t.Errorf("DeletedDate %v, want the DeletionDate %v", d.DeletedDate, del.DeletionDate)
			}

			filter := []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{name}}}
			list := Check(sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filter})).Must(t)
			if len(list.SecretList) != 0 {
				t.Errorf("ListSecrets shows a secret scheduled for deletion")
			}
			list = Check(sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filter, IncludePlannedDeletion: aws.Bool(true)})).Must(t)
			if len(list.SecretList) != 1 || list.SecretList[0].DeletedDate == nil {
				t.Errorf("ListSecrets(IncludePlannedDeletion) = %+v", list.SecretList)
			}

			if !b.motoDiffers("moto replicates a secret scheduled for deletion; AWS refuses with InvalidRequestException") {
				_, err := sm.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
					SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(ReplicaEU)},
				})
				WantAPIError(t, err, standin.CodeInvalidRequest, standin.MsgMarkedForDeletion)
			}
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name})
			msg := standin.MsgMarkedForDeletion
			if b.motoDiffers("moto's message is its own (\"An error occurred ... currently marked deleted.\")") {
				msg = ""
			}
			WantAPIError(t, err, standin.CodeInvalidRequest, msg)
			if !b.motoDiffers("moto answers ResourceExistsException when the name is scheduled for deletion") {
				_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("again")})
				WantAPIError(t, err, standin.CodeInvalidRequest, standin.MsgScheduledForDeletionCreate)
			}

			// ForceDeleteWithoutRecovery deletes a scheduled secret at once.
			Check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})).Must(t)
			_, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
			WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
		}},

		{"same name in the target Region, then force overwrite", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("conflict")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			localARN := CreateSecret(t, c, ReplicaEU, name)

			rep := Replicate(t, c, name, false, Region(ReplicaEU))
			st, ok := LastStatus(rep.ReplicationStatus, ReplicaEU)
			if !ok || st.Status != types.StatusTypeFailed {
				t.Fatalf("replicating onto an existing name: %s, want Failed", StatusString(rep.ReplicationStatus))
			}
			if !b.motoDiffers("moto's StatusMessage is \"Replication failed: Secret name simple already exists in region ...\"") &&
				aws.ToString(st.StatusMessage) != standin.MsgNameExistsInRegion {
				t.Errorf("StatusMessage %q, want %q", aws.ToString(st.StatusMessage), standin.MsgNameExistsInRegion)
			}
			if st, _ := LastStatus(Describe(t, c, PrimaryRegion, name).ReplicationStatus, ReplicaEU); st.Status != types.StatusTypeFailed {
				t.Errorf("DescribeSecret shows %s, want Failed", st.Status)
			}
			// The Region's own secret is untouched.
			if d := Describe(t, c, ReplicaEU, name); aws.ToString(d.ARN) != localARN || d.PrimaryRegion != nil {
				t.Errorf("the existing secret changed: ARN %q PrimaryRegion %q", aws.ToString(d.ARN), aws.ToString(d.PrimaryRegion))
			}

			// Retrying with ForceOverwriteReplicaSecret replaces it.
			Replicate(t, c, name, true, Region(ReplicaEU))
			d := WaitInSync(t, c, name, ReplicaEU)
			if !b.motoDiffers("moto appends a second entry for the Region instead of replacing the Failed one") &&
				len(d.ReplicationStatus) != 1 {
				t.Errorf("ReplicationStatus %s, want one entry", StatusString(d.ReplicationStatus))
			}
			r := Describe(t, c, ReplicaEU, name)
			if aws.ToString(r.ARN) != InRegion(arn, ReplicaEU) || aws.ToString(r.PrimaryRegion) != PrimaryRegion {
				t.Errorf("after overwrite: ARN %q PrimaryRegion %q, want the replica of %s", aws.ToString(r.ARN), aws.ToString(r.PrimaryRegion), arn)
			}
		}},

		{"replicate again to a Region that has the replica", func(b *conformance) {
			t, c := b.t, b.c
			if b.motoDiffers("moto appends a Failed entry for the Region; AWS keeps one entry per Region") {
				return
			}
			name := UniqueName("again")
			CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, name, false, Region(ReplicaEU))
			_, err := c.In(PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{Region(ReplicaEU)},
			})
			// Not documented by AWS; see checkReplicaRegions.
			WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			if d := WaitInSync(t, c, name, ReplicaEU); len(d.ReplicationStatus) != 1 {
				t.Errorf("ReplicationStatus %s, want one entry", StatusString(d.ReplicationStatus))
			}
		}},

		{"delete a primary that still has replicas", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("delete-primary")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, name, false, Region(ReplicaEU), Region(ReplicaAP))
			sm := c.In(PrimaryRegion)
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})
			msg := "You can't delete secret " + arn + " that still has replica regions [eu-west-3, ap-southeast-2]."
			if b.motoDiffers("moto names the SecretId given rather than the ARN and joins Regions without spaces") {
				msg = ""
			}
			WantAPIError(t, err, standin.CodeInvalidParameter, msg)

			Check(sm.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{ReplicaEU, ReplicaAP},
			})).Must(t)
			Check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})).Must(t)
			for _, r := range []string{PrimaryRegion, ReplicaEU, ReplicaAP} {
				_, err := c.In(r).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
				WantAPIError(t, err, standin.CodeResourceNotFound, "")
			}
		}},

		{"secret names", func(b *conformance) {
			t, c := b.t, b.c
			valid := UniqueName("Valid/_+=.@-Name")
			out := Check(c.In(PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &valid, SecretString: aws.String("v")})).Must(t)
			WantSecretARN(t, aws.ToString(out.ARN), PrimaryRegion, valid)
			if b.motoDiffers("moto accepts any name; AWS allows only ASCII letters, digits and /_+=.@-, 1 to 512") {
				return
			}
			for _, bad := range []string{"bad name", "bad!name", "naïve", strings.Repeat("a", 513)} {
				_, err := c.In(PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(bad), SecretString: aws.String("v")})
				WantAPIError(t, err, standin.CodeInvalidParameter, "")
			}
		}},

		{"request ids", func(b *conformance) {
			t, c := b.t, b.c
			name := UniqueName("request-id")
			out := Check(c.In(PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("v")})).Must(t)
			if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
				t.Error("success carries no request id")
			}
			_, err := c.In(PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("other")})
			WantAPIError(t, err, standin.CodeResourceExists, "The operation failed because the secret "+name+" already exists.")
			if RequestIDOf(err) == "" {
				t.Error("error carries no request id")
			}
		}},
	}
}
