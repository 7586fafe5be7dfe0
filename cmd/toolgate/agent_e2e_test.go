package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store/storetest"
)

var transcriptOut = flag.String("agent-transcript", "",
	"file to write the event streams of the first agent scenario to, for docs/sse-protocol.md")

// TestAgentScenarios runs chat turns end to end through "toolgate serve":
// a fake model requests tools, the consent gate pauses the turn with
// oauth_required, the user consents at a real OpenID provider, and the
// same turn resumes. Each subtest checks the exact sequence of events.
func TestAgentScenarios(t *testing.T) {
	w := startAgentWorld(t)
	s := w.startGate(t, "main", filepath.Join(t.TempDir(), "toolgate.db"))
	w.register(t, s)

	t.Run("consent then resume", func(t *testing.T) { testConsentThenResume(t, w, s) })
	t.Run("two calls one consent", func(t *testing.T) { testTwoCallsOneConsent(t, w, s) })
	t.Run("ungated result kept", func(t *testing.T) { testUngatedResultKept(t, w, s) })
	t.Run("declined", func(t *testing.T) { testDeclined(t, w, s) })
	t.Run("unknown interrupt id", func(t *testing.T) { testUnknownInterruptID(t, w, s) })
	t.Run("pause expiry", func(t *testing.T) { testPauseExpiry(t, w) })
	t.Run("resume after restart", func(t *testing.T) { testResumeAfterRestart(t, w) })
	t.Run("resume on second replica", func(t *testing.T) { testResumeOnSecondReplica(t, w) })
	t.Run("revoked at provider", func(t *testing.T) { testRevokedAtProvider(t, w, s) })
	t.Run("server always 401", func(t *testing.T) { testServerAlways401(t, w, s) })
	t.Run("unreachable server", func(t *testing.T) { testUnreachableServer(t, w, s) })
	t.Run("new message while paused", func(t *testing.T) { testNewMessageWhilePaused(t, w, s) })
	t.Run("other user and dismiss", func(t *testing.T) { testOtherUserAndDismiss(t, w, s) })
}

// pauseOnCalendar sends a message that makes the model list the calendar
// and checks that the turn pauses for corp. It returns the oauth_required
// event.
func pauseOnCalendar(t *testing.T, w *agentWorld, s *servedToolgate, browser *http.Client, session, text string) sseEvent {
	t.Helper()
	w.model.plan(text, plannedCall{Name: "calendar__list_events", Arguments: "{}"})
	paused := postTurn(t, browser, s, session, messageBody(text))
	paused.wantNames(t, "turn_start", "tool_use", "oauth_required", "done")
	if done := paused.one(t, "done"); done.field("stop_reason") != "interrupt" {
		t.Fatalf("done: got %s, want stop_reason interrupt", done.Data)
	}
	return paused.one(t, "oauth_required")
}

// wantCalendarAnswer checks a resumed turn that ran one calendar call.
func wantCalendarAnswer(t *testing.T, resumed *turnStream, user string) {
	t.Helper()
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "text_delta", "done")
	result := resumed.one(t, "tool_result")
	if result.field("status") != "done" || !strings.Contains(result.field("content"), "calendar of "+user) {
		t.Errorf("tool_result: got %s, want status done with %s's calendar", result.Data, user)
	}
	if !strings.Contains(resumed.text(), "calendar of "+user) {
		t.Errorf("answer: got %q, want it to quote %s's calendar", resumed.text(), user)
	}
	if done := resumed.one(t, "done"); done.field("stop_reason") != "end_turn" {
		t.Errorf("done: got %s, want stop_reason end_turn", done.Data)
	}
}

