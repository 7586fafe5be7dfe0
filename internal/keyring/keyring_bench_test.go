package keyring

import (
	"crypto/rand"
	"testing"
)

const benchPlaintextSize = 2 << 10

func newBenchKeyring(b *testing.B) *Keyring {
	b.Helper()
	key, err := Generate("k1")
	if err != nil {
		b.Fatalf("Generate: %v", err)
	}
	kr, err := New(key)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	return kr
}

func BenchmarkSeal2KiB(b *testing.B) {
	kr := newBenchKeyring(b)
	plaintext := make([]byte, benchPlaintextSize)
	rand.Read(plaintext)

	b.SetBytes(benchPlaintextSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Seal(plaintext, "oauth_tokens.access:12345"); err != nil {
			b.Fatalf("Seal: %v", err)
		}
	}
}

func BenchmarkOpen2KiB(b *testing.B) {
	kr := newBenchKeyring(b)
	plaintext := make([]byte, benchPlaintextSize)
	rand.Read(plaintext)
	sealed, err := kr.Seal(plaintext, "oauth_tokens.access:12345")
	if err != nil {
		b.Fatalf("Seal: %v", err)
	}

	b.SetBytes(benchPlaintextSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Open(sealed, "oauth_tokens.access:12345"); err != nil {
			b.Fatalf("Open: %v", err)
		}
	}
}
