package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// errPageToken reports a page token that is malformed or belongs to a
// different query.
var errPageToken = errors.New("page_token is not valid for this request: pass next_page_token from the previous page with the same filter")

// A page token is a keyset cursor (the seq of the last operation returned)
// bound to the filter it was made for (AIP-158: changing the filter while
// paging is an error, not a silently different list). It is opaque to
// clients, not secret: it reveals only a position in the table.
type pageToken struct {
	beforeSeq int64
	filter    [8]byte
}

func filterDigest(parts ...string) [8]byte {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (t pageToken) encode() string {
	var b [17]byte
	b[0] = 1 // version
	binary.BigEndian.PutUint64(b[1:9], uint64(t.beforeSeq))
	copy(b[9:], t.filter[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodePageToken(s string, filter [8]byte) (pageToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != 1 {
		return pageToken{}, errPageToken
	}
	t := pageToken{beforeSeq: int64(binary.BigEndian.Uint64(b[1:9]))}
	copy(t.filter[:], b[9:])
	if t.filter != filter || t.beforeSeq <= 0 {
		return pageToken{}, errPageToken
	}
	return t, nil
}
