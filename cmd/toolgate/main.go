// Command toolgate runs Toolgate: a service that gives AI agents per-user,
// consented access to OAuth-protected tools served over MCP.
//
// Usage:
//
//	toolgate serve    run the server
//	toolgate demo     run Toolgate with a demo provider and MCP server, nothing to configure
//	toolgate migrate  apply database migrations and exit
//	toolgate keys     generate or rotate encryption keys
//	toolgate tokens   create, list or revoke API tokens
//
// Every flag can also be set with an environment variable: --external-url
// is TOOLGATE_EXTERNAL_URL. A flag on the command line wins over the
// environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and writes its own output to stdout.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP server", runServe},
		{"demo", "try Toolgate locally with a demo provider and MCP server", runDemo},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"keys", "generate or rotate encryption keys", runKeys},
		{"tokens", "create, list or revoke API tokens", runTokens},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 on
// success, 2 for usage errors, 1 for anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "toolgate %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "toolgate %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "toolgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: toolgate <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "toolgate <command> --help" for the flags of a command.`)
	fmt.Fprintln(w, "Every flag can also be set as TOOLGATE_<FLAG>, for example TOOLGATE_EXTERNAL_URL; flags win.")
}
