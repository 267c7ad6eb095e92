package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/store"
)

// Break is the first broken link found.
type Break struct {
	Position int64
	EventID  string
	Reason   string
}

// Report is the result of a verification.
type Report struct {
	OK            bool
	Verified      int64
	FirstPosition int64
	HeadPosition  int64
	HeadHash      []byte
	Unchained     int64
	// Anchors is how many retention anchors were checked (their own chain,
	// and that every event they cover is gone); ExportsVerified how many of
	// them were also checked against their export file.
	Anchors         int64
	ExportsVerified int64
	Break           *Break
}

// Known is a head recorded earlier (from the audit log): the chain must
// still hold that event with that hash.
type Known struct {
	Position int64
	Hash     []byte
}

var errStop = errors.New("stop")

// Verify walks the chain and reports the first broken link: content or
// columns edited, an event missing, events reordered, a known head no
// longer present, or a retention anchor that retention did not make.
//
// Retention anchors are checked first: they must form their own chain
// (none inserted, edited or removed among them), and no event they cover
// may still be in the table (retention removes what it anchors, in the same
// transaction: an event at or before an anchor means the anchor was added
// by hand, to make verification skip what precedes it). With exportDir set,
// each anchor's export file must exist there, have the SHA-256 the anchor
// records, and chain from the previous file to exactly the anchor's
// position and hash; a known head in the pruned part of the chain is looked
// up in the exports. Without exportDir, a known head older than the newest
// anchor cannot be checked and is reported as a break saying so.
//
// Given a pool, Verify reads in one read-only REPEATABLE READ transaction:
// the anchors, the table and the chain are seen as of one moment, so
// retention pruning meanwhile cannot look like a missing event.
func Verify(ctx context.Context, db store.DB, known *Known, exportDir string) (Report, error) {
	if b, ok := db.(txBeginner); ok {
		var rep Report
		err := pgx.BeginTxFunc(ctx, b, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			var err error
			rep, err = verify(ctx, tx, known, exportDir)
			return err
		})
		return rep, err
	}
	return verify(ctx, db, known, exportDir)
}

type txBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

