package testpeers

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds the wait for a peer's READY line.
	readyTimeout = 30 * time.Second

	// stopTimeout is how long a peer has to exit after SIGTERM before it is
	// killed, and how long its output pipes may stay open after it exits.
	stopTimeout = 5 * time.Second

	// maxOutputLines is how many of a peer's most recent output lines are
	// kept for the log of a failed test.
	maxOutputLines = 2000
)

// startNode starts node with args in test/peers and returns the URL from the
// peer's "READY <url>" line. The peer gets only PATH and env as its
// environment, so nothing secret leaks from the test process. A cleanup
// closes the peer's stdin, sends SIGTERM, and kills the peer if it is still
// running after stopTimeout. A peer that exits with an error fails the test.
func startNode(t testing.TB, name string, env []string, args ...string) string {
	t.Helper()
	EnsureInstalled(t)

	output := &peerOutput{ready: make(chan string, 1)}
	cmd := exec.Command("node", args...)
	cmd.Dir = install.peersDir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout = &lineWriter{output: output, stream: "stdout"}
	cmd.Stderr = &lineWriter{output: output, stream: "stderr"}
	cmd.WaitDelay = stopTimeout

	// The peer exits when this pipe closes, which also happens when the test
	// process dies without running its cleanups.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testpeers: start %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testpeers: start %s: %v", name, err)
	}

	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
	}()

	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)

		var err error
		select {
		case err = <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			err = fmt.Errorf("still running %v after SIGTERM, killed: %w", stopTimeout, <-exited)
		}

		switch {
		case t.Failed():
			t.Logf("testpeers: %s output (exit: %v):\n%s", name, err, output)
		case err != nil:
			t.Errorf("testpeers: %s exited with an error: %v\n%s", name, err, output)
		}
	})

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case url := <-output.ready:
		return url
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("testpeers: %s exited before printing READY: %v", name, err)
	case <-timer.C:
		t.Fatalf("testpeers: %s printed no READY line within %v", name, readyTimeout)
	}
	return ""
}

// peerOutput collects a peer's output lines and reports its READY line.
// It is safe for concurrent use.
type peerOutput struct {
	ready chan string // receives the URL of the first READY line

	mu        sync.Mutex // guards the fields below
	lines     []string
	dropped   int
	readySeen bool
}

func (o *peerOutput) addLine(stream, line string) {
	o.mu.Lock()
	defer o.mu.Unlock()

	if stream == "stdout" && !o.readySeen && strings.HasPrefix(line, "READY ") {
		o.readySeen = true
		o.ready <- strings.TrimSpace(strings.TrimPrefix(line, "READY "))
	}

	if len(o.lines) == maxOutputLines {
		o.lines = o.lines[1:]
		o.dropped++
	}
	o.lines = append(o.lines, stream+": "+line)
}

func (o *peerOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()

	var b strings.Builder
	if o.dropped > 0 {
		fmt.Fprintf(&b, "(%d earlier lines dropped)\n", o.dropped)
	}
	for _, line := range o.lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// lineWriter splits one output stream into lines. os/exec writes to it from
// a single goroutine, so partial needs no lock.
type lineWriter struct {
	output  *peerOutput
	stream  string
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.output.addLine(w.stream, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}
