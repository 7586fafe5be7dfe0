package llm

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// modelFunc adapts a function to Model.
type modelFunc func(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error)

func (f modelFunc) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	return f(ctx, req, onEvent)
}

// echoModelName is a Model that replies with the request's model name.
var echoModelName = modelFunc(func(_ context.Context, req *Request, _ func(Event) error) (*Response, error) {
	return &Response{Message: Message{Role: RoleAssistant, Text: req.Model}, StopReason: StopEndTurn}, nil
})

// newTestRegistry returns a registry with the scripted model and two models
// of one back end.
func newTestRegistry(t *testing.T) *Registry {
	t.Helper()
	registry := NewRegistry()
	if err := registry.Add(NewScripted(), NewScripted().Models()...); err != nil {
		t.Fatalf("Add scripted: %v", err)
	}
	infos := []Info{{Name: "gpt-4o-mini", Provider: ProviderOpenAI}, {Name: "llama3.2", Provider: ProviderOpenAI, DisplayName: "Llama 3.2 (local)"}}
	if err := registry.Add(echoModelName, infos...); err != nil {
		t.Fatalf("Add: %v", err)
	}
	return registry
}

func TestRegistryUnknownModel(t *testing.T) {
	_, _, err := newTestRegistry(t).Get("gpt-5")
	if !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("got error %v, want ErrUnknownModel", err)
	}
	want := `llm: unknown model "gpt-5": available models: scripted, gpt-4o-mini, llama3.2`
	if err.Error() != want {
		t.Errorf("got error %q, want %q", err, want)
	}
}

func TestRegistryEmpty(t *testing.T) {
	_, _, err := NewRegistry().Default()
	if !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "no models are configured") {
		t.Errorf("got error %v, want ErrUnknownModel saying that no models are configured", err)
	}
}

func TestRegistryList(t *testing.T) {
	want := []Info{
		{Name: "scripted", Provider: ProviderScripted, Demo: true, DisplayName: "Demo model (scripted, no AI)"},
		{Name: "gpt-4o-mini", Provider: ProviderOpenAI, DisplayName: "gpt-4o-mini"},
		{Name: "llama3.2", Provider: ProviderOpenAI, DisplayName: "Llama 3.2 (local)"},
	}
	if got := newTestRegistry(t).List(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRegistryDefault(t *testing.T) {
	registry := newTestRegistry(t)
	if _, info, err := registry.Default(); err != nil || info.Name != "scripted" {
		t.Errorf("got default %q, %v, want the first model added, scripted", info.Name, err)
	}

	if err := registry.SetDefault("llama3.2"); err != nil {
		t.Fatalf("SetDefault: %v", err)
	}
	if _, info, err := registry.Get(""); err != nil || info.Name != "llama3.2" {
		t.Errorf("got Get(\"\") %q, %v, want llama3.2", info.Name, err)
	}

	if err := registry.SetDefault("nope"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("got SetDefault error %v, want ErrUnknownModel", err)
	}
}

func TestRegistryAddRejectsDuplicates(t *testing.T) {
	registry := newTestRegistry(t)
	err := registry.Add(echoModelName, Info{Name: "new-model"}, Info{Name: "llama3.2"})
	if err == nil || !strings.Contains(err.Error(), `"llama3.2" is already registered`) {
		t.Errorf("got error %v, want one about the duplicate llama3.2", err)
	}
	if _, _, err := registry.Get("new-model"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("got %v for new-model, want it not added after the failed Add", err)
	}
	if err := registry.Add(echoModelName, Info{}); err == nil {
		t.Error("got no error for an empty name, want one")
	}
	if err := registry.Add(nil, Info{Name: "nil-model"}); err == nil {
		t.Error("got no error for a nil model, want one")
	}
}

func TestRegistryModelFillsRequestModel(t *testing.T) {
	model, info, err := newTestRegistry(t).Get("llama3.2")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if info.Provider != ProviderOpenAI {
		t.Errorf("got provider %q, want %q", info.Provider, ProviderOpenAI)
	}

	req := &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}
	resp, err := model.Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Message.Text != "llama3.2" {
		t.Errorf("got model %q sent, want the registered name llama3.2", resp.Message.Text)
	}
	if req.Model != "" {
		t.Errorf("got request Model changed to %q, want the caller's request unchanged", req.Model)
	}

	resp, err = model.Stream(context.Background(), &Request{Model: "llama3.2:70b"}, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Message.Text != "llama3.2:70b" {
		t.Errorf("got model %q sent, want the request's own model", resp.Message.Text)
	}
}
