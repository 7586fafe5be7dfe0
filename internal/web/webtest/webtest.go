// Package webtest runs a headless Chromium for browser tests of the web
// UI, through chromedp and the Chrome DevTools Protocol.
//
// The browser is Debian's chromium from PATH. Without it, tests skip,
// unless TOOLGATE_TEST_REQUIRE_BROWSER=1 (set by scripts/test), which
// makes them fail. Each browser gets a fresh user data directory, and
// flags that keep it off the network except for the servers the test
// names. Its popup blocker stays on, so a popup opened without a user
// gesture is blocked as in a normal browser.
package webtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// RequireEnv names the environment variable that turns a missing browser
// from a skip into a failure.
const RequireEnv = "TOOLGATE_TEST_REQUIRE_BROWSER"

// Window size of every tab, in CSS pixels.
const (
	DesktopWidth  = 1280
	DesktopHeight = 900
)

// browserNames are the executables tried, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// FindBrowser returns the path of a Chromium executable, skipping t when
// there is none, or failing it when RequireEnv is 1.
func FindBrowser(t testing.TB) string {
	t.Helper()
	for _, name := range browserNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "webtest: no Chromium on PATH (tried " + strings.Join(browserNames, ", ") + "); install Debian's chromium package, as scripts/test does"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Browser is a running headless Chromium. Its tabs share nothing unless
// they are opened in the same user (see NewUser).
type Browser struct {
	t   testing.TB
	ctx context.Context

	mu sync.Mutex
	// logs collects page errors and console messages of every tab, which a
	// failed test prints. pageErrors counts the uncaught exceptions among
	// them, which fail the test.
	logs       []string
	pageErrors int
}

// Start launches a headless Chromium that stops when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := FindBrowser(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
		// Without these flags Chromium contacts Google's servers for
		// updates, safe browsing lists and sync, which the test network
		// does not allow.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{t: t}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		b.log("chromedp: " + fmt.Sprintf(format, args...))
	}))
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("webtest: start %s: %v", path, err)
	}
	b.ctx = ctx
	t.Cleanup(func() {
		b.mu.Lock()
		pageErrors := b.pageErrors
		b.mu.Unlock()
		if pageErrors > 0 {
			t.Errorf("webtest: the pages threw %d uncaught errors; the log below lists them", pageErrors)
		}
		if t.Failed() {
			b.mu.Lock()
			for _, line := range b.logs {
				t.Log(line)
			}
			b.mu.Unlock()
		}
		cancel()
		cancelAlloc()
	})
	return b
}

func (b *Browser) log(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs = append(b.logs, line)
}

// NewUser opens a tab in a new browser context: a profile of its own,
// with its own cookies and storage, as a different person's browser
// would have. The tab closes when the test ends.
func (b *Browser) NewUser(t testing.TB, name string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("webtest: open a tab for %s: %v", name, err)
	}
	b.Watch(t, ctx, name)
	return ctx
}

// Watch records page errors and console messages of the tab ctx, named
// name in the log of a failed test. The tab must be open.
func (b *Browser) Watch(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text = d.Exception.Description
			}
			b.log(fmt.Sprintf("%s: page error at %s:%d: %s", name, d.URL, d.LineNumber+1, text))
			b.mu.Lock()
			b.pageErrors++
			b.mu.Unlock()
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, arg := range ev.Args {
				if arg.Description != "" {
					parts = append(parts, arg.Description)
				} else {
					parts = append(parts, strings.Trim(string(arg.Value), `"`))
				}
			}
			b.log(fmt.Sprintf("%s: console.%s: %s", name, ev.Type, strings.Join(parts, " ")))
		}
	})
	if err != nil {
		t.Fatalf("webtest: listen to %s: %v", name, err)
	}
}

// WaitWindow returns a channel that receives the next window that the tab
// ctx opens, such as a popup or a link's new tab. Call it before the
// action that opens the window.
func WaitWindow(ctx context.Context) <-chan target.ID {
	return chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return info.Type == "page" })
}

// AttachWindow returns a context for the window id that the tab ctx
// opened, waiting up to timeout for it to appear.
func (b *Browser) AttachWindow(t testing.TB, ctx context.Context, windows <-chan target.ID, name string, timeout time.Duration) context.Context {
	t.Helper()
	select {
	case id, ok := <-windows:
		if !ok {
			t.Fatalf("webtest: %s: the tab has no target to open windows from", name)
		}
		wctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		t.Cleanup(cancel)
		if err := chromedp.Do(wctx); err != nil {
			t.Fatalf("webtest: attach to %s: %v", name, err)
		}
		b.Watch(t, wctx, name)
		return wctx
	case <-time.After(timeout):
		t.Fatalf("webtest: %s: no window opened within %s", name, timeout)
		return nil
	}
}

// WaitClosed waits until the window of ctx goes away, as a popup that
// closes itself does.
func WaitClosed(ctx context.Context, timeout time.Duration) error {
	gone, err := chromedp.Detached(ctx)
	if err != nil {
		return fmt.Errorf("webtest: %w", err)
	}
	select {
	case <-gone:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("webtest: the window is still open after %s", timeout)
	}
}

// Screenshot saves a PNG of the tab's viewport to path, creating its
// directory.
func Screenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("webtest: screenshot %s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
