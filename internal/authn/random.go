package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// secretBytes is the number of random bytes in session cookies, CSRF tokens,
// sign-in states and API tokens.
const secretBytes = 32

// secretLen is the length of a secret from newSecret: 32 bytes in unpadded
// base64url.
var secretLen = base64.RawURLEncoding.EncodedLen(secretBytes)

// newSecret returns 32 bytes from crypto/rand as unpadded base64url.
func newSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // Since Go 1.24, rand.Read never returns an error.
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret returns the SHA-256 of s as lowercase hex. The store keeps only
// this hash, so a reader of the database cannot present the secret.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// isSecretFormat reports whether s has the shape of a value from newSecret, so
// that garbage is rejected before it costs a database query.
func isSecretFormat(s string) bool {
	if len(s) != secretLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}
