package consent_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestMetricsCountOutcomes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, storetest.NewSQLite(t), func(o *consent.Options) { o.Registerer = reg })

	ok := e.startPending(alice, consent.StartInput{})
	e.callback(e.svc, alice, e.visit(e.svc, ok, alice))
	e.as.Deny("access_denied")
	denied := e.startPending(bob, consent.StartInput{})
	e.callback(e.svc, bob, e.visit(e.svc, denied, bob))
	e.as.Deny("vendor_specific_refusal")
	odd := e.startPending("carol", consent.StartInput{})
	e.callback(e.svc, "carol", e.visit(e.svc, odd, "carol"))

	// A second Service on the same registry shares the counters.
	e.newService(e.st, e.vault)

	want := map[string]float64{
		`toolgate_consent_started_total{provider_id="acme"}`:                       3,
		`toolgate_consent_completed_total{provider_id="acme"}`:                     1,
		`toolgate_consent_failed_total{provider_id="acme",reason="access_denied"}`: 1,
		`toolgate_consent_failed_total{provider_id="acme",reason="other"}`:         1,
	}
	got := gatherCounters(t, reg)
	for series, value := range want {
		if got[series] != value {
			t.Errorf("%s: got %v, want %v", series, got[series], value)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series: got %v, want exactly %v", got, want)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, storetest.NewSQLite(t), func(o *consent.Options) { o.Logger = logger })

	id := e.startPending(alice, consent.StartInput{})
	query := e.visit(e.svc, id, alice)
	if _, err := e.svc.Callback(t.Context(), bob, query); err == nil {
		t.Fatalf("bob's callback: got no error")
	}
	e.callback(e.svc, alice, query)
	if _, err := e.svc.Callback(t.Context(), alice, query); err == nil {
		t.Fatalf("replayed callback: got no error")
	}

	logs := buf.String()
	for _, want := range []string{"consent started", "consent callback by another user", "consent completed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	saved, _ := e.vault.Get(alice, providerID)
	secrets := map[string]string{
		"state":         query.Get("state"),
		"code":          query.Get("code"),
		"access token":  saved.Response.AccessToken,
		"refresh token": saved.Response.RefreshToken,
		"client secret": e.as.ClientSecret,
	}
	for name, value := range secrets {
		if value == "" {
			t.Errorf("%s is empty; the check would prove nothing", name)
			continue
		}
		if strings.Contains(logs, value) {
			t.Errorf("logs contain the %s", name)
		}
	}
}

// gatherCounters returns every counter in reg as "name{labels}" → value.
func gatherCounters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, family := range families {
		for _, m := range family.GetMetric() {
			var labels []string
			for _, pair := range m.GetLabel() {
				labels = append(labels, pair.GetName()+`="`+pair.GetValue()+`"`)
			}
			out[family.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}
