package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/agent"
	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/problem"
)

// heartbeatEvery is how often an idle turn stream gets a comment line.
const heartbeatEvery = 15 * time.Second

// routeSessions registers the chat routes. Every route needs an identity
// and acts for it: another user's session is 404.
func (s *Server) routeSessions() {
	s.route("POST /api/v1/sessions", authn.RequireUser(s.handle(s.createSession)))
	s.route("GET /api/v1/sessions", authn.RequireUser(s.handle(s.listSessions)))
	s.route("GET /api/v1/sessions/{session_id}", authn.RequireUser(s.handle(s.getSession)))
	s.route("POST /api/v1/sessions/{session_id}/turns", authn.RequireUser(s.handle(s.runTurn)))
	s.route("DELETE /api/v1/sessions/{session_id}/pending-interrupts/{interrupt_id}", authn.RequireUser(s.handle(s.dismissInterrupt)))
}

func callerOf(r *http.Request) agent.Caller {
	id, _ := authn.FromContext(r.Context())
	return agent.Caller{UserID: id.UserID, Roles: id.Roles}
}

// createSession serves POST /api/v1/sessions with an optional body
// {"title"}.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Title string `json:"title"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	sess, err := s.opts.Agent.CreateSession(r.Context(), callerOf(r), in.Title)
	if err != nil {
		return agentProblem(err)
	}
	w.Header().Set("Location", "/api/v1/sessions/"+sess.ID)
	return writeJSON(w, http.StatusCreated, sess)
}

// listSessions serves GET /api/v1/sessions?limit=N (1–200, default 50).
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 200 {
			return problem.BadRequest("limit", "must be a whole number from 1 to 200")
		}
		limit = n
	}
	list, err := s.opts.Agent.ListSessions(r.Context(), callerOf(r), limit)
	if err != nil {
		return agentProblem(err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

// getSession serves GET /api/v1/sessions/{session_id}.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	detail, err := s.opts.Agent.GetSession(r.Context(), callerOf(r), r.PathValue("session_id"))
	if err != nil {
		return agentProblem(err)
	}
	return writeJSON(w, http.StatusOK, detail)
}

// dismissInterrupt serves DELETE
// /api/v1/sessions/{session_id}/pending-interrupts/{interrupt_id}: 204,
// also for an interrupt already dismissed or handled.
func (s *Server) dismissInterrupt(w http.ResponseWriter, r *http.Request) error {
	err := s.opts.Agent.DismissInterrupt(r.Context(), callerOf(r), r.PathValue("session_id"), r.PathValue("interrupt_id"))
	if err != nil {
		return agentProblem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// runTurn serves POST /api/v1/sessions/{session_id}/turns. Problems found
// before the turn starts are problem+json responses; after that, the
// response is a text/event-stream that always ends with a done event.
func (s *Server) runTurn(w http.ResponseWriter, r *http.Request) error {
	var req agent.TurnRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	turn, err := s.opts.Agent.Prepare(r.Context(), callerOf(r), r.PathValue("session_id"), &req)
	if err != nil {
		return agentProblem(err)
	}

	stream, err := newSSE(w, "", heartbeatEvery)
	if err != nil {
		turn.Abandon()
		return problem.Internal(err)
	}
	defer stream.close()
	// The turn keeps running for a moment after the client goes away, only
	// to store a consistent conversation; the request context ends it.
	turn.Run(r.Context(), func(ev agent.Event) error {
		return stream.send(ev.Name, ev.Data)
	})
	return nil
}

// ModelLister lists the models a turn may name. *llm.Registry
// implements it.
type ModelLister interface {
	List() []llm.Info
	Default() (llm.Model, llm.Info, error)
}

// listModels serves GET /api/v1/models.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	type modelView struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
		Provider    string `json:"provider"`
		Demo        bool   `json:"demo"`
		Default     bool   `json:"default"`
	}
	_, def, _ := s.opts.Models.Default()
	out := []modelView{}
	for _, m := range s.opts.Models.List() {
		out = append(out, modelView{Name: m.Name, DisplayName: m.DisplayName, Provider: m.Provider, Demo: m.Demo, Default: m.Name == def.Name})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

// agentProblem maps the agent's errors to problem responses.
func agentProblem(err error) error {
	var input *agent.InputError
	switch {
	case errors.As(err, &input):
		fields := []problem.FieldError{{Field: input.Field, Detail: input.Detail}}
		for _, f := range input.Also {
			fields = append(fields, problem.FieldError{Field: f.Field, Detail: f.Detail})
		}
		p := problem.Invalid(http.StatusBadRequest, fields...)
		if len(input.UnknownIDs) > 0 {
			p.Extra = map[string]any{"unknown_interrupt_ids": input.UnknownIDs}
		}
		return p
	case errors.Is(err, agent.ErrSessionNotFound):
		return problem.New(http.StatusNotFound, "not_found", "no such session; create one with POST /api/v1/sessions")
	case errors.Is(err, agent.ErrTurnRunning):
		return problem.New(http.StatusConflict, "turn_running", "a turn is already running in this session; wait for its done event, then send again")
	case errors.Is(err, agent.ErrPauseExpired):
		return problem.New(http.StatusConflict, "pause_expired", "paused turn expired; send the message again")
	case errors.Is(err, agent.ErrNothingToResume):
		return problem.New(http.StatusConflict, "nothing_to_resume", "the session has no paused turn; it was resumed or replaced already")
	case errors.Is(err, context.Canceled):
		return problem.New(499, "client_closed", "the client closed the request")
	default:
		return problem.Internal(fmt.Errorf("agent: %w", err))
	}
}
