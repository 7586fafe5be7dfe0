// Package audit records who did what to whose connection: consents started,
// completed and failed, refreshes, revocations and tokens handed out. Each
// record is a row in the store, readable by admins, and a Prometheus counter
// increment.
//
// A Recorder never stores or counts a secret: callers pass identifiers and
// outcomes only, and Detail values are checked to be small flat JSON.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolgate/toolgate/internal/store"
)

// Actions recorded in the audit trail.
const (
	ConsentStarted   = "consent_started"
	ConsentCompleted = "consent_completed"
	ConsentFailed    = "consent_failed"
	RefreshOK        = "refresh_ok"
	RefreshFailed    = "refresh_failed"
	Revoke           = "revoke"
	TokenIssued      = "token_issued"
	ProviderCreated  = "provider_created"
	ProviderUpdated  = "provider_updated"
	ProviderDeleted  = "provider_deleted"
)

// Outcomes.
const (
	OK     = "ok"
	Failed = "failed"
)

// Event is one thing that happened.
type Event struct {
	Action string
	// ActorID is who caused it: a user id, "api_token:<id>", or "system"
	// for background work.
	ActorID string
	// UserID is whose connection it concerns.
	UserID     string
	ProviderID string
	Outcome    string
	// Detail holds small non-secret facts, such as an OAuth error code or
	// the scopes granted.
	Detail map[string]any
}

// Appender is the storage a Recorder writes to.
type Appender interface {
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
}

// Recorder writes events to the store and counts them. It is safe for
// concurrent use. A nil *Recorder records nothing, for tests.
type Recorder struct {
	store  Appender
	now    func() time.Time
	logger *slog.Logger
	events *prometheus.CounterVec
}

// Options configures a Recorder. Every field may be zero.
type Options struct {
	// Registerer receives the toolgate_audit_events_total counter; nil
	// registers nothing.
	Registerer prometheus.Registerer
	Now        func() time.Time
	Logger     *slog.Logger
}

// New returns a Recorder writing to st.
func New(st Appender, opts *Options) *Recorder {
	if opts == nil {
		opts = &Options{}
	}
	r := &Recorder{store: st, now: opts.Now, logger: opts.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	r.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_audit_events_total",
		Help: "Audit events recorded, by action and outcome: consents, refreshes, revocations and tokens handed out.",
	}, []string{"action", "outcome"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(r.events)
	}
	return r
}

// Record stores e and counts it. A storage failure is logged and does not
// fail the caller's operation, which has already happened; the counter
// still moves.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if r == nil {
		return
	}
	r.events.WithLabelValues(e.Action, e.Outcome).Inc()

	detail := json.RawMessage("{}")
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			r.logger.Error("audit detail not encodable", "action", e.Action, "err", err)
		} else {
			detail = b
		}
	}
	at := r.now()
	row := &store.AuditEvent{
		ID: NewID(at), At: at, Action: e.Action, ActorID: e.ActorID, UserID: e.UserID,
		ProviderID: e.ProviderID, Outcome: e.Outcome, Detail: detail,
	}
	// The event is stored even when the request that caused it was
	// cancelled, since what it records already happened.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.store.AppendAudit(ctx, row); err != nil {
		r.logger.Error("audit event not stored", "action", e.Action, "user_id", e.UserID,
			"provider_id", e.ProviderID, "err", err)
	}
}

// NewID returns an id that sorts by time: 16 hex digits of Unix
// microseconds, then 8 random hex digits so that ids at the same
// microsecond differ.
func NewID(at time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%s", at.UnixMicro(), hex.EncodeToString(b[:]))
}
