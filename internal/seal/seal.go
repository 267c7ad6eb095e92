// Package seal encrypts the sensitive parts of stored operations (AES-256-GCM)
// and MACs canonical requests for idempotency checks, with key rotation: the
// first key seals and MACs, every key opens and verifies, so old rows stay
// readable after a new key is introduced.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeyLength is the length of a data key: 32 bytes (AES-256).
const KeyLength = 32

const version byte = 1

// ErrOpen is returned for ciphertext that does not open with any key:
// tampered, truncated, or sealed with a key no longer configured.
var ErrOpen = errors.New("seal: cannot open sealed value")

type key struct {
	id   uint32
	aead cipher.AEAD
	mac  []byte
}

// Box seals and opens values. Safe for concurrent use.
type Box struct {
	keys []key // keys[0] is the primary
}

// New returns a Box that seals with primary and can also open values sealed
// with any of the older keys.
func New(primary []byte, older ...[]byte) (*Box, error) {
	b := &Box{}
	for i, k := range append([][]byte{primary}, older...) {
		if len(k) != KeyLength {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i, len(k), KeyLength)
		}
		encKey, err := hkdf.Key(sha256.New, k, nil, "replicad seal v1 encryption", KeyLength)
		if err != nil {
			return nil, fmt.Errorf("seal: derive key: %w", err)
		}
		macKey, err := hkdf.Key(sha256.New, k, nil, "replicad seal v1 mac", KeyLength)
		if err != nil {
			return nil, fmt.Errorf("seal: derive key: %w", err)
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		sum := sha256.Sum256(k)
		b.keys = append(b.keys, key{id: binary.BigEndian.Uint32(sum[:4]), aead: aead, mac: macKey})
	}
	return b, nil
}

// Seal encrypts plaintext, binding it to aad (e.g. the row's id, so a sealed
// value cannot be moved to another row).
func (b *Box) Seal(plaintext, aad []byte) []byte {
	k := b.keys[0]
	out := make([]byte, 5, 5+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = version
	binary.BigEndian.PutUint32(out[1:5], k.id)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad)
}

// Open decrypts a value sealed by Seal with any configured key.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != version {
		return nil, ErrOpen
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	for _, k := range b.keys {
		if k.id != id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < 5+ns {
			return nil, ErrOpen
		}
		pt, err := k.aead.Open(nil, sealed[5:5+ns], sealed[5+ns:], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// MAC returns the primary key's HMAC-SHA256 of data.
func (b *Box) MAC(data []byte) []byte { return mac(b.keys[0].mac, data) }

// Verify reports whether sum is the MAC of data under any configured key.
func (b *Box) Verify(data, sum []byte) bool {
	for _, k := range b.keys {
		if hmac.Equal(mac(k.mac, data), sum) {
			return true
		}
	}
	return false
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}
