package consent

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// knownReasons are the failure codes counted under their own name in the
// "reason" label: RFC 6749's authorization and token errors and
// Toolgate's own codes. Any other code counts as "other", so that a
// provider cannot grow the label without bound.
var knownReasons = []string{
	"access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable", "invalid_client", "invalid_grant",
	"unsupported_grant_type", "missing_access_token",
	codeProviderUnavailable, codeIssuerMismatch, codeMissingCode, codeInternalError,
}

func reasonLabel(code string) string {
	if slices.Contains(knownReasons, code) {
		return code
	}
	return "other"
}

// metrics holds the consent counters.
type metrics struct {
	started   *prometheus.CounterVec
	completed *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

// newMetrics creates the counters and registers them with reg unless reg
// is nil. When reg already holds equal counters, as with two Services in
// one process, the registered ones are shared. Another registration error
// is returned with counters that work but are not exported.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "toolgate", Subsystem: "consent", Name: "started_total",
			Help: "Consent flows started, by provider.",
		}, []string{"provider_id"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "toolgate", Subsystem: "consent", Name: "completed_total",
			Help: "Consent flows that stored tokens, by provider.",
		}, []string{"provider_id"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "toolgate", Subsystem: "consent", Name: "failed_total",
			Help: "Consent flows that ended failed, by provider and reason (an OAuth error code, a Toolgate code, or other).",
		}, []string{"provider_id", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []**prometheus.CounterVec{&m.started, &m.completed, &m.failed} {
		registered, err := register(reg, *c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*c = registered
	}
	return m, errors.Join(errs...)
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("consent: register metrics: %w", err)
}
