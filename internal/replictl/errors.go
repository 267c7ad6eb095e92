package replictl

import (
	"context"
	"errors"
	"fmt"
	"io"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// Exit statuses; see the package documentation.
const (
	ExitOK              = 0
	ExitOperationFailed = 1
	ExitUsage           = 2
	ExitUnreachable     = 3
	ExitError           = 4
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// operationEndedError reports an operation that ended, but not in success.
type operationEndedError struct {
	op *replicadv1.Operation
}

func (e *operationEndedError) Error() string {
	msg := fmt.Sprintf("operation %s ended %s", e.op.GetId(), stateName(e.op.GetState()))
	if st := e.op.GetError(); st != nil {
		msg += ": " + codeName(codes.Code(st.GetCode())) + ": " + st.GetMessage()
	}
	return msg
}

// brokenChainError reports a failed audit verification.
type brokenChainError struct{ reason string }

func (e *brokenChainError) Error() string { return "audit chain broken: " + e.reason }

// unreachableError is a call that never reached a server.
type unreachableError struct {
	server string
	err    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach replicad at %s: %v", e.server, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// exitCode maps an error to the exit status, and writes what the user needs
// to know to stderr.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "replictl:", err)
	var (
		usage   *usageError
		ended   *operationEndedError
		broken  *brokenChainError
		unreach *unreachableError
		noncomp *policyNotCompliantError
	)
	switch {
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &ended), errors.As(err, &broken), errors.As(err, &noncomp):
		return ExitOperationFailed
	case errors.As(err, &unreach):
		return ExitUnreachable
	}
	st, ok := status.FromError(err)
	if !ok {
		return ExitError
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fmt.Fprintf(stderr, "  %s: %s\n", v.GetField(), v.GetDescription())
			}
		}
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return ExitUsage
	case codes.Unavailable:
		return ExitUnreachable
	}
	return ExitError
}

// callError is a call the server answered with an error. It keeps the
// gRPC status (status.FromError finds it) but reads as a sentence.
type callError struct {
	what string
	st   *status.Status
}

func (e *callError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.what, codeName(e.st.Code()), e.st.Message())
}

func (e *callError) GRPCStatus() *status.Status { return e.st }

// rpcError says what was attempted, and tells a call that never reached a
// server apart from one the server refused.
func rpcError(what string, conn *grpc.ClientConn, server string, err error) error {
	st := status.Convert(err)
	// UNAVAILABLE also comes from a reachable server (its audit trail is
	// down, it is draining): only a connection that is not up means the
	// server could not be reached.
	notConnected := conn.GetState() != connectivity.Ready
	switch {
	case st.Code() == codes.Unavailable && notConnected:
		return &unreachableError{server: server, err: errors.New(st.Message())}
	case st.Code() == codes.DeadlineExceeded && notConnected:
		return &unreachableError{server: server, err: context.DeadlineExceeded}
	}
	return &callError{what: what, st: st}
}

// codeName spells a gRPC code as the protos and REST do: NOT_FOUND.
func codeName(c codes.Code) string { return rpccode.Code(c).String() }
