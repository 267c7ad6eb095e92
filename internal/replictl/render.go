package replictl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// writeJSON prints a message as REST clients see it (proto field names),
// so scripts can use one parser for replictl and curl.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// enumWord turns OPERATION_STATE_SUCCEEDED into SUCCEEDED.
func enumWord(full, prefix string) string {
	return strings.TrimPrefix(full, prefix)
}

func stateName(s replicadv1.OperationState) string {
	return enumWord(s.String(), "OPERATION_STATE_")
}

func kindName(k replicadv1.OperationKind) string {
	return enumWord(k.String(), "OPERATION_KIND_")
}

func regionStateName(s replicadv1.RegionState) string {
	return enumWord(s.String(), "REGION_STATE_")
}

// awsStatus spells a replication status as AWS does: InSync.
func awsStatus(s replicadv1.ReplicationStatus) string {
	switch s {
	case replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS:
		return "InProgress"
	case replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC:
		return "InSync"
	case replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED:
		return "Failed"
	}
	return "-"
}

func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func writeStatus(w io.Writer, s *replicadv1.StatusResponse) error {
	tw := table(w)
	fmt.Fprintf(tw, "secret\t%s\n", s.GetName())
	fmt.Fprintf(tw, "arn\t%s\n", s.GetArn())
	fmt.Fprintf(tw, "primary region\t%s\n", s.GetPrimaryRegion())
	_ = tw.Flush()
	fmt.Fprintln(w)
	if len(s.GetReplicas()) == 0 {
		fmt.Fprintln(w, "no replicas")
	} else {
		tw = table(w)
		fmt.Fprintln(tw, "REGION\tSTATUS\tKMS KEY\tLAST ACCESSED\tMESSAGE")
		for _, r := range s.GetReplicas() {
			last := "-"
			if r.GetLastAccessedTime() != nil {
				last = r.GetLastAccessedTime().AsTime().UTC().Format(time.DateOnly)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.GetRegion(), awsStatus(r.GetStatus()), dash(r.GetKmsKeyId()), last, dash(printable(r.GetStatusMessage())))
		}
		_ = tw.Flush()
	}
	if len(s.GetRecentOperations()) > 0 {
		fmt.Fprintln(w, "\nrecent operations:")
		writeOperationTable(w, s.GetRecentOperations())
	}
	return nil
}

func writeOperationTable(w io.Writer, ops []*replicadv1.Operation) {
	tw := table(w)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tSECRET\tREGIONS\tCREATED")
	for _, op := range ops {
		regions := make([]string, 0, len(op.GetRegions()))
		for _, r := range op.GetRegions() {
			regions = append(regions, r.GetRegion())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", op.GetId(), kindName(op.GetKind()), stateName(op.GetState()),
			op.GetSecretId(), strings.Join(regions, ","), when(op.GetCreateTime()))
	}
	_ = tw.Flush()
}

func writeOperation(w io.Writer, op *replicadv1.Operation) {
	tw := table(w)
	fmt.Fprintf(tw, "id\t%s\n", op.GetId())
	fmt.Fprintf(tw, "kind\t%s\n", kindName(op.GetKind()))
	fmt.Fprintf(tw, "secret\t%s\n", op.GetSecretId())
	fmt.Fprintf(tw, "aws region\t%s\n", op.GetAwsRegion())
	fmt.Fprintf(tw, "state\t%s\n", stateName(op.GetState()))
	if st := op.GetError(); st != nil {
		fmt.Fprintf(tw, "error\t%s: %s\n", codeName(codes.Code(st.GetCode())), printable(st.GetMessage()))
	}
	fmt.Fprintf(tw, "principal\t%s\n", dash(op.GetPrincipal()))
	fmt.Fprintf(tw, "request id\t%s\n", dash(op.GetRequestId()))
	fmt.Fprintf(tw, "attempts\t%d\n", op.GetAttempts())
	if st := op.GetLastAttemptError(); st != nil {
		fmt.Fprintf(tw, "last attempt error\t%s: %s\n", codeName(codes.Code(st.GetCode())), printable(st.GetMessage()))
	}
	if op.GetNextAttemptTime() != nil {
		fmt.Fprintf(tw, "next attempt\t%s\n", when(op.GetNextAttemptTime()))
	}
	if op.GetRetryDeadline() != nil {
		fmt.Fprintf(tw, "retry deadline\t%s\n", when(op.GetRetryDeadline()))
	}
	fmt.Fprintf(tw, "created\t%s\n", when(op.GetCreateTime()))
	fmt.Fprintf(tw, "started\t%s\n", when(op.GetStartTime()))
	fmt.Fprintf(tw, "ended\t%s\n", when(op.GetEndTime()))
	_ = tw.Flush()
	fmt.Fprintln(w)
	writeRegions(w, op)
	if len(op.GetAwsCalls()) > 0 {
		fmt.Fprintln(w, "\naws calls:")
		tw = table(w)
		fmt.Fprintln(tw, "TIME\tAPI\tREGION\tREQUEST ID\tERROR")
		for _, a := range op.GetAwsCalls() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", when(a.GetTime()), a.GetApi(), a.GetRegion(), dash(a.GetRequestId()), dash(a.GetErrorCode()))
		}
		_ = tw.Flush()
	}
}

