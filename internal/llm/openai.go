package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// defaultOpenAIBaseURL is the base URL of OpenAI's own API.
const defaultOpenAIBaseURL = "https://api.openai.com/v1"

// OpenAIOptions configures an OpenAI back end.
type OpenAIOptions struct {
	// BaseURL is the API's base URL, which ends in /v1 for most servers, such
	// as "http://127.0.0.1:11434/v1" for Ollama. Empty means
	// "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". Empty sends no
	// Authorization header, for local servers that need none. The
	// OPENAI_API_KEY environment variable is never read.
	APIKey string
	// Models are the model names that this back end offers, in display
	// order. The first one serves a Request whose Model is empty.
	Models []string
	// HTTPClient sends the requests. Nil means a client without an overall
	// timeout, because a stream may last minutes. Cancel the context to stop
	// a request.
	HTTPClient *http.Client
	// MaxRetries is how often the SDK repeats a request that failed before
	// streaming began: a connection error, or status 408, 409, 429 or 5xx.
	// Zero means 2. A negative value disables retries.
	MaxRetries int
	// LegacyMaxTokens sends Request.MaxTokens as max_tokens instead of
	// max_completion_tokens, for servers that only know the older name.
	LegacyMaxTokens bool
}

// OpenAI is a Model that uses the Chat Completions API of OpenAI or of a
// server that copies it. It is safe for concurrent use.
type OpenAI struct {
	chat            openai.ChatCompletionService
	apiKey          string
	models          []string
	legacyMaxTokens bool
}

var _ Model = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI back end. It sends no request until Stream is
// called.
func NewOpenAI(opts OpenAIOptions) (*OpenAI, error) {
	baseURL := opts.BaseURL
	if baseURL == "" {
		baseURL = defaultOpenAIBaseURL
	}
	if err := validateBaseURL(baseURL); err != nil {
		return nil, fmt.Errorf("llm: openai: %w", err)
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	maxRetries := opts.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = 2
	case maxRetries < 0:
		maxRetries = 0
	}

	// The service is built directly instead of through openai.NewClient,
	// because NewClient adds settings from OPENAI_* environment variables.
	requestOptions := []option.RequestOption{
		option.WithBaseURL(baseURL),
		option.WithHTTPClient(httpClient),
		option.WithMaxRetries(maxRetries),
	}
	if opts.APIKey != "" {
		requestOptions = append(requestOptions, option.WithAPIKey(opts.APIKey))
	}
	return &OpenAI{
		chat:            openai.NewChatCompletionService(requestOptions...),
		apiKey:          opts.APIKey,
		models:          append([]string(nil), opts.Models...),
		legacyMaxTokens: opts.LegacyMaxTokens,
	}, nil
}

// Models returns an Info for each configured model name, for Registry.Add.
func (o *OpenAI) Models() []Info {
	infos := make([]Info, 0, len(o.models))
	for _, name := range o.models {
		infos = append(infos, Info{Name: name, Provider: ProviderOpenAI, DisplayName: name})
	}
	return infos
}

// Stream sends req to the Chat Completions API with "stream": true and
// implements Model.
//
// Tool call fragments are collected per tool call index, so several calls in
// one step may stream interleaved. EventToolCallStart fires when a call's
// name first arrives. EventToolCallDone fires for every call once the API has
// reported the finish reason, because until then a later fragment may still
// extend any call. Calls keep the order in which their first fragments
// arrived, which is index order when a server starts the calls in that order.
//
// A server that omits tool call IDs gets generated ones ("call_0", "call_1",
// …). A server that sends two different calls with the same index, as some
// older OpenAI-compatible servers do, gets them treated as separate calls.
// A refusal streams as text, like content.
func (o *OpenAI) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	params, err := o.params(req)
	if err != nil {
		return nil, fmt.Errorf("llm: openai: %w", err)
	}

	var httpResponse *http.Response
	stream := o.chat.NewStreaming(ctx, params, option.WithResponseInto(&httpResponse))
	defer stream.Close()

	acc := openAIAccumulator{onEvent: onEvent}
	for stream.Next() {
		if err := acc.add(stream.Current()); err != nil {
			if ctxErr := contextError(ctx, "openai"); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("llm: openai: event handler: %w", err)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, o.streamError(ctx, err, httpResponse)
	}
	if err := contextError(ctx, "openai"); err != nil {
		return nil, err
	}
	if acc.finishReason == "" {
		return nil, errors.New("llm: openai: stream ended before the model reported a finish reason")
	}
	return acc.finish()
}