// testConsentThenResume: a call without a token pauses the turn. After
// the consent the same turn runs the call, and the answer quotes its
// output.
func testConsentThenResume(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "ana"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	w.model.plan("What is on my calendar?", plannedCall{Name: "calendar__list_events", Arguments: "{}"})

	paused := postTurn(t, browser, s, session, messageBody("What is on my calendar?"))
	paused.wantNames(t, "turn_start", "tool_use", "oauth_required", "done")
	start := paused.one(t, "turn_start")
	if start.field("resumed") != "false" || start.field("model") != "gpt-test" {
		t.Errorf("turn_start: got %s, want model gpt-test and resumed false", start.Data)
	}
	use := paused.one(t, "tool_use")
	if use.field("name") != "calendar__list_events" || use.field("server_id") != "calendar" || use.field("tool") != "list_events" {
		t.Errorf("tool_use: got %s, want calendar__list_events on server calendar", use.Data)
	}
	required := paused.one(t, "oauth_required")
	if required.field("provider_id") != "corp" || required.field("reason") != "not_connected" ||
		required.field("tool_use_id") != use.field("tool_use_id") || required.field("consent_id") == "" {
		t.Errorf("oauth_required: got %s, want provider corp, reason not_connected, the call's tool_use_id and a consent id", required.Data)
	}
	if want := s.URL + "/connect/" + required.field("consent_id"); required.field("authorization_url") != want {
		t.Errorf("authorization_url: got %q, want %q", required.field("authorization_url"), want)
	}
	if done := paused.one(t, "done"); done.field("stop_reason") != "interrupt" || done.field("turn_id") != start.field("turn_id") {
		t.Errorf("done: got %s, want stop_reason interrupt for turn %s", done.Data, start.field("turn_id"))
	}
	detail := getSession(t, browser, s, session)
	if !detail.Paused || len(detail.PendingInterrupts) != 1 || detail.PendingInterrupts[0].InterruptID != required.field("interrupt_id") {
		t.Errorf("session while paused: got paused %v, interrupts %+v; want the one interrupt", detail.Paused, detail.PendingInterrupts)
	}

	w.consent(t, browser, required.field("authorization_url"), user, true)
	resumed := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "text_delta", "done")
	if rs := resumed.one(t, "turn_start"); rs.field("resumed") != "true" || rs.field("turn_id") != start.field("turn_id") {
		t.Errorf("resumed turn_start: got %s, want resumed true and turn %s", rs.Data, start.field("turn_id"))
	}
	result := resumed.one(t, "tool_result")
	if result.field("status") != "done" || result.field("is_error") != "false" || result.field("tool_use_id") != use.field("tool_use_id") {
		t.Errorf("tool_result: got %s, want status done for %s", result.Data, use.field("tool_use_id"))
	}
	if content := result.field("content"); !strings.Contains(content, "calendar of "+user) || !strings.Contains(content, "Team standup") {
		t.Errorf("tool_result content: got %q, want %s's calendar", content, user)
	}
	if text := resumed.text(); !strings.Contains(text, result.field("content")) {
		t.Errorf("answer: got %q, want it to quote the tool output %q", text, result.field("content"))
	}
	if done := resumed.one(t, "done"); done.field("stop_reason") != "end_turn" {
		t.Errorf("done: got %s, want stop_reason end_turn", done.Data)
	}

	detail = getSession(t, browser, s, session)
	if detail.Paused || len(detail.PendingInterrupts) != 0 {
		t.Errorf("session after resume: got paused %v and interrupts %+v, want neither", detail.Paused, detail.PendingInterrupts)
	}
	var roles []string
	for _, m := range detail.Messages {
		roles = append(roles, m.Role)
	}
	if want := []string{"user", "assistant", "user", "assistant"}; !slices.Equal(roles, want) {
		t.Fatalf("session messages: got roles %v, want %v", roles, want)
	}
	if call := detail.Messages[1].ToolCalls; len(call) != 1 || call[0].Status != "done" {
		t.Errorf("stored tool call: got %+v, want one with status done", call)
	}
	if answer := detail.Messages[3].Text; answer != resumed.text() {
		t.Errorf("stored answer: got %q, want the streamed %q", answer, resumed.text())
	}

	transcript := "POST /api/v1/sessions/" + session + "/turns\n" + messageBody("What is on my calendar?") + "\n\n" + paused.Body +
		"POST /api/v1/sessions/" + session + "/turns\n" + resumeBody("consented", required.field("interrupt_id")) + "\n\n" + resumed.Body
	if *transcriptOut != "" {
		if err := os.WriteFile(*transcriptOut, []byte(transcript), 0o644); err != nil {
			t.Errorf("write transcript: %v", err)
		}
	}
	compareGolden(t, filepath.Join("testdata", "agent_consent_resume.golden"), normalizeTranscript(transcript))
}

