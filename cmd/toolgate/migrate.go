package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var storage storageFlags
	var logFlags logFlags
	fs := newFlagSet("migrate", "migrate [flags]", stderr)
	storage.register(fs)
	logFlags.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
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
	current, _, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database is at schema version %d\n", current)
	return nil
}
