package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/store"
)

// TurnRequest starts a turn with a new message, or resumes a paused turn
// with InterruptResponses. Exactly one of Message and InterruptResponses
// is set. The settings apply to new turns; a resumed turn keeps its own.
type TurnRequest struct {
	Message            string              `json:"message,omitempty"`
	Model              string              `json:"model,omitempty"`
	MCPServers         []string            `json:"mcp_servers,omitempty"`
	SystemPrompt       string              `json:"system_prompt,omitempty"`
	Temperature        *float64            `json:"temperature,omitempty"`
	MaxTokens          int                 `json:"max_tokens,omitempty"`
	MaxIterations      int                 `json:"max_iterations,omitempty"`
	ToolTimeout        string              `json:"tool_timeout,omitempty"`
	InterruptResponses []InterruptResponse `json:"interrupt_responses,omitempty"`
}

// InterruptResponse answers one interrupt of a paused turn.
type InterruptResponse struct {
	InterruptID string `json:"interrupt_id"`
	// Response is "consented" or "declined".
	Response string `json:"response"`
}

// MaxIterationLimit is the largest number of model steps a turn may take,
// in a TurnRequest or as Options.MaxIterations.
const MaxIterationLimit = 50

// Limits of a TurnRequest.
const (
	maxMessageBytes = 64 << 10
	maxTokensLimit  = 1_000_000
	minToolTimeout  = time.Second
	maxToolTimeout  = 10 * time.Minute
	maxSystemPrompt = 32 << 10
)

// Turn is a prepared turn: validated, holding its session's lease, ready
// to Run. Run must be called exactly once, or Abandon.
type Turn struct {
	r        *Runner
	caller   Caller
	session  *store.ChatSession
	id       string
	settings settings
	model    llm.Model
	info     llm.Info
	history  []message
	tools    map[string]ToolSpec
	toolList []llm.Tool
	warnings []Warning
	prompted map[string]bool

	// newMessage is the user message of a new turn; nil when resuming.
	newMessage *message
	// cancelled is a paused turn that newMessage replaces.
	cancelled *pausedState
	// resume is the paused turn being resumed, with the user's answers.
	resume    *pausedState
	responses map[string]string

	// leaseID names this run as the holder of the session's turn lease. It
	// differs from id, because a resumed turn keeps its id and two requests
	// resuming it must not share a lease (the loser would release the
	// winner's).
	leaseID   string
	stopLease context.CancelFunc
	emit      func(Event) error
	// ran is set when Run starts.
	ran bool
}

// Prepare validates req and readies a turn of the caller's session. Errors
// returned here come before any event: ErrSessionNotFound, ErrTurnRunning,
// ErrPauseExpired, ErrNothingToResume or an *InputError. A request
// rejected here leaves the session as it was, paused turn included.
func (r *Runner) Prepare(ctx context.Context, caller Caller, sessionID string, req *TurnRequest) (*Turn, error) {
	resuming := len(req.InterruptResponses) > 0
	if err := validateShape(req, resuming); err != nil {
		return nil, err
	}
	cs, err := r.loadSession(ctx, caller, sessionID)
	if err != nil {
		return nil, err
	}
	t := &Turn{r: r, caller: caller, session: cs, prompted: map[string]bool{}, leaseID: newID("run_")}
	if !resuming {
		t.id = newID("turn_")
		if t.settings, err = r.newSettings(req); err != nil {
			return nil, err
		}
	}

	// Every change to the session's paused turn happens under the lease, so
	// what checkResume and load read stays true until claimPausedTurn.
	if err := t.acquireLease(ctx); err != nil {
		return nil, err
	}
	if resuming {
		if err := t.checkResume(ctx, req.InterruptResponses); err != nil {
			t.Abandon()
			return nil, err
		}
	}
	if err := t.load(ctx, req); err != nil {
		t.Abandon()
		return nil, err
	}
	// Last, because it changes the store: nothing after it can fail.
	if err := t.claimPausedTurn(ctx, req); err != nil {
		t.Abandon()
		return nil, err
	}
	return t, nil
}

