package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestKey returns a key whose secret is KeySize copies of fill, so that
// tests can tell keys apart and find their bytes in output.
func newTestKey(id string, fill byte) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, KeySize)}
}

func newTestKeyring(t *testing.T, keys ...Key) *Keyring {
	t.Helper()
	kr, err := New(keys...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return kr
}

func seal(t *testing.T, kr *Keyring, plaintext, aad string) string {
	t.Helper()
	sealed, err := kr.Seal([]byte(plaintext), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

// secretTexts returns the spellings of a key's secret that must never appear
// in an error message or in printed output.
func secretTexts(key Key) []string {
	return []string{
		string(key.Secret),
		base64.StdEncoding.EncodeToString(key.Secret),
		base64.RawStdEncoding.EncodeToString(key.Secret),
		base64.URLEncoding.EncodeToString(key.Secret),
		base64.RawURLEncoding.EncodeToString(key.Secret),
		fmt.Sprint(key.Secret),
		fmt.Sprintf("%x", key.Secret),
	}
}

// assertOmits fails the test if text contains any of the forbidden strings.
func assertOmits(t *testing.T, label, text string, forbidden ...string) {
	t.Helper()
	for _, f := range forbidden {
		if f != "" && strings.Contains(text, f) {
			t.Errorf("%s %q contains forbidden text %q", label, text, f)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	binary := make([]byte, 2048)
	for i := range binary {
		binary[i] = byte(i)
	}

	tests := []struct {
		name      string
		plaintext []byte
		aad       string
	}{
		{name: "empty plaintext", plaintext: []byte{}, aad: "tokens.access:1"},
		{name: "short text", plaintext: []byte("ya29.access-token"), aad: "tokens.access:1"},
		{name: "binary 2KiB", plaintext: binary, aad: "tokens.refresh:42"},
		{name: "empty aad", plaintext: []byte("secret"), aad: ""},
		{name: "aad with colons and unicode", plaintext: []byte("secret"), aad: "a:b:c:ü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := kr.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if !strings.HasPrefix(sealed, "tg1:k1:") {
				t.Errorf("sealed value starts with %q, want prefix %q", sealed[:min(len(sealed), 7)], "tg1:k1:")
			}
			if strings.Contains(sealed, string(tt.plaintext)) && len(tt.plaintext) > 0 {
				t.Errorf("sealed value contains the plaintext")
			}

			got, err := kr.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open returned %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealedLength(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	for _, n := range []int{0, 1, 100, 2048} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sealed := seal(t, kr, strings.Repeat("x", n), "")
			payload := strings.TrimPrefix(sealed, "tg1:k1:")
			raw, err := base64.RawURLEncoding.DecodeString(payload)
			if err != nil {
				t.Fatalf("payload is not unpadded base64url: %v", err)
			}
			if got, want := len(raw), n+nonceSize+tagSize; got != want {
				t.Errorf("got payload of %d bytes, want %d", got, want)
			}
		})
	}
}

func TestOpenWrongAAD(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))

	tests := []struct {
		name    string
		sealAAD string
		openAAD string
	}{
		{name: "other row", sealAAD: "tokens.access:1", openAAD: "tokens.access:2"},
		{name: "other column", sealAAD: "tokens.access:1", openAAD: "tokens.refresh:1"},
		{name: "aad added", sealAAD: "", openAAD: "tokens.access:1"},
		{name: "aad dropped", sealAAD: "tokens.access:1", openAAD: ""},
		{name: "aad extended", sealAAD: "tokens.access:1", openAAD: "tokens.access:10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := seal(t, kr, "secret", tt.sealAAD)
			got, err := kr.Open(sealed, tt.openAAD)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got error %v, want ErrDecrypt", err)
			}
			if got != nil {
				t.Errorf("got plaintext %q with the error, want nil", got)
			}
		})
	}
}

