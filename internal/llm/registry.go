package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Providers named in Info.Provider.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderScripted  = "scripted"
)

// Info describes a model that a Registry offers.
type Info struct {
	// Name is the model's name in the API and in the UI, such as "scripted",
	// "gpt-4o-mini" or "claude-sonnet-4-5". It is unique in a Registry.
	Name string
	// Provider is the back end: ProviderOpenAI, ProviderAnthropic or
	// ProviderScripted. Every OpenAI-compatible server counts as
	// ProviderOpenAI.
	Provider string
	// Demo marks the scripted model, which the UI must label as a demo.
	Demo bool
	// DisplayName is the label for people. Registry.Add sets it to Name
	// when it is empty.
	DisplayName string
}

// Registry maps model names to models. Build it at startup with Add and
// SetDefault. It is safe for concurrent use.
type Registry struct {
	mu          sync.RWMutex
	models      map[string]registered // mu guards models, order and defaultName
	order       []string
	defaultName string
}

// registered is one model in a Registry.
type registered struct {
	model Model
	info  Info
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{models: make(map[string]registered)}
}

// Add registers model under each of infos. A back end that serves several
// models is added once with all of their infos. The first model ever added is
// the default until SetDefault names another. Add rejects an empty or duplicate
// name and adds none of infos then.
func (r *Registry) Add(model Model, infos ...Info) error {
	if model == nil {
		return errors.New("llm: add model: model is nil")
	}
	r.mu.Lock()
	defer r.mu.Unlock()

	seen := make(map[string]bool, len(infos))
	for _, info := range infos {
		if info.Name == "" {
			return errors.New("llm: add model: empty model name")
		}
		if _, ok := r.models[info.Name]; ok || seen[info.Name] {
			return fmt.Errorf("llm: add model: model %q is already registered", info.Name)
		}
		seen[info.Name] = true
	}

	for _, info := range infos {
		if info.DisplayName == "" {
			info.DisplayName = info.Name
		}
		r.models[info.Name] = registered{model: model, info: info}
		r.order = append(r.order, info.Name)
		if r.defaultName == "" {
			r.defaultName = info.Name
		}
	}
	return nil
}

// SetDefault makes the registered model name the default.
func (r *Registry) SetDefault(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.models[name]; !ok {
		return r.unknownLocked(name)
	}
	r.defaultName = name
	return nil
}

// Default returns the default model, which Get also returns for an empty
// name. It fails only when the Registry is empty.
func (r *Registry) Default() (Model, Info, error) {
	return r.Get("")
}

// List returns the registered models in the order they were added.
func (r *Registry) List() []Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	infos := make([]Info, 0, len(r.order))
	for _, name := range r.order {
		infos = append(infos, r.models[name].info)
	}
	return infos
}

// Get returns the model registered under name, or the default model when
// name is empty. The returned Model sends name as Request.Model whenever a
// request leaves Model empty. An unknown name returns an error that wraps
// ErrUnknownModel and lists the registered names.
func (r *Registry) Get(name string) (Model, Info, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if name == "" {
		name = r.defaultName
	}
	entry, ok := r.models[name]
	if !ok {
		return nil, Info{}, r.unknownLocked(name)
	}
	return namedModel{model: entry.model, name: name}, entry.info, nil
}

// unknownLocked returns the error for an unregistered name. The caller holds
// r.mu.
func (r *Registry) unknownLocked(name string) error {
	if len(r.order) == 0 {
		return fmt.Errorf("%w %q: no models are configured", ErrUnknownModel, name)
	}
	return fmt.Errorf("%w %q: available models: %s", ErrUnknownModel, name, strings.Join(r.order, ", "))
}

// namedModel fills in Request.Model for a model taken from a Registry.
type namedModel struct {
	model Model
	name  string
}

// Stream sends req with Model set to the registered name when req leaves it
// empty.
func (m namedModel) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	if req != nil && req.Model == "" {
		named := *req
		named.Model = m.name
		req = &named
	}
	return m.model.Stream(ctx, req, onEvent)
}
