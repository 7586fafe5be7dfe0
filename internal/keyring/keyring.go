package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the length in bytes of every key secret (AES-256).
const KeySize = 32

// maxIDLen is the maximum length of a key id.
const maxIDLen = 32

// Errors returned by Open and KeyID. Callers test for them with errors.Is,
// because the returned errors wrap them with details.
var (
	// ErrUnknownKey means that a sealed value names a key id that is not in the
	// keyring. The wrapping error names the key id.
	ErrUnknownKey = errors.New("keyring: unknown key id")

	// ErrMalformed means that a value is not in the tg1 sealed format.
	ErrMalformed = errors.New("keyring: malformed sealed value")

	// ErrDecrypt means that GCM authentication failed: the key, the aad or the
	// sealed value differs from the ones used by Seal.
	ErrDecrypt = errors.New("keyring: decryption failed")
)

// Key is one named 256-bit key. Secret must be KeySize bytes long.
//
// Printing a Key with fmt prints its secret, because String renders it in the
// key file format. Log the ID, or pass the Key to slog, which calls LogValue.
type Key struct {
	ID     string
	Secret []byte
}

// String returns the key as "kid:base64key" with the standard base64 alphabet
// and padding, which is the format that Parse and LoadFile accept.
//
// String is the only method in this package that renders key bytes. The result
// contains the secret, so write it only to a key file or to a terminal on the
// operator's request, never to a log.
func (k Key) String() string {
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
}

// LogValue implements slog.LogValuer. It returns only the key id so that a Key
// passed to a logger does not reveal its secret.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID))
}

// Generate returns a new key with the given id and KeySize random bytes from
// crypto/rand. It fails only if id is invalid.
func Generate(id string) (Key, error) {
	if !validID(id) {
		return Key{}, fmt.Errorf("keyring: generate: %w", errInvalidID)
	}

	secret := make([]byte, KeySize)
	rand.Read(secret) // Since Go 1.24, rand.Read never returns an error.
	return Key{ID: id, Secret: secret}, nil
}

// errInvalidID describes the key id rule. Messages do not repeat an invalid
// id, because a mistyped entry can put key bytes where the id belongs.
var errInvalidID = errors.New("invalid key id: want 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'")

// validID reports whether id matches ^[A-Za-z0-9_-]{1,32}$.
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Keyring contains one or more named keys. The first key is the primary key: Seal
// uses it, and Open uses whichever key the sealed value names.
//
// A Keyring is immutable after construction and safe for concurrent use by
// multiple goroutines. The zero Keyring contains no keys, so its Seal returns an
// error and its Open returns ErrUnknownKey. Use New, Parse or LoadFile to
// build one.
type Keyring struct {
	// slots contains the keys in order, primary first.
	slots []slot
	// byID maps a key id to its index in slots.
	byID map[string]int
}

// slot is one key with its ready-to-use cipher.
type slot struct {
	id     string
	secret []byte
	// aead is shared by all goroutines. In Go 1.26, crypto/cipher's GCM keeps
	// only the key schedule and precomputed tables, which Seal and Open read
	// but never modify.
	aead cipher.AEAD
	// prefix is "tg1:" + id + ":", which starts both the sealed value and the
	// GCM additional data.
	prefix string
}

// New returns a Keyring holding keys, with keys[0] as the primary key. It
// rejects an empty list, an invalid or repeated id, and a secret that is not
// KeySize bytes long. New copies the secrets, so the caller may reuse or wipe
// the slices afterwards.
func New(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys given")
	}

	kr := &Keyring{
		slots: make([]slot, 0, len(keys)),
		byID:  make(map[string]int, len(keys)),
	}
	for i, key := range keys {
		s, err := newSlot(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		if first, ok := kr.byID[key.ID]; ok {
			return nil, fmt.Errorf("keyring: key %d: duplicate key id %q (also key %d)", i+1, key.ID, first+1)
		}
		kr.byID[key.ID] = len(kr.slots)
		kr.slots = append(kr.slots, s)
	}
	return kr, nil
}

// newSlot validates key and prepares its cipher. Error messages name the key
// id only when it is valid.
func newSlot(key Key) (slot, error) {
	if !validID(key.ID) {
		return slot{}, errInvalidID
	}
	if len(key.Secret) != KeySize {
		return slot{}, fmt.Errorf("key id %q: secret is %d bytes, want %d", key.ID, len(key.Secret), KeySize)
	}

	secret := append([]byte(nil), key.Secret...)
	block, err := aes.NewCipher(secret)
	if err != nil {
		return slot{}, fmt.Errorf("key id %q: create AES cipher: %w", key.ID, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return slot{}, fmt.Errorf("key id %q: create GCM: %w", key.ID, err)
	}
	return slot{
		id:     key.ID,
		secret: secret,
		aead:   aead,
		prefix: formatVersion + ":" + key.ID + ":",
	}, nil
}

// PrimaryID returns the id of the key that Seal uses, or "" for the zero
// Keyring.
func (k *Keyring) PrimaryID() string {
	if len(k.slots) == 0 {
		return ""
	}
	return k.slots[0].id
}

// IDs returns the key ids, primary first. The caller owns the returned slice.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.slots))
	for i, s := range k.slots {
		ids[i] = s.id
	}
	return ids
}

// Has reports whether the keyring contains a key with the given id.
func (k *Keyring) Has(id string) bool {
	_, ok := k.byID[id]
	return ok
}

// Keys returns copies of the keys, primary first, for example to rewrite a
// key file with WriteFile. Changing the returned secrets does not change the
// Keyring.
func (k *Keyring) Keys() []Key {
	keys := make([]Key, len(k.slots))
	for i, s := range k.slots {
		keys[i] = Key{ID: s.id, Secret: append([]byte(nil), s.secret...)}
	}
	return keys
}

// String returns the key ids, primary first, and never the secrets. It exists
// so that printing a Keyring with fmt does not print key bytes.
func (k *Keyring) String() string {
	return "keyring.Keyring{ids: [" + strings.Join(k.IDs(), " ") + "]}"
}

// LogValue implements slog.LogValuer. It returns the key ids, primary first,
// and never the secrets.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("ids", k.IDs()))
}
