package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/replicad/replicad/internal/seal"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeyLength) }

func TestSealOpenAndRotation(t *testing.T) {
	t.Parallel()
	old, err := seal.New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	sealedOld := old.Seal([]byte("arn:aws:kms:us-east-1:123456789012:key/x"), []byte("row-1"))
	if bytes.Contains(sealedOld, []byte("123456789012")) {
		t.Fatal("sealed value contains the plaintext")
	}
	rotated, err := seal.New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rotated.Open(sealedOld, []byte("row-1"))
	if err != nil || string(pt) != "arn:aws:kms:us-east-1:123456789012:key/x" {
		t.Fatalf("open after rotation = %q, %v", pt, err)
	}
	if _, err := old.Open(rotated.Seal([]byte("x"), nil), nil); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("a value sealed with a key the box lacks must not open, got %v", err)
	}
	if _, err := rotated.Open(sealedOld, []byte("row-2")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("a value moved to another row must not open, got %v", err)
	}
	tampered := append([]byte(nil), sealedOld...)
	tampered[len(tampered)-1] ^= 1
	if _, err := rotated.Open(tampered, []byte("row-1")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("tampered value must not open, got %v", err)
	}
	if !rotated.Verify([]byte("req"), old.MAC([]byte("req"))) {
		t.Error("a MAC made with an older key must still verify")
	}
	if rotated.Verify([]byte("other"), old.MAC([]byte("req"))) {
		t.Error("MAC of other data must not verify")
	}
	if _, err := seal.New([]byte("short")); err == nil {
		t.Error("short key must be refused")
	}
}
