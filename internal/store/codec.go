package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as Unix microseconds. The zero time.Time is stored as
// NULL in nullable columns and read back as the zero time.

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// jsonText encodes v for a JSON text column. Nil slices and maps become
// "[]" and "{}" so that readers never see null.
func jsonText(v any) (string, error) {
	switch x := v.(type) {
	case []string:
		if x == nil {
			return "[]", nil
		}
	case map[string]string:
		if x == nil {
			return "{}", nil
		}
	case json.RawMessage:
		if len(x) == 0 {
			return "{}", nil
		}
		return string(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json column: %w", err)
	}
	return string(b), nil
}

func parseJSON(text string, v any) error {
	if text == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	return nil
}