var updateGolden = flag.Bool("update-agent-golden", false, "rewrite the agent scenarios' golden transcripts in testdata")

// transcriptIDs match the values of a transcript that change from run to
// run: generated ids, loopback ports and the calendar's dates, which
// count from today. Runtime ids are a prefix and 16 base64url characters,
// and consent ids a prefix and 22.
var transcriptIDs = regexp.MustCompile(`\b(ses_|turn_|msg_|intr:)[A-Za-z0-9_-]{16}|\bcns_[A-Za-z0-9_-]{22}|127\.0\.0\.1:[0-9]+|\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b`)

// normalizeTranscript replaces each distinct changing value by a numbered
// placeholder of its kind, such as <msg_1>, so that the golden file still
// shows which events name the same message or interrupt.
func normalizeTranscript(transcript string) string {
	seen := map[string]string{}
	counts := map[string]int{}
	return transcriptIDs.ReplaceAllStringFunc(transcript, func(value string) string {
		if placeholder, ok := seen[value]; ok {
			return placeholder
		}
		kind := "date"
		switch {
		case strings.HasPrefix(value, "127.0.0.1:"):
			kind = "host"
		case strings.HasPrefix(value, "intr:"):
			kind = "intr"
		case strings.Contains(value, "_"):
			kind = value[:strings.Index(value, "_")]
		}
		counts[kind]++
		seen[value] = fmt.Sprintf("<%s_%d>", kind, counts[kind])
		return seen[value]
	})
}

// compareGolden fails the test unless got equals the file at path, or
// rewrites the file with -update-agent-golden.
func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden transcript (create it with -update-agent-golden): %v", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (rerun with -update-agent-golden if the change is intended):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// testTwoCallsOneConsent: two calls to one provider in one step pause with
// two interrupts that share one consent, and one consent runs both.
func testTwoCallsOneConsent(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "ben"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	const text = "List my calendar and add a review"
	w.model.plan(text,
		plannedCall{Name: "calendar__list_events", Arguments: "{}"},
		plannedCall{Name: "calendar__create_event", Arguments: `{"title":"Design review","date":"2030-01-02","time":"10:00"}`})

	paused := postTurn(t, browser, s, session, messageBody(text))
	paused.wantNames(t, "turn_start", "tool_use", "tool_use", "oauth_required", "oauth_required", "done")
	required := paused.all("oauth_required")
	uses := paused.all("tool_use")
	if required[0].field("interrupt_id") == required[1].field("interrupt_id") {
		t.Errorf("interrupt ids: both are %q, want distinct ids", required[0].field("interrupt_id"))
	}
	if required[0].field("consent_id") != required[1].field("consent_id") {
		t.Errorf("consent ids: got %q and %q, want one consent for the provider", required[0].field("consent_id"), required[1].field("consent_id"))
	}
	for i := range required {
		if required[i].field("tool_use_id") != uses[i].field("tool_use_id") {
			t.Errorf("oauth_required %d: got tool_use_id %q, want %q", i, required[i].field("tool_use_id"), uses[i].field("tool_use_id"))
		}
	}
	if detail := getSession(t, browser, s, session); len(detail.PendingInterrupts) != 2 {
		t.Errorf("pending interrupts: got %+v, want 2", detail.PendingInterrupts)
	}

	w.consent(t, browser, required[0].field("authorization_url"), user, true)
	resumed := postTurn(t, browser, s, session,
		resumeBody("consented", required[0].field("interrupt_id"), required[1].field("interrupt_id")))
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "tool_use", "tool_result", "text_delta", "done")
	results := resumed.all("tool_result")
	for i, r := range results {
		if r.field("status") != "done" || r.field("tool_use_id") != uses[i].field("tool_use_id") {
			t.Errorf("tool_result %d: got %s, want status done for %s", i, r.Data, uses[i].field("tool_use_id"))
		}
	}
	if !strings.Contains(results[1].field("content"), `Created "Design review" on 2030-01-02 at 10:00`) {
		t.Errorf("create_event result: got %q, want the created event", results[1].field("content"))
	}
	if text := resumed.text(); !strings.Contains(text, results[0].field("content")) || !strings.Contains(text, results[1].field("content")) {
		t.Errorf("answer: got %q, want both tool outputs", text)
	}
}

