package httpapi

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSSEWriterFormat(t *testing.T) {
	rec := httptest.NewRecorder()
	s, err := newSSE(rec, "turn1-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.send("text_delta", map[string]string{"text": "line one\nline two"}); err != nil {
		t.Fatal(err)
	}
	if err := s.send("done", map[string]string{"stop_reason": "end_turn"}); err != nil {
		t.Fatal(err)
	}
	s.close()
	if err := s.send("late", nil); err == nil {
		t.Errorf("send after close: got nil error, want one")
	}
	if err := s.send("bad\nname", nil); err == nil {
		t.Errorf("send with a line break in the name: got nil error, want one")
	}

	want := "id: turn1-1\nevent: text_delta\ndata: {\"text\":\"line one\\nline two\"}\n\n" +
		"id: turn1-2\nevent: done\ndata: {\"stop_reason\":\"end_turn\"}\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("stream:\n got %q\nwant %q", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("content type: got %q", ct)
	}
}

func TestSSEHeartbeat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := newSSE(w, "t-", 40*time.Millisecond)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.close()
		time.Sleep(200 * time.Millisecond)
		_ = s.send("done", map[string]string{})
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	heartbeats := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ": heartbeat") {
			heartbeats++
		}
		if strings.HasPrefix(sc.Text(), "event: done") {
			break
		}
	}
	if heartbeats == 0 {
		t.Errorf("got no heartbeat comments while idle, want at least one")
	}
}
