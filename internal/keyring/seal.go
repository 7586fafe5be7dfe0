package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const (
	// formatVersion starts every sealed value. See the package design note.
	formatVersion = "tg1"

	nonceSize = 12
	tagSize   = 16

	// maxPlaintext is the largest plaintext that GCM accepts with a 96-bit
	// nonce: 2^32 - 2 blocks of 16 bytes. crypto/cipher panics above it.
	maxPlaintext = (1<<32 - 2) * 16
)

// payloadEncoding encodes nonce || ciphertext || tag in a sealed value.
// Strict decoding rejects non-zero trailing bits, so every payload has exactly
// one accepted spelling.
var payloadEncoding = base64.RawURLEncoding.Strict()

// Seal encrypts plaintext under the primary key and returns the sealed value
// in the tg1 format described in the package documentation.
//
// aad names the place the value is stored, for example "oauth_tokens.access:"
// followed by the row id. It is authenticated but not stored, and Open must be
// given the same aad. Each call draws a new random nonce, so sealing the same
// plaintext twice gives two different values.
func (k *Keyring) Seal(plaintext []byte, aad string) (string, error) {
	if len(k.slots) == 0 {
		return "", errors.New("keyring: seal: keyring is empty")
	}
	if uint64(len(plaintext)) > maxPlaintext {
		return "", fmt.Errorf("keyring: seal: plaintext is %d bytes, max %d", len(plaintext), uint64(maxPlaintext))
	}
	s := &k.slots[0]

	raw := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	rand.Read(raw) // Since Go 1.24, rand.Read never returns an error.
	raw = s.aead.Seal(raw, raw[:nonceSize], plaintext, additionalData(s.prefix, aad))

	out := make([]byte, 0, len(s.prefix)+payloadEncoding.EncodedLen(len(raw)))
	out = append(out, s.prefix...)
	out = payloadEncoding.AppendEncode(out, raw)
	return string(out), nil
}

// Open decrypts a value returned by Seal, given the same aad. It returns an
// error that wraps ErrMalformed if sealed is not in the tg1 format,
// ErrUnknownKey if the key it names is not in the keyring, and ErrDecrypt if
// authentication fails. No error contains the sealed value or key bytes.
func (k *Keyring) Open(sealed, aad string) ([]byte, error) {
	kid, payload, err := splitSealed(sealed)
	if err != nil {
		return nil, err
	}

	i, ok := k.byID[kid]
	if !ok {
		return nil, fmt.Errorf("%w %q: add that key to the keyring to open values sealed under it", ErrUnknownKey, kid)
	}
	s := &k.slots[i]

	raw, err := payloadEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not unpadded base64url", ErrMalformed)
	}
	if len(raw) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: payload is %d bytes, want at least %d", ErrMalformed, len(raw), nonceSize+tagSize)
	}

	// Decrypt in place: raw is private to this call.
	nonce, ciphertext := raw[:nonceSize], raw[nonceSize:]
	plaintext, err := s.aead.Open(ciphertext[:0], nonce, ciphertext, additionalData(s.prefix, aad))
	if err != nil {
		return nil, fmt.Errorf("%w with key id %q: wrong key, wrong aad or modified value", ErrDecrypt, kid)
	}
	return plaintext, nil
}

// KeyID returns the id of the key that sealed the value, without decrypting
// it, for example to find values that a rotation still has to seal again. It
// checks only the prefix and the key id. Anyone who can write the database can
// change the key id, so the result is not authenticated until Open succeeds.
func KeyID(sealed string) (string, error) {
	kid, _, err := splitSealed(sealed)
	return kid, err
}

// splitSealed checks the "tg1:<kid>:" prefix and returns the key id and the
// encoded payload. Its errors never quote the input, because a column that
// should hold a sealed value may hold a plaintext secret by mistake.
func splitSealed(sealed string) (kid, payload string, err error) {
	rest, ok := strings.CutPrefix(sealed, formatVersion+":")
	if !ok {
		return "", "", fmt.Errorf("%w: missing %q prefix", ErrMalformed, formatVersion+":")
	}
	kid, payload, ok = strings.Cut(rest, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: missing ':' after the key id", ErrMalformed)
	}
	if kid == "" {
		return "", "", fmt.Errorf("%w: empty key id", ErrMalformed)
	}
	if !validID(kid) {
		return "", "", fmt.Errorf("%w: %w", ErrMalformed, errInvalidID)
	}
	return kid, payload, nil
}

// additionalData returns the GCM additional data for a value sealed under the
// key with the given prefix ("tg1:" + kid + ":"): the prefix followed by aad.
func additionalData(prefix, aad string) []byte {
	data := make([]byte, 0, len(prefix)+len(aad))
	data = append(data, prefix...)
	return append(data, aad...)
}

// Reseal re-encrypts a sealed value under the primary key, for key
// rotation. It returns the new value and true, or the value unchanged and
// false when it is already sealed under the primary key. The value must
// open with aad; Reseal never changes what a value decrypts to.
func (k *Keyring) Reseal(sealed, aad string) (string, bool, error) {
	kid, err := KeyID(sealed)
	if err != nil {
		return "", false, err
	}
	if kid == k.PrimaryID() {
		return sealed, false, nil
	}
	plaintext, err := k.Open(sealed, aad)
	if err != nil {
		return "", false, err
	}
	resealed, err := k.Seal(plaintext, aad)
	clear(plaintext)
	if err != nil {
		return "", false, err
	}
	return resealed, true, nil
}