// testUngatedResultKept: in a step with a gated and an ungated call, the
// ungated call runs before the pause, and its result is kept for the
// model after the resume.
func testUngatedResultKept(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "cai"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	const text = "Check my calendar and echo hello"
	w.model.plan(text,
		plannedCall{Name: "calendar__list_events", Arguments: "{}"},
		plannedCall{Name: "everything__echo", Arguments: `{"message":"hello from cai"}`})

	paused := postTurn(t, browser, s, session, messageBody(text))
	paused.wantNames(t, "turn_start", "tool_use", "tool_use", "tool_result", "oauth_required", "done")
	uses := paused.all("tool_use")
	echo := paused.one(t, "tool_result")
	if echo.field("tool_use_id") != uses[1].field("tool_use_id") || echo.field("status") != "done" ||
		!strings.Contains(echo.field("content"), "hello from cai") {
		t.Errorf("echo result before the pause: got %s, want the echo of %s", echo.Data, uses[1].field("tool_use_id"))
	}
	required := paused.one(t, "oauth_required")
	if required.field("tool_use_id") != uses[0].field("tool_use_id") {
		t.Errorf("oauth_required: got tool_use_id %q, want the calendar call %q", required.field("tool_use_id"), uses[0].field("tool_use_id"))
	}

	w.consent(t, browser, required.field("authorization_url"), user, true)
	resumed := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	wantCalendarAnswer(t, resumed, user)
	if !strings.Contains(resumed.text(), "hello from cai") {
		t.Errorf("answer: got %q, want it to quote the echo result from before the pause", resumed.text())
	}

	// The model got both results, in the order of the calls.
	var toolIDs []string
	for _, m := range w.model.lastRequest().Messages {
		if m.Role == "tool" {
			toolIDs = append(toolIDs, m.ToolCallID)
		}
	}
	if want := []string{uses[0].field("tool_use_id"), uses[1].field("tool_use_id")}; !slices.Equal(toolIDs, want) {
		t.Errorf("tool results sent to the model: got ids %v, want %v", toolIDs, want)
	}
}

// testDeclined: the user denies at the provider and the client responds
// with declined. The model learns that the user did not authorize the
// provider, and ends the turn with text.
func testDeclined(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "dia"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")

	w.consent(t, browser, required.field("authorization_url"), user, false)
	var status struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	decodeJSONBody(t, mustDo(t, browser, s, http.MethodGet, "/api/v1/consents/"+required.field("consent_id"), "", http.StatusOK), &status)
	if status.Status != "failed" || status.Error != "access_denied" {
		t.Errorf("consent after deny: got %+v, want failed with access_denied", status)
	}

	resumed := postTurn(t, browser, s, session, resumeBody("declined", required.field("interrupt_id")))
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "text_delta", "done")
	result := resumed.one(t, "tool_result")
	if result.field("status") != "not_authorized" || result.field("is_error") != "true" ||
		!strings.Contains(result.field("content"), "did not authorize corp") {
		t.Errorf("tool_result: got %s, want not_authorized saying the user did not authorize corp", result.Data)
	}
	if !strings.Contains(resumed.text(), "did not authorize corp") {
		t.Errorf("answer: got %q, want the model to have seen the refusal", resumed.text())
	}
	if done := resumed.one(t, "done"); done.field("stop_reason") != "end_turn" {
		t.Errorf("done: got %s, want stop_reason end_turn", done.Data)
	}
}