// params converts req to the SDK's request parameters.
func (o *OpenAI) params(req *Request) (openai.ChatCompletionNewParams, error) {
	var params openai.ChatCompletionNewParams
	if req == nil {
		return params, errors.New("request is nil")
	}
	model := req.Model
	if model == "" && len(o.models) > 0 {
		model = o.models[0]
	}
	if model == "" {
		return params, errors.New("missing model: the request names none and no models are configured")
	}
	if err := validateMessages(req.Messages); err != nil {
		return params, err
	}

	params.Model = model
	params.Messages = openAIMessages(req)
	for _, tool := range req.Tools {
		schema, err := toolSchemaObject(tool)
		if err != nil {
			return params, err
		}
		definition := openai.FunctionDefinitionParam{Name: tool.Name, Parameters: schema}
		if tool.Description != "" {
			definition.Description = openai.String(tool.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(definition))
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		if o.legacyMaxTokens {
			params.MaxTokens = openai.Int(int64(req.MaxTokens))
		} else {
			params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	// NOTE: include_usage requests a final chunk with token counts. OpenAI,
	// vLLM and recent Ollama versions accept it. A server that rejects the
	// field would need an option to leave it out.
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	return params, nil
}

// openAIMessages converts the conversation. The tool results of a user
// message become "tool" messages, which the API requires to follow the
// assistant message with the calls directly, so the user's text comes after
// them.
func openAIMessages(req *Request) []openai.ChatCompletionMessageParamUnion {
	var messages []openai.ChatCompletionMessageParamUnion
	if req.System != "" {
		messages = append(messages, openai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			for _, result := range m.ToolResults {
				content := result.Content
				if result.IsError {
					content = "error: " + content
				}
				messages = append(messages, openai.ToolMessage(content, result.CallID))
			}
			if m.Text != "" || len(m.ToolResults) == 0 {
				messages = append(messages, openai.UserMessage(m.Text))
			}
		case RoleAssistant:
			messages = append(messages, openAIAssistantMessage(m))
		}
	}
	return messages
}

// openAIAssistantMessage converts an assistant message with its tool calls.
func openAIAssistantMessage(m Message) openai.ChatCompletionMessageParamUnion {
	var assistant openai.ChatCompletionAssistantMessageParam
	if m.Text != "" || len(m.ToolCalls) == 0 {
		assistant.Content.OfString = openai.String(m.Text)
	}
	for _, call := range m.ToolCalls {
		arguments := string(call.Arguments)
		if raw, ok := call.InvalidArguments(); ok {
			arguments = raw
		} else if arguments == "" {
			arguments = "{}"
		}
		assistant.ToolCalls = append(assistant.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: call.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
					Name:      call.Name,
					Arguments: arguments,
				},
			},
		})
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &assistant}
}

// streamError converts an error that ended the stream. The SDK's own error
// values are not wrapped, because they hold the request with its
// Authorization header.
func (o *OpenAI) streamError(ctx context.Context, err error, res *http.Response) error {
	if ctxErr := contextError(ctx, "openai"); ctxErr != nil {
		return ctxErr
	}
	if res != nil && res.StatusCode >= 400 {
		return apiErrorFromResponse("openai", res, o.apiKey)
	}
	var streamErr *ssestream.StreamError
	if errors.As(err, &streamErr) {
		errorType, message := parseErrorBody(streamErr.Event.Data)
		return &APIError{
			Backend: "openai",
			Type:    redactKey(errorType, o.apiKey),
			Message: redactKey(message, o.apiKey),
		}
	}
	var sdkErr *openai.Error
	if errors.As(err, &sdkErr) {
		return &APIError{Backend: "openai", StatusCode: sdkErr.StatusCode, Type: sdkErr.Type, Message: redactKey(sdkErr.Message, o.apiKey)}
	}
	return fmt.Errorf("llm: openai: %w", err)
}

// openAIAccumulator collects the chunks of one streamed completion.
type openAIAccumulator struct {
	onEvent      func(Event) error
	text         strings.Builder
	calls        []*openAICall
	finishReason string
	usage        Usage
}

// openAICall is one tool call while its fragments arrive.
type openAICall struct {
	position    int // position in openAIAccumulator.calls
	index       int64
	id          string
	generatedID bool
	name        string
	arguments   strings.Builder
	started     bool
}

