package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/store"
)

// Session is a chat session as the API returns it.
type Session struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SessionDetail is a session with its messages and what it waits for.
type SessionDetail struct {
	Session
	Messages          []message          `json:"messages"`
	PendingInterrupts []PendingInterrupt `json:"pending_interrupts"`
	// Paused is true while a paused turn can be resumed.
	Paused bool `json:"paused"`
	// PausedUntil is when the paused turn expires; zero when not paused.
	PausedUntil time.Time `json:"paused_until,omitzero"`
}

// PendingInterrupt is an interrupt waiting for the user. A client shows a
// consent prompt for it; after a reload it asks for a fresh consent URL
// with POST /connectors/{provider_id}/consent.
type PendingInterrupt struct {
	InterruptID string    `json:"interrupt_id"`
	ProviderID  string    `json:"provider_id"`
	ConsentID   string    `json:"consent_id,omitempty"`
	ToolUseID   string    `json:"tool_use_id"`
	MessageID   string    `json:"message_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// maxTitleRunes limits a session title taken from its first message.
const maxTitleRunes = 60

// CreateSession starts an empty session for the caller.
func (r *Runner) CreateSession(ctx context.Context, caller Caller, title string) (*Session, error) {
	if len([]rune(title)) > 200 {
		return nil, &InputError{Field: "title", Detail: "must be at most 200 characters"}
	}
	now := r.now()
	cs := &store.ChatSession{ID: newID("ses_"), UserID: caller.UserID, Title: title, CreatedAt: now, UpdatedAt: now}
	if err := r.store.CreateChatSession(ctx, cs); err != nil {
		return nil, fmt.Errorf("agent: create session: %w", err)
	}
	return sessionView(cs), nil
}

// ListSessions returns the caller's sessions, most recent first.
func (r *Runner) ListSessions(ctx context.Context, caller Caller, limit int) ([]Session, error) {
	rows, err := r.store.ListChatSessions(ctx, caller.UserID, limit)
	if err != nil {
		return nil, fmt.Errorf("agent: list sessions: %w", err)
	}
	out := make([]Session, 0, len(rows))
	for i := range rows {
		out = append(out, *sessionView(&rows[i]))
	}
	return out, nil
}

// GetSession returns the caller's session with its messages, each tool
// call's status and the pending interrupts. Another user's session is
// ErrSessionNotFound.
func (r *Runner) GetSession(ctx context.Context, caller Caller, id string) (*SessionDetail, error) {
	cs, err := r.loadSession(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	rows, err := r.store.ListChatMessages(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("agent: get session: %w", err)
	}
	msgs, err := decodeMessages(rows)
	if err != nil {
		return nil, err
	}
	detail := &SessionDetail{Session: *sessionView(cs), Messages: msgs, PendingInterrupts: []PendingInterrupt{}}

	awaiting := map[string]bool{}
	paused, err := r.store.GetPausedTurn(ctx, id)
	switch {
	case err == nil && paused.ExpiresAt.After(r.now()):
		detail.Paused, detail.PausedUntil = true, paused.ExpiresAt
		pending, err := r.store.ListInterrupts(ctx, id, store.InterruptPending)
		if err != nil {
			return nil, fmt.Errorf("agent: get session: %w", err)
		}
		for _, in := range pending {
			if in.TurnID != paused.TurnID {
				continue
			}
			awaiting[callKey(in.MessageID, in.ToolUseID)] = true
			detail.PendingInterrupts = append(detail.PendingInterrupts, PendingInterrupt{
				InterruptID: in.ID, ProviderID: in.ProviderID, ConsentID: in.ConsentID,
				ToolUseID: in.ToolUseID, MessageID: in.MessageID, CreatedAt: in.CreatedAt,
			})
		}
		// A dismissed interrupt's call still waits for the turn to resume.
		state, err := decodePausedState(paused.State)
		if err == nil {
			for _, p := range state.Pending {
				awaiting[callKey(state.MessageID, p.Call.ID)] = true
			}
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("agent: get session: %w", err)
	}
	annotateStatuses(detail.Messages, awaiting)
	return detail, nil
}

// annotateStatuses sets each tool call's status from its result, or from
// whether it awaits authorization (awaiting is keyed by callKey). A call's
// result is looked up only in the messages between its assistant message
// and the next one, because call ids are unique only within a message:
// some models number the calls of each message from the start.
func annotateStatuses(msgs []message, awaiting map[string]bool) {
	for i := range msgs {
		if msgs[i].Role != llm.RoleAssistant || len(msgs[i].ToolCalls) == 0 {
			continue
		}
		results := map[string]string{}
		for j := i + 1; j < len(msgs) && msgs[j].Role != llm.RoleAssistant; j++ {
			for _, res := range msgs[j].ToolResults {
				if _, seen := results[res.CallID]; !seen {
					results[res.CallID] = res.Status
				}
			}
		}
		for k := range msgs[i].ToolCalls {
			c := &msgs[i].ToolCalls[k]
			switch {
			case results[c.ID] != "":
				c.Status = results[c.ID]
			case awaiting[callKey(msgs[i].ID, c.ID)]:
				c.Status = StatusAwaitingAuth
			default:
				c.Status = StatusCancelled
			}
		}
	}
}

// callKey identifies a tool call in a session: call ids repeat across
// messages.
func callKey(messageID, callID string) string {
	return messageID + "\x00" + callID
}

// DismissInterrupt hides a pending interrupt of the caller's session. It
// is idempotent. The paused turn stays resumable: the dismissed call then
// counts as not authorized unless the user connected meanwhile.
func (r *Runner) DismissInterrupt(ctx context.Context, caller Caller, sessionID, interruptID string) error {
	if _, err := r.loadSession(ctx, caller, sessionID); err != nil {
		return err
	}
	if err := r.store.DismissInterrupt(ctx, sessionID, interruptID); err != nil {
		return fmt.Errorf("agent: dismiss interrupt: %w", err)
	}
	return nil
}

func (r *Runner) loadSession(ctx context.Context, caller Caller, id string) (*store.ChatSession, error) {
	cs, err := r.store.GetChatSession(ctx, id, caller.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("agent: load session: %w", err)
	}
	return cs, nil
}

func sessionView(cs *store.ChatSession) *Session {
	return &Session{ID: cs.ID, Title: cs.Title, CreatedAt: cs.CreatedAt, UpdatedAt: cs.UpdatedAt}
}

// newID returns prefix followed by 96 random bits in base64url.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}
