package oauthclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
)

// maxExpiresIn caps expires_in, so that a nonsense value cannot overflow
// time arithmetic. Ten years is far beyond any real access token.
const maxExpiresIn = 10 * 365 * 24 * time.Hour

// document is a parsed response body: a JSON object, or the parameters of
// an application/x-www-form-urlencoded body (GitHub's token endpoint
// responds so unless the request accepts JSON). The zero document has no members.
type document struct {
	object map[string]json.RawMessage
	form   url.Values
}

// parseDocument parses body by its content type. JSON media types and
// form encoding are accepted. A missing or text/plain content type is
// accepted when the body is a JSON object, since some providers label
// JSON wrongly. Anything else, such as an HTML error page, is an error
// that names the content type, and the returned document is empty.
func parseDocument(contentType string, body []byte) (*document, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = ""
	}
	trimmed := bytes.TrimSpace(body)

	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return parseJSONObject(trimmed)
	case mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return &document{}, errors.New("the form-encoded response body is malformed")
		}
		return &document{form: form}, nil
	case (mediaType == "" || mediaType == "text/plain") && bytes.HasPrefix(trimmed, []byte("{")):
		return parseJSONObject(trimmed)
	case mediaType == "":
		return &document{}, errors.New("the response has no content type and is not a JSON object")
	default:
		return &document{}, fmt.Errorf("the response has content type %s, want application/json", mediaType)
	}
}

func parseJSONObject(body []byte) (*document, error) {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil || object == nil {
		return &document{}, errors.New("the response body is not a JSON object")
	}
	return &document{object: object}, nil
}

// has reports whether the document has the member name, null or not.
func (d *document) has(name string) bool {
	if d.object != nil {
		_, ok := d.object[name]
		return ok
	}
	_, ok := d.form[name]
	return ok
}

// str returns a member as text: a JSON string's value, a number's or
// boolean's literal, and "" for null, objects, arrays and absent members.
func (d *document) str(name string) string {
	if d.object == nil {
		return d.form.Get(name)
	}
	raw, ok := d.object[name]
	if !ok || len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case '{', '[', 'n':
		return ""
	default:
		return string(raw)
	}
}

// member returns the JSON object member name as a document, or nil.
func (d *document) member(name string) *document {
	raw, ok := d.object[name]
	if !ok {
		return nil
	}
	sub, err := parseJSONObject(raw)
	if err != nil {
		return nil
	}
	return sub
}

// boolean returns a boolean member and whether it is present as one.
func (d *document) boolean(name string) (value, present bool) {
	switch d.str(name) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// errorFields returns the RFC 6749 section 5.2 error code and
// description. An "error" member that is present but not a string (an
// object, as some APIs send) has the code "unknown_error".
func (d *document) errorFields() (code, description string) {
	code = d.str("error")
	if code == "" && d.has("error") && d.object != nil && string(d.object["error"]) != "null" {
		code = "unknown_error"
	}
	return code, d.str("error_description")
}

// tokenValues returns the tokens in the document, at the top level and
// under Slack's authed_user, so that error text can be stripped of them.
func (d *document) tokenValues() []string {
	var out []string
	for _, doc := range []*document{d, d.member("authed_user")} {
		if doc == nil {
			continue
		}
		for _, name := range []string{"access_token", "refresh_token", "id_token"} {
			if v := doc.str(name); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// expiresIn reads expires_in (RFC 6749 section 5.1), which providers send
// as a JSON number or a numeric string. An absent, non-numeric, zero or
// negative value means the lifetime is unknown and returns zero. The
// result is whole seconds, at most maxExpiresIn.
func (d *document) expiresIn() time.Duration {
	text := strings.TrimSpace(d.str("expires_in"))
	if text == "" {
		return 0
	}
	secs, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(secs) || secs < 1 {
		return 0
	}
	if secs >= maxExpiresIn.Seconds() {
		return maxExpiresIn
	}
	return time.Duration(secs) * time.Second
}

// parseTokenResponse checks a token endpoint response and builds the
// TokenResponse from it. With Quirks.UserTokenInAuthedUser, the user's
// token is read from the authed_user object; an exchange response
// without one fails even when it has a top-level (bot) token, while a
// refresh response may carry the user's token at the top level.
func (c *Client) parseTokenResponse(op string, cfg *provider.Config, res *response, sent []string) (*TokenResponse, error) {
	doc, fail := c.checkResponse(op, cfg.Quirks, res, sent)
	if fail != nil {
		return nil, fail
	}
	received := c.now()

	src := doc
	if cfg.Quirks.UserTokenInAuthedUser {
		user := doc.member("authed_user")
		switch {
		case user != nil && user.str("access_token") != "":
			src = user
		case op == opExchange:
			return nil, &Error{Kind: KindFailure, Op: op, Code: "missing_access_token", HTTPStatus: res.status,
				Description: "the response has no user token under authed_user; request user scopes"}
		}
	}
	access := src.str("access_token")
	if access == "" {
		return nil, &Error{Kind: KindFailure, Op: op, Code: "missing_access_token", HTTPStatus: res.status,
			Description: "the response has no access_token"}
	}

	resp := &TokenResponse{
		AccessToken:  access,
		RefreshToken: src.str("refresh_token"),
		TokenType:    normalizeTokenType(src.str("token_type")),
		ExpiresIn:    src.expiresIn(),
		IDToken:      firstNonEmpty(src.str("id_token"), doc.str("id_token")),
	}
	if resp.ExpiresIn > 0 {
		resp.ExpiresAt = received.Add(resp.ExpiresIn)
	}
	if scope := src.str("scope"); strings.TrimSpace(scope) != "" {
		resp.Scopes = splitScopes(scope)
	}
	for _, name := range cfg.Quirks.ExtraTokenFields {
		if v := firstNonEmpty(src.str(name), doc.str(name)); v != "" {
			if resp.Extras == nil {
				resp.Extras = map[string]string{}
			}
			resp.Extras[name] = v
		}
	}
	return resp, nil
}

// normalizeTokenType returns "Bearer" for an absent type and for any
// spelling of bearer, since RFC 6749 section 5.1 makes the value case
// insensitive. Other types are kept as sent.
func normalizeTokenType(t string) string {
	if t == "" || strings.EqualFold(t, "bearer") {
		return "Bearer"
	}
	return t
}

// splitScopes splits a scope member into its scopes, without repeats.
// RFC 6749 section 3.3 separates scopes with spaces; GitHub and Slack use
// commas, and no provider puts a comma inside a scope, so both separate.
func splitScopes(scope string) []string {
	fields := strings.FieldsFunc(scope, func(r rune) bool { return r == ' ' || r == ',' })
	out := make([]string, 0, len(fields))
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
