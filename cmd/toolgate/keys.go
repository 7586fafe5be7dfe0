package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/toolgate/toolgate/internal/keyring"
)

const keysUsage = `keys <generate|rotate|list|prune> [flags]

  generate  print a new key as "kid:base64key" for TOOLGATE_ENCRYPTION_KEYS
  rotate    re-encrypt every stored secret under a new key. With a key file,
            rotate first adds a new key at the top of the file. With
            TOOLGATE_ENCRYPTION_KEYS, put a key from "keys generate" first in
            the list, restart the servers, then run rotate.
  list      show the configured key ids and how many secrets each encrypts
  prune     remove keys that encrypt no secret from the key file

Servers seal new secrets with the key that was first when they started.
After a rotation, restart them and run rotate again; "keys list" shows
when an old key encrypts nothing and can be removed.`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: toolgate "+keysUsage)
		if len(args) == 0 {
			return usageError("missing subcommand: generate, rotate, list or prune")
		}
		return nil
	}
	sub, args := args[0], args[1:]

	var storage storageFlags
	var logFlags logFlags
	var id string
	batchSize := 500
	fs := newFlagSet("keys "+sub, keysUsage, stderr)
	switch sub {
	case "generate":
		fs.StringVar(&id, "id", "", "key id, 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-' (default: k<date>-<random>)")
	case "rotate", "list", "prune":
		storage.register(fs)
		logFlags.register(fs)
		if sub == "rotate" {
			fs.IntVar(&batchSize, "batch-size", batchSize, "secrets re-encrypted per database round trip")
		}
	default:
		return usageError("unknown keys subcommand %q: want generate, rotate, list or prune", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	if sub == "generate" {
		if id == "" {
			id = keyring.NewKeyID(time.Now())
		}
		key, err := keyring.Generate(id)
		if err != nil {
			return usageError("%v", err)
		}
		fmt.Fprintln(stdout, key.String())
		return nil
	}
	if batchSize <= 0 {
		return usageError("--batch-size must be positive")
	}
	logger, err := logFlags.logger(stderr)
	if err != nil {
		return err
	}
	s, err := storage.openStore(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	kr, err := storage.loadKeyring(logger, false)
	if err != nil {
		return err
	}
	fromEnv := os.Getenv(encryptionKeysEnv) != ""

	switch sub {
	case "rotate":
		if !fromEnv {
			key, err := keyring.Generate(keyring.NewKeyID(time.Now()))
			if err != nil {
				return err
			}
			kr, err = keyring.New(append([]keyring.Key{key}, kr.Keys()...)...)
			if err != nil {
				return err
			}
			if err := keyring.WriteFile(storage.keyFilePath(), kr); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added key %s at the top of %s\n", key.ID, storage.keyFilePath())
		}
		n, err := s.RewriteSealed(ctx, batchSize, kr.Reseal)
		if err != nil {
			return fmt.Errorf("rotate: %w (after %d secrets; run rotate again to finish)", err, n)
		}
		fmt.Fprintf(stdout, "re-encrypted %d secrets under key %s\n", n, kr.PrimaryID())
		return printKeyUsage(ctx, stdout, s, kr)
	case "list":
		return printKeyUsage(ctx, stdout, s, kr)
	default: // prune
		if fromEnv {
			return usageError("prune edits the key file; with %s, remove unused keys from the variable yourself (\"keys list\" shows them)", encryptionKeysEnv)
		}
		counts, err := s.SealedKeyIDs(ctx)
		if err != nil {
			return err
		}
		var keep []keyring.Key
		for i, key := range kr.Keys() {
			if i == 0 || counts[key.ID] > 0 {
				keep = append(keep, key)
			} else {
				fmt.Fprintf(stdout, "removed key %s\n", key.ID)
			}
		}
		pruned, err := keyring.New(keep...)
		if err != nil {
			return err
		}
		return keyring.WriteFile(storage.keyFilePath(), pruned)
	}
}

// printKeyUsage lists each key id with the number of secrets it encrypts,
// flagging ids that are used but not configured.
func printKeyUsage(ctx context.Context, w io.Writer, s interface {
	SealedKeyIDs(context.Context) (map[string]int64, error)
}, kr *keyring.Keyring) error {
	counts, err := s.SealedKeyIDs(ctx)
	if err != nil {
		return err
	}
	for i, kid := range kr.IDs() {
		role := ""
		if i == 0 {
			role = " (primary: encrypts new secrets)"
		}
		fmt.Fprintf(w, "%s\t%d secrets%s\n", kid, counts[kid], role)
	}
	var unknown []string
	for kid := range counts {
		if !kr.Has(kid) {
			unknown = append(unknown, kid)
		}
	}
	sort.Strings(unknown)
	for _, kid := range unknown {
		fmt.Fprintf(w, "%s\t%d secrets (NOT CONFIGURED: these cannot be decrypted)\n", kid, counts[kid])
	}
	return nil
}
