package consent

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values of Outcome.Status, which the browser redirects and the
// /oauth-complete page's message carry.
const (
	OutcomeSuccess = "success"
	OutcomeError   = "error"
)

// Patterns that query values must match before /oauth-complete shows
// them. Provider ids follow the provider registry's rule.
var (
	providerIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	consentIDPattern  = regexp.MustCompile(`^` + consentIDPrefix + `[A-Za-z0-9_-]{22}$`)
)

// Outcome is the content of the /oauth-complete page and of the message
// it posts to the page that opened it. Every field is safe to show,
// because ids and codes are checked against fixed patterns and the texts
// are Toolgate's own.
type Outcome struct {
	ConsentID  string
	ProviderID string
	// Status is OutcomeSuccess or OutcomeError.
	Status string
	// Error is the failure's code, empty on success.
	Error string
	// Title and Message describe in plain words what happened and what to
	// do next.
	Title   string
	Message string
	// Origins are the origins the page may post its message to (see
	// Service.Origins).
	Origins []string
}

// Outcome builds the /oauth-complete page from its query for the
// signed-in userID, which may be empty. When the query names a consent of
// userID that has finished, the page shows what the store records and
// the provider's display name. Otherwise it shows the query's provider_id,
// status and error after checking them, and names no provider, so that a
// crafted link cannot make Toolgate state anything about a provider.
func (s *Service) Outcome(ctx context.Context, userID string, query url.Values) *Outcome {
	o := &Outcome{Origins: s.Origins(), Status: OutcomeError}
	providerName := ""

	if consentID := query.Get("consent_id"); consentIDPattern.MatchString(consentID) {
		o.ConsentID = consentID
		if st, err := s.Status(ctx, consentID, userID); err == nil && st.Status != StatusPending {
			o.ProviderID = st.ProviderID
			if st.Status == StatusCompleted {
				o.Status = OutcomeSuccess
			} else {
				o.Error = st.Error
			}
			providerName = s.displayName(ctx, st.ProviderID)
			o.Title, o.Message = describeOutcome(o.Status, o.Error, providerName)
			return o
		}
	}

	if id := query.Get("provider_id"); providerIDPattern.MatchString(id) {
		o.ProviderID = id
	}
	if query.Get("status") == OutcomeSuccess {
		o.Status = OutcomeSuccess
	} else if code := query.Get("error"); code != "" {
		o.Error = sanitizeErrorCode(code)
	}
	o.Title, o.Message = describeOutcome(o.Status, o.Error, providerName)
	return o
}

// displayName returns the provider's display name, or "" when it cannot
// be resolved.
func (s *Service) displayName(ctx context.Context, providerID string) string {
	cfg, err := s.providers.Resolve(ctx, providerID)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(cfg.DisplayName)
}

// describeOutcome returns a title and a message in plain words for an
// outcome. providerName may be empty.
func describeOutcome(status, code, providerName string) (title, message string) {
	the := providerName
	if the == "" {
		the = "the provider"
	}
	The := capitalize(the)

	if status == OutcomeSuccess {
		if providerName == "" {
			return "Connected", "Your account is connected. You can close this window."
		}
		return "Connected", fmt.Sprintf("Your %s account is connected. You can close this window.", providerName)
	}

	title = "Not connected"
	switch code {
	case "access_denied":
		message = fmt.Sprintf("You declined access to %s, so nothing was connected. To connect later, start again from the app.", the)
	case "invalid_scope":
		message = fmt.Sprintf("%s did not accept the permissions Toolgate asked for. Ask your administrator to check the scopes configured for it.", The)
	case "server_error", "temporarily_unavailable":
		message = fmt.Sprintf("%s could not handle the request just now. Try again in a few minutes.", The)
	case "invalid_grant":
		message = fmt.Sprintf("%s did not accept the sign-in. Start again from the app.", The)
	case codeCancelled:
		message = fmt.Sprintf("A newer request to connect %s replaced this one. Finish the newer one, or start again from the app.", the)
	case codeExpired:
		message = fmt.Sprintf("The request to connect %s expired before it finished. Start again from the app.", the)
	case codeIssuerMismatch:
		message = fmt.Sprintf("The response did not come from %s's authorization server, so Toolgate rejected it. Tell your administrator.", the)
	case codeProviderUnavailable:
		message = fmt.Sprintf("%s is no longer available in Toolgate. Ask your administrator.", The)
	case codeInternalError:
		message = fmt.Sprintf("Toolgate could not finish connecting %s. Try again; if it keeps happening, tell your administrator.", the)
	case "invalid_request", "unauthorized_client", "invalid_client", "unsupported_response_type",
		"unsupported_grant_type", codeMissingCode, "missing_access_token":
		message = fmt.Sprintf("%s rejected Toolgate's request (error code %s). Tell your administrator.", The, code)
	case "":
		message = fmt.Sprintf("Connecting %s failed. Start again from the app; if it keeps happening, tell your administrator.", the)
	default:
		message = fmt.Sprintf("Connecting %s failed (error code %s). Start again from the app; if it keeps happening, tell your administrator.", the, code)
	}
	return title, message
}

// capitalize returns s with its first letter in upper case.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}
