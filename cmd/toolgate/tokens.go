package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
)

const tokensUsage = `tokens <create|list|revoke> [flags]

  create  create an API token and print it once; only its hash is stored
  list    list API tokens (never the tokens themselves)
  revoke  revoke the token with --id; requests with it fail from then on`

func runTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: toolgate "+tokensUsage)
		if len(args) == 0 {
			return usageError("missing subcommand: create, list or revoke")
		}
		return nil
	}
	sub, args := args[0], args[1:]

	var storage storageFlags
	var logFlags logFlags
	var name, user, roles, id string
	var ttl time.Duration
	fs := newFlagSet("tokens "+sub, tokensUsage, stderr)
	storage.register(fs)
	logFlags.register(fs)
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "what the token is for, 1 to 100 characters (required)")
		fs.StringVar(&user, "user", "", "user id the token acts as (required)")
		fs.StringVar(&roles, "roles", "", "comma-separated roles, for example workload to act for other users")
		fs.DurationVar(&ttl, "ttl", 0, "lifetime, such as 720h; 0 means the token does not expire")
	case "list":
	case "revoke":
		fs.StringVar(&id, "id", "", "id of the token to revoke, as \"tokens list\" shows it (required)")
	default:
		return usageError("unknown tokens subcommand %q: want create, list or revoke", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := logFlags.logger(stderr)
	if err != nil {
		return err
	}
	st, err := storage.openStore(ctx, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	tokens := authn.NewAPITokens(st, time.Now, logger)

	switch sub {
	case "create":
		return createToken(ctx, tokens, stdout, name, user, splitList(roles), ttl)
	case "list":
		return listTokens(ctx, tokens, stdout)
	default:
		if id == "" {
			return usageError("--id is required")
		}
		if err := tokens.RevokeAPIToken(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return usageError("no token has id %q; \"toolgate tokens list\" shows the ids", id)
			}
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	}
}

func createToken(ctx context.Context, tokens *authn.APITokens, stdout io.Writer, name, user string, roles []string, ttl time.Duration) error {
	if ttl < 0 {
		return usageError("--ttl must not be negative")
	}
	var expires time.Time
	if ttl > 0 {
		expires = time.Now().Add(ttl)
	}
	token, meta, err := tokens.CreateAPIToken(ctx, name, user, roles, expires)
	var invalid *authn.InvalidFieldError
	if errors.As(err, &invalid) {
		flagName := map[string]string{"user_id": "user", "expires_at": "ttl"}[invalid.Field]
		if flagName == "" {
			flagName = invalid.Field
		}
		return usageError("--%s: %s", flagName, invalid.Detail)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "id:      %s\nuser:    %s\nroles:   %s\n", meta.ID, meta.UserID, strings.Join(meta.Roles, ","))
	if !meta.ExpiresAt.IsZero() {
		fmt.Fprintf(stdout, "expires: %s\n", meta.ExpiresAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "\n%s\n\nThis is the only time the token is shown. Send it as \"Authorization: Bearer <token>\".\n", token)
	return nil
}

func listTokens(ctx context.Context, tokens *authn.APITokens, stdout io.Writer) error {
	list, err := tokens.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tROLES\tCREATED\tEXPIRES\tLAST USED\tSTATE")
	for _, t := range list {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(time.Now()):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.UserID, strings.Join(t.Roles, ","),
			formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatTime(t.LastUsedAt), state)
	}
	return tw.Flush()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
