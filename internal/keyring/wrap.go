package keyring

import "context"

// KeyWrapper encrypts and decrypts data keys with a key that never leaves an
// external key management service (KMS). No implementation exists yet, and
// nothing in this package calls one.
//
// It is meant to plug in at startup: the key file or TOOLGATE_ENCRYPTION_KEYS
// would hold wrapped keys in place of plain ones, and the caller would pass
// each wrapped key to UnwrapKey and the results to New. Seal and Open would
// not change, because they use only the unwrapped keys held in memory.
// WrapKey serves the opposite direction, when a rotation stores a new key.
//
// An implementation must be safe for concurrent use, must return an error
// rather than a partial result, and must not log or keep key bytes. UnwrapKey
// must authenticate what it decrypts, so that a modified wrapped key fails
// instead of yielding a different key. The caller owns the returned slices.
type KeyWrapper interface {
	// WrapKey encrypts plaintextKey under the KMS key.
	WrapKey(ctx context.Context, plaintextKey []byte) ([]byte, error)
	// UnwrapKey decrypts a key returned by WrapKey.
	UnwrapKey(ctx context.Context, wrappedKey []byte) ([]byte, error)
}
