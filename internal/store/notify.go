package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Backoff between attempts of Listen to reconnect.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
)

// Notify sends payload to every listener on channel, in every process
// that shares the database. On PostgreSQL it runs pg_notify, so the
// notification is delivered once the surrounding transaction commits
// (immediately here, outside one), to listeners connected at that time,
// and PostgreSQL limits payloads to 8000 bytes. On SQLite it does
// nothing, because a SQLite database serves a single Toolgate process,
// which learns of its own writes without help.
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if s.dialect.Name() != "postgres" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("store: notify %s: %w", channel, err)
	}
	return nil
}

// Listen calls fn with the payload of every notification sent to channel
// until ctx ends, and then returns ctx's error. fn runs on Listen's
// goroutine, one call at a time, so a slow fn delays later notifications.
//
// After each connection is established, the first included, Listen
// calls fn with the empty payload. Notifications sent while Listen was
// not connected are lost, so a caller that caches must drop everything
// on that call. Callers must therefore not send empty payloads.
//
// When an established connection fails, Listen calls lost (if not nil)
// before it reconnects, so a caller that caches can stop trusting its
// cache until the next fn(""). A connection that dies silently is noticed
// only when its read fails, so callers must still bound how long they
// trust a cache.
//
// On PostgreSQL, Listen holds one pooled connection, taken through
// database/sql's Conn.Raw, for as long as it runs. When the connection
// fails it is discarded and Listen reconnects with exponential backoff
// (100 ms doubling to 10 s). On SQLite, which has no notifications,
// Listen calls fn("") once and blocks until ctx ends.
func (s *Store) Listen(ctx context.Context, channel string, fn func(payload string), lost func()) error {
	if s.dialect.Name() != "postgres" {
		fn("")
		<-ctx.Done()
		return ctx.Err()
	}

	backoff := listenMinBackoff
	for {
		// The connection's error is dropped: Listen retries until ctx ends,
		// and fn("") signals every new connection to the caller.
		connected, _ := s.listenOnce(ctx, channel, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			backoff = listenMinBackoff
			if lost != nil {
				lost()
			}
		}

		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce takes a connection, LISTENs on channel and delivers
// notifications until the connection fails or ctx ends. It reports
// whether LISTEN succeeded, so that Listen can reset its backoff.
func (s *Store) listenOnce(ctx context.Context, channel string, fn func(payload string)) (connected bool, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: listen %s: get connection: %w", channel, err)
	}
	defer conn.Close()

	err = conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: listen %s: driver connection is %T, want *stdlib.Conn", channel, driverConn)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return badConn(fmt.Errorf("store: listen %s: %w", channel, err))
		}
		connected = true
		fn("")

		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				// The connection is left inside a wait or LISTENing, so it
				// must not return to the pool either way.
				return badConn(fmt.Errorf("store: listen %s: wait: %w", channel, err))
			}
			fn(n.Payload)
		}
	})
	return connected, err
}

// badConn marks err so that database/sql discards the connection instead
// of returning it to the pool.
func badConn(err error) error {
	return errors.Join(err, driver.ErrBadConn)
}