func TestOpenTamperedByte(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	sealed := seal(t, kr, "a secret of some length", "row:1")
	prefix := "tg1:k1:"
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, prefix))
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}

	// Flip one bit in each byte in turn: nonce, ciphertext and tag.
	for i := range raw {
		t.Run(fmt.Sprintf("byte %d", i), func(t *testing.T) {
			tampered := slices.Clone(raw)
			tampered[i] ^= 0x01
			value := prefix + base64.RawURLEncoding.EncodeToString(tampered)

			_, err := kr.Open(value, "row:1")
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("got error %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestOpenTruncated(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	sealed := seal(t, kr, "a secret", "row:1")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "tg1:k1:"))
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}

	tests := []struct {
		name    string
		raw     []byte
		wantErr error
	}{
		{name: "last byte dropped", raw: raw[:len(raw)-1], wantErr: ErrDecrypt},
		{name: "byte appended", raw: append(slices.Clone(raw), 0), wantErr: ErrDecrypt},
		{name: "nonce and tag only", raw: raw[:nonceSize+tagSize], wantErr: ErrDecrypt},
		{name: "shorter than nonce and tag", raw: raw[:nonceSize+tagSize-1], wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := "tg1:k1:" + base64.RawURLEncoding.EncodeToString(tt.raw)
			_, err := kr.Open(value, "row:1")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpenRelabeledKeyID(t *testing.T) {
	k1 := newTestKey("k1", 1)
	tests := []struct {
		name  string
		other Key
	}{
		// With the same secret under both ids, only the kid in the additional
		// data makes the relabelled value fail.
		{name: "same secret", other: Key{ID: "k2", Secret: k1.Secret}},
		{name: "different secret", other: newTestKey("k2", 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := newTestKeyring(t, k1, tt.other)
			sealed := seal(t, kr, "secret", "row:1")
			relabeled := "tg1:k2:" + strings.TrimPrefix(sealed, "tg1:k1:")
			if relabeled == sealed {
				t.Fatalf("relabelling did not change the value %q", sealed)
			}

			_, err := kr.Open(relabeled, "row:1")
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("got error %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestOpenUnknownKey(t *testing.T) {
	writer := newTestKeyring(t, newTestKey("retired-2024", 1))
	reader := newTestKeyring(t, newTestKey("k1", 2))
	sealed := seal(t, writer, "secret", "row:1")

	_, err := reader.Open(sealed, "row:1")
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got error %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), `"retired-2024"`) {
		t.Errorf("got message %q, want it to name key id %q", err, "retired-2024")
	}
	assertOmits(t, "message", err.Error(), sealed, strings.TrimPrefix(sealed, "tg1:retired-2024:"), "secret")
}

func TestOpenMalformed(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	valid := seal(t, kr, "secret", "")
	payload := strings.TrimPrefix(valid, "tg1:k1:")

	tests := []struct {
		name    string
		sealed  string
		wantMsg string
	}{
		{name: "empty", sealed: "", wantMsg: `missing "tg1:" prefix`},
		{name: "plaintext token", sealed: "gho_plaintextTokenValue", wantMsg: `missing "tg1:" prefix`},
		{name: "plaintext with colons", sealed: "user:hunter2:more", wantMsg: `missing "tg1:" prefix`},
		{name: "other version", sealed: "tg2:k1:" + payload, wantMsg: `missing "tg1:" prefix`},
		{name: "upper-case version", sealed: "TG1:k1:" + payload, wantMsg: `missing "tg1:" prefix`},
		{name: "prefix only", sealed: "tg1:", wantMsg: "missing ':' after the key id"},
		{name: "no payload separator", sealed: "tg1:k1", wantMsg: "missing ':' after the key id"},
		{name: "empty key id", sealed: "tg1::" + payload, wantMsg: "empty key id"},
		{name: "invalid key id", sealed: "tg1:k 1:" + payload, wantMsg: "invalid key id"},
		{name: "key id too long", sealed: "tg1:" + strings.Repeat("k", 33) + ":" + payload, wantMsg: "invalid key id"},
		{name: "empty payload", sealed: "tg1:k1:", wantMsg: "want at least 28"},
		{name: "bad base64", sealed: "tg1:k1:" + payload[:10] + "!" + payload[11:], wantMsg: "not unpadded base64url"},
		{name: "standard alphabet", sealed: "tg1:k1:" + strings.Repeat("+", 40), wantMsg: "not unpadded base64url"},
		{name: "padded base64", sealed: "tg1:k1:" + base64.URLEncoding.EncodeToString(make([]byte, 40)), wantMsg: "not unpadded base64url"},
		{name: "too short", sealed: "tg1:k1:" + base64.RawURLEncoding.EncodeToString(make([]byte, 27)), wantMsg: "payload is 27 bytes, want at least 28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kr.Open(tt.sealed, "")
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got error %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
			if len(tt.sealed) > len("tg1:k1:") {
				assertOmits(t, "message", err.Error(), tt.sealed, strings.TrimPrefix(tt.sealed, "tg1:k1:"))
			}
		})
	}
}

func TestOpenDecryptErrorOmitsSecrets(t *testing.T) {
	key := newTestKey("k1", 1)
	kr := newTestKeyring(t, key)
	sealed := seal(t, kr, "plaintext-secret", "row:1")

	_, err := kr.Open(sealed, "row:2")
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got error %v, want ErrDecrypt", err)
	}
	if !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("got message %q, want it to name key id %q", err, "k1")
	}
	forbidden := append(secretTexts(key), sealed, strings.TrimPrefix(sealed, "tg1:k1:"), "plaintext-secret", "row:1", "row:2")
	assertOmits(t, "message", err.Error(), forbidden...)
}

func TestSealTwiceDiffers(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1))
	first := seal(t, kr, "same plaintext", "row:1")
	second := seal(t, kr, "same plaintext", "row:1")
	if first == second {
		t.Errorf("got the same sealed value twice (%q), want different nonces", first)
	}
}

func TestOpenAfterRotation(t *testing.T) {
	oldKey := newTestKey("k-old", 1)
	newKey := newTestKey("k-new", 2)
	before := newTestKeyring(t, oldKey)
	after := newTestKeyring(t, newKey, oldKey)
	sealedBefore := seal(t, before, "old secret", "row:1")

	got, err := after.Open(sealedBefore, "row:1")
	if err != nil {
		t.Fatalf("Open of a value sealed under the old key: %v", err)
	}
	if string(got) != "old secret" {
		t.Errorf("Open returned %q, want %q", got, "old secret")
	}

	sealedAfter := seal(t, after, "new secret", "row:1")
	kid, err := KeyID(sealedAfter)
	if err != nil {
		t.Fatalf("KeyID: %v", err)
	}
	if kid != "k-new" {
		t.Errorf("got new value sealed under %q, want %q", kid, "k-new")
	}
	if _, err := before.Open(sealedAfter, "row:1"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("got error %v from the old keyring, want ErrUnknownKey", err)
	}
}

func TestKeyID(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("primary_1", 1))
	sealed := seal(t, kr, "secret", "")

	tests := []struct {
		name    string
		sealed  string
		want    string
		wantErr error
	}{
		{name: "sealed value", sealed: sealed, want: "primary_1"},
		// KeyID does not decode or authenticate the payload.
		{name: "any payload", sealed: "tg1:other-key:not base64", want: "other-key"},
		{name: "no prefix", sealed: "primary_1:abc", wantErr: ErrMalformed},
		{name: "empty key id", sealed: "tg1::abc", wantErr: ErrMalformed},
		{name: "no payload separator", sealed: "tg1:primary_1", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyID(tt.sealed)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got key id %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		keys    []Key
		wantIDs []string
		wantMsg string
	}{
		{name: "one key", keys: []Key{newTestKey("k1", 1)}, wantIDs: []string{"k1"}},
		{
			name:    "order kept",
			keys:    []Key{newTestKey("b", 1), newTestKey("a", 2), newTestKey("c", 3)},
			wantIDs: []string{"b", "a", "c"},
		},
		{name: "32-character id", keys: []Key{newTestKey(strings.Repeat("x", 32), 1)}, wantIDs: []string{strings.Repeat("x", 32)}},
		{name: "all id characters", keys: []Key{newTestKey("AZaz09_-", 1)}, wantIDs: []string{"AZaz09_-"}},
		{name: "no keys", keys: nil, wantMsg: "no keys given"},
		{name: "empty id", keys: []Key{newTestKey("", 1)}, wantMsg: "key 1: invalid key id"},
		{name: "33-character id", keys: []Key{newTestKey(strings.Repeat("x", 33), 1)}, wantMsg: "key 1: invalid key id"},
		{name: "id with colon", keys: []Key{newTestKey("k:1", 1)}, wantMsg: "key 1: invalid key id"},
		{name: "id with space", keys: []Key{newTestKey("k1", 1), newTestKey("k 2", 2)}, wantMsg: "key 2: invalid key id"},
		{name: "id with dot", keys: []Key{newTestKey("k.1", 1)}, wantMsg: "key 1: invalid key id"},
		{name: "short secret", keys: []Key{{ID: "k1", Secret: make([]byte, 31)}}, wantMsg: `key 1: key id "k1": secret is 31 bytes, want 32`},
		{name: "long secret", keys: []Key{{ID: "k1", Secret: make([]byte, 33)}}, wantMsg: `secret is 33 bytes, want 32`},
		{name: "nil secret", keys: []Key{{ID: "k1"}}, wantMsg: `secret is 0 bytes, want 32`},
		{
			name:    "duplicate id",
			keys:    []Key{newTestKey("k1", 1), newTestKey("k2", 2), newTestKey("k1", 3)},
			wantMsg: `key 3: duplicate key id "k1" (also key 1)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := New(tt.keys...)
			if tt.wantMsg != "" {
				if err == nil {
					t.Fatalf("got no error, want one containing %q", tt.wantMsg)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
				}
				if !strings.HasPrefix(err.Error(), "keyring: ") {
					t.Errorf("got message %q, want prefix %q", err, "keyring: ")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := kr.IDs(); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("got ids %q, want %q", got, tt.wantIDs)
			}
			if got := kr.PrimaryID(); got != tt.wantIDs[0] {
				t.Errorf("got primary id %q, want %q", got, tt.wantIDs[0])
			}
			for _, id := range tt.wantIDs {
				if !kr.Has(id) {
					t.Errorf("Has(%q) = false, want true", id)
				}
			}
			if kr.Has("missing") {
				t.Errorf("Has(%q) = true, want false", "missing")
			}
		})
	}
}

func TestNewCopiesSecrets(t *testing.T) {
	key := newTestKey("k1", 1)
	kr := newTestKeyring(t, key)
	sealed := seal(t, kr, "secret", "")

	// Wiping the caller's slice must not change the keyring.
	clear(key.Secret)
	if _, err := kr.Open(sealed, ""); err != nil {
		t.Fatalf("Open after wiping the caller's secret: %v", err)
	}
	if got := kr.Keys()[0].Secret; !bytes.Equal(got, newTestKey("k1", 1).Secret) {
		t.Errorf("got secret %x, want the secret given to New", got)
	}
}

func TestKeysReturnsCopies(t *testing.T) {
	k1, k2 := newTestKey("k1", 1), newTestKey("k2", 2)
	kr := newTestKeyring(t, k1, k2)

	keys := kr.Keys()
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(keys))
	}
	for i, want := range []Key{k1, k2} {
		if keys[i].ID != want.ID || !bytes.Equal(keys[i].Secret, want.Secret) {
			t.Errorf("key %d: got id %q, want %q with the same secret", i, keys[i].ID, want.ID)
		}
	}

	clear(keys[0].Secret)
	if got := kr.Keys()[0].Secret; !bytes.Equal(got, k1.Secret) {
		t.Errorf("got secret %x after changing the returned copy, want it unchanged", got)
	}
	ids := kr.IDs()
	ids[0] = "changed"
	if got := kr.PrimaryID(); got != "k1" {
		t.Errorf("got primary id %q after changing IDs(), want %q", got, "k1")
	}
}

func TestZeroKeyring(t *testing.T) {
	var kr Keyring

	if _, err := kr.Seal([]byte("secret"), ""); err == nil {
		t.Errorf("Seal: got no error, want one")
	}
	other := newTestKeyring(t, newTestKey("k1", 1))
	if _, err := kr.Open(seal(t, other, "secret", ""), ""); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open: got error %v, want ErrUnknownKey", err)
	}
	if got := kr.PrimaryID(); got != "" {
		t.Errorf("got primary id %q, want empty", got)
	}
	if got := kr.IDs(); len(got) != 0 {
		t.Errorf("got ids %q, want none", got)
	}
	if kr.Has("k1") {
		t.Errorf("Has(%q) = true, want false", "k1")
	}
}

func TestParse(t *testing.T) {
	k1, k2 := newTestKey("k1", 0xfb), newTestKey("k_2", 0xff)
	std := base64.StdEncoding.EncodeToString(k1.Secret)
	rawURL := base64.RawURLEncoding.EncodeToString(k2.Secret)
	// Bytes 0xfb and 0xff make the two alphabets differ, so each case below
	// really tests the alphabet it names.
	if std == base64.URLEncoding.EncodeToString(k1.Secret) {
		t.Fatalf("test keys encode the same in both alphabets")
	}

	tests := []struct {
		name string
		spec string
		want []Key
	}{
		{name: "standard padded", spec: "k1:" + std, want: []Key{k1}},
		{name: "standard unpadded", spec: "k1:" + strings.TrimRight(std, "="), want: []Key{k1}},
		{name: "url padded", spec: "k_2:" + base64.URLEncoding.EncodeToString(k2.Secret), want: []Key{k2}},
		{name: "url unpadded", spec: "k_2:" + rawURL, want: []Key{k2}},
		{name: "two entries", spec: "k1:" + std + ",k_2:" + rawURL, want: []Key{k1, k2}},
		{name: "primary second key", spec: "k_2:" + rawURL + ",k1:" + std, want: []Key{k2, k1}},
		{name: "white space", spec: "  k1:" + std + " ,\tk_2 : " + rawURL + "\n", want: []Key{k1, k2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := Parse(tt.spec)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := kr.Keys()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID {
					t.Errorf("key %d: got id %q, want %q", i, got[i].ID, tt.want[i].ID)
				}
				if !bytes.Equal(got[i].Secret, tt.want[i].Secret) {
					t.Errorf("key %d: got secret %x, want %x", i, got[i].Secret, tt.want[i].Secret)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	key := newTestKey("k1", 0xfb)
	encoded := base64.StdEncoding.EncodeToString(key.Secret)
	short := base64.StdEncoding.EncodeToString(key.Secret[:16])
	corrupt := encoded[:20] + "!" + encoded[21:]

	tests := []struct {
		name    string
		spec    string
		wantMsg string
	}{
		{name: "empty", spec: "", wantMsg: "no keys given"},
		{name: "white space only", spec: " \t ", wantMsg: "no keys given"},
		{name: "key without id", spec: encoded, wantMsg: "entry 1: missing ':' between key id and key"},
		{name: "key as id", spec: encoded + ":" + encoded, wantMsg: "entry 1: invalid key id"},
		{name: "invalid id", spec: "k1:" + encoded + ",bad.id:" + encoded, wantMsg: "entry 2: invalid key id"},
		{name: "empty id", spec: ":" + encoded, wantMsg: "entry 1: invalid key id"},
		{name: "missing key", spec: "k1:", wantMsg: `entry 1: key id "k1": missing key after ':'`},
		{name: "corrupt base64", spec: "k1:" + corrupt, wantMsg: `entry 1: key id "k1": key is not valid base64`},
		{name: "bad padding", spec: "k1:" + encoded + "==", wantMsg: `entry 1: key id "k1": key is not valid base64`},
		{name: "16-byte key", spec: "k1:" + short, wantMsg: `entry 1: key id "k1": key is 16 bytes, want 32`},
		{name: "empty entry", spec: "k1:" + encoded + ",,k2:" + encoded, wantMsg: "entry 2: empty entry"},
		{name: "trailing comma", spec: "k1:" + encoded + ",", wantMsg: "entry 2: empty entry"},
		{name: "duplicate id", spec: "k1:" + encoded + ",k2:" + encoded + ",k1:" + encoded, wantMsg: `entry 3: duplicate key id "k1" (also entry 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := Parse(tt.spec)
			if err == nil {
				t.Fatalf("got keyring with ids %q, want an error containing %q", kr.IDs(), tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "keyring: ") {
				t.Errorf("got message %q, want prefix %q", err, "keyring: ")
			}
			forbidden := append(secretTexts(key), short, corrupt, encoded[:20], corrupt[21:])
			assertOmits(t, "message", err.Error(), forbidden...)
		})
	}
}

func TestKeyStringParses(t *testing.T) {
	key, err := Generate("k1")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}

	text := key.String()
	if want := "k1:" + base64.StdEncoding.EncodeToString(key.Secret); text != want {
		t.Errorf("got String() %q, want %q", text, want)
	}
	kr, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(key.String()): %v", err)
	}
	got := kr.Keys()[0]
	if got.ID != key.ID || !bytes.Equal(got.Secret, key.Secret) {
		t.Errorf("got key %q back, want the generated key %q", got.ID, key.ID)
	}
}

func TestGenerate(t *testing.T) {
	first, err := Generate("k1")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	second, err := Generate("k1")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}

	if first.ID != "k1" {
		t.Errorf("got id %q, want %q", first.ID, "k1")
	}
	if len(first.Secret) != KeySize {
		t.Errorf("got secret of %d bytes, want %d", len(first.Secret), KeySize)
	}
	if bytes.Equal(first.Secret, second.Secret) {
		t.Errorf("two generated secrets are equal, want random ones")
	}
	if bytes.Equal(first.Secret, make([]byte, KeySize)) {
		t.Errorf("generated secret is all zeros")
	}

	for _, id := range []string{"", "k:1", strings.Repeat("k", 33)} {
		if _, err := Generate(id); err == nil || !strings.Contains(err.Error(), "invalid key id") {
			t.Errorf("Generate(%q): got error %v, want one containing %q", id, err, "invalid key id")
		}
	}
}

