package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store/storetest"
)

// listenTimeout bounds each wait for a notification in these tests.
const listenTimeout = 10 * time.Second

func TestNotifyReachesListenerPostgres(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	listener := storetest.OpenPostgres(t, url)
	sender := storetest.OpenPostgres(t, url)

	ctx, cancel := context.WithCancel(context.Background())
	payloads := make(chan string, 16)
	lost := make(chan struct{}, 4)
	done := make(chan error, 1)
	go func() {
		done <- listener.Listen(ctx, "toolgate_test", func(p string) { payloads <- p }, func() { lost <- struct{}{} })
	}()

	if got := receive(t, payloads); got != "" {
		t.Fatalf("first call: got payload %q, want the empty connection signal", got)
	}
	if err := sender.Notify(ctx, "toolgate_test", "alice\x1fgoogle\x1f7"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, payloads); got != "alice\x1fgoogle\x1f7" {
		t.Errorf("payload: got %q, want alice\\x1fgoogle\\x1f7", got)
	}
	if err := sender.Notify(ctx, "another_channel", "ignored"); err != nil {
		t.Fatal(err)
	}

	// Kill the listener's connection; Listen must report the loss,
	// reconnect, say so with an empty payload, and deliver what is sent
	// afterwards.
	if _, err := sender.DB().ExecContext(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(listenTimeout):
		t.Fatal("Listen did not report the lost connection")
	}
	if got := receive(t, payloads); got != "" {
		t.Fatalf("after the connection was killed: got payload %q, want the empty reconnection signal", got)
	}
	if err := sender.Notify(ctx, "toolgate_test", "bob\x1fslack\x1f2"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, payloads); got != "bob\x1fslack\x1f2" {
		t.Errorf("payload after reconnecting: got %q, want bob\\x1fslack\\x1f2", got)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	case <-time.After(listenTimeout):
		t.Fatal("Listen did not return after its context ended")
	}
}

func TestNotifySQLiteIsLocal(t *testing.T) {
	st := storetest.NewSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if err := st.Notify(ctx, "toolgate_test", "payload"); err != nil {
		t.Errorf("Notify: %v, want nil (a no-op on SQLite)", err)
	}
	payloads := make(chan string, 4)
	done := make(chan error, 1)
	go func() { done <- st.Listen(ctx, "toolgate_test", func(p string) { payloads <- p }, nil) }()
	if got := receive(t, payloads); got != "" {
		t.Errorf("first call: got payload %q, want the empty connection signal", got)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	case <-time.After(listenTimeout):
		t.Fatal("Listen did not return after its context ended")
	}
}

func receive(t *testing.T, payloads <-chan string) string {
	t.Helper()
	select {
	case p := <-payloads:
		return p
	case <-time.After(listenTimeout):
		t.Fatal("no notification within the timeout")
		return ""
	}
}
