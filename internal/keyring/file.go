package keyring

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// maxKeyFileSize is the largest key file LoadFile reads. A line is about 80
// bytes, so this leaves room for thousands of keys and comments.
const maxKeyFileSize = 1 << 20

// keyFileHeader starts every file that WriteFile and LoadOrCreateFile write.
const keyFileHeader = `# Toolgate encryption keys, one "kid:base64key" per line.
# The first key seals new values; every key opens the values it sealed.
# Anyone who can read this file can decrypt the secrets in the database.
`

// LoadFile reads a key file and returns its Keyring. The file contains one
// "kid:base64key" per line, with the primary key on the first key line. Blank
// lines and lines whose first non-space character is '#' are ignored.
//
// LoadFile rejects a file that is not a regular file, and a file whose mode
// grants any permission to group or others, because the file contains the keys
// in clear. On Windows the mode bits do not describe access, so the
// permission check is skipped there.
func LoadFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: open key file: %w", err)
	}
	defer f.Close()

	// Check the opened file rather than the path, so that the file checked
	// is the file read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: stat key file: %w", err)
	}
	if err := checkKeyFileInfo(path, info); err != nil {
		return nil, err
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("keyring: key file %s is larger than %d bytes", path, maxKeyFileSize)
	}

	kr, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("keyring: key file %s: %w", path, err)
	}
	return kr, nil
}

// checkKeyFileInfo rejects a key file that is not a regular file or that group
// or others may access.
func checkKeyFileInfo(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("keyring: key file %s is not a regular file", path)
	}
	if runtime.GOOS == "windows" {
		// NOTE: Windows ACLs are not checked. Go reports 0666 or 0444 for every
		// file there, which does not reflect who can read it.
		return nil
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("keyring: key file %s has mode %04o, which lets group or others access it: run chmod 600 %s", path, perm, path)
	}
	return nil
}

// parseKeyFile parses the contents of a key file. Errors name the line number
// and never contain key bytes. The caller adds the "keyring: " prefix.
func parseKeyFile(data []byte) (*Keyring, error) {
	var (
		keys  []Key
		lines []int
	)
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		keys = append(keys, key)
		lines = append(lines, n)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys found: want one kid:base64key per line")
	}

	if err := checkDuplicateIDs(keys, lines, "line"); err != nil {
		return nil, err
	}
	return New(keys...)
}

// LoadOrCreateFile loads the key file at path, or creates it if it does not
// exist. A new file has mode 0600 and contains one generated key whose id is "k",
// the UTC date and a random suffix, for example "k20260115-3fa9". created
// reports whether the file was created by this call.
//
// The parent directory must exist. The file is created with O_EXCL, so an
// existing file is never replaced, and it is synced to disk together with its
// directory entry before LoadOrCreateFile returns.
func LoadOrCreateFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = LoadFile(path)
	if err == nil {
		return kr, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	key, err := Generate(NewKeyID(time.Now()))
	if err != nil {
		return nil, false, err
	}
	kr, err = New(key)
	if err != nil {
		return nil, false, err
	}

	err = createKeyFile(path, kr)
	if errors.Is(err, fs.ErrExist) {
		// Another process created the file after LoadFile failed, so use its
		// keys. NOTE: if that process has not finished writing the file yet,
		// LoadFile fails with "no keys found" and a restart is needed.
		kr, err = LoadFile(path)
		return kr, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

// createKeyFile writes kr to a new file at path with mode 0600. It fails with
// an error that wraps fs.ErrExist if the file exists. On a write error it
// removes the partly written file.
func createKeyFile(path string, kr *Keyring) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keyring: create key file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()

	if _, err := f.Write(formatKeyFile(kr)); err != nil {
		return fmt.Errorf("keyring: write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("keyring: sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keyring: close key file %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// WriteFile replaces the key file at path with the keys of kr, primary first,
// for example after a rotation has put a new key in front. The file always
// ends up with mode 0600.
//
// The replacement is atomic: WriteFile writes a temporary file in the same
// directory, syncs it and renames it over path, so a reader sees either the
// old file or the new one, never a mix. Comments in the old file are not kept.
func WriteFile(path string, kr *Keyring) (err error) {
	if len(kr.slots) == 0 {
		return errors.New("keyring: write key file: keyring is empty")
	}

	dir := filepath.Dir(path)
	// os.CreateTemp creates the file with mode 0600.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("keyring: create temporary key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	if _, err := f.Write(formatKeyFile(kr)); err != nil {
		return fmt.Errorf("keyring: write temporary key file %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("keyring: sync temporary key file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keyring: close temporary key file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keyring: replace key file: %w", err)
	}
	return syncDir(dir)
}

// formatKeyFile renders kr in the key file format, with a comment header.
func formatKeyFile(kr *Keyring) []byte {
	var b bytes.Buffer
	b.WriteString(keyFileHeader)
	for _, key := range kr.Keys() {
		b.WriteString(key.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// syncDir flushes the directory entry of a newly created or renamed file to
// disk, so that the file survives a crash.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// NOTE: skipped on Windows, where Go offers no way to sync a directory.
		// A crash there may lose a file that was just created or renamed.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: open directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyring: sync directory %s: %w", dir, err)
	}
	return nil
}

// NewKeyID returns a fresh key id of the form "k" + the UTC date of now as
// YYYYMMDD + "-" + 4 random hex digits, for example "k20260115-3fa9".
func NewKeyID(now time.Time) string {
	suffix := make([]byte, 2)
	rand.Read(suffix) // Since Go 1.24, rand.Read never returns an error.
	return "k" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(suffix)
}