// add processes one chunk and emits its events.
func (a *openAIAccumulator) add(chunk openai.ChatCompletionChunk) error {
	if chunk.JSON.Usage.Valid() {
		a.usage = Usage{InputTokens: int(chunk.Usage.PromptTokens), OutputTokens: int(chunk.Usage.CompletionTokens)}
	}
	for _, choice := range chunk.Choices {
		// Only one choice is requested, but a server may still number it
		// differently, so every choice counts as the same message.
		if err := a.addDelta(choice.Delta); err != nil {
			return err
		}
		if choice.FinishReason != "" {
			a.finishReason = choice.FinishReason
		}
	}
	return nil
}

// addDelta processes the delta of one choice.
func (a *openAIAccumulator) addDelta(delta openai.ChatCompletionChunkChoiceDelta) error {
	for _, text := range []string{delta.Content, delta.Refusal} {
		if text == "" {
			continue
		}
		a.text.WriteString(text)
		if err := emit(a.onEvent, Event{Kind: EventTextDelta, Text: text}); err != nil {
			return err
		}
	}

	for _, fragment := range delta.ToolCalls {
		call := a.callFor(fragment.Index, fragment.ID)
		if call.name == "" {
			call.name = fragment.Function.Name
		}
		call.arguments.WriteString(fragment.Function.Arguments)
		if call.started || call.name == "" {
			continue
		}

		call.started = true
		if call.id == "" {
			call.id = fmt.Sprintf("call_%d", call.position)
			call.generatedID = true
		}
		start := &ToolCall{ID: call.id, Name: call.name}
		if err := emit(a.onEvent, Event{Kind: EventToolCallStart, ToolCall: start}); err != nil {
			return err
		}
	}
	return nil
}

// callFor returns the call that a fragment with index and id extends, adding
// a call when the index is new or when id differs from the call's real ID.
func (a *openAIAccumulator) callFor(index int64, id string) *openAICall {
	for i := len(a.calls) - 1; i >= 0; i-- {
		call := a.calls[i]
		if call.index != index {
			continue
		}
		if id != "" && call.id != "" && !call.generatedID && id != call.id {
			break
		}
		if call.id == "" {
			call.id = id
		}
		return call
	}
	call := &openAICall{position: len(a.calls), index: index, id: id}
	a.calls = append(a.calls, call)
	return call
}

// finish emits EventToolCallDone for each call and returns the response.
func (a *openAIAccumulator) finish() (*Response, error) {
	message := Message{Role: RoleAssistant, Text: a.text.String()}
	for _, call := range a.calls {
		if call.name == "" && call.arguments.Len() == 0 {
			continue
		}
		id := call.id
		if id == "" {
			id = fmt.Sprintf("call_%d", call.position)
		}
		done := ToolCall{ID: id, Name: call.name, Arguments: normalizeArguments(call.arguments.String())}
		message.ToolCalls = append(message.ToolCalls, done)
		event := done
		if err := emit(a.onEvent, Event{Kind: EventToolCallDone, ToolCall: &event}); err != nil {
			return nil, fmt.Errorf("llm: openai: event handler: %w", err)
		}
	}
	return &Response{
		Message:    message,
		StopReason: openAIStopReason(a.finishReason, len(message.ToolCalls) > 0),
		Usage:      a.usage,
	}, nil
}

// openAIStopReason maps a finish reason. A message with tool calls counts as
// StopToolUse unless it was cut off, because some OpenAI-compatible servers
// report "stop" after tool calls.
func openAIStopReason(finishReason string, hasToolCalls bool) StopReason {
	switch {
	case finishReason == "length":
		return StopMaxTokens
	case hasToolCalls || finishReason == "tool_calls" || finishReason == "function_call":
		return StopToolUse
	case finishReason == "stop":
		return StopEndTurn
	default:
		return StopOther
	}
}

// toolSchemaObject parses a tool's input schema into the map that both SDKs
// take. An empty schema becomes an object without properties.
func toolSchemaObject(tool Tool) (map[string]any, error) {
	if len(tool.InputSchema) == 0 {
		return map[string]any{"type": "object", "properties": map[string]any{}}, nil
	}
	var schema map[string]any
	if err := json.Unmarshal(tool.InputSchema, &schema); err != nil {
		return nil, fmt.Errorf("tool %q: invalid input schema, want a JSON object: %w", tool.Name, err)
	}
	if schema == nil {
		return nil, fmt.Errorf("tool %q: invalid input schema: null", tool.Name)
	}
	return schema, nil
}

// validateBaseURL checks that baseURL is an absolute http or https URL.
func validateBaseURL(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil {
		return fmt.Errorf("invalid base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid base URL %q: want an absolute http or https URL", baseURL)
	}
	return nil
}