func TestPrintingOmitsSecrets(t *testing.T) {
	key := newTestKey("k1", 0xfb)
	kr := newTestKeyring(t, key, newTestKey("k0", 0xfc))

	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("test", "keyring", kr, "key", key)

	tests := []struct {
		name   string
		output string
		want   string
	}{
		{name: "fmt %v", output: fmt.Sprintf("%v", kr), want: "keyring.Keyring{ids: [k1 k0]}"},
		{name: "fmt %+v", output: fmt.Sprintf("%+v", kr), want: "keyring.Keyring{ids: [k1 k0]}"},
		{name: "slog keyring", output: logged.String(), want: `"keyring":{"ids":["k1","k0"]}`},
		{name: "slog key", output: logged.String(), want: `"key":{"id":"k1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertOmits(t, "output", tt.output, secretTexts(key)...)
			if !strings.Contains(tt.output, tt.want) {
				t.Errorf("got output %q, want it to contain %q", tt.output, tt.want)
			}
		})
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	kr := newTestKeyring(t, newTestKey("k1", 1), newTestKey("k0", 2))

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				plaintext := fmt.Sprintf("secret %d/%d", g, i)
				aad := fmt.Sprintf("row:%d:%d", g, i)
				sealed, err := kr.Seal([]byte(plaintext), aad)
				if err != nil {
					errs <- err
					return
				}
				got, err := kr.Open(sealed, aad)
				if err != nil {
					errs <- err
					return
				}
				if string(got) != plaintext {
					errs <- fmt.Errorf("got %q, want %q", got, plaintext)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNewKeyID(t *testing.T) {
	// 23:30 on 14 January in UTC-5 is already 15 January in UTC.
	zone := time.FixedZone("UTC-5", -5*60*60)
	now := time.Date(2026, time.January, 14, 23, 30, 0, 0, zone)

	id := NewKeyID(now)
	if !regexp.MustCompile(`^k20260115-[0-9a-f]{4}$`).MatchString(id) {
		t.Errorf("got id %q, want k20260115- and 4 hex digits", id)
	}
	if !validID(id) {
		t.Errorf("got id %q, which New rejects", id)
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")

	kr, created, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatalf("first LoadOrCreateFile: %v", err)
	}
	if !created {
		t.Errorf("first call: got created = false, want true")
	}
	if got := len(kr.IDs()); got != 1 {
		t.Errorf("got %d keys, want 1", got)
	}
	if !regexp.MustCompile(`^k\d{8}-[0-9a-f]{4}$`).MatchString(kr.PrimaryID()) {
		t.Errorf("got key id %q, want k, the date and a random suffix", kr.PrimaryID())
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat key file: %v", err)
	}
	if runtime.GOOS != "windows" {
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("got mode %04o, want 0600", got)
		}
	}
	sealed := seal(t, kr, "secret", "row:1")

	again, created, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateFile: %v", err)
	}
	if created {
		t.Errorf("second call: got created = true, want false")
	}
	if got, want := again.IDs(), kr.IDs(); !slices.Equal(got, want) {
		t.Errorf("second call: got ids %q, want %q", got, want)
	}
	if got, want := again.Keys()[0].Secret, kr.Keys()[0].Secret; !bytes.Equal(got, want) {
		t.Errorf("second call loaded a different secret")
	}
	if _, err := again.Open(sealed, "row:1"); err != nil {
		t.Errorf("second keyring cannot open a value sealed by the first: %v", err)
	}
}

func TestLoadOrCreateFileErrors(t *testing.T) {
	dir := t.TempDir()

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(dir, "missing", "keys")
		_, created, err := LoadOrCreateFile(path)
		if err == nil {
			t.Fatalf("got no error, want one")
		}
		if created {
			t.Errorf("got created = true, want false")
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got error %v, want one that wraps fs.ErrNotExist", err)
		}
	})

	t.Run("group-readable mode", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("LoadFile does not check modes on Windows")
		}
		path := filepath.Join(dir, "keys-0644")
		writeKeyFile(t, path, newTestKey("k1", 1).String()+"\n", 0o644)

		_, created, err := LoadOrCreateFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("got error %v, want one containing %q", err, "chmod 600")
		}
		if created {
			t.Errorf("got created = true, want false")
		}
	})
}

// writeKeyFile writes contents to path with exactly the given mode, whatever
// the umask.
func writeKeyFile(t *testing.T, path, contents string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatalf("write key file: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("chmod key file: %v", err)
	}
}

func TestLoadFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("LoadFile does not check modes on Windows")
	}
	contents := newTestKey("k1", 1).String() + "\n"

	tests := []struct {
		mode    fs.FileMode
		wantErr bool
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o644, wantErr: true},
		{mode: 0o640, wantErr: true},
		{mode: 0o604, wantErr: true},
		{mode: 0o620, wantErr: true},
		{mode: 0o601, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			writeKeyFile(t, path, contents, tt.mode)

			_, err := LoadFile(path)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("LoadFile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one for mode %04o", tt.mode)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("got message %q, want it to contain %q", err, want)
			}
			if want := fmt.Sprintf("mode %04o", tt.mode); !strings.Contains(err.Error(), want) {
				t.Errorf("got message %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestLoadFileNotRegular(t *testing.T) {
	_, err := LoadFile(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got error %v, want one containing %q", err, "not a regular file")
	}
}

func TestLoadFileContents(t *testing.T) {
	k1, k2 := newTestKey("k1", 0xfb), newTestKey("k2", 0xfc)

	tests := []struct {
		name     string
		contents string
		wantIDs  []string
		wantMsg  string
	}{
		{name: "one key", contents: k1.String() + "\n", wantIDs: []string{"k1"}},
		{name: "no final newline", contents: k1.String(), wantIDs: []string{"k1"}},
		{
			name:     "comments and blank lines",
			contents: "# keys\n\n  # indented comment\n" + k2.String() + "\n\n" + k1.String() + "\n",
			wantIDs:  []string{"k2", "k1"},
		},
		{name: "CRLF line ends", contents: k1.String() + "\r\n" + k2.String() + "\r\n", wantIDs: []string{"k1", "k2"}},
		{name: "empty file", contents: "", wantMsg: "no keys found"},
		{name: "comments only", contents: "# nothing here\n\n", wantMsg: "no keys found"},
		{name: "bad line", contents: "# header\n" + k1.String() + "\nk2:AAAA\n", wantMsg: `line 3: key id "k2": key is 3 bytes, want 32`},
		{name: "comma list", contents: k1.String() + "," + k2.String() + "\n", wantMsg: `line 1: key id "k1": key is not valid base64`},
		{name: "duplicate id", contents: k1.String() + "\n# old\n" + k1.String() + "\n", wantMsg: `line 3: duplicate key id "k1" (also line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			writeKeyFile(t, path, tt.contents, 0o600)

			kr, err := LoadFile(path)
			if tt.wantMsg != "" {
				if err == nil {
					t.Fatalf("got ids %q, want an error containing %q", kr.IDs(), tt.wantMsg)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
				}
				if want := "keyring: key file " + path + ": "; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("got message %q, want prefix %q", err, want)
				}
				forbidden := append(secretTexts(k1), secretTexts(k2)...)
				assertOmits(t, "message", err.Error(), forbidden...)
				return
			}
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if got := kr.IDs(); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("got ids %q, want %q", got, tt.wantIDs)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	oldKey := newTestKey("k-old", 1)
	// An existing, too open file must end up with mode 0600.
	writeKeyFile(t, path, oldKey.String()+"\n", 0o644)

	newKey, err := Generate("k-new")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	rotated := newTestKeyring(t, newKey, oldKey)
	if err := WriteFile(path, rotated); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}

	loaded, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile after WriteFile: %v", err)
	}
	if got, want := loaded.IDs(), []string{"k-new", "k-old"}; !slices.Equal(got, want) {
		t.Errorf("got ids %q, want %q", got, want)
	}
	for i, want := range rotated.Keys() {
		if got := loaded.Keys()[i]; !bytes.Equal(got.Secret, want.Secret) {
			t.Errorf("key %q: secret changed in the round trip", want.ID)
		}
	}

	if runtime.GOOS != "windows" {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stat key file: %v", err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("got mode %04o, want 0600", got)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read directory: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"keys"}) {
		t.Errorf("got directory entries %q, want only %q (no temporary file left)", names, "keys")
	}
}

func TestWriteFileErrors(t *testing.T) {
	t.Run("empty keyring", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keys")
		err := WriteFile(path, &Keyring{})
		if err == nil || !strings.Contains(err.Error(), "keyring is empty") {
			t.Errorf("got error %v, want one containing %q", err, "keyring is empty")
		}
		if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
			t.Errorf("got stat error %v, want the file not to exist", statErr)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "keys")
		err := WriteFile(path, newTestKeyring(t, newTestKey("k1", 1)))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got error %v, want one that wraps fs.ErrNotExist", err)
		}
	})

	t.Run("target is a directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		err := WriteFile(path, newTestKeyring(t, newTestKey("k1", 1)))
		if err == nil {
			t.Fatalf("got no error, want one")
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read directory: %v", err)
		}
		if len(entries) != 1 {
			t.Errorf("got %d directory entries, want 1 (temporary file removed)", len(entries))
		}
	})
}
