package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/vault"
)

// Reasons an interrupt asks for consent, as oauth_required reports them.
const (
	reasonNotConnected      = "not_connected"
	reasonTokenRejected     = "token_rejected"
	reasonInsufficientScope = "insufficient_scope"
)

// callOutcome is the result of running one step's tool calls.
type callOutcome struct {
	// results holds a result for every call that ran, failed or was
	// cancelled, in call order.
	results []toolResult
	// pending holds the calls that wait for the user's consent.
	pending []pendingCall
}

// consentNeed says why a call cannot run until the user consents.
type consentNeed struct {
	providerID string
	scopes     []string
	reason     string
	// rejection is the server's refusal of the token, after the silent
	// refresh and retry, or of its scopes. It is nil when the vault has no
	// usable token.
	rejection error
}

// runCalls runs a step's tool calls in order. A cancelled context marks
// the calls not yet run as cancelled. A call that needs consent for a
// provider the user was already asked to connect in this turn fails
// instead of waiting, so that each provider is prompted at most once per
// turn.
func (t *Turn) runCalls(ctx context.Context, messageID string, calls []toolCall) callOutcome {
	var out callOutcome
	for _, call := range calls {
		if ctx.Err() != nil {
			out.results = append(out.results, cancelledResult(call, "the turn was cancelled before this call ran"))
			continue
		}
		_ = t.send(EventToolUse, &ToolUseData{ToolUseID: call.ID, MessageID: messageID, Name: call.Name,
			ServerID: call.ServerID, Tool: call.Tool, Arguments: call.Arguments})
		res, need := t.runCall(ctx, call, nil)
		if need != nil && t.prompted[need.providerID] {
			res, need = alreadyPromptedResult(call, need), nil
		}
		if need != nil {
			out.pending = append(out.pending, pendingCall{Call: call, ProviderID: need.providerID, Scopes: need.scopes, reason: need.reason})
			continue
		}
		out.results = append(out.results, res)
		t.sendResult(messageID, res)
	}
	return out
}

// runCall is the consent gate around one tool call: token from the vault,
// the call, and on an authentication failure one silent refresh and retry
// before asking for consent again. It returns either a result or a need;
// the caller decides whether a need becomes a prompt.
func (t *Turn) runCall(ctx context.Context, call toolCall, minScopes []string) (toolResult, *consentNeed) {
	spec, ok := t.tools[call.Name]
	if !ok {
		return failedResult(call, fmt.Sprintf("There is no tool named %q in this turn.", call.Name)), nil
	}
	if text, bad := (llm.ToolCall{Arguments: call.Arguments}).InvalidArguments(); bad {
		return failedResult(call, fmt.Sprintf("The arguments are not a JSON object: %s", clip(text, 200))), nil
	}
	if spec.ProviderID == "" {
		out, err := t.callTool(ctx, spec, call)
		return t.callResult(call, spec, out, err), nil
	}

	user, providerID := t.caller.UserID, spec.ProviderID
	tok, err := t.r.vault.Token(ctx, user, providerID, vault.TokenOptions{MinScopes: minScopes})
	if err != nil {
		return t.tokenFailure(call, providerID, minScopes, err)
	}
	out, err := t.callTool(ctx, spec, call)

	if errors.Is(err, mcpclient.ErrAuth) {
		// The token may have expired or been revoked early: refresh once,
		// silently, and retry.
		fresh, refreshErr := t.r.vault.Token(ctx, user, providerID, vault.TokenOptions{
			MinScopes: minScopes, ForceRefresh: true, Generation: tok.Generation,
		})
		if refreshErr != nil {
			return t.tokenFailure(call, providerID, minScopes, refreshErr)
		}
		tok = fresh
		out, err = t.callTool(ctx, spec, call)
		if errors.Is(err, mcpclient.ErrAuth) {
			if markErr := t.r.vault.MarkNeedsReauth(ctx, user, providerID, tok.Generation, reasonTokenRejected); markErr != nil &&
				!errors.Is(markErr, vault.ErrStaleGeneration) {
				t.r.logger.Warn("mark connection for re-consent failed", "user_id", user, "provider_id", providerID, "err", markErr)
			}
			return toolResult{}, &consentNeed{providerID: providerID, scopes: minScopes, reason: reasonTokenRejected, rejection: err}
		}
	}

	var scopeErr *mcpclient.InsufficientScopeError
	if errors.As(err, &scopeErr) {
		scopes := union(union(tok.Scopes, minScopes), scopeErr.Scopes)
		return toolResult{}, &consentNeed{providerID: providerID, scopes: scopes, reason: reasonInsufficientScope, rejection: err}
	}
	return t.callResult(call, spec, out, err), nil
}