func validateShape(req *TurnRequest, resuming bool) error {
	switch {
	case resuming && req.Message != "":
		return &InputError{Field: "message", Detail: "send either message or interrupt_responses, not both"}
	case !resuming && strings.TrimSpace(req.Message) == "":
		return &InputError{Field: "message", Detail: "is required: send the user's message, or interrupt_responses to resume a paused turn"}
	case len(req.Message) > maxMessageBytes:
		return &InputError{Field: "message", Detail: fmt.Sprintf("is %d bytes; the limit is %d", len(req.Message), maxMessageBytes)}
	case !utf8.ValidString(req.Message):
		return &InputError{Field: "message", Detail: "must be valid UTF-8"}
	}
	seen := map[string]bool{}
	for i, resp := range req.InterruptResponses {
		field := fmt.Sprintf("interrupt_responses[%d]", i)
		if resp.InterruptID == "" {
			return &InputError{Field: field + ".interrupt_id", Detail: "is required"}
		}
		if seen[resp.InterruptID] {
			return &InputError{Field: field + ".interrupt_id", Detail: fmt.Sprintf("%q is listed twice", resp.InterruptID)}
		}
		seen[resp.InterruptID] = true
		if resp.Response != "consented" && resp.Response != "declined" {
			return &InputError{Field: field + ".response", Detail: fmt.Sprintf("is %q; want consented or declined", resp.Response)}
		}
	}
	return nil
}

// newSettings validates the settings of a new turn and fills defaults.
func (r *Runner) newSettings(req *TurnRequest) (settings, error) {
	s := settings{
		Model: req.Model, SystemPrompt: req.SystemPrompt, Temperature: req.Temperature, MaxTokens: req.MaxTokens,
		MaxIterations: req.MaxIterations, ToolTimeoutMillis: r.opts.ToolTimeout.Milliseconds(), MCPServers: req.MCPServers,
	}
	if s.MaxIterations == 0 {
		s.MaxIterations = r.opts.MaxIterations
	}

	var bad []FieldProblem
	add := func(field, detail string) { bad = append(bad, FieldProblem{Field: field, Detail: detail}) }
	if len(s.SystemPrompt) > maxSystemPrompt {
		add("system_prompt", fmt.Sprintf("is %d bytes; the limit is %d", len(s.SystemPrompt), maxSystemPrompt))
	}
	if s.Temperature != nil && (*s.Temperature < 0 || *s.Temperature > 2) {
		add("temperature", "must be between 0 and 2")
	}
	if s.MaxTokens < 0 || s.MaxTokens > maxTokensLimit {
		add("max_tokens", fmt.Sprintf("must be between 1 and %d, or left out", maxTokensLimit))
	}
	if s.MaxIterations < 1 || s.MaxIterations > MaxIterationLimit {
		add("max_iterations", fmt.Sprintf("must be between 1 and %d, or left out for %d", MaxIterationLimit, r.opts.MaxIterations))
	}
	if req.ToolTimeout != "" {
		d, err := time.ParseDuration(req.ToolTimeout)
		if err != nil || d < minToolTimeout || d > maxToolTimeout {
			add("tool_timeout", fmt.Sprintf("must be a duration between %s and %s, such as 30s", minToolTimeout, maxToolTimeout))
		} else {
			s.ToolTimeoutMillis = d.Milliseconds()
		}
	}
	for i, id := range s.MCPServers {
		if id == "" || slices.Contains(s.MCPServers[:i], id) {
			add(fmt.Sprintf("mcp_servers[%d]", i), "must be a distinct, non-empty MCP server id")
		}
	}

	if len(bad) > 0 {
		return s, &InputError{Field: bad[0].Field, Detail: bad[0].Detail, Also: bad[1:]}
	}
	return s, nil
}

// checkResume reads the session's paused turn and checks that it can be
// resumed and that every interrupt in responses belongs to it. It takes the
// turn's id and settings from it.
func (t *Turn) checkResume(ctx context.Context, responses []InterruptResponse) error {
	r := t.r
	paused, err := r.store.GetPausedTurn(ctx, t.session.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNothingToResume
	}
	if err != nil {
		return fmt.Errorf("agent: load paused turn: %w", err)
	}
	state, err := decodePausedState(paused.State)
	if err != nil || !paused.ExpiresAt.After(r.now()) {
		return ErrPauseExpired
	}
	known := map[string]bool{}
	for _, p := range state.Pending {
		known[p.InterruptID] = true
	}
	if err := unknownInterrupts(responses, known); err != nil {
		return err
	}
	t.id = paused.TurnID
	t.settings = state.Settings
	return nil
}

