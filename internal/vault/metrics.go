package vault

import "github.com/prometheus/client_golang/prometheus"

// Values of the outcome label of toolgate_vault_refreshes_total, besides
// the oauthclient.Kind names (reauth, transient, failure).
const (
	outcomeOK      = "ok"
	outcomeFailure = "failure"
	// outcomeLost counts refreshes whose result a newer write replaced.
	outcomeLost = "lost"
)

type metrics struct {
	refreshes       *prometheus.CounterVec
	refreshWait     prometheus.Histogram
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	notifications   prometheus.Counter
	revocationQueue prometheus.Gauge
}

// newMetrics creates the vault's metrics and registers them with reg,
// unless reg is nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_vault_cache_lookups_total",
		Help: "Token reads by whether the in-process cache served them (hit) or the database did (miss).",
	}, []string{"result"})
	m := &metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolgate_vault_refreshes_total",
			Help: "Refresh requests sent to providers by outcome: ok, reauth, transient, failure, or lost (a newer write won).",
		}, []string{"outcome"}),
		refreshWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "toolgate_vault_refresh_wait_seconds",
			Help:    "Time a token read waited for a refresh, its own or another caller's or replica's.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20},
		}),
		cacheHits:   lookups.WithLabelValues("hit"),
		cacheMisses: lookups.WithLabelValues("miss"),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolgate_vault_cache_notifications_total",
			Help: "Write notifications received by the cache invalidation listener, from every replica including this one.",
		}),
		revocationQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolgate_vault_revocation_queue",
			Help: "Revocations waiting for a retry at their provider, as of this replica's last look.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.refreshes, m.refreshWait, lookups, m.notifications, m.revocationQueue)
	}
	return m
}