// callTool runs the tool within the turn's per-call time limit.
func (t *Turn) callTool(ctx context.Context, spec ToolSpec, call toolCall) (*ToolOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(t.settings.ToolTimeoutMillis)*time.Millisecond)
	defer cancel()
	return t.r.tools.CallTool(ctx, t.caller, spec, call.Arguments)
}

// tokenFailure turns a vault error into a need (consent required) or a
// failed result.
func (t *Turn) tokenFailure(call toolCall, providerID string, minScopes []string, err error) (toolResult, *consentNeed) {
	var cre *vault.ConsentRequiredError
	switch {
	case errors.As(err, &cre):
		return toolResult{}, &consentNeed{providerID: providerID, scopes: union(minScopes, cre.MissingScopes), reason: reasonFor(cre)}
	case errors.Is(err, vault.ErrTemporarilyUnavailable):
		return failedResult(call, fmt.Sprintf("The %s account could not be used right now because the provider is temporarily unavailable. Try again later.", providerID)), nil
	case errors.Is(err, vault.ErrProviderNotFound), errors.Is(err, vault.ErrProviderDisabled):
		return failedResult(call, fmt.Sprintf("The provider %s is not available; an admin has removed or disabled it.", providerID)), nil
	default:
		t.r.logger.Error("get token for tool call failed", "user_id", t.caller.UserID, "provider_id", providerID, "err", err)
		return failedResult(call, fmt.Sprintf("The %s account could not be used because of a server error.", providerID)), nil
	}
}

func reasonFor(cre *vault.ConsentRequiredError) string {
	switch cre.Reason {
	case vault.ReasonScopesMissing:
		return reasonInsufficientScope
	case vault.ReasonNeedsReauth:
		return reasonTokenRejected
	default:
		return reasonNotConnected
	}
}

// alreadyPromptedResult is the result of a call that needs consent for a
// provider the user was already asked to connect in this turn.
func alreadyPromptedResult(call toolCall, need *consentNeed) toolResult {
	if need.rejection != nil {
		return failedResult(call, fmt.Sprintf(
			"The %s account was rejected again (%s). The user was already asked to reconnect it in this turn, so this call failed.",
			need.providerID, clip(need.rejection.Error(), 300)))
	}
	return failedResult(call, fmt.Sprintf(
		"The %s account cannot be used, and the user was already asked to connect it in this turn, so %s did not run.",
		need.providerID, call.Name))
}

// answeredResult is the result of an interrupted call that still cannot
// run after the user responded to its interrupt. It is not authorized
// when the user declined or did not finish the consent, and failed when
// the server rejected the new token too.
func answeredResult(call toolCall, need *consentNeed) toolResult {
	if need.rejection != nil {
		return alreadyPromptedResult(call, need)
	}
	return notAuthorizedResult(call, need.providerID)
}

// callResult turns a tool's output or error into a result, sending a
// warning for a server that did not answer.
func (t *Turn) callResult(call toolCall, spec ToolSpec, out *ToolOutput, err error) toolResult {
	switch {
	case errors.Is(err, mcpclient.ErrUnavailable):
		_ = t.send(EventWarning, Warning{Code: "mcp_server_unavailable", ServerID: spec.ServerID,
			Message: fmt.Sprintf("MCP server %s did not answer: %s", spec.ServerID, clip(err.Error(), 300))})
		return failedResult(call, fmt.Sprintf("The MCP server %s is unavailable, so %s did not run.", spec.ServerID, spec.Tool))
	case errors.Is(err, mcpclient.ErrAuth):
		return failedResult(call, fmt.Sprintf("The MCP server %s rejected the request: %s", spec.ServerID, clip(err.Error(), 300)))
	case err != nil:
		return failedResult(call, fmt.Sprintf("The tool failed: %s", clip(err.Error(), 500)))
	}
	res := toolResult{CallID: call.ID, Name: call.Name, Content: clip(out.Text, t.r.opts.MaxToolResultBytes), Status: StatusDone}
	if out.IsError {
		res.IsError, res.Status = true, StatusFailed
	}
	return res
}