func unknownInterrupts(responses []InterruptResponse, known map[string]bool) error {
	var unknown []string
	for _, resp := range responses {
		if !known[resp.InterruptID] {
			unknown = append(unknown, resp.InterruptID)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return &InputError{
		Field:      "interrupt_responses",
		Detail:     "these interrupt ids do not belong to this session's paused turn: " + strings.Join(unknown, ", "),
		UnknownIDs: unknown,
	}
}

// acquireLease takes the session's turn lease and renews it in the
// background until Run ends.
func (t *Turn) acquireLease(ctx context.Context) error {
	r := t.r
	now := r.now()
	ok, err := r.store.AcquireTurn(ctx, t.session.ID, t.leaseID, now, now.Add(r.opts.TurnLease))
	if err != nil {
		return fmt.Errorf("agent: acquire turn: %w", err)
	}
	if !ok {
		return ErrTurnRunning
	}
	leaseCtx, stop := context.WithCancel(context.Background())
	t.stopLease = stop
	go func() {
		ticker := time.NewTicker(r.opts.TurnLease / 3)
		defer ticker.Stop()
		for {
			select {
			case <-leaseCtx.Done():
				return
			case <-ticker.C:
			}
			now := r.now()
			if _, err := r.store.AcquireTurn(leaseCtx, t.session.ID, t.leaseID, now, now.Add(r.opts.TurnLease)); err != nil && leaseCtx.Err() == nil {
				r.logger.Warn("renew turn lease failed", "session_id", t.session.ID, "turn_id", t.id, "err", err)
			}
		}
	}()
	return nil
}

// Abandon releases a prepared turn that will not run. A paused turn that
// Prepare already claimed gets results for its calls, so that the
// conversation stays well-formed: cancelled ones for the calls that did
// not run.
func (t *Turn) Abandon() {
	if !t.ran {
		t.ran = true
		t.closeClaimed()
	}
	t.release()
}

// release stops renewing the lease and drops it.
func (t *Turn) release() {
	if t.stopLease != nil {
		t.stopLease()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.r.store.ReleaseTurn(ctx, t.session.ID, t.leaseID); err != nil {
		t.r.logger.Warn("release turn failed", "session_id", t.session.ID, "turn_id", t.id, "err", err)
	}
}

// closeClaimed stores results for the calls of a paused turn that Prepare
// claimed but no Run continued.
func (t *Turn) closeClaimed() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	switch {
	case t.cancelled != nil:
		err = t.closeCancelled(ctx)
	case t.resume != nil:
		results := slices.Clone(t.resume.Finished)
		for _, p := range t.resume.Pending {
			results = append(results, cancelledResult(p.Call, "the resumed turn did not start"))
		}
		err = t.append(ctx, toolResultsMessage(t.inCallOrder(results), t.r.now()))
	}
	if err != nil {
		t.r.logger.Error("close paused turn failed", "session_id", t.session.ID, "turn_id", t.id, "err", err)
	}
}

// claimPausedTurn takes the session's paused turn out of the store: to
// resume it, or to cancel it because a new message arrived.
func (t *Turn) claimPausedTurn(ctx context.Context, req *TurnRequest) error {
	r := t.r
	status := store.InterruptCancelled
	if len(req.InterruptResponses) > 0 {
		status = store.InterruptResolved
	}
	paused, err := r.store.TakePausedTurn(ctx, t.session.ID, status)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if len(req.InterruptResponses) > 0 {
			// checkResume saw it under the lease, so only a lease that
			// expired under a stalled request gets here.
			return ErrNothingToResume
		}
		return nil
	case err != nil:
		return fmt.Errorf("agent: take paused turn: %w", err)
	}

	state, err := decodePausedState(paused.State)
	if len(req.InterruptResponses) == 0 {
		if err == nil {
			t.cancelled = state
		}
		return nil
	}
	if err != nil || paused.TurnID != t.id {
		return ErrPauseExpired
	}
	t.resume = state
	for _, p := range state.Prompted {
		t.prompted[p] = true
	}
	t.responses = map[string]string{}
	for _, resp := range req.InterruptResponses {
		t.responses[resp.InterruptID] = resp.Response
	}
	return nil
}

// load resolves the model and the tools and reads the conversation.
func (t *Turn) load(ctx context.Context, req *TurnRequest) error {
	r := t.r
	var err error
	if t.settings.Model == "" {
		t.model, t.info, err = r.models.Default()
	} else {
		t.model, t.info, err = r.models.Get(t.settings.Model)
	}
	if err != nil {
		return &InputError{Field: "model", Detail: strings.TrimPrefix(err.Error(), "llm: ") + "; GET /api/v1/models lists them"}
	}
	t.settings.Model = t.info.Name

	specs, warnings, err := r.tools.ListTools(ctx, t.caller, t.settings.MCPServers)
	if err != nil {
		var input *InputError
		if errors.As(err, &input) {
			return input
		}
		return fmt.Errorf("agent: list tools: %w", err)
	}
	t.warnings = warnings
	t.tools = map[string]ToolSpec{}
	for _, spec := range specs {
		t.tools[spec.Name] = spec
		t.toolList = append(t.toolList, llm.Tool{Name: spec.Name, Description: spec.Description, InputSchema: spec.InputSchema})
	}

	rows, err := r.store.ListChatMessages(ctx, t.session.ID)
	if err != nil {
		return fmt.Errorf("agent: load conversation: %w", err)
	}
	if t.history, err = decodeMessages(rows); err != nil {
		return err
	}
	if req.Message != "" {
		t.newMessage = &message{ID: newID("msg_"), Role: llm.RoleUser, Text: req.Message, CreatedAt: r.now()}
	}
	return nil
}

// Run streams the turn through emit and always ends it with a done event
// (an error event first when it fails), unless emit itself fails because
// the client went away. It releases the session before the done event, so
// that a client may send its next request as soon as it reads done.
func (t *Turn) Run(ctx context.Context, emit func(Event) error) {
	t.ran = true
	t.emit = emit
	r := t.r
	logger := r.logger.With("session_id", t.session.ID, "turn_id", t.id, "user_id", t.caller.UserID)

	stop, err := t.run(ctx)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			stop = StopCancelled
			logger.Info("turn cancelled", "err", err)
		default:
			stop = StopError
			logger.Error("turn failed", "err", err)
			_ = t.send(EventError, &ErrorData{Code: errorCode(err), Message: errorMessage(err)})
		}
	}
	t.release()
	_ = t.send(EventDone, &DoneData{TurnID: t.id, StopReason: stop})
	logger.Info("turn ended", "stop_reason", stop, "model", t.settings.Model)
}