// testUnknownInterruptID: a resume naming an interrupt that is not the
// paused turn's is rejected before the stream, listing the unknown ids,
// and changes nothing.
func testUnknownInterruptID(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "eli"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")

	tests := []struct {
		name string
		ids  []string
	}{
		{"only unknown", []string{"intr:not-this-one"}},
		{"known and unknown", []string{required.field("interrupt_id"), "intr:not:this:one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := postTurn(t, browser, s, session, resumeBody("consented", tt.ids...))
			if rejected.Status != http.StatusBadRequest {
				t.Fatalf("resume: got %d %s, want 400", rejected.Status, rejected.Body)
			}
			var p struct {
				Code       string   `json:"code"`
				UnknownIDs []string `json:"unknown_interrupt_ids"`
			}
			decodeJSONBody(t, rejected.Body, &p)
			if want := tt.ids[len(tt.ids)-1:]; !slices.Equal(p.UnknownIDs, want) || p.Code != "invalid_field" {
				t.Errorf("problem: got code %q, unknown ids %v; want invalid_field and %v", p.Code, p.UnknownIDs, want)
			}
			detail := getSession(t, browser, s, session)
			if !detail.Paused || len(detail.PendingInterrupts) != 1 {
				t.Errorf("session after the rejected resume: got paused %v, interrupts %+v; want it unchanged", detail.Paused, detail.PendingInterrupts)
			}
		})
	}

	// A new message that is rejected before it starts does not replace
	// the paused turn.
	badModel := postTurn(t, browser, s, session, `{"message":"Use another model","model":"no-such-model"}`)
	if badModel.Status != http.StatusBadRequest || !strings.Contains(badModel.Body, `"field":"model"`) {
		t.Errorf("message with an unknown model: got %d %s, want 400 naming the model field", badModel.Status, badModel.Body)
	}
	badServer := postTurn(t, browser, s, session, `{"message":"Use another server","mcp_servers":["no-such-server"]}`)
	if badServer.Status != http.StatusBadRequest {
		t.Errorf("message with an unknown MCP server: got %d %s, want 400", badServer.Status, badServer.Body)
	}
	if detail := getSession(t, browser, s, session); !detail.Paused || len(detail.PendingInterrupts) != 1 {
		t.Errorf("session after the rejected messages: got paused %v, interrupts %+v; want it unchanged", detail.Paused, detail.PendingInterrupts)
	}

	w.consent(t, browser, required.field("authorization_url"), user, true)
	wantCalendarAnswer(t, postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id"))), user)

	// The turn is no longer paused, so the same response again has nothing
	// to resume.
	again := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	if again.Status != http.StatusConflict || !strings.Contains(again.Body, "nothing_to_resume") {
		t.Errorf("second resume: got %d %s, want 409 nothing_to_resume", again.Status, again.Body)
	}
}

// testPauseExpiry: a paused turn cannot be resumed after --pause-ttl, but
// a new message still works. Here no admin fetched the calendar's
// catalog: the first turn lists its tools without a token, which the
// calendar allows, so the model can call it and start the consent.
func testPauseExpiry(t *testing.T, w *agentWorld) {
	s := w.startGate(t, "ttl", filepath.Join(t.TempDir(), "toolgate.db"), "--pause-ttl", "1s")
	w.registerServers(t, s)
	const user = "fay"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")

	time.Sleep(1100 * time.Millisecond)
	expired := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	if expired.Status != http.StatusConflict || !strings.Contains(expired.Body, "paused turn expired; send the message again") {
		t.Fatalf("resume after expiry: got %d %s, want 409 saying the paused turn expired", expired.Status, expired.Body)
	}
	if detail := getSession(t, browser, s, session); detail.Paused || len(detail.PendingInterrupts) != 0 {
		t.Errorf("session after expiry: got paused %v, interrupts %+v; want neither", detail.Paused, detail.PendingInterrupts)
	}

	fresh := postTurn(t, browser, s, session, messageBody("Hello again"))
	fresh.wantNames(t, "turn_start", "text_delta", "done")
	if !strings.Contains(fresh.text(), "Hello again") {
		t.Errorf("answer: got %q", fresh.text())
	}
}

// testResumeAfterRestart: a turn paused on one server process resumes on
// the next one, started on the same SQLite file.
func testResumeAfterRestart(t *testing.T, w *agentWorld) {
	db := filepath.Join(t.TempDir(), "toolgate.db")
	first := w.startGate(t, "restart", db)
	w.register(t, first)
	const user = "gus"
	browser := devClient(t, first, user)
	session := newSession(t, browser, first)
	required := pauseOnCalendar(t, w, first, browser, session, "What is on my calendar?")
	if code := first.stop(); code != 0 {
		t.Fatalf("stop the first server: exit %d\n%s", code, first.logs.String())
	}

	second := w.startGate(t, "restart", db)
	w.consent(t, browser, required.field("authorization_url"), user, true)
	wantCalendarAnswer(t, postTurn(t, browser, second, session, resumeBody("consented", required.field("interrupt_id"))), user)
}

// testResumeOnSecondReplica: two replicas share one PostgreSQL database;
// a turn paused on one is consented and resumed on the other.
func testResumeOnSecondReplica(t *testing.T, w *agentWorld) {
	database := storetest.NewPostgresURL(t)
	code, key, errOut := runCommand(t, nil, "keys", "generate", "--id", "replicas")
	if code != 0 {
		t.Fatalf("keys generate: exit %d %s", code, errOut)
	}
	t.Setenv(encryptionKeysEnv, strings.TrimSpace(key))
	a := w.startGate(t, "replica-a", database)
	b := w.startGate(t, "replica-b", database)
	w.register(t, a)

	const user = "hal"
	onA := devClient(t, a, user)
	session := newSession(t, onA, a)
	required := pauseOnCalendar(t, w, a, onA, session, "What is on my calendar?")

	onB := devClient(t, b, user)
	if detail := getSession(t, onB, b, session); !detail.Paused || len(detail.PendingInterrupts) != 1 {
		t.Errorf("session seen on replica B: got paused %v, interrupts %+v; want the interrupt from A", detail.Paused, detail.PendingInterrupts)
	}
	consentOnB := strings.Replace(required.field("authorization_url"), a.URL, b.URL, 1)
	w.consent(t, onB, consentOnB, user, true)
	wantCalendarAnswer(t, postTurn(t, onB, b, session, resumeBody("consented", required.field("interrupt_id"))), user)
}

// testRevokedAtProvider: after the user revokes the grant at the provider,
// the next call gets 401, the silent refresh fails with invalid_grant, and
// the turn requests consent again and then completes.
func testRevokedAtProvider(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "ida"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")
	w.consent(t, browser, required.field("authorization_url"), user, true)
	wantCalendarAnswer(t, postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id"))), user)

	w.idp.RevokeGrants(t, user)
	again := pauseOnCalendar(t, w, s, browser, session, "And now?")
	if again.field("reason") != "token_rejected" || again.field("consent_id") == required.field("consent_id") {
		t.Errorf("oauth_required after the revocation: got %s, want reason token_rejected and a new consent", again.Data)
	}
	// The model numbers each message's calls from 1, so both turns have a
	// call_1. Each call's status must come from its own step.
	detail := getSession(t, browser, s, session)
	var statuses []string
	for _, m := range detail.Messages {
		for _, c := range m.ToolCalls {
			statuses = append(statuses, c.ID+"="+c.Status)
		}
	}
	if want := []string{"call_1=done", "call_1=awaiting_authorization"}; !slices.Equal(statuses, want) {
		t.Errorf("tool call statuses: got %v, want %v", statuses, want)
	}
	w.consent(t, browser, again.field("authorization_url"), user, true)
	wantCalendarAnswer(t, postTurn(t, browser, s, session, resumeBody("consented", again.field("interrupt_id"))), user)
}

// testServerAlways401: a server that rejects every token prompts the user
// once in the turn. After the consent, its second rejection goes to the
// model as an error result, and the turn ends normally.
func testServerAlways401(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "jon"
	browser := devClient(t, s, user)
	w.connect(t, s, browser, user)
	session := newSession(t, browser, s)
	const text = "Ping the brittle server"
	w.model.plan(text, plannedCall{Name: "brittle__ping", Arguments: "{}"})

	paused := postTurn(t, browser, s, session, messageBody(text))
	paused.wantNames(t, "turn_start", "tool_use", "oauth_required", "done")
	required := paused.one(t, "oauth_required")
	if required.field("reason") != "token_rejected" {
		t.Errorf("oauth_required: got %s, want reason token_rejected", required.Data)
	}

	// After the second rejection the model tries once more, as models do;
	// the user is not asked again in this turn.
	w.model.planRetry("rejected", plannedCall{Name: "brittle__ping", Arguments: "{}"})
	w.consent(t, browser, required.field("authorization_url"), user, true)
	resumed := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "tool_use", "tool_result", "text_delta", "done")
	results := resumed.all("tool_result")
	for i, result := range results {
		if result.field("status") != "failed" || result.field("is_error") != "true" {
			t.Errorf("tool_result %d: got %s, want a failed result", i, result.Data)
		}
	}
	if !strings.Contains(results[0].field("content"), "rejected") {
		t.Errorf("tool_result: got %s, want it to say the server rejected the token", results[0].Data)
	}
	if !strings.Contains(results[1].field("content"), "already asked") {
		t.Errorf("retried tool_result: got %s, want it to say the user was already asked in this turn", results[1].Data)
	}
	if done := resumed.one(t, "done"); done.field("stop_reason") != "end_turn" {
		t.Errorf("done: got %s, want stop_reason end_turn", done.Data)
	}
}

// testUnreachableServer: a server that does not answer gets a warning,
// and the turn goes on with the other servers' tools.
func testUnreachableServer(t *testing.T, w *agentWorld, s *servedToolgate) {
	alice := devClient(t, s, "alice")
	offline := "http://127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t)) + "/mcp"
	mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers",
		`{"id":"offline","display_name":"Offline","url":"`+offline+`","allowed_roles":["offline"],"timeout":"2s"}`, http.StatusCreated)

	const user = "kim"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	const text = "Echo something"
	w.model.plan(text, plannedCall{Name: "everything__echo", Arguments: `{"message":"still here"}`})
	stream := postTurn(t, browser, s, session, messageBody(text))
	stream.wantNames(t, "turn_start", "warning", "tool_use", "tool_result", "text_delta", "done")
	warning := stream.one(t, "warning")
	if warning.field("code") != "mcp_server_unavailable" || warning.field("server_id") != "offline" {
		t.Errorf("warning: got %s, want mcp_server_unavailable for offline", warning.Data)
	}
	if result := stream.one(t, "tool_result"); result.field("status") != "done" || !strings.Contains(result.field("content"), "still here") {
		t.Errorf("tool_result: got %s, want the echo", result.Data)
	}
	for _, tool := range w.model.lastRequest().Tools {
		if strings.HasPrefix(tool.Function.Name, "offline__") {
			t.Errorf("the model was offered %s of the unreachable server", tool.Function.Name)
		}
	}
}