// startConsents starts (or reuses) one consent per provider for the
// pending calls. A provider the user may not use turns its calls into
// failed results; a provider whose token became usable meanwhile gets its
// calls run again at once.
func (t *Turn) startConsents(ctx context.Context, messageID string, out callOutcome) callOutcome {
	if len(out.pending) == 0 {
		return out
	}
	type started struct {
		result *consent.StartResult
		err    error
	}
	byProvider := map[string]started{}
	var still []pendingCall
	for _, p := range out.pending {
		s, ok := byProvider[p.ProviderID]
		if !ok {
			res, err := t.r.consents.Start(ctx, t.caller.UserID, t.caller.Roles, p.ProviderID, consent.StartInput{Scopes: p.Scopes})
			s = started{res, err}
			byProvider[p.ProviderID] = s
		}
		var res toolResult
		switch {
		case s.err != nil && ctx.Err() != nil:
			res = cancelledResult(p.Call, "the turn was cancelled before the user could be asked to connect "+p.ProviderID)
		case errors.Is(s.err, consent.ErrNotFound):
			res = failedResult(p.Call, fmt.Sprintf("The %s account cannot be connected: the provider is not available to this user.", p.ProviderID))
		case s.err != nil:
			t.r.logger.Error("start consent failed", "user_id", t.caller.UserID, "provider_id", p.ProviderID, "err", s.err)
			res = failedResult(p.Call, fmt.Sprintf("The %s account cannot be connected because of a server error.", p.ProviderID))
		case s.result.Connected:
			// The token became usable after the call failed, for example
			// because the user connected in another tab: run it again.
			var need *consentNeed
			if res, need = t.runCall(ctx, p.Call, p.Scopes); need != nil {
				res = answeredResult(p.Call, need)
			}
		default:
			t.prompted[p.ProviderID] = true
			p.InterruptID = newID("intr:")
			p.consent = s.result
			still = append(still, p)
			continue
		}
		out.results = append(out.results, res)
		t.sendResult(messageID, res)
	}
	out.pending = still
	return out
}

// pause stores the turn as paused and sends an oauth_required event per
// pending call.
func (t *Turn) pause(ctx context.Context, iteration int, messageID string, out callOutcome) error {
	now := t.r.now()
	state := &pausedState{
		Version: pausedStateVersion, Settings: t.settings, Iteration: iteration, MessageID: messageID,
		Pending: out.pending, Finished: out.results, Prompted: sortedKeys(t.prompted),
	}
	raw, err := encodeJSON(state)
	if err != nil {
		return err
	}
	interrupts := make([]store.Interrupt, 0, len(out.pending))
	for _, p := range out.pending {
		interrupts = append(interrupts, store.Interrupt{
			ID: p.InterruptID, ToolUseID: p.Call.ID, MessageID: messageID, ProviderID: p.ProviderID,
			ConsentID: p.consent.ConsentID, Kind: EventOAuthRequired, CreatedAt: now,
		})
	}
	paused := &store.PausedTurn{SessionID: t.session.ID, TurnID: t.id, State: raw, CreatedAt: now, ExpiresAt: now.Add(t.r.opts.PauseTTL)}
	if err := t.r.store.SavePausedTurn(context.WithoutCancel(ctx), paused, interrupts); err != nil {
		return fmt.Errorf("agent: save paused turn: %w", err)
	}
	for _, p := range out.pending {
		if err := t.send(EventOAuthRequired, &OAuthRequiredData{
			InterruptID: p.InterruptID, ProviderID: p.ProviderID, ConsentID: p.consent.ConsentID,
			AuthorizationURL: p.consent.AuthorizationURL, ToolUseID: p.Call.ID, MessageID: messageID,
			Reason: p.reason, Scopes: p.Scopes,
		}); err != nil {
			return err
		}
	}
	return nil
}

