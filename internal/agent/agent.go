package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/vault"
)

// Caller is the user a turn acts for.
type Caller struct {
	UserID string
	Roles  []string
}

// Models resolves the model of a turn. *llm.Registry implements it.
type Models interface {
	Get(name string) (llm.Model, llm.Info, error)
	Default() (llm.Model, llm.Info, error)
}

// ToolSpec is one tool offered to the model.
type ToolSpec struct {
	// Name is the tool's name as the model sees it: namespaced by server and
	// within the model APIs' name rules.
	Name        string
	ServerID    string
	Tool        string
	Description string
	InputSchema json.RawMessage
	// ProviderID is the OAuth provider whose user token the server needs,
	// or "" when it needs none.
	ProviderID string
}

// ToolOutput is the result of one tool call: its text and whether the tool
// reported a failure.
type ToolOutput struct {
	Text    string
	IsError bool
}

// Warning is a problem that does not stop the turn, such as an MCP server
// skipped because it did not answer.
type Warning struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	ServerID string `json:"server_id,omitempty"`
}

// Tools lists and calls MCP tools for a user. CallTool errors are
// classified with the mcpclient error types: mcpclient.ErrAuth,
// *mcpclient.InsufficientScopeError and mcpclient.ErrUnavailable.
//
// CallTool gets the user's token from the vault itself. The gate asks the
// vault first, to decide between running the call and asking for consent,
// and after a 401 forces a refresh there, so the retry sends the new
// token.
type Tools interface {
	// ListTools returns the tools caller may use on the servers serverIDs
	// (every server caller may use when empty), and a warning for each
	// server skipped for this turn. Unknown or forbidden ids are an
	// *InputError.
	ListTools(ctx context.Context, caller Caller, serverIDs []string) ([]ToolSpec, []Warning, error)
	// CallTool runs a tool as caller. ctx carries the call's time limit.
	CallTool(ctx context.Context, caller Caller, tool ToolSpec, args json.RawMessage) (*ToolOutput, error)
}

// TokenVault hands out users' access tokens. *vault.Vault implements it.
type TokenVault interface {
	Token(ctx context.Context, userID, providerID string, opts vault.TokenOptions) (*vault.Token, error)
	MarkNeedsReauth(ctx context.Context, userID, providerID string, generation int64, reason string) error
}

// ConsentStarter starts consents. *consent.Service implements it.
type ConsentStarter interface {
	Start(ctx context.Context, userID string, roles []string, providerID string, in consent.StartInput) (*consent.StartResult, error)
}

// Options configures a Runner. Zero fields take the defaults named.
type Options struct {
	// PauseTTL is how long a paused turn can be resumed. Default 1 hour.
	PauseTTL time.Duration
	// MaxIterations is the default limit of model steps per turn.
	// Default 10.
	MaxIterations int
	// ToolTimeout is the default time limit of one tool call. Default 60 s.
	ToolTimeout time.Duration
	// TurnLease is how long a running turn holds its session before the
	// lease must be renewed. A replica that dies mid-turn frees the session
	// after this time. Default 2 minutes.
	TurnLease time.Duration
	// MaxToolResultBytes caps the tool output given to the model. Default
	// 32 KiB.
	MaxToolResultBytes int
	Now                func() time.Time
	Logger             *slog.Logger
}

// Runner runs turns. It is safe for concurrent use; all turn state lives
// in the store.
type Runner struct {
	store    *store.Store
	models   Models
	tools    Tools
	vault    TokenVault
	consents ConsentStarter
	opts     Options
	logger   *slog.Logger
	now      func() time.Time
}

// New returns a Runner.
func New(st *store.Store, models Models, tools Tools, tokens TokenVault, consents ConsentStarter, opts *Options) *Runner {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.PauseTTL <= 0 {
		o.PauseTTL = time.Hour
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 10
	}
	if o.ToolTimeout <= 0 {
		o.ToolTimeout = time.Minute
	}
	if o.TurnLease <= 0 {
		o.TurnLease = 2 * time.Minute
	}
	if o.MaxToolResultBytes <= 0 {
		o.MaxToolResultBytes = 32 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{store: st, models: models, tools: tools, vault: tokens, consents: consents, opts: o, logger: o.Logger, now: o.Now}
}

// Errors returned before a turn starts streaming. Callers compare with
// errors.Is; *InputError carries field details.
var (
	// ErrSessionNotFound means the session does not exist or belongs to
	// another user.
	ErrSessionNotFound = errors.New("agent: session not found")
	// ErrTurnRunning means another turn of the session is running.
	ErrTurnRunning = errors.New("agent: a turn is already running in this session")
	// ErrPauseExpired means the paused turn can no longer be resumed.
	ErrPauseExpired = errors.New("agent: paused turn expired; send the message again")
	// ErrNothingToResume means interrupt responses were sent but the
	// session has no paused turn.
	ErrNothingToResume = errors.New("agent: the session has no paused turn to resume")
)

// FieldProblem is one invalid field of a request.
type FieldProblem struct {
	Field  string
	Detail string
}

// InputError is an invalid turn request. Field and Detail name the first
// invalid field; Also lists the others.
type InputError struct {
	Field  string
	Detail string
	Also   []FieldProblem
	// UnknownIDs lists interrupt ids that do not belong to the paused turn.
	UnknownIDs []string
}

func (e *InputError) Error() string { return fmt.Sprintf("agent: %s: %s", e.Field, e.Detail) }