// testNewMessageWhilePaused: a new message replaces the paused turn: its
// pending call gets a cancelled result, its interrupts leave the session,
// and the new turn runs.
func testNewMessageWhilePaused(t *testing.T, w *agentWorld, s *servedToolgate) {
	const user = "lea"
	browser := devClient(t, s, user)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")

	fresh := postTurn(t, browser, s, session, messageBody("Never mind, just say hi"))
	fresh.wantNames(t, "turn_start", "text_delta", "done")
	if start := fresh.one(t, "turn_start"); start.field("resumed") != "false" {
		t.Errorf("turn_start: got %s, want a new turn", start.Data)
	}

	detail := getSession(t, browser, s, session)
	if detail.Paused || len(detail.PendingInterrupts) != 0 {
		t.Errorf("session: got paused %v, interrupts %+v; want neither", detail.Paused, detail.PendingInterrupts)
	}
	var roles []string
	for _, m := range detail.Messages {
		roles = append(roles, m.Role)
	}
	if want := []string{"user", "assistant", "user", "user", "assistant"}; !slices.Equal(roles, want) {
		t.Fatalf("messages: got roles %v, want %v", roles, want)
	}
	if calls := detail.Messages[1].ToolCalls; len(calls) != 1 || calls[0].Status != "cancelled" {
		t.Errorf("paused call: got %+v, want status cancelled", calls)
	}
	if results := detail.Messages[2].ToolResults; len(results) != 1 || results[0].Status != "cancelled" ||
		!strings.Contains(results[0].Content, "new message") {
		t.Errorf("paused call's result: got %+v, want a cancelled result naming the new message", results)
	}

	// The model saw the cancelled result before the new message.
	msgs := w.model.lastRequest().Messages
	if n := len(msgs); n < 2 || msgs[n-2].Role != "tool" || !strings.Contains(msgs[n-2].text(), "Cancelled") || msgs[n-1].text() != "Never mind, just say hi" {
		t.Errorf("model request: got %+v, want the cancelled tool result then the new message", msgs)
	}

	stale := postTurn(t, browser, s, session, resumeBody("consented", required.field("interrupt_id")))
	if stale.Status != http.StatusConflict {
		t.Errorf("resume of the replaced turn: got %d %s, want 409", stale.Status, stale.Body)
	}
}

