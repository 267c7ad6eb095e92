package standin

import (
	"encoding/xml"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// The stand-in answers STS AssumeRole (the Query protocol, XML answers) on
// the same endpoint, recognised by the "sts" service in the request's SigV4
// credential scope, so the SDK's stscreds provider pointed at it works
// unchanged. Any role ARN of a 12-digit account may be assumed (the
// stand-in has no IAM), except that a role listed in
// Options.RoleExternalIDs requires that external id, as a trust policy with
// sts:ExternalId does. The credentials issued sign requests of the role's
// account: each account has its own secrets.

// assumedRoleDuration is how long issued credentials last (AWS's default
// DurationSeconds, one hour).
const assumedRoleDuration = time.Hour

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// isSTSRequest reports whether the request is signed for STS.
func isSTSRequest(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Authorization"), "/sts/aws4_request")
}

// accessKeyOf returns the access key id of a SigV4 Authorization header.
func accessKeyOf(header string) string {
	_, rest, ok := strings.Cut(header, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	reqID := w.Header().Get("X-Amzn-Requestid")
	fail := func(status int, code, msg string) {
		var e stsErrorResponse
		e.Xmlns, e.RequestID = stsNamespace, reqID
		e.Error.Type, e.Error.Code, e.Error.Message = "Sender", code, msg
		writeXML(w, status, e)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusBadRequest, "InvalidAction", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "MalformedInput", "could not read the request body")
		return
	}
	form := r.PostForm
	if form.Get("Action") != "AssumeRole" {
		fail(http.StatusBadRequest, "InvalidAction", "The stand-in answers only AssumeRole.")
		return
	}
	role, session := form.Get("RoleArn"), form.Get("RoleSessionName")
	account, ok := roleAccount(role)
	if !ok || session == "" {
		fail(http.StatusBadRequest, "ValidationError", "RoleArn must be an IAM role ARN and RoleSessionName is required.")
		return
	}
	if want, listed := s.roleExternalIDs[role]; listed && form.Get("ExternalId") != want {
		s.assumeRoleRefused.Add(1)
		fail(http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+role)
		return
	}
	key := "ASIA" + randomUpper(16)
	s.mu.Lock()
	s.issuedKeys[key] = account
	s.mu.Unlock()
	s.assumeRoleCalls.Add(1)
	var out assumeRoleResponse
	out.Xmlns, out.RequestID = stsNamespace, reqID
	roleName := role[strings.LastIndex(role, "/")+1:]
	out.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + session
	out.Result.AssumedRoleUser.AssumedRoleID = "AROA" + randomUpper(17) + ":" + session
	out.Result.Credentials.AccessKeyID = key
	out.Result.Credentials.SecretAccessKey = randomUpper(40)
	out.Result.Credentials.SessionToken = randomUpper(64)
	out.Result.Credentials.Expiration = time.Now().Add(assumedRoleDuration).UTC().Format(time.RFC3339)
	writeXML(w, http.StatusOK, out)
}

// roleAccount returns the account of arn:aws:iam::<account>:role/<name>.
func roleAccount(role string) (string, bool) {
	parts := strings.SplitN(role, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || len(parts[5]) == len("role/") {
		return "", false
	}
	if len(parts[4]) != 12 || strings.Trim(parts[4], "0123456789") != "" {
		return "", false
	}
	return parts[4], true
}

func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, nil
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// accountOfRequest is the account a Secrets Manager request acts in: the
// one its access key was issued for, else the default account.
func (s *Server) accountOfRequest(r *http.Request) string {
	key := accessKeyOf(r.Header.Get("Authorization"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.issuedKeys[key]; ok {
		return a
	}
	return s.account
}
