package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/toolgate/toolgate/internal/demo"
	"github.com/toolgate/toolgate/internal/keyring"
)

// defaultDemoListen is Toolgate's address in the demo when --listen is not
// given. When it is taken, the demo listens on a free port instead.
const defaultDemoListen = "127.0.0.1:8080"

// demoShutdownTimeout is how long the demo waits for requests in flight
// after Ctrl-C.
const demoShutdownTimeout = 5 * time.Second

// demoFlags are the settings of "toolgate demo".
type demoFlags struct {
	listen    string
	idpListen string
	mcpListen string
	dataDir   string
	open      bool
	models    modelFlags
	log       logFlags
}

func (f *demoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", defaultDemoListen,
		"Toolgate's loopback address, host:port; when the default is taken, a free port is used\n(127.0.0.1:0 always picks a free port)")
	fs.StringVar(&f.idpListen, "idp-listen", "127.0.0.1:0", "the demo OpenID provider's loopback address, host:port; port 0 picks a free port")
	fs.StringVar(&f.mcpListen, "mcp-listen", "127.0.0.1:0", "the demo calendar MCP server's loopback address, host:port; port 0 picks a free port")
	fs.StringVar(&f.dataDir, "data-dir", "",
		"directory for the database and key file, kept after the demo stops and reused on the next run\n(default: a temporary directory, removed when the demo stops)")
	fs.BoolVar(&f.open, "open", false, "open Toolgate in the default web browser once the demo is ready")
	f.models.register(fs)
	f.log.register(fs)
	// The demo's terminal output is the welcome text: only warnings and
	// errors are logged, as text.
	fs.Lookup("log-level").DefValue, f.log.level = "warn", "warn"
	fs.Lookup("log-format").DefValue, f.log.format = "text", "text"
}

// runDemo runs "toolgate demo": Toolgate with dev sign-in and SQLite, the
// demo OpenID provider and the calendar MCP server, registered in Toolgate,
// until ctx ends.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	var f demoFlags
	fs := newFlagSet("demo", "demo [flags]", stderr)
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := f.log.logger(stderr)
	if err != nil {
		return err
	}

	dataDir, temporary, err := f.prepareDataDir()
	if err != nil {
		return err
	}
	if temporary {
		defer removeDataDir(dataDir, logger)
	}

	ln, notice, err := listenToolgate(f.listen, flagGiven(fs, "listen"))
	if err != nil {
		return err
	}
	// serveUntilDone closes ln too. This covers the returns before it.
	defer ln.Close()
	if notice != "" {
		fmt.Fprintln(stdout, notice)
	}
	sf := f.serveFlags(dataDir, ln.Addr().String())
	srv, cleanup, err := buildServer(ctx, &sf, logger)
	if err != nil {
		return err
	}
	defer cleanup()

	peers, err := demo.Start(demo.Options{
		RedirectURI: srv.providers.RedirectURI(), ProviderAddr: f.idpListen, MCPAddr: f.mcpListen, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer shutdownPeers(peers, logger)
	if err := peers.Register(ctx, srv.providers, srv.mcpServers); err != nil {
		return err
	}

	external, err := sf.resolvedExternalURL()
	if err != nil {
		return err
	}
	_, model, err := srv.models.Default()
	if err != nil {
		return err
	}
	welcome := demo.Welcome{
		URL: external.String() + "/", Model: model.DisplayName, DataDir: dataDir, Temporary: temporary,
		Startup: time.Since(started),
	}
	if err := peers.WriteWelcome(stdout, welcome); err != nil {
		return err
	}
	if f.open {
		openBrowser(welcome.URL, logger)
	}

	// Close the connections that browsers open ahead of need as soon as
	// the demo stops, so that Ctrl-C does not wait for them.
	var fresh demo.FreshConns
	srv.http.ConnState = fresh.Track
	serving, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		<-serving.Done()
		fresh.Close()
	}()
	if err := serveUntilDone(ctx, srv.http, ln, demoShutdownTimeout, logger); err != nil {
		return err
	}
	if temporary {
		fmt.Fprintf(stdout, "\nToolgate demo stopped.\n")
	} else {
		fmt.Fprintf(stdout, "\nToolgate demo stopped; its data stays in %s.\n", dataDir)
	}
	return nil
}

// serveFlags returns serve's settings for the demo: serve's defaults, with
// SQLite in dataDir, dev sign-in for the demo's users, and the demo's
// model and log flags.
func (f *demoFlags) serveFlags(dataDir, listen string) serveFlags {
	var sf serveFlags
	sf.register(flag.NewFlagSet("serve defaults", flag.ContinueOnError))
	sf.storage.database = filepath.Join(dataDir, "toolgate.db")
	sf.listen = listen
	sf.auth = "dev"
	sf.devUsers = demo.DevUsers()
	sf.shutdownTimeout = demoShutdownTimeout
	sf.models = f.models
	sf.log = f.log
	return sf
}

// prepareDataDir returns the data directory, creating it, and reports
// whether it is temporary. A temporary one gets its key file now, so that
// the server does not warn to back up a key that is deleted on exit.
func (f *demoFlags) prepareDataDir() (string, bool, error) {
	if f.dataDir != "" {
		if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
			return "", false, fmt.Errorf("--data-dir: %w", err)
		}
		return f.dataDir, false, nil
	}
	dir, err := os.MkdirTemp("", "toolgate-demo-")
	if err != nil {
		return "", false, fmt.Errorf("create a temporary data directory: %w; pass --data-dir", err)
	}
	if _, _, err := keyring.LoadOrCreateFile(filepath.Join(dir, "toolgate.key")); err != nil {
		os.RemoveAll(dir)
		return "", false, fmt.Errorf("create the demo's key file: %w", err)
	}
	return dir, true, nil
}

// listenToolgate listens on addr. When addr is the default and taken, it
// listens on a free loopback port instead and returns a notice saying so.
// An address the user chose is never replaced.
func listenToolgate(addr string, chosen bool) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, "", nil
	}
	if chosen {
		return nil, "", fmt.Errorf("listen on %s: %w; pass --listen 127.0.0.1:0 for a free port, or another port such as --listen 127.0.0.1:8090", addr, err)
	}
	free, freeErr := net.Listen("tcp", "127.0.0.1:0")
	if freeErr != nil {
		return nil, "", fmt.Errorf("listen on %s: %w; and on a free port: %w", addr, err, freeErr)
	}
	return free, fmt.Sprintf("%s is not available (%v), so Toolgate listens on %s instead.", addr, err, free.Addr()), nil
}

// flagGiven reports whether the flag called name was set on the command
// line or through its environment variable.
func flagGiven(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if _, ok := os.LookupEnv(envName(name)); ok {
		set = true
	}
	return set
}

func shutdownPeers(peers *demo.Peers, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), demoShutdownTimeout)
	defer cancel()
	if err := peers.Shutdown(ctx); err != nil {
		logger.Warn("demo servers did not stop cleanly", "err", err)
	}
}

func removeDataDir(dir string, logger *slog.Logger) {
	if err := os.RemoveAll(dir); err != nil {
		logger.Warn("remove the temporary data directory failed", "path", dir, "err", err)
	}
}

// openBrowser starts the desktop's URL opener (open, xdg-open or
// rundll32) for url, and logs when that fails. It does not wait for the
// browser.
func openBrowser(url string, logger *slog.Logger) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		logger.Warn("open the browser failed; open the URL yourself", "url", url, "err", err)
		return
	}
	go cmd.Wait() // Reap the launcher once it exits.
}
