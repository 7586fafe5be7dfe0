package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// encryptionKeysEnv holds the keyring as "kid:base64key,…". It has no flag,
// because a command line is visible to every user of the machine.
const encryptionKeysEnv = "TOOLGATE_ENCRYPTION_KEYS"

// storageFlags are the flags of every command that opens the database.
type storageFlags struct {
	database string
	keyFile  string
}

func (f *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.database, "database", "./toolgate.db",
		"database: a SQLite file path, or a postgres:// URL for several replicas")
	fs.StringVar(&f.keyFile, "key-file", "",
		"file holding the encryption keys when "+encryptionKeysEnv+" is unset;\n"+
			"created with mode 0600 on first start (default: toolgate.key next to a SQLite database)")
}

func (f *storageFlags) isPostgres() bool {
	return strings.HasPrefix(f.database, "postgres://") || strings.HasPrefix(f.database, "postgresql://")
}

// openStore opens the database and applies pending migrations.
func (f *storageFlags) openStore(ctx context.Context, logger *slog.Logger) (*store.Store, error) {
	var s *store.Store
	var err error
	if f.isPostgres() {
		s, err = postgres.Open(ctx, f.database)
	} else {
		s, err = sqlite.Open(ctx, f.database)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx, logger); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// keyFilePath returns the key file to use, or "" when none applies.
func (f *storageFlags) keyFilePath() string {
	if f.keyFile != "" {
		return f.keyFile
	}
	if f.isPostgres() {
		return ""
	}
	return filepath.Join(filepath.Dir(f.database), "toolgate.key")
}

// loadKeyring returns the keyring from TOOLGATE_ENCRYPTION_KEYS, or else
// from the key file, creating that file when create is true.
func (f *storageFlags) loadKeyring(logger *slog.Logger, create bool) (*keyring.Keyring, error) {
	if spec := os.Getenv(encryptionKeysEnv); spec != "" {
		kr, err := keyring.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", encryptionKeysEnv, err)
		}
		return kr, nil
	}
	path := f.keyFilePath()
	if path == "" {
		return nil, fmt.Errorf("no encryption keys: with PostgreSQL set %s (create a key with \"toolgate keys generate\") or --key-file", encryptionKeysEnv)
	}
	if !create {
		kr, err := keyring.LoadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load key file: %w", err)
		}
		return kr, nil
	}
	kr, created, err := keyring.LoadOrCreateFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if created {
		logger.Warn("created encryption key file; back it up, since secrets in the database cannot be read without it",
			"path", path, "key_id", kr.PrimaryID())
	} else {
		logger.Info("loaded encryption key file", "path", path, "key_ids", kr.IDs())
	}
	return kr, nil
}

// checkKeysInUse fails when the database holds secrets sealed under a key
// that the keyring lacks, naming the missing key ids, so that the server
// never starts unable to read its own secrets.
func checkKeysInUse(ctx context.Context, s *store.Store, kr *keyring.Keyring) error {
	counts, err := s.SealedKeyIDs(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for kid, n := range counts {
		if !kr.Has(kid) {
			missing = append(missing, fmt.Sprintf("%s (%d secrets)", kid, n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return errors.New("the database holds secrets encrypted with key id " + strings.Join(missing, ", ") +
		", which is not configured; add that key back to " + encryptionKeysEnv + " or the key file (configured: " +
		strings.Join(kr.IDs(), ", ") + ")")
}
