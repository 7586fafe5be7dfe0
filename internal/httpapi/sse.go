package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sseWriter writes a text/event-stream response (the WHATWG HTML
// server-sent events format): each event has an id, a name and one line of
// JSON data. While no event is written for heartbeatEvery, it writes a
// comment line so that proxies and browsers keep the connection open. It
// is safe for concurrent use.
type sseWriter struct {
	// mu guards every write to w and the fields below it.
	mu       sync.Mutex
	w        http.ResponseWriter
	flusher  http.Flusher
	idPrefix string
	seq      int
	lastSent time.Time
	closed   bool
	stop     chan struct{}
}

// newSSE starts an event stream on w. Event ids are idPrefix followed by a
// sequence number. The caller must call close when the stream ends.
func newSSE(w http.ResponseWriter, idPrefix string, heartbeatEvery time.Duration) (*sseWriter, error) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return nil, errors.New("httpapi: response writer cannot flush, so it cannot stream events")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	// Tells nginx-style proxies not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	s := &sseWriter{w: w, flusher: flusher, idPrefix: idPrefix, lastSent: time.Now(), stop: make(chan struct{})}
	if heartbeatEvery > 0 {
		go s.heartbeat(heartbeatEvery)
	}
	return s, nil
}

// send writes one event and flushes it.
func (s *sseWriter) send(event string, data any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("httpapi: encode %s event: %w", event, err)
	}
	if strings.ContainsAny(event, "\r\n") {
		return fmt.Errorf("httpapi: event name %q contains a line break", event)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("httpapi: event stream closed")
	}
	s.seq++
	// json.Marshal never emits a raw line break, so the data fits one line.
	if _, err := fmt.Fprintf(s.w, "id: %s%d\nevent: %s\ndata: %s\n\n", s.idPrefix, s.seq, event, payload); err != nil {
		return fmt.Errorf("httpapi: write %s event: %w", event, err)
	}
	s.flusher.Flush()
	s.lastSent = time.Now()
	return nil
}

func (s *sseWriter) heartbeat(every time.Duration) {
	ticker := time.NewTicker(every / 2)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		s.mu.Lock()
		if !s.closed && time.Since(s.lastSent) >= every {
			if _, err := fmt.Fprint(s.w, ": heartbeat\n\n"); err == nil {
				s.flusher.Flush()
				s.lastSent = time.Now()
			}
		}
		s.mu.Unlock()
	}
}

// close stops the heartbeat. Later sends fail.
func (s *sseWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
}