func (t *Turn) run(ctx context.Context) (string, error) {
	// A failed send does not stop the turn here: the conversation must
	// still be brought up to date (a claimed paused turn closed or
	// continued), and a client that went away cancels ctx anyway.
	_ = t.send(EventTurnStart, &TurnStartData{
		TurnID: t.id, SessionID: t.session.ID, Model: t.info.Name, ModelDisplayName: t.info.DisplayName,
		Demo: t.info.Demo, Resumed: t.resume != nil,
	})
	for _, w := range t.warnings {
		_ = t.send(EventWarning, w)
	}

	if t.cancelled != nil {
		if err := t.closeCancelled(ctx); err != nil {
			return "", err
		}
	}
	iteration := 1
	if t.newMessage != nil {
		if err := t.append(ctx, t.newMessage); err != nil {
			return "", err
		}
		t.retitle(ctx)
	}
	if t.resume != nil {
		stop, err := t.continueResumed(ctx)
		if err != nil || stop != "" {
			return stop, err
		}
		iteration = t.resume.Iteration + 1
	}

	for ; iteration <= t.settings.MaxIterations; iteration++ {
		assistant, err := t.step(ctx)
		if err != nil {
			return "", err
		}
		if len(assistant.ToolCalls) == 0 {
			return StopEndTurn, nil
		}
		outcome := t.runCalls(ctx, assistant.ID, assistant.ToolCalls)
		if ctx.Err() != nil {
			return "", t.saveCancelled(ctx, outcome)
		}
		if outcome = t.startConsents(ctx, assistant.ID, outcome); len(outcome.pending) > 0 {
			return StopInterrupt, t.pause(ctx, iteration, assistant.ID, outcome)
		}
		if err := t.append(ctx, toolResultsMessage(outcome.results, t.r.now())); err != nil {
			return "", err
		}
	}
	return StopMaxIterations, nil
}

