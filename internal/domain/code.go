package domain

import "strconv"

// Code is a canonical error code, numbered as google.rpc.Code (AIP-193):
// what an operation's error is stored and reported with. The layers below
// the API decide codes in these terms; the API edge alone turns them into
// gRPC statuses.
type Code int32

// The canonical codes replicad uses.
const (
	CodeOK                 Code = 0
	CodeCancelled          Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
)

var codeNames = map[Code]string{
	CodeOK: "OK", CodeCancelled: "CANCELLED", CodeUnknown: "UNKNOWN", CodeInvalidArgument: "INVALID_ARGUMENT",
	CodeDeadlineExceeded: "DEADLINE_EXCEEDED", CodeNotFound: "NOT_FOUND", CodeAlreadyExists: "ALREADY_EXISTS",
	CodePermissionDenied: "PERMISSION_DENIED", CodeResourceExhausted: "RESOURCE_EXHAUSTED",
	CodeFailedPrecondition: "FAILED_PRECONDITION", CodeAborted: "ABORTED", CodeInternal: "INTERNAL",
	CodeUnavailable: "UNAVAILABLE",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}
