package standin_test

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

	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/standin"
)

// The conformance suite runs one table of scenarios, through the real SDK,
// against moto and against the stand-in. Each scenario states what AWS does
// (per the API reference, the user guide, and errors seen from the real
// service); both backends must show it. Where moto is known to differ from
// AWS, the check is skipped for moto only, with the reason, through
// conformance.motoDiffers: the stand-in always follows AWS.
//
// Scenarios share one backend per run and run in parallel, so each uses its
// own secret names.

type conformance struct {
	t       *testing.T
	c       *clients
	isMoto  bool
	backend string
}

// motoDiffers reports whether the following check must be skipped because
// this backend is moto and moto is known to differ from AWS there; it logs
// why, so a run shows every difference it tolerated.
func (b *conformance) motoDiffers(reason string) bool {
	b.t.Helper()
	if b.isMoto {
		b.t.Logf("skipped for moto: %s", reason)
	}
	return b.isMoto
}

type scenario struct {
	name string
	run  func(b *conformance)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	t.Run("standin", func(t *testing.T) {
		t.Parallel()
		// A replication delay long enough that InProgress is observable, as
		// it is on AWS; moto has none.
		_, url := startStandin(t, standin.Options{ReplicationDelay: 300 * time.Millisecond})
		runScenarios(t, "standin", url, false)
	})
	t.Run("moto", func(t *testing.T) {
		t.Parallel()
		srv := moto.Start(t)
		runScenarios(t, "moto", srv.URL, true)
	})
}

func runScenarios(t *testing.T, backend, url string, isMoto bool) {
	c := newClients(url)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(&conformance{t: t, c: c, isMoto: isMoto, backend: backend})
		})
	}
}

