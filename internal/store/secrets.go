package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SecretColumn names a column that holds sealed values, and the columns
// that identify its rows.
type SecretColumn struct {
	Table      string
	Column     string
	KeyColumns []string
}

// aad returns the associated data for the row with the given key values.
// Binding a sealed value to its table, column and row means a value copied
// into another row by someone with write access to the database fails to
// open there.
func (c SecretColumn) aad(key []string) string {
	return c.Table + "." + c.Column + ":" + strings.Join(key, "\x1f")
}

var (
	providerSecret     = SecretColumn{Table: "providers", Column: "client_secret", KeyColumns: []string{"id"}}
	consentVerifier    = SecretColumn{Table: "consents", Column: "verifier", KeyColumns: []string{"id"}}
	tokenAccess        = SecretColumn{Table: "tokens", Column: "access_token", KeyColumns: []string{"user_id", "provider_id"}}
	tokenRefresh       = SecretColumn{Table: "tokens", Column: "refresh_token", KeyColumns: []string{"user_id", "provider_id"}}
	tokenExtras        = SecretColumn{Table: "tokens", Column: "extras", KeyColumns: []string{"user_id", "provider_id"}}
	revocationToken    = SecretColumn{Table: "revocations", Column: "token", KeyColumns: []string{"id"}}
	loginFlowVerifier  = SecretColumn{Table: "login_flows", Column: "verifier", KeyColumns: []string{"state_hash"}}
	sessionIDTokenHint = SecretColumn{Table: "browser_sessions", Column: "id_token_hint", KeyColumns: []string{"id_hash"}}
)

// secretColumns lists every column holding sealed values. A migration that
// adds such a column must add it here, or key rotation will miss it.
var secretColumns = []SecretColumn{
	providerSecret, consentVerifier, tokenAccess, tokenRefresh, tokenExtras, revocationToken,
	loginFlowVerifier, sessionIDTokenHint,
	mcpServerHeaders,
}

// SecretColumns returns every column that holds sealed values.
func SecretColumns() []SecretColumn {
	return append([]SecretColumn(nil), secretColumns...)
}

// SealedValue is one sealed value found in a SecretColumn.
type SealedValue struct {
	Column SecretColumn
	Key    []string
	Sealed string
}

// AAD returns the associated data the value was sealed with.
func (v SealedValue) AAD() string { return v.Column.aad(v.Key) }

// ListSealed returns up to limit non-empty sealed values of col whose row
// keys sort after the key after (nil starts at the beginning), in key order.
// Callers page through a column by passing the last Key they got.
func (s *Store) ListSealed(ctx context.Context, col SecretColumn, after []string, limit int) ([]SealedValue, error) {
	keys := strings.Join(col.KeyColumns, ", ")
	query := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s IS NOT NULL AND %s <> ''`,
		keys, col.Column, col.Table, col.Column, col.Column)
	args := []any{}
	if after != nil {
		if len(after) != len(col.KeyColumns) {
			return nil, fmt.Errorf("store: list sealed %s.%s: want %d key values, got %d", col.Table, col.Column, len(col.KeyColumns), len(after))
		}
		marks := make([]string, len(after))
		for i, v := range after {
			args = append(args, v)
			marks[i] = fmt.Sprintf("$%d", i+1)
		}
		query += fmt.Sprintf(` AND (%s) > (%s)`, keys, strings.Join(marks, ", "))
	}
	query += fmt.Sprintf(` ORDER BY %s LIMIT %d`, keys, limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.mapErr("list sealed", err)
	}
	defer rows.Close()
	var out []SealedValue
	for rows.Next() {
		key := make([]string, len(col.KeyColumns))
		dest := make([]any, 0, len(key)+1)
		for i := range key {
			dest = append(dest, &key[i])
		}
		var sealed string
		dest = append(dest, &sealed)
		if err := rows.Scan(dest...); err != nil {
			return nil, s.mapErr("list sealed", err)
		}
		out = append(out, SealedValue{Column: col, Key: key, Sealed: sealed})
	}
	return out, s.mapErr("list sealed", rows.Err())
}

// ReplaceSealed swaps v's sealed value for replacement if the row still
// holds v.Sealed. It returns ErrConflict when the row changed or went away
// meanwhile, which a rotation treats as "already rewritten by its owner".
func (s *Store) ReplaceSealed(ctx context.Context, v SealedValue, replacement string) error {
	col := v.Column
	args := []any{replacement, v.Sealed}
	conds := []string{fmt.Sprintf("%s = $2", col.Column)}
	for i, k := range col.KeyColumns {
		args = append(args, v.Key[i])
		conds = append(conds, fmt.Sprintf("%s = $%d", k, i+3))
	}
	res, err := s.db.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = $1 WHERE %s`,
		col.Table, col.Column, strings.Join(conds, " AND ")), args...)
	if err != nil {
		return s.mapErr("replace sealed", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.mapErr("replace sealed", err)
	}
	if n == 0 {
		return fmt.Errorf("store: replace sealed %s.%s: %w", col.Table, col.Column, ErrConflict)
	}
	return nil
}

// SealedKeyIDs counts the stored sealed values per key id, over every
// secret column. Start-up uses it to refuse a keyring that lacks a key still
// in use.
func (s *Store) SealedKeyIDs(ctx context.Context) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, col := range secretColumns {
		expr := s.dialect.KeyIDExpr(col.Column)
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(
			`SELECT %s, COUNT(*) FROM %s WHERE %s IS NOT NULL AND %s <> '' GROUP BY %s`,
			expr, col.Table, col.Column, col.Column, expr))
		if err != nil {
			return nil, s.mapErr("count sealed key ids", err)
		}
		err = func(rows *sql.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var kid string
				var n int64
				if err := rows.Scan(&kid, &n); err != nil {
					return err
				}
				counts[kid] += n
			}
			return rows.Err()
		}(rows)
		if err != nil {
			return nil, s.mapErr("count sealed key ids", err)
		}
	}
	return counts, nil
}

// RewriteSealed passes every sealed value in every secret column to
// rewrite, batchSize rows at a time, and stores the values it returns with
// changed set. A row that changed meanwhile is skipped: its writer sealed it
// afresh. It returns how many values were rewritten. Key rotation uses it.
func (s *Store) RewriteSealed(ctx context.Context, batchSize int, rewrite func(sealed, aad string) (string, bool, error)) (int, error) {
	if batchSize <= 0 {
		return 0, fmt.Errorf("store: rewrite sealed: batch size %d, want > 0", batchSize)
	}
	rewritten := 0
	for _, col := range secretColumns {
		var after []string
		for {
			batch, err := s.ListSealed(ctx, col, after, batchSize)
			if err != nil {
				return rewritten, err
			}
			for _, v := range batch {
				replacement, changed, err := rewrite(v.Sealed, v.AAD())
				if err != nil {
					return rewritten, fmt.Errorf("store: rewrite %s.%s row %s: %w", col.Table, col.Column, strings.Join(v.Key, "/"), err)
				}
				if !changed {
					continue
				}
				err = s.ReplaceSealed(ctx, v, replacement)
				if errors.Is(err, ErrConflict) {
					continue
				}
				if err != nil {
					return rewritten, err
				}
				rewritten++
			}
			if len(batch) < batchSize {
				break
			}
			after = batch[len(batch)-1].Key
		}
	}
	return rewritten, nil
}