// retrying says, in one line, why an operation is waiting to retry and
// until when; "" when it is not.
func retrying(op *replicadv1.Operation) string {
	st, next := op.GetLastAttemptError(), op.GetNextAttemptTime()
	if st == nil || next == nil || terminal(op.GetState()) {
		return ""
	}
	line := fmt.Sprintf("attempt %d failed: %s: %s; next attempt at %s", op.GetAttempts(),
		codeName(codes.Code(st.GetCode())), printable(st.GetMessage()), when(next))
	if d := op.GetRetryDeadline(); d != nil {
		line += ", retrying until " + when(d)
	}
	return line
}

func writeRegions(w io.Writer, op *replicadv1.Operation) {
	tw := table(w)
	fmt.Fprintln(tw, "REGION\tSTATE\tAWS STATUS\tKMS KEY\tMESSAGE")
	for _, r := range op.GetRegions() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.GetRegion(), regionStateName(r.GetState()),
			awsStatus(r.GetReplicationStatus()), dash(r.GetKmsKeyId()), dash(printable(r.GetMessage())))
	}
	_ = tw.Flush()
}

func writeAuditTable(w io.Writer, events []*replicadv1.AuditEvent) {
	tw := table(w)
	fmt.Fprintln(tw, "TIME\tPRINCIPAL\tMETHOD\tSECRET\tOUTCOME\tOPERATION")
	for _, e := range events {
		method := e.GetMethod()
		if i := strings.LastIndexByte(method, '/'); i >= 0 {
			method = method[i+1:]
		}
		if e.GetAwsRegion() != "" {
			method += "@" + e.GetAwsRegion()
		}
		outcome := codeName(codes.Code(e.GetCode()))
		if e.GetAwsErrorCode() != "" {
			outcome = e.GetAwsErrorCode()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(e.GetTime()), dash(e.GetPrincipal()), method,
			dash(e.GetSecret()), outcome, dash(e.GetOperationId()))
	}
	_ = tw.Flush()
}

func writeVerify(w io.Writer, r *replicadv1.VerifyAuditResponse) {
	if r.GetOk() {
		fmt.Fprintf(w, "audit chain OK: %d events verified (positions %d-%d)\n", r.GetVerified(), r.GetFirstPosition(), r.GetHeadPosition())
		fmt.Fprintf(w, "head %d %s\n", r.GetHeadPosition(), r.GetHeadHash())
		fmt.Fprintf(w, "record the head to detect truncation later: replictl audit verify --known-position %d --known-hash %s\n", r.GetHeadPosition(), r.GetHeadHash())
	} else {
		b := r.GetFirstBreak()
		fmt.Fprintf(w, "audit chain BROKEN at position %d (event %s): %s\n", b.GetPosition(), dash(b.GetEventId()), b.GetReason())
		fmt.Fprintf(w, "%d events verified before the break\n", r.GetVerified())
	}
	if n := r.GetUnchained(); n > 0 {
		fmt.Fprintf(w, "%d recent events not chained yet (they are within seconds)\n", n)
	}
}
