package authn

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Sign-in results, the "result" label of toolgate_authn_sign_ins_total.
const (
	resultSuccess        = "success"
	resultProviderError  = "provider_error"
	resultInvalidState   = "invalid_state"
	resultExchangeFailed = "exchange_failed"
	resultInvalidIDToken = "invalid_id_token"
	resultInvalidClaims  = "invalid_claims"
	resultUnknownUser    = "unknown_user"
	resultCSRFFailed     = "csrf_failed"
	resultInternalError  = "internal_error"
)

// Reasons for rejecting a bearer token, the "reason" label of
// toolgate_authn_bearer_rejections_total.
const (
	reasonMalformed   = "malformed"
	reasonUnknown     = "unknown"
	reasonRevoked     = "revoked"
	reasonExpired     = "expired"
	reasonInvalidJWT  = "invalid_jwt"
	reasonUnsupported = "unsupported"
	reasonInternal    = "internal_error"
)

// metrics holds the package's counters.
type metrics struct {
	signIns        *prometheus.CounterVec
	bearerRejected *prometheus.CounterVec
}

// newMetrics creates the counters and registers them with reg unless reg is
// nil. When reg already holds equal counters, as after a second New with the
// same registry, the registered ones are shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "toolgate", Subsystem: "authn", Name: "sign_ins_total",
			Help: "Browser sign-ins by method (oidc, dev) and result (success or the reason for failure).",
		}, []string{"method", "result"}),
		bearerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "toolgate", Subsystem: "authn", Name: "bearer_rejections_total",
			Help: "Bearer tokens rejected with 401, by reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}

	var err error
	if m.signIns, err = register(reg, m.signIns); err != nil {
		return nil, err
	}
	if m.bearerRejected, err = register(reg, m.bearerRejected); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg and returns the collector to use: c, or the
// equal collector that reg already holds.
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
	return nil, fmt.Errorf("authn: register metrics: %w", err)
}

func (m *metrics) signIn(method, result string) {
	m.signIns.WithLabelValues(method, result).Inc()
}

func (m *metrics) rejectBearer(reason string) {
	m.bearerRejected.WithLabelValues(reason).Inc()
}
