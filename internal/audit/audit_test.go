package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestRecordStoresAndCounts(t *testing.T) {
	st := storetest.NewSQLite(t)
	reg := prometheus.NewRegistry()
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	r := audit.New(st, &audit.Options{Registerer: reg, Now: func() time.Time { return at }})

	r.Record(context.Background(), audit.Event{
		Action: audit.TokenIssued, ActorID: "api_token:t1", UserID: "alice", ProviderID: "google",
		Outcome: audit.OK, Detail: map[string]any{"scopes": []string{"email"}},
	})

	events, err := st.ListAudit(context.Background(), store.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1", len(events))
	}
	e := events[0]
	if e.Action != audit.TokenIssued || e.ActorID != "api_token:t1" || e.UserID != "alice" || !e.At.Equal(at) {
		t.Errorf("stored event: got %+v", e)
	}
	var detail map[string][]string
	if err := json.Unmarshal(e.Detail, &detail); err != nil || detail["scopes"][0] != "email" {
		t.Errorf("detail: got %s, %v; want the scopes", e.Detail, err)
	}
	counter, err := testutil.GatherAndCount(reg, "toolgate_audit_events_total")
	if err != nil || counter != 1 {
		t.Errorf("counter series: got %d, %v; want 1", counter, err)
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	first, second := audit.NewID(at), audit.NewID(at.Add(time.Microsecond))
	if !(first < second) {
		t.Errorf("got %q >= %q, want ids in time order", first, second)
	}
	if len(first) != 24 {
		t.Errorf("id length: got %d, want 24", len(first))
	}
}

func TestNilRecorder(t *testing.T) {
	var r *audit.Recorder
	r.Record(context.Background(), audit.Event{Action: audit.Revoke}) // must not panic
}
