package postgres_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// TestConcurrentMigrate starts several "replicas" on one empty database at
// once: the advisory lock lets one migrate while the others wait, and all
// of them end at the latest version.
func TestConcurrentMigrate(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	ctx := context.Background()
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(ctx, slog.New(slog.DiscardHandler))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	current, latest, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if current != latest {
		t.Errorf("after concurrent migrations: got version %d, want %d", current, latest)
	}
}