// continueResumed runs the interrupted calls of the resumed turn and
// stores the step's results. A non-empty stop reason ends the turn.
func (t *Turn) continueResumed(ctx context.Context) (string, error) {
	state := t.resume
	results := slices.Clone(state.Finished)
	for _, p := range state.Pending {
		_ = t.send(EventToolUse, &ToolUseData{ToolUseID: p.Call.ID, MessageID: state.MessageID, Name: p.Call.Name,
			ServerID: p.Call.ServerID, Tool: p.Call.Tool, Arguments: p.Call.Arguments})
		var res toolResult
		switch {
		case ctx.Err() != nil:
			res = cancelledResult(p.Call, "the turn was cancelled before this call ran")
		case t.responses[p.InterruptID] == "declined":
			res = notAuthorizedResult(p.Call, p.ProviderID)
		default:
			var need *consentNeed
			if res, need = t.runCall(ctx, p.Call, p.Scopes); need != nil {
				res = answeredResult(p.Call, need)
			}
		}
		results = append(results, res)
		t.sendResult(state.MessageID, res)
	}
	if err := t.append(ctx, toolResultsMessage(t.inCallOrder(results), t.r.now())); err != nil {
		return "", err
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if state.Iteration >= t.settings.MaxIterations {
		return StopMaxIterations, nil
	}
	return "", nil
}

// closeCancelled gives every call of a paused turn that a new message
// replaced a result, so the conversation stays well-formed.
func (t *Turn) closeCancelled(ctx context.Context) error {
	results := slices.Clone(t.cancelled.Finished)
	for _, p := range t.cancelled.Pending {
		results = append(results, cancelledResult(p.Call,
			fmt.Sprintf("the user sent a new message instead of connecting %s", p.ProviderID)))
	}
	return t.append(ctx, toolResultsMessage(t.inCallOrder(results), t.r.now()))
}

// saveCancelled stores results for a step whose turn was cancelled
// midway.
func (t *Turn) saveCancelled(ctx context.Context, out callOutcome) error {
	results := out.results
	for _, p := range out.pending {
		results = append(results, cancelledResult(p.Call, "the turn was cancelled"))
	}
	if err := t.append(context.WithoutCancel(ctx), toolResultsMessage(t.inCallOrder(results), t.r.now())); err != nil {
		return err
	}
	return ctx.Err()
}

// inCallOrder sorts results by the order of the calls in the last
// assistant message.
func (t *Turn) inCallOrder(results []toolResult) []toolResult {
	order := map[string]int{}
	for i := len(t.history) - 1; i >= 0; i-- {
		if m := t.history[i]; m.Role == llm.RoleAssistant {
			for j, c := range m.ToolCalls {
				order[c.ID] = j
			}
			break
		}
	}
	out := slices.Clone(results)
	slices.SortStableFunc(out, func(a, b toolResult) int { return order[a.CallID] - order[b.CallID] })
	return out
}

func (t *Turn) sendResult(messageID string, res toolResult) {
	_ = t.send(EventToolResult, &ToolResultData{ToolUseID: res.CallID, MessageID: messageID, Status: res.Status,
		IsError: res.IsError, Content: res.Content})
}

func failedResult(call toolCall, text string) toolResult {
	return toolResult{CallID: call.ID, Name: call.Name, Content: text, IsError: true, Status: StatusFailed}
}

func notAuthorizedResult(call toolCall, providerID string) toolResult {
	return toolResult{CallID: call.ID, Name: call.Name, IsError: true, Status: StatusNotAuthorized,
		Content: fmt.Sprintf("The user did not authorize %s, so %s did not run.", providerID, call.Name)}
}

func cancelledResult(call toolCall, why string) toolResult {
	return toolResult{CallID: call.ID, Name: call.Name, IsError: true, Status: StatusCancelled, Content: "Cancelled: " + why + "."}
}

// union returns a followed by the items of b it lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …[truncated]"
}
