package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// Provider is an OAuth provider registered by an admin. The store keeps its
// fields as given; the provider package owns validation and meaning.
type Provider struct {
	ID          string
	DisplayName string
	Type        string
	ClientID    string
	// ClientSecret is sealed by the keyring (see ProviderSecretAAD); empty
	// means no secret (a public client).
	ClientSecret     string
	Scopes           []string
	AllowedRoles     []string
	Enabled          bool
	Icon             string
	CustomParameters map[string]string
	DiscoveryURL     string
	// Metadata is the authorization server metadata in use (explicit, or
	// resolved from DiscoveryURL), as JSON.
	Metadata json.RawMessage
	// Settings holds vendor settings such as a Microsoft tenant, as JSON.
	Settings  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ProviderSecretAAD is the associated data that seals a provider's client
// secret to its row.
func ProviderSecretAAD(id string) string {
	return providerSecret.aad([]string{id})
}

const providerColumns = `id, display_name, type, client_id, client_secret, scopes, allowed_roles, enabled,
	icon, custom_parameters, discovery_url, metadata, settings, created_at, updated_at`

// CreateProvider stores a new provider, or returns ErrAlreadyExists.
func (s *Store) CreateProvider(ctx context.Context, p *Provider) error {
	args, err := providerArgs(p)
	if err != nil {
		return s.mapErr("create provider", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO providers (`+providerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, args...)
	return s.mapErr("create provider", err)
}

// GetProvider returns the provider with id, or ErrNotFound.
func (s *Store) GetProvider(ctx context.Context, id string) (*Provider, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+providerColumns+` FROM providers WHERE id = $1`, id)
	p, err := scanProvider(row)
	return p, s.mapErr("get provider", err)
}

// ListProviders returns every provider ordered by id.
func (s *Store) ListProviders(ctx context.Context) ([]Provider, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+providerColumns+` FROM providers ORDER BY id`)
	if err != nil {
		return nil, s.mapErr("list providers", err)
	}
	defer rows.Close()
	var out []Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, s.mapErr("list providers", err)
		}
		out = append(out, *p)
	}
	return out, s.mapErr("list providers", rows.Err())
}

// UpdateProvider reads the provider, passes it to update and stores the
// result, all in one transaction, so concurrent updates do not lose each
// other's changes. The ID and CreatedAt cannot change. An error from update
// aborts without writing and is returned as is.
func (s *Store) UpdateProvider(ctx context.Context, id string, update func(p *Provider) error) (*Provider, error) {
	var updated *Provider
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+providerColumns+` FROM providers WHERE id = $1`+s.dialect.ForUpdate(), id)
		p, err := scanProvider(row)
		if err != nil {
			return s.mapErr("update provider", err)
		}
		createdAt := p.CreatedAt
		if err := update(p); err != nil {
			return err
		}
		p.ID, p.CreatedAt = id, createdAt
		args, err := providerArgs(p)
		if err != nil {
			return s.mapErr("update provider", err)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE providers SET display_name = $2, type = $3, client_id = $4, client_secret = $5,
				scopes = $6, allowed_roles = $7, enabled = $8, icon = $9, custom_parameters = $10,
				discovery_url = $11, metadata = $12, settings = $13, updated_at = $14
			WHERE id = $1`, append(args[:13:13], args[14])...)
		if err != nil {
			return s.mapErr("update provider", err)
		}
		updated = p
		return nil
	})
	return updated, err
}

// DeleteProvider removes the provider, or returns ErrNotFound.
func (s *Store) DeleteProvider(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM providers WHERE id = $1`, id)
	return requireOne("delete provider", res, err)
}

func providerArgs(p *Provider) ([]any, error) {
	scopes, err := jsonText(p.Scopes)
	if err != nil {
		return nil, err
	}
	roles, err := jsonText(p.AllowedRoles)
	if err != nil {
		return nil, err
	}
	params, err := jsonText(p.CustomParameters)
	if err != nil {
		return nil, err
	}
	metadata, err := jsonText(p.Metadata)
	if err != nil {
		return nil, err
	}
	settings, err := jsonText(p.Settings)
	if err != nil {
		return nil, err
	}
	return []any{p.ID, p.DisplayName, p.Type, p.ClientID, nullString(p.ClientSecret), scopes, roles, p.Enabled,
		p.Icon, params, p.DiscoveryURL, metadata, settings, micros(p.CreatedAt), micros(p.UpdatedAt)}, nil
}

func scanProvider(row rowScanner) (*Provider, error) {
	var p Provider
	var secret sql.NullString
	var scopes, roles, params, metadata, settings string
	var created, updated int64
	err := row.Scan(&p.ID, &p.DisplayName, &p.Type, &p.ClientID, &secret, &scopes, &roles, &p.Enabled,
		&p.Icon, &params, &p.DiscoveryURL, &metadata, &settings, &created, &updated)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		text string
		dst  any
	}{{scopes, &p.Scopes}, {roles, &p.AllowedRoles}, {params, &p.CustomParameters}} {
		if err := parseJSON(c.text, c.dst); err != nil {
			return nil, err
		}
	}
	p.ClientSecret = secret.String
	p.Metadata, p.Settings = json.RawMessage(metadata), json.RawMessage(settings)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}
