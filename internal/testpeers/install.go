package testpeers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// installTimeout bounds test/peers/install.sh. A first install downloads
// about 130 npm packages, and later runs return at once.
const installTimeout = 5 * time.Minute

var install struct {
	once     sync.Once
	peersDir string
	output   []byte
	err      error
}

// EnsureInstalled runs test/peers/install.sh once per process, which installs
// the peers' npm packages when they are missing or older than the lockfile.
// It skips the test when node is not on PATH, unless TOOLGATE_TEST_REQUIRE_PEERS
// is set (scripts/test sets it, so CI fails instead), and fails it, with the
// installer's output, when the install fails. The repository root is found by
// walking up from the working directory to the directory with go.mod.
// EnsureInstalled is safe for concurrent use.
func EnsureInstalled(t testing.TB) {
	t.Helper()

	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("TOOLGATE_TEST_REQUIRE_PEERS") != "" {
			t.Fatalf("testpeers: this test needs Node.js 20 or later on PATH: %v", err)
		}
		t.Skipf("testpeers: skipping, this test needs Node.js 20 or later on PATH: %v", err)
	}

	install.once.Do(func() {
		install.peersDir, install.output, install.err = runInstaller()
	})
	if install.err != nil {
		t.Fatalf("testpeers: install test peers: %v\n%s", install.err, install.output)
	}
}

func runInstaller() (peersDir string, output []byte, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", nil, err
	}
	peersDir = filepath.Join(root, "test", "peers")

	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(peersDir, "install.sh"))
	cmd.Dir = peersDir
	output, err = cmd.CombinedOutput()
	if ctx.Err() != nil {
		return "", output, fmt.Errorf("run install.sh: timed out after %v", installTimeout)
	}
	if err != nil {
		return "", output, fmt.Errorf("run install.sh: %w", err)
	}
	return peersDir, output, nil
}

// repoRoot returns the nearest directory at or above the working directory
// that contains go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find repository root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod at or above the working directory; run the tests inside the Toolgate module")
		}
		dir = parent
	}
}
