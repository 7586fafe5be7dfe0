package main

import (
	"flag"
	"net/http"
	"os"

	"github.com/toolgate/toolgate/internal/llm"
)

// modelFlags configure the models a turn can use. API keys are read from
// the environment only, because a command line is visible to every user of
// the machine.
type modelFlags struct {
	openAIBaseURL    string
	openAIModels     string
	anthropicBaseURL string
	anthropicModels  string
	defaultModel     string
	scripted         bool
}

// Environment variables holding model API keys.
const (
	openAIKeyEnv    = "TOOLGATE_OPENAI_API_KEY"
	anthropicKeyEnv = "TOOLGATE_ANTHROPIC_API_KEY"
)

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.openAIBaseURL, "openai-base-url", "",
		"base URL of an OpenAI-compatible Chat Completions API, such as https://api.openai.com/v1\n"+
			"or http://127.0.0.1:11434/v1 for Ollama; the key comes from "+openAIKeyEnv)
	fs.StringVar(&f.openAIModels, "openai-models", "", "comma-separated model names served by --openai-base-url, such as gpt-4o-mini or llama3.1")
	fs.StringVar(&f.anthropicBaseURL, "anthropic-base-url", "https://api.anthropic.com",
		"base URL of the Anthropic Messages API; the key comes from "+anthropicKeyEnv)
	fs.StringVar(&f.anthropicModels, "anthropic-models", "", "comma-separated Anthropic model names, such as claude-sonnet-4-5")
	fs.StringVar(&f.defaultModel, "default-model", "", "model used when a turn names none (default: the first configured)")
	fs.BoolVar(&f.scripted, "scripted-model", true, "offer the scripted demo model, which needs no network and is labelled as a demo")
}

// registry builds the model registry from the flags.
func (f *modelFlags) registry(httpClient *http.Client) (*llm.Registry, error) {
	reg := llm.NewRegistry()
	// Model streams can last minutes, so they get a client without the
	// overall timeout that other outgoing requests use.
	streaming := &http.Client{Transport: httpClient.Transport}
	if models := splitList(f.openAIModels); len(models) > 0 {
		if f.openAIBaseURL == "" {
			return nil, usageError("--openai-models needs --openai-base-url")
		}
		m, err := llm.NewOpenAI(llm.OpenAIOptions{BaseURL: f.openAIBaseURL, APIKey: os.Getenv(openAIKeyEnv), Models: models, HTTPClient: streaming})
		if err != nil {
			return nil, usageError("--openai-base-url: %v", err)
		}
		if err := reg.Add(m, m.Models()...); err != nil {
			return nil, usageError("--openai-models: %v", err)
		}
	} else if f.openAIBaseURL != "" {
		return nil, usageError("--openai-base-url needs --openai-models naming at least one model")
	}
	if models := splitList(f.anthropicModels); len(models) > 0 {
		m, err := llm.NewAnthropic(llm.AnthropicOptions{BaseURL: f.anthropicBaseURL, APIKey: os.Getenv(anthropicKeyEnv), Models: models, HTTPClient: streaming})
		if err != nil {
			return nil, usageError("--anthropic-base-url: %v", err)
		}
		if err := reg.Add(m, m.Models()...); err != nil {
			return nil, usageError("--anthropic-models: %v", err)
		}
	}
	if f.scripted {
		s := llm.NewScripted()
		if err := reg.Add(s, s.Models()...); err != nil {
			return nil, err
		}
	}
	if len(reg.List()) == 0 {
		return nil, usageError("no model is configured: set --openai-models, --anthropic-models or --scripted-model")
	}
	if f.defaultModel != "" {
		if err := reg.SetDefault(f.defaultModel); err != nil {
			return nil, usageError("--default-model: %v", err)
		}
	}
	return reg, nil
}