func scenarios() []scenario {
	ctx := context.Background()
	return []scenario{
		{"create and describe", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("create")
			out := check(c.in(primaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: &name, SecretString: aws.String("v1"), Description: aws.String("conformance"),
			})).must(t)
			wantSecretARN(t, aws.ToString(out.ARN), primaryRegion, name)
			if aws.ToString(out.Name) != name || aws.ToString(out.VersionId) == "" {
				t.Errorf("CreateSecret answered name %q version %q", aws.ToString(out.Name), aws.ToString(out.VersionId))
			}
			for _, id := range []string{name, aws.ToString(out.ARN)} {
				d := describe(t, c, primaryRegion, id)
				if aws.ToString(d.ARN) != aws.ToString(out.ARN) || aws.ToString(d.Name) != name {
					t.Errorf("DescribeSecret(%s): ARN %q name %q", id, aws.ToString(d.ARN), aws.ToString(d.Name))
				}
				if aws.ToString(d.Description) != "conformance" {
					t.Errorf("Description %q", aws.ToString(d.Description))
				}
				if len(d.ReplicationStatus) != 0 || d.PrimaryRegion != nil {
					t.Errorf("a secret never replicated shows PrimaryRegion %q and ReplicationStatus %s",
						aws.ToString(d.PrimaryRegion), statusString(d.ReplicationStatus))
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
			name := uniqueName("replicate")
			arn := createSecret(t, c, primaryRegion, name)
			const euKey = "alias/replicad-eu"
			const apKey = "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
			rep := replicate(t, c, name, false, regionWithKey(replicaEU, euKey), regionWithKey(replicaAP, apKey))
			if !b.motoDiffers("moto answers with the SecretId it was given as ARN, not the primary's ARN") &&
				aws.ToString(rep.ARN) != arn {
				t.Errorf("ReplicateSecretToRegions ARN %q, want the primary's %q", aws.ToString(rep.ARN), arn)
			}
			if len(rep.ReplicationStatus) != 2 {
				t.Fatalf("ReplicationStatus %s, want 2 entries", statusString(rep.ReplicationStatus))
			}
			wantKeys := map[string]string{replicaEU: euKey, replicaAP: apKey}
			for i, r := range []string{replicaEU, replicaAP} {
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

			d := waitInSync(t, c, name, replicaEU, replicaAP)
			if len(d.ReplicationStatus) != 2 {
				t.Fatalf("DescribeSecret ReplicationStatus %s, want 2 entries", statusString(d.ReplicationStatus))
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
				aws.ToString(d.PrimaryRegion) != primaryRegion {
				t.Errorf("PrimaryRegion %q, want %q", aws.ToString(d.PrimaryRegion), primaryRegion)
			}
		}},

		{"replica seen from its own Region", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("replica")
			arn := createSecret(t, c, primaryRegion, name)
			replicate(t, c, arn, false, regionWithKey(replicaEU, "alias/replicad-eu"))
			waitInSync(t, c, arn, replicaEU)

			replicaARN := inRegion(arn, replicaEU)
			for _, id := range []string{name, replicaARN} {
				d := describe(t, c, replicaEU, id)
				if aws.ToString(d.ARN) != replicaARN {
					t.Errorf("replica ARN %q, want the primary's with the Region changed: %q", aws.ToString(d.ARN), replicaARN)
				}
				wantSecretARN(t, aws.ToString(d.ARN), replicaEU, name)
				if aws.ToString(d.Name) != name || aws.ToString(d.PrimaryRegion) != primaryRegion {
					t.Errorf("replica name %q PrimaryRegion %q", aws.ToString(d.Name), aws.ToString(d.PrimaryRegion))
				}
				if !b.motoDiffers("moto ignores KmsKeyId") && aws.ToString(d.KmsKeyId) != "alias/replicad-eu" {
					t.Errorf("replica KmsKeyId %q", aws.ToString(d.KmsKeyId))
				}
			}
			// The primary ARN names another Region's secret.
			_, err := c.in(replicaEU).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
			wantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)

			list := check(c.in(replicaEU).ListSecrets(ctx, &secretsmanager.ListSecretsInput{
				Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{name}}},
			})).must(t)
			if len(list.SecretList) != 1 || aws.ToString(list.SecretList[0].ARN) != replicaARN ||
				aws.ToString(list.SecretList[0].PrimaryRegion) != primaryRegion {
				t.Errorf("ListSecrets in the replica's Region: %+v", list.SecretList)
			}
		}},

		{"remove one Region", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("remove")
			arn := createSecret(t, c, primaryRegion, name)
			replicate(t, c, name, false, region(replicaEU), region(replicaAP))
			waitInSync(t, c, name, replicaEU, replicaAP)

			out := check(c.in(primaryRegion).RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{replicaEU},
			})).must(t)
			if !b.motoDiffers("moto answers with the SecretId it was given as ARN") && aws.ToString(out.ARN) != arn {
				t.Errorf("ARN %q, want %q", aws.ToString(out.ARN), arn)
			}
			if len(out.ReplicationStatus) != 1 || aws.ToString(out.ReplicationStatus[0].Region) != replicaAP {
				t.Errorf("remaining ReplicationStatus %s, want only %s", statusString(out.ReplicationStatus), replicaAP)
			}
			d := describe(t, c, primaryRegion, name)
			if len(d.ReplicationStatus) != 1 || aws.ToString(d.ReplicationStatus[0].Region) != replicaAP {
				t.Errorf("ReplicationStatus after removal %s", statusString(d.ReplicationStatus))
			}
			// AWS deletes the removed replica at once.
			_, err := c.in(replicaEU).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
			wantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
			describe(t, c, replicaAP, name)
		}},

		{"describe an unknown secret", func(b *conformance) {
			t, c := b.t, b.c
			_, err := c.in(primaryRegion).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(uniqueName("missing"))})
			wantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
			if requestIDOf(err) == "" {
				t.Error("error carries no request id")
			}
			if !b.motoDiffers("moto answers ResourceNotFoundException with HTTP 404; the API reference says 400") &&
				httpStatus(err) != http.StatusBadRequest {
				t.Errorf("HTTP status %d, want 400", httpStatus(err))
			}
		}},

		{"replicate to the primary's own Region", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("own-region")
			createSecret(t, c, primaryRegion, name)
			_, err := c.in(primaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(replicaEU), region(primaryRegion)},
			})
			wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			// The request is refused as a whole: the valid Region was not
			// replicated either.
			if d := describe(t, c, primaryRegion, name); len(d.ReplicationStatus) != 0 {
				t.Errorf("a refused request replicated: %s", statusString(d.ReplicationStatus))
			}
		}},

		{"replicate to a Region that does not exist", func(b *conformance) {
			t, c := b.t, b.c
			if b.motoDiffers("moto crashes (HTTP 500, HTML body) on a Region it does not know") {
				return
			}
			name := uniqueName("bad-region")
			createSecret(t, c, primaryRegion, name)
			for _, r := range []string{"mars-east-1", "not_a_region", ""} {
				_, err := c.in(primaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
					SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(replicaEU), region(r)},
				})
				wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			}
			if d := describe(t, c, primaryRegion, name); len(d.ReplicationStatus) != 0 {
				t.Errorf("a refused request replicated: %s", statusString(d.ReplicationStatus))
			}
		}},

		{"primary-only calls in the wrong Region", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("wrong-region")
			createSecret(t, c, primaryRegion, name)
			replicate(t, c, name, false, region(replicaEU))
			waitInSync(t, c, name, replicaEU)

			inReplica := c.in(replicaEU)
			_, err := inReplica.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(otherRegion)},
			})
			wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)
			_, err = inReplica.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{replicaEU},
			})
			wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)
			_, err = inReplica.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name})
			wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgReplicaRegionCall)

			// In a Region that has neither the primary nor a replica, the
			// secret does not exist.
			_, err = c.in(otherRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(replicaAP)},
			})
			wantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)

			if d := describe(t, c, primaryRegion, name); len(d.ReplicationStatus) != 1 {
				t.Errorf("refused calls changed replication: %s", statusString(d.ReplicationStatus))
			}
		}},

		{"operations on a deleted secret", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("deleted")
			createSecret(t, c, primaryRegion, name)
			sm := c.in(primaryRegion)
			del := check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, RecoveryWindowInDays: aws.Int64(7)})).must(t)
			if del.DeletionDate == nil || time.Until(*del.DeletionDate) < 7*24*time.Hour-time.Hour || time.Until(*del.DeletionDate) > 7*24*time.Hour+time.Hour {
				t.Errorf("DeletionDate %v, want about 7 days from now", del.DeletionDate)
			}
			d := describe(t, c, primaryRegion, name)
			if d.DeletedDate == nil || d.DeletedDate.Sub(*del.DeletionDate).Abs() > time.Second {
				t.Errorf("DeletedDate %v, want the DeletionDate %v", d.DeletedDate, del.DeletionDate)
			}

			filter := []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{name}}}
			list := check(sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filter})).must(t)
			if len(list.SecretList) != 0 {
				t.Errorf("ListSecrets shows a secret scheduled for deletion")
			}
			list = check(sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filter, IncludePlannedDeletion: aws.Bool(true)})).must(t)
			if len(list.SecretList) != 1 || list.SecretList[0].DeletedDate == nil {
				t.Errorf("ListSecrets(IncludePlannedDeletion) = %+v", list.SecretList)
			}

			if !b.motoDiffers("moto replicates a secret scheduled for deletion; AWS refuses with InvalidRequestException") {
				_, err := sm.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
					SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(replicaEU)},
				})
				wantAPIError(t, err, standin.CodeInvalidRequest, standin.MsgMarkedForDeletion)
			}
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name})
			msg := standin.MsgMarkedForDeletion
			if b.motoDiffers("moto's message is its own (\"An error occurred ... currently marked deleted.\")") {
				msg = ""
			}
			wantAPIError(t, err, standin.CodeInvalidRequest, msg)
			if !b.motoDiffers("moto answers ResourceExistsException when the name is scheduled for deletion") {
				_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("again")})
				wantAPIError(t, err, standin.CodeInvalidRequest, standin.MsgScheduledForDeletionCreate)
			}

			// ForceDeleteWithoutRecovery deletes a scheduled secret at once.
			check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})).must(t)
			_, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
			wantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
		}},

		{"same name in the target Region, then force overwrite", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("conflict")
			arn := createSecret(t, c, primaryRegion, name)
			localARN := createSecret(t, c, replicaEU, name)

			rep := replicate(t, c, name, false, region(replicaEU))
			st, ok := lastStatus(rep.ReplicationStatus, replicaEU)
			if !ok || st.Status != types.StatusTypeFailed {
				t.Fatalf("replicating onto an existing name: %s, want Failed", statusString(rep.ReplicationStatus))
			}
			if !b.motoDiffers("moto's StatusMessage is \"Replication failed: Secret name simple already exists in region ...\"") &&
				aws.ToString(st.StatusMessage) != standin.MsgNameExistsInRegion {
				t.Errorf("StatusMessage %q, want %q", aws.ToString(st.StatusMessage), standin.MsgNameExistsInRegion)
			}
			if st, _ := lastStatus(describe(t, c, primaryRegion, name).ReplicationStatus, replicaEU); st.Status != types.StatusTypeFailed {
				t.Errorf("DescribeSecret shows %s, want Failed", st.Status)
			}
			// The Region's own secret is untouched.
			if d := describe(t, c, replicaEU, name); aws.ToString(d.ARN) != localARN || d.PrimaryRegion != nil {
				t.Errorf("the existing secret changed: ARN %q PrimaryRegion %q", aws.ToString(d.ARN), aws.ToString(d.PrimaryRegion))
			}

			// Retrying with ForceOverwriteReplicaSecret replaces it.
			replicate(t, c, name, true, region(replicaEU))
			d := waitInSync(t, c, name, replicaEU)
			if !b.motoDiffers("moto appends a second entry for the Region instead of replacing the Failed one") &&
				len(d.ReplicationStatus) != 1 {
				t.Errorf("ReplicationStatus %s, want one entry", statusString(d.ReplicationStatus))
			}
			r := describe(t, c, replicaEU, name)
			if aws.ToString(r.ARN) != inRegion(arn, replicaEU) || aws.ToString(r.PrimaryRegion) != primaryRegion {
				t.Errorf("after overwrite: ARN %q PrimaryRegion %q, want the replica of %s", aws.ToString(r.ARN), aws.ToString(r.PrimaryRegion), arn)
			}
		}},

		{"replicate again to a Region that has the replica", func(b *conformance) {
			t, c := b.t, b.c
			if b.motoDiffers("moto appends a Failed entry for the Region; AWS keeps one entry per Region") {
				return
			}
			name := uniqueName("again")
			createSecret(t, c, primaryRegion, name)
			replicate(t, c, name, false, region(replicaEU))
			_, err := c.in(primaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{region(replicaEU)},
			})
			// Not documented by AWS; see checkReplicaRegions.
			wantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgInvalidReplicaRegion)
			if d := waitInSync(t, c, name, replicaEU); len(d.ReplicationStatus) != 1 {
				t.Errorf("ReplicationStatus %s, want one entry", statusString(d.ReplicationStatus))
			}
		}},

		{"delete a primary that still has replicas", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("delete-primary")
			arn := createSecret(t, c, primaryRegion, name)
			replicate(t, c, name, false, region(replicaEU), region(replicaAP))
			sm := c.in(primaryRegion)
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})
			msg := "You can't delete secret " + arn + " that still has replica regions [eu-west-3, ap-southeast-2]."
			if b.motoDiffers("moto names the SecretId given rather than the ARN and joins Regions without spaces") {
				msg = ""
			}
			wantAPIError(t, err, standin.CodeInvalidParameter, msg)

			check(sm.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
				SecretId: &name, RemoveReplicaRegions: []string{replicaEU, replicaAP},
			})).must(t)
			check(sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true)})).must(t)
			for _, r := range []string{primaryRegion, replicaEU, replicaAP} {
				_, err := c.in(r).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
				wantAPIError(t, err, standin.CodeResourceNotFound, "")
			}
		}},

		{"secret names", func(b *conformance) {
			t, c := b.t, b.c
			valid := uniqueName("Valid/_+=.@-Name")
			out := check(c.in(primaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &valid, SecretString: aws.String("v")})).must(t)
			wantSecretARN(t, aws.ToString(out.ARN), primaryRegion, valid)
			if b.motoDiffers("moto accepts any name; AWS allows only ASCII letters, digits and /_+=.@-, 1 to 512") {
				return
			}
			for _, bad := range []string{"bad name", "bad!name", "naïve", strings.Repeat("a", 513)} {
				_, err := c.in(primaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(bad), SecretString: aws.String("v")})
				wantAPIError(t, err, standin.CodeInvalidParameter, "")
			}
		}},

		{"request ids", func(b *conformance) {
			t, c := b.t, b.c
			name := uniqueName("request-id")
			out := check(c.in(primaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("v")})).must(t)
			if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
				t.Error("success carries no request id")
			}
			_, err := c.in(primaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("other")})
			wantAPIError(t, err, standin.CodeResourceExists, "The operation failed because the secret "+name+" already exists.")
			if requestIDOf(err) == "" {
				t.Error("error carries no request id")
			}
		}},
	}
}
