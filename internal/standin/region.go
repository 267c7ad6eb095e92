package standin

import (
	"strings"
)

// sigV4Algorithm is the only scheme the SDK uses for Secrets Manager.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// regionFromAuthorization reads the Region from a SigV4 Authorization
// header's credential scope:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/secretsmanager/aws4_request, SignedHeaders=..., Signature=...
//
// One stand-in endpoint serves every Region, so the signing Region is the
// only thing that says which Region a call is for, exactly as the Regional
// endpoint does on AWS. The signature itself is not checked: the stand-in
// holds no secret keys.
func regionFromAuthorization(header string) (string, *apiError) {
	return regionFromScope(header, "secretsmanager")
}

// regionFromScope is regionFromAuthorization for a request to service
// ("kms" for the KMS actions the stand-in answers).
func regionFromScope(header, wantService string) (string, *apiError) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", errMissingAuthentication()
	}
	algorithm, params, ok := strings.Cut(header, " ")
	if !ok || algorithm != sigV4Algorithm {
		return "", errIncompleteSignature("Authorization header must use the " + sigV4Algorithm + " algorithm.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return "", errIncompleteSignature(strings.Join(missing, " "))
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || !isScopeDate(scope[1]) || scope[4] != "aws4_request" {
		return "", errIncompleteSignature("Credential should be in the form <access key>/<date>/<region>/<service>/aws4_request.")
	}
	region, service := scope[2], scope[3]
	if service != wantService {
		return "", errInvalidSignature("Credential should be scoped to correct service: '" + wantService + "'.")
	}
	if !isKnownRegion(region) {
		return "", errInvalidSignature("Credential should be scoped to a valid region.")
	}
	return region, nil
}

func isScopeDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isKnownRegion reports whether r is a Region of the aws partition where
// Secrets Manager runs. A fixed list rather than the documented pattern
// ^([a-z]+-)+\d+$ because AWS rejects well-formed names of Regions that do
// not exist ("mars-east-1"), and so must the stand-in. GovCloud and China
// are left out: replication cannot cross partitions and ARNs here are
// always arn:aws.
func isKnownRegion(r string) bool {
	switch r {
	case "us-east-1", "us-east-2", "us-west-1", "us-west-2",
		"af-south-1",
		"ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
		"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
		"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ca-central-1", "ca-west-1",
		"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
		"eu-south-1", "eu-south-2", "eu-north-1",
		"il-central-1", "me-south-1", "me-central-1", "mx-central-1",
		"sa-east-1":
		return true
	}
	return false
}