func verify(ctx context.Context, db store.DB, known *Known, exportDir string) (Report, error) {
	rep := Report{OK: true}
	fail := func(pos int64, id, format string, args ...any) error {
		rep.OK = false
		rep.Break = &Break{Position: pos, EventID: id, Reason: fmt.Sprintf(format, args...)}
		return errStop
	}
	var (
		prevPos  int64
		prevHash = genesis
	)
	anchors, err := store.AuditAnchors(ctx, db)
	if err != nil {
		return rep, err
	}
	knownSeen := known == nil
	if len(anchors) > 0 {
		newest := anchors[len(anchors)-1]
		prevPos, prevHash = newest.ChainPos, newest.Hash
		if known != nil && known.Position <= newest.ChainPos {
			knownSeen = true // checked against the exports, or reported
		}
		first, ok, err := store.FirstChainedAuditPosition(ctx, db)
		if err != nil {
			return rep, err
		}
		switch {
		case ok && first <= newest.ChainPos:
			_ = fail(first, "", "the event at position %d is covered by the retention anchor at position %d, yet still in the database: "+
				"retention removes what it anchors, so that anchor was not made by retention (inserted to hide what precedes it)", first, newest.ChainPos)
		case known != nil && known.Position <= newest.ChainPos && exportDir == "":
			_ = fail(known.Position, "", "the known head at position %d is in the part of the chain retention exported (up to position %d): "+
				"verify it against the export files (the audit export directory)", known.Position, newest.ChainPos)
		}
	}
	if rep.OK {
		if err := checkAnchors(anchors, exportDir, known, &rep, fail); err != nil && !errors.Is(err, errStop) {
			return rep, err
		}
	}
	rep.FirstPosition = prevPos + 1
	if rep.OK {
		err = store.WalkAuditChain(ctx, db, prevPos, func(r store.AuditRow) error {
			id := r.ID.String()
			switch {
			case r.ChainPos != prevPos+1:
				return fail(prevPos+1, id, "event at position %d is missing (the next event found is at %d)", prevPos+1, r.ChainPos)
			case !bytes.Equal(r.PrevHash, prevHash):
				return fail(r.ChainPos, id, "event does not follow the event before it (previous-hash mismatch): events removed or reordered")
			case !bytes.Equal(Link(prevHash, r.Body), r.Hash):
				return fail(r.ChainPos, id, "event content does not match its hash: edited")
			}
			if err := checkProjection(r); err != nil {
				return fail(r.ChainPos, id, "%v: edited", err)
			}
			if known != nil && r.ChainPos == known.Position {
				if !bytes.Equal(r.Hash, known.Hash) {
					return fail(r.ChainPos, id, "the known head's hash differs: the chain was rewritten from here")
				}
				knownSeen = true
			}
			prevPos, prevHash = r.ChainPos, r.Hash
			rep.Verified++
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return rep, err
		}
	}
	if rep.OK && !knownSeen {
		rep.OK = false
		rep.Break = &Break{Position: known.Position, Reason: fmt.Sprintf("the known head at position %d (hash %s) is gone: events were removed from the end", known.Position, hex.EncodeToString(known.Hash))}
	}
	rep.HeadPosition, rep.HeadHash = prevPos, prevHash
	if rep.Unchained, err = store.CountUnchainedAuditEvents(ctx, db); err != nil {
		return rep, err
	}
	return rep, nil
}

// checkAnchors checks the anchors' own chain and, with exportDir, each
// anchor's export file; a known head in the pruned part is looked up in
// the exports.
func checkAnchors(anchors []store.AuditAnchor, exportDir string, known *Known, rep *Report, fail func(int64, string, string, ...any) error) error {
	prevAnchor := genesis
	var prevPos int64
	prevHash := genesis
	knownPruned := known != nil && len(anchors) > 0 && known.Position <= anchors[len(anchors)-1].ChainPos
	for _, a := range anchors {
		switch {
		case !bytes.Equal(a.PrevAnchorHash, prevAnchor):
			return fail(a.ChainPos, "", "the retention anchor at position %d does not follow the anchor before it: anchors were added, removed or edited", a.ChainPos)
		case !bytes.Equal(a.AnchorHash, AnchorHash(a)):
			return fail(a.ChainPos, "", "the retention anchor at position %d does not match its hash: edited", a.ChainPos)
		case a.FirstPos != prevPos+1 || a.ChainPos < a.FirstPos:
			return fail(a.ChainPos, "", "the retention anchor at position %d does not start where the anchor before it ended", a.ChainPos)
		}
		rep.Anchors++
		if exportDir != "" {
			var wantKnown *int64
			if knownPruned && known.Position >= a.FirstPos && known.Position <= a.ChainPos {
				wantKnown = &known.Position
			}
			res, reason := checkExport(exportDir, a, prevHash, wantKnown)
			if reason != "" {
				return fail(a.ChainPos, "", "the export of the retention anchor at position %d (%s): %s", a.ChainPos, a.ExportedTo, reason)
			}
			if wantKnown != nil && !bytes.Equal(res.knownHash, known.Hash) {
				return fail(known.Position, "", "the known head's hash differs from the exported event at position %d: the chain was rewritten from there", known.Position)
			}
			rep.ExportsVerified++
		}
		prevAnchor, prevPos, prevHash = a.AnchorHash, a.ChainPos, a.Hash
	}
	return nil
}

// checkExport verifies an anchor's export file; it returns a reason when
// the file does not vouch for the anchor.
func checkExport(dir string, a store.AuditAnchor, prev []byte, knownAt *int64) (exportResult, string) {
	if a.ExportedTo == "" || a.ExportedTo != filepath.Base(a.ExportedTo) {
		return exportResult{}, "the anchor names no file of the export directory"
	}
	data, err := os.ReadFile(filepath.Join(dir, a.ExportedTo))
	if err != nil {
		return exportResult{}, "cannot read the file: " + err.Error()
	}
	if a.ExportSHA256 != nil {
		if sum := sha256.Sum256(data); !bytes.Equal(sum[:], a.ExportSHA256) {
			return exportResult{}, "the file's SHA-256 differs from the one the anchor records: the file was changed or replaced"
		}
	}
	res, err := verifyExport(bytes.NewReader(data), prev, knownAt)
	switch {
	case err != nil:
		return res, err.Error()
	case res.first != a.FirstPos || res.last != a.ChainPos || !bytes.Equal(res.lastHash, a.Hash):
		return res, fmt.Sprintf("the file holds positions %d-%d, the anchor %d-%d (or its last hash differs)", res.first, res.last, a.FirstPos, a.ChainPos)
	}
	return res, ""
}

// AnchorHash is an anchor's link in the anchors' own chain, as the
// database computes it (audit_anchor_hash): SHA-256 over the previous
// anchor's hash and this anchor's fields.
func AnchorHash(a store.AuditAnchor) []byte {
	h := sha256.New()
	var n [8]byte
	h.Write(a.PrevAnchorHash)
	binary.BigEndian.PutUint64(n[:], uint64(a.ChainPos))
	h.Write(n[:])
	h.Write(a.Hash)
	binary.BigEndian.PutUint64(n[:], uint64(a.FirstPos))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(a.Pruned))
	h.Write(n[:])
	binary.BigEndian.PutUint32(n[:4], uint32(len(a.ExportedTo)))
	h.Write(n[:4])
	h.Write([]byte(a.ExportedTo))
	h.Write(a.ExportSHA256)
	return h.Sum(nil)
}