// step runs one model call and stores the assistant message.
func (t *Turn) step(ctx context.Context) (*message, error) {
	assistant := &message{ID: newID("msg_"), Role: llm.RoleAssistant, Model: t.info.Name}
	req := &llm.Request{
		Model: t.info.Name, System: t.settings.SystemPrompt, Messages: conversation(t.history),
		Tools: t.toolList, Temperature: t.settings.Temperature, MaxTokens: t.settings.MaxTokens,
	}
	resp, err := t.model.Stream(ctx, req, func(ev llm.Event) error {
		if ev.Kind == llm.EventTextDelta && ev.Text != "" {
			assistant.Text += ev.Text
			return t.send(EventTextDelta, &TextDeltaData{MessageID: assistant.ID, Text: ev.Text})
		}
		return nil
	})
	if err != nil {
		// Keep what the user already saw, so the conversation matches it.
		if assistant.Text != "" {
			assistant.CreatedAt = t.r.now()
			_ = t.append(context.WithoutCancel(ctx), assistant)
		}
		return nil, &modelError{err: err}
	}
	assistant.Text = resp.Message.Text
	for _, c := range resp.Message.ToolCalls {
		tc := toolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments}
		if spec, ok := t.tools[c.Name]; ok {
			tc.ServerID, tc.Tool = spec.ServerID, spec.Tool
		}
		assistant.ToolCalls = append(assistant.ToolCalls, tc)
	}
	assistant.CreatedAt = t.r.now()
	if err := t.append(ctx, assistant); err != nil {
		return nil, err
	}
	return assistant, nil
}

// append stores a message and adds it to the conversation.
func (t *Turn) append(ctx context.Context, m *message) error {
	row, err := m.stored(t.id)
	if err != nil {
		return err
	}
	if err := t.r.store.AppendChatMessages(context.WithoutCancel(ctx), t.session.ID, []store.ChatMessage{row}); err != nil {
		return fmt.Errorf("agent: store message: %w", err)
	}
	t.history = append(t.history, *m)
	return nil
}

// retitle names an untitled session after its first message.
func (t *Turn) retitle(ctx context.Context) {
	title := ""
	if t.session.Title == "" {
		title = strings.Join(strings.Fields(t.newMessage.Text), " ")
		if runes := []rune(title); len(runes) > maxTitleRunes {
			title = string(runes[:maxTitleRunes-1]) + "…"
		}
	}
	if err := t.r.store.UpdateChatSession(context.WithoutCancel(ctx), t.session.ID, title, t.r.now()); err != nil {
		t.r.logger.Warn("update session failed", "session_id", t.session.ID, "err", err)
	}
}

// send emits one event.
func (t *Turn) send(name string, data any) error {
	if t.emit == nil {
		return nil
	}
	return t.emit(Event{Name: name, Data: data})
}

func toolResultsMessage(results []toolResult, at time.Time) *message {
	return &message{ID: newID("msg_"), Role: llm.RoleUser, ToolResults: results, CreatedAt: at}
}

// modelError marks a failure of the model's API.
type modelError struct{ err error }

func (e *modelError) Error() string { return "agent: model: " + e.err.Error() }
func (e *modelError) Unwrap() error { return e.err }

func errorCode(err error) string {
	var m *modelError
	if errors.As(err, &m) {
		return "model_error"
	}
	return "internal_error"
}

// errorMessage is the error event's text: the model's error, which names
// the back end and status but never the key, or a generic sentence.
func errorMessage(err error) string {
	var m *modelError
	if errors.As(err, &m) {
		return "The model failed: " + m.err.Error()
	}
	return "The turn failed because of a server error; the server log has the details."
}
