package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

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
	Break         *Break
}

// Known is a head recorded earlier (from the audit log): the chain must
// still hold that event with that hash.
type Known struct {
	Position int64
	Hash     []byte
}

var errStop = errors.New("stop")

// Verify walks the chain from the newest retention anchor (or the start)
// and reports the first broken link: content or columns edited, an event
// missing, events reordered, or a known head no longer present.
func Verify(ctx context.Context, db store.DB, known *Known) (Report, error) {
	rep := Report{OK: true}
	var (
		prevPos  int64
		prevHash = genesis
	)
	anchor, ok, err := store.LatestAuditAnchor(ctx, db)
	if err != nil {
		return rep, err
	}
	if ok {
		prevPos, prevHash = anchor.ChainPos, anchor.Hash
	}
	rep.FirstPosition = prevPos + 1
	knownSeen := known == nil || known.Position <= prevPos
	fail := func(pos int64, id, format string, args ...any) error {
		rep.OK = false
		rep.Break = &Break{Position: pos, EventID: id, Reason: fmt.Sprintf(format, args...)}
		return errStop
	}
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
