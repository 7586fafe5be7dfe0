package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// chatTests cover chat sessions, messages, paused turns and interrupts.
var chatTests = []struct {
	name string
	fn   func(t *testing.T, s *store.Store)
}{
	{"ChatSessionsAndMessages", testChatSessionsAndMessages},
	{"TurnLease", testTurnLease},
	{"PausedTurnTakenOnce", testPausedTurnTakenOnce},
}

func testChatSessionsAndMessages(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i, id := range []string{"s1", "s2"} {
		cs := &store.ChatSession{ID: id, UserID: "alice", CreatedAt: now, UpdatedAt: now.Add(time.Duration(i) * time.Second)}
		if err := s.CreateChatSession(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetChatSession(ctx, "s1", "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetChatSession by another user: got %v, want ErrNotFound", err)
	}
	if err := s.UpdateChatSession(ctx, "s1", "Calendar", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateChatSession(ctx, "s1", "", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListChatSessions(ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "s1" || list[0].Title != "Calendar" {
		t.Errorf("ListChatSessions: got %+v, want s1 (titled Calendar) first", list)
	}

	batch := []store.ChatMessage{
		{ID: "m1", TurnID: "t1", Role: "user", Content: json.RawMessage(`{"text":"hi"}`), CreatedAt: now},
		{ID: "m2", TurnID: "t1", Role: "assistant", Content: json.RawMessage(`{"text":"hello"}`), CreatedAt: now},
	}
	if err := s.AppendChatMessages(ctx, "s1", batch); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendChatMessages(ctx, "s1", []store.ChatMessage{{ID: "m3", TurnID: "t2", Role: "user", Content: json.RawMessage(`{}`), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListChatMessages(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].ID != "m1" || msgs[2].Seq != 3 || string(msgs[1].Content) != `{"text":"hello"}` {
		t.Errorf("ListChatMessages: got %+v", msgs)
	}
}

func testTurnLease(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if err := s.CreateChatSession(ctx, &store.ChatSession{ID: "s1", UserID: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AcquireTurn(ctx, "s1", string(rune('a'+i)), now, now.Add(time.Minute))
			if err != nil {
				t.Errorf("AcquireTurn: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("got %d turns holding the lease, want 1", wins.Load())
	}
	if ok, _ := s.AcquireTurn(ctx, "s1", "late", now.Add(2*time.Minute), now.Add(3*time.Minute)); !ok {
		t.Errorf("AcquireTurn after the lease ended: got false, want true")
	}
	if err := s.ReleaseTurn(ctx, "s1", "late"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireTurn(ctx, "s1", "next", now, now.Add(time.Minute)); !ok {
		t.Errorf("AcquireTurn after release: got false, want true")
	}
}

func testPausedTurnTakenOnce(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := &store.PausedTurn{SessionID: "s1", TurnID: "t1", State: json.RawMessage(`{"pending":1}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ints := []store.Interrupt{
		{ID: "i1", ToolUseID: "call_1", MessageID: "m2", ProviderID: "google", ConsentID: "c1", Kind: "oauth_required", CreatedAt: now},
		{ID: "i2", ToolUseID: "call_2", MessageID: "m2", ProviderID: "google", ConsentID: "c1", Kind: "oauth_required", CreatedAt: now},
	}
	if err := s.SavePausedTurn(ctx, p, ints); err != nil {
		t.Fatal(err)
	}
	pending, err := s.ListInterrupts(ctx, "s1", store.InterruptPending)
	if err != nil || len(pending) != 2 || pending[0].ConsentID != "c1" {
		t.Fatalf("ListInterrupts: got %+v, %v; want two pending", pending, err)
	}
	if err := s.DismissInterrupt(ctx, "s1", "i2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DismissInterrupt(ctx, "s1", "i2"); err != nil {
		t.Errorf("DismissInterrupt twice: %v, want nil", err)
	}
	if got, err := s.GetPausedTurn(ctx, "s1"); err != nil || string(got.State) != `{"pending":1}` {
		t.Errorf("GetPausedTurn: got %+v, %v", got, err)
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TakePausedTurn(ctx, "s1", store.InterruptResolved)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("TakePausedTurn: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("got %d resumes taking the paused turn, want 1", wins.Load())
	}
	resolved, _ := s.ListInterrupts(ctx, "s1", store.InterruptResolved)
	dismissed, _ := s.ListInterrupts(ctx, "s1", store.InterruptDismissed)
	if len(resolved) != 1 || len(dismissed) != 1 {
		t.Errorf("after take: got %d resolved and %d dismissed, want 1 and 1", len(resolved), len(dismissed))
	}

	// A new pause cancels what is left of the previous one.
	if err := s.SavePausedTurn(ctx, &store.PausedTurn{SessionID: "s1", TurnID: "t2", State: json.RawMessage(`{}`), CreatedAt: now, ExpiresAt: now},
		[]store.Interrupt{{ID: "i3", ToolUseID: "c", MessageID: "m", ProviderID: "p", Kind: "oauth_required", CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePausedTurn(ctx, &store.PausedTurn{SessionID: "s1", TurnID: "t3", State: json.RawMessage(`{}`), CreatedAt: now, ExpiresAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if cancelled, _ := s.ListInterrupts(ctx, "s1", store.InterruptCancelled); len(cancelled) != 1 || cancelled[0].ID != "i3" {
		t.Errorf("interrupts of a replaced pause: got %+v, want i3 cancelled", cancelled)
	}
}
