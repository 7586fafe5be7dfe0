package keyring

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Parse returns a Keyring built from a comma-separated list of "kid:base64key"
// entries, the format of TOOLGATE_ENCRYPTION_KEYS. The first entry is the
// primary key. Each key may use the standard or the URL-safe base64 alphabet,
// with or without padding. White space around an entry, and around the ':'
// in it, is ignored.
//
// An error names the position of the bad entry (counting from 1), its key id
// when the id is valid, and what is wrong. It never contains key bytes.
func Parse(spec string) (*Keyring, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("keyring: no keys given: want a comma-separated list of kid:base64key")
	}

	entries := strings.Split(spec, ",")
	keys := make([]Key, 0, len(entries))
	positions := make([]int, 0, len(entries))
	for i, entry := range entries {
		key, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("keyring: entry %d: %w", i+1, err)
		}
		keys = append(keys, key)
		positions = append(positions, i+1)
	}
	if err := checkDuplicateIDs(keys, positions, "entry"); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return New(keys...)
}

// parseEntry parses one "kid:base64key" entry. Its errors name the key id
// only after it has been validated, and never the key text.
func parseEntry(entry string) (Key, error) {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return Key{}, errors.New("empty entry: want kid:base64key")
	}
	id, encoded, ok := strings.Cut(entry, ":")
	if !ok {
		return Key{}, errors.New("missing ':' between key id and key: want kid:base64key")
	}
	id, encoded = strings.TrimSpace(id), strings.TrimSpace(encoded)
	if !validID(id) {
		return Key{}, errInvalidID
	}
	if encoded == "" {
		return Key{}, fmt.Errorf("key id %q: missing key after ':'", id)
	}

	secret, err := decodeKey(encoded)
	if err != nil {
		return Key{}, fmt.Errorf("key id %q: %w", id, err)
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key id %q: key is %d bytes, want %d (256 bits)", id, len(secret), KeySize)
	}
	return Key{ID: id, Secret: secret}, nil
}

// decodeKey decodes standard or URL-safe base64, with or without padding.
func decodeKey(encoded string) ([]byte, error) {
	// Map the URL-safe alphabet onto the standard one. A key that mixes both
	// alphabets is accepted, which does no harm.
	normalized := strings.NewReplacer("-", "+", "_", "/").Replace(encoded)

	enc := base64.RawStdEncoding
	if strings.HasSuffix(normalized, "=") {
		enc = base64.StdEncoding
	}
	secret, err := enc.DecodeString(normalized)
	if err != nil {
		// The decoder's error text gives only a byte offset, never the input.
		return nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	return secret, nil
}

// checkDuplicateIDs returns an error if two keys share an id. Unlike New, it
// names the entries or lines (unit) that hold the id: positions[i] is the
// entry or line number of keys[i].
func checkDuplicateIDs(keys []Key, positions []int, unit string) error {
	seen := make(map[string]int, len(keys))
	for i, key := range keys {
		if first, ok := seen[key.ID]; ok {
			return fmt.Errorf("%s %d: duplicate key id %q (also %s %d)", unit, positions[i], key.ID, unit, first)
		}
		seen[key.ID] = positions[i]
	}
	return nil
}
