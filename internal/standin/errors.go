package standin

import (
	"fmt"
	"net/http"
	"strings"
)

// This file is the one place that knows AWS error codes and messages. Every
// error the stand-in answers is an *apiError built here, so a reader can check
// the whole catalogue against the AWS documentation at once.
//
// Where a message is quoted from AWS (API reference, user guide, or an error
// seen from the real service and reported publicly) the comment says so; where
// AWS documents only the code, the message is ours and the comment says that
// too, so nobody mistakes it for a verified string.

// AWS error codes answered by the stand-in, as they appear in "__type".
const (
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeInvalidParameter      = "InvalidParameterException"
	CodeInvalidRequest        = "InvalidRequestException"
	CodeResourceExists        = "ResourceExistsException"
	CodeInvalidNextToken      = "InvalidNextTokenException"
	CodeInternalServiceError  = "InternalServiceError"
	CodeServiceUnavailable    = "ServiceUnavailable"
	CodeThrottling            = "ThrottlingException"
	CodeSerialization         = "SerializationException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeMissingAuthentication = "MissingAuthenticationTokenException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeInvalidSignature      = "InvalidSignatureException"
)

// Messages that tests and clients may want to compare against.
const (
	// MsgSecretNotFound is the real service's message (also what moto sends).
	MsgSecretNotFound = "Secrets Manager can't find the specified secret."
	// MsgReplicaRegionCall is the real service's message for a primary-only
	// operation sent to a replica's Region (seen in public bug reports).
	MsgReplicaRegionCall = "Operation not permitted on a replica secret. Call must be made in primary secret's region."
	// MsgPrimaryRegionCall answers StopReplicationToReplica on a secret that
	// is not a replica. AWS documents no message for this case; this mirrors
	// MsgReplicaRegionCall and is NOT a verified AWS string.
	MsgPrimaryRegionCall = "Operation not permitted on a primary secret. Call must be made in replica secret's region."
	// MsgInvalidReplicaRegion is the real service's message when a replica
	// Region equals the primary's Region (seen in public Terraform reports).
	// The stand-in also uses it for unknown Regions and for Regions that
	// already hold this secret's replica, which AWS does not document.
	MsgInvalidReplicaRegion = "Invalid replica region."
	// MsgMarkedForDeletion is the real service's message for operations on a
	// secret scheduled for deletion.
	MsgMarkedForDeletion = "You can't perform this operation on the secret because it was marked for deletion."
	// MsgScheduledForDeletionCreate is the real service's message when
	// CreateSecret reuses the name of a secret scheduled for deletion.
	MsgScheduledForDeletionCreate = "You can't create this secret because a secret with this name is already scheduled for deletion."
	// MsgNameExistsInRegion is the ReplicationStatus message for a Region that
	// already holds a different secret with the same name, quoted from the
	// ReplicationStatusType documentation.
	MsgNameExistsInRegion = "Secret with this name already exists in this region"
	// MsgReplicationSucceeded is the StatusMessage AWS's documentation
	// examples show for an InSync replica.
	MsgReplicationSucceeded = "Replication succeeded"
	// MsgInvalidName is the real service's message for a name with characters
	// outside ASCII letters, digits and /_+=.@-.
	MsgInvalidName = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
	// MsgRateExceeded is the real service's ThrottlingException message.
	MsgRateExceeded = "Rate exceeded"
)

// apiError is an answer in AWS's JSON 1.1 error shape.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func errSecretNotFound() *apiError {
	return newAPIError(http.StatusBadRequest, CodeResourceNotFound, MsgSecretNotFound)
}

func errSecretValueNotFound(stage string) *apiError {
	// Same wording moto uses, which follows the real service.
	return newAPIError(http.StatusBadRequest, CodeResourceNotFound,
		"Secrets Manager can't find the specified secret value for staging label: "+stage)
}

func errReplicaRegionCall() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter, MsgReplicaRegionCall)
}

func errNotAReplica() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter, MsgPrimaryRegionCall)
}

func errInvalidReplicaRegion() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter, MsgInvalidReplicaRegion)
}

func errMarkedForDeletion() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidRequest, MsgMarkedForDeletion)
}

func errScheduledForDeletionCreate() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidRequest, MsgScheduledForDeletionCreate)
}

func errSecretExists(name string) *apiError {
	// The real service's wording (moto sends the same).
	return newAPIError(http.StatusBadRequest, CodeResourceExists,
		fmt.Sprintf("The operation failed because the secret %s already exists.", name))
}

func errStillHasReplicas(arn string, regions []string) *apiError {
	// The real service's wording, as reported from CloudTrail and SDK errors.
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter,
		fmt.Sprintf("You can't delete secret %s that still has replica regions [%s].", arn, strings.Join(regions, ", ")))
}

func errInvalidParameter(message string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParameter, message)
}

func errInvalidNextToken() *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidNextToken, "The NextToken value is invalid.")
}

func errThrottled() *apiError {
	return newAPIError(http.StatusBadRequest, CodeThrottling, MsgRateExceeded)
}

// errRegionDown answers every request to a Region injected as down. AWS
// documents no answer for a Region outage (a client may see timeouts,
// connection errors or 503s); the stand-in answers 503 ServiceUnavailable,
// which the SDK retries and then reports, so a caller sees a named error
// rather than a hang. The message is ours.
func errRegionDown() *apiError {
	return newAPIError(http.StatusServiceUnavailable, CodeServiceUnavailable, "The Region is unavailable (stand-in fault).")
}

func errInternal() *apiError {
	// The API reference's description of InternalServiceError.
	return newAPIError(http.StatusInternalServerError, CodeInternalServiceError, "An error occurred on the server side.")
}

func errSerialization(detail string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeSerialization, detail)
}

func errUnknownOperation() *apiError {
	return newAPIError(http.StatusBadRequest, CodeUnknownOperation, "")
}

// The three signature errors below use HTTP 400, as AWS JSON-protocol
// services such as DynamoDB do; Secrets Manager's exact status for them is
// not documented.

func errMissingAuthentication() *apiError {
	return newAPIError(http.StatusBadRequest, CodeMissingAuthentication, "Missing Authentication Token")
}

func errIncompleteSignature(message string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeIncompleteSignature, message)
}

func errInvalidSignature(message string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidSignature, message)
}