// testOtherUserAndDismiss: another user can neither see nor resume a
// session. Dismissing an interrupt is idempotent and takes ids with
// colons.
func testOtherUserAndDismiss(t *testing.T, w *agentWorld, s *servedToolgate) {
	const owner = "max"
	browser := devClient(t, s, owner)
	session := newSession(t, browser, s)
	required := pauseOnCalendar(t, w, s, browser, session, "What is on my calendar?")
	interrupt := required.field("interrupt_id")
	if !strings.Contains(interrupt, ":") {
		t.Fatalf("interrupt id %q has no colon; this test needs one", interrupt)
	}

	other := devClient(t, s, "ned")
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/sessions/" + session, ""},
		{http.MethodPost, "/api/v1/sessions/" + session + "/turns", resumeBody("consented", interrupt)},
		{http.MethodPost, "/api/v1/sessions/" + session + "/turns", messageBody("hello")},
		{http.MethodDelete, "/api/v1/sessions/" + session + "/pending-interrupts/" + interrupt, ""},
	} {
		if status, body := do(t, other, s, req.method, req.path, req.body); status != http.StatusNotFound {
			t.Errorf("another user's %s %s: got %d %s, want 404", req.method, req.path, status, body)
		}
	}
	var list struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	decodeJSONBody(t, mustDo(t, other, s, http.MethodGet, "/api/v1/sessions", "", http.StatusOK), &list)
	for _, sess := range list.Sessions {
		if sess.ID == session {
			t.Errorf("another user's session list contains %s", session)
		}
	}
	if detail := getSession(t, browser, s, session); len(detail.PendingInterrupts) != 1 {
		t.Fatalf("owner's session after the other user's requests: got interrupts %+v, want 1", detail.PendingInterrupts)
	}

	paths := []string{
		"/api/v1/sessions/" + session + "/pending-interrupts/" + interrupt,
		"/api/v1/sessions/" + session + "/pending-interrupts/" + strings.ReplaceAll(interrupt, ":", "%3A"),
		"/api/v1/sessions/" + session + "/pending-interrupts/intr:no:such:interrupt",
	}
	for _, path := range paths {
		mustDo(t, browser, s, http.MethodDelete, path, "", http.StatusNoContent)
	}
	detail := getSession(t, browser, s, session)
	if len(detail.PendingInterrupts) != 0 || !detail.Paused {
		t.Errorf("session after dismissing: got paused %v, interrupts %+v; want paused with no pending interrupt", detail.Paused, detail.PendingInterrupts)
	}
	if calls := detail.Messages[1].ToolCalls; len(calls) != 1 || calls[0].Status != "awaiting_authorization" {
		t.Errorf("dismissed call: got %+v, want it still awaiting authorization", calls)
	}

	// The dismissed call still resumes, and without a connection it counts
	// as not authorized.
	resumed := postTurn(t, browser, s, session, resumeBody("consented", interrupt))
	resumed.wantNames(t, "turn_start", "tool_use", "tool_result", "text_delta", "done")
	if result := resumed.one(t, "tool_result"); result.field("status") != "not_authorized" {
		t.Errorf("tool_result: got %s, want not_authorized", result.Data)
	}
}

func TestAgentFlagsRejected(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"zero pause ttl", []string{"--pause-ttl", "0s"}, "--pause-ttl 0s"},
		{"negative pause ttl", []string{"--pause-ttl", "-1m"}, "--pause-ttl -1m0s"},
		{"zero iterations", []string{"--max-iterations", "0"}, "--max-iterations 0: want 1 to 50"},
		{"too many iterations", []string{"--max-iterations", "51"}, "--max-iterations 51: want 1 to 50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "dev", "--dev-users", "alice",
				"--database", filepath.Join(t.TempDir(), "toolgate.db")}, tt.args...)
			code, _, errOut := runCommand(t, nil, args...)
			if code != 2 {
				t.Errorf("exit code: got %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut, tt.wantErr)
			}
		})
	}
}
