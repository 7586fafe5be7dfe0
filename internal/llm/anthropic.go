package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// defaultAnthropicBaseURL is the base URL of Anthropic's API.
const defaultAnthropicBaseURL = "https://api.anthropic.com"

// defaultAnthropicMaxTokens is sent when Request.MaxTokens is zero, because
// the Messages API requires max_tokens.
const defaultAnthropicMaxTokens = 4096

// AnthropicOptions configures an Anthropic back end.
type AnthropicOptions struct {
	// BaseURL is the API's base URL without the /v1 path. Empty means
	// "https://api.anthropic.com".
	BaseURL string
	// APIKey is the API key. The SDK sends it as "Authorization: Bearer
	// <key>". No ANTHROPIC_* environment variable or profile file is read.
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
}

// Anthropic is a Model that uses the Anthropic Messages API. It is safe for
// concurrent use.
type Anthropic struct {
	messages anthropic.MessageService
	apiKey   string
	models   []string
}

var _ Model = (*Anthropic)(nil)

// NewAnthropic returns an Anthropic back end. It sends no request until
// Stream is called.
func NewAnthropic(opts AnthropicOptions) (*Anthropic, error) {
	baseURL := opts.BaseURL
	if baseURL == "" {
		baseURL = defaultAnthropicBaseURL
	}
	if err := validateBaseURL(baseURL); err != nil {
		return nil, fmt.Errorf("llm: anthropic: %w", err)
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

	// WithoutEnvironmentDefaults stops NewClient from reading credentials,
	// profiles and the base URL from the environment.
	requestOptions := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(baseURL),
		option.WithHTTPClient(httpClient),
		option.WithMaxRetries(maxRetries),
	}
	if opts.APIKey != "" {
		requestOptions = append(requestOptions, option.WithAPIKey(opts.APIKey))
	}
	client := anthropic.NewClient(requestOptions...)
	return &Anthropic{
		messages: client.Messages,
		apiKey:   opts.APIKey,
		models:   append([]string(nil), opts.Models...),
	}, nil
}

// Models returns an Info for each configured model name, for Registry.Add.
func (a *Anthropic) Models() []Info {
	infos := make([]Info, 0, len(a.models))
	for _, name := range a.models {
		infos = append(infos, Info{Name: name, Provider: ProviderAnthropic, DisplayName: name})
	}
	return infos
}

// Stream sends req to the Messages API with "stream": true and implements
// Model.
//
// Each tool_use content block is one tool call. EventToolCallStart fires at
// the block's content_block_start and EventToolCallDone at its
// content_block_stop, so several calls in one message are reported one after
// the other in block order, with the input_json_delta fragments collected per
// block index.
func (a *Anthropic) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	params, err := a.params(req)
	if err != nil {
		return nil, fmt.Errorf("llm: anthropic: %w", err)
	}

	var httpResponse *http.Response
	requestOptions := []option.RequestOption{option.WithResponseInto(&httpResponse)}
	if req.Temperature != nil {
		// NOTE: anthropic-sdk-go v2.17.0 has no temperature field in
		// MessageNewParams, and its changelog mentions a deprecation of
		// temperature. The value is set in the JSON body directly, and a
		// model that no longer accepts it fails the request with an APIError.
		requestOptions = append(requestOptions, option.WithJSONSet("temperature", *req.Temperature))
	}
	stream := a.messages.NewStreaming(ctx, params, requestOptions...)
	defer stream.Close()

	acc := anthropicAccumulator{onEvent: onEvent, blocks: make(map[int64]*anthropicBlock)}
	for stream.Next() {
		if err := acc.add(stream.Current()); err != nil {
			if ctxErr := contextError(ctx, "anthropic"); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("llm: anthropic: event handler: %w", err)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, a.streamError(ctx, err, httpResponse)
	}
	if err := contextError(ctx, "anthropic"); err != nil {
		return nil, err
	}
	if !acc.stopped {
		return nil, errors.New("llm: anthropic: stream ended before message_stop")
	}
	return acc.response(), nil
}

// params converts req to the SDK's request parameters.
func (a *Anthropic) params(req *Request) (anthropic.MessageNewParams, error) {
	var params anthropic.MessageNewParams
	if req == nil {
		return params, errors.New("request is nil")
	}
	model := req.Model
	if model == "" && len(a.models) > 0 {
		model = a.models[0]
	}
	if model == "" {
		return params, errors.New("missing model: the request names none and no models are configured")
	}
	if err := validateMessages(req.Messages); err != nil {
		return params, err
	}

	params.Model = anthropic.Model(model)
	params.MaxTokens = defaultAnthropicMaxTokens
	if req.MaxTokens > 0 {
		params.MaxTokens = int64(req.MaxTokens)
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	params.Messages = anthropicMessages(req.Messages)
	for _, tool := range req.Tools {
		param, err := anthropicTool(tool)
		if err != nil {
			return params, err
		}
		params.Tools = append(params.Tools, param)
	}
	return params, nil
}

// anthropicMessages converts the conversation. Tool results come first in a
// user message, because the API requires tool_result blocks before any text.
// A message without content is left out, because the API rejects empty
// content.
func anthropicMessages(messages []Message) []anthropic.MessageParam {
	var out []anthropic.MessageParam
	for _, m := range messages {
		var blocks []anthropic.ContentBlockParamUnion
		switch m.Role {
		case RoleUser:
			for _, result := range m.ToolResults {
				block := anthropic.ToolResultBlockParam{ToolUseID: result.CallID, IsError: anthropic.Bool(result.IsError)}
				// An empty text block is rejected, so empty content is
				// sent as a result without content.
				if result.Content != "" {
					block.Content = []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: result.Content}}}
				}
				blocks = append(blocks, anthropic.ContentBlockParamUnion{OfToolResult: &block})
			}
			if m.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Text))
			}
			if len(blocks) > 0 {
				out = append(out, anthropic.NewUserMessage(blocks...))
			}
		case RoleAssistant:
			if m.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Text))
			}
			for _, call := range m.ToolCalls {
				input := call.Arguments
				if len(input) == 0 {
					input = json.RawMessage("{}")
				}
				blocks = append(blocks, anthropic.NewToolUseBlock(call.ID, input, call.Name))
			}
			if len(blocks) > 0 {
				out = append(out, anthropic.NewAssistantMessage(blocks...))
			}
		}
	}
	return out
}

// anthropicTool converts a tool. The SDK keeps properties and required in
// their own fields, so the other schema keywords go into ExtraFields.
func anthropicTool(tool Tool) (anthropic.ToolUnionParam, error) {
	schema, err := toolSchemaObject(tool)
	if err != nil {
		return anthropic.ToolUnionParam{}, err
	}
	input := anthropic.ToolInputSchemaParam{Properties: schema["properties"]}
	if required, ok := schema["required"].([]any); ok {
		for _, name := range required {
			if s, ok := name.(string); ok {
				input.Required = append(input.Required, s)
			}
		}
	}
	for key, value := range schema {
		if key == "type" || key == "properties" || key == "required" {
			continue
		}
		if input.ExtraFields == nil {
			input.ExtraFields = make(map[string]any)
		}
		input.ExtraFields[key] = value
	}

	param := anthropic.ToolParam{Name: tool.Name, InputSchema: input}
	if tool.Description != "" {
		param.Description = anthropic.String(tool.Description)
	}
	return anthropic.ToolUnionParam{OfTool: &param}, nil
}

// streamError converts an error that ended the stream. The SDK's own error
// values are not wrapped, because they hold the request with its
// Authorization header.
func (a *Anthropic) streamError(ctx context.Context, err error, res *http.Response) error {
	if ctxErr := contextError(ctx, "anthropic"); ctxErr != nil {
		return ctxErr
	}
	if res != nil && res.StatusCode >= 400 {
		return apiErrorFromResponse("anthropic", res, a.apiKey)
	}
	var sdkErr *anthropic.Error
	if errors.As(err, &sdkErr) {
		// An error event inside a stream that started with 200 OK.
		apiErr := &APIError{Backend: "anthropic", Type: string(sdkErr.Type()), Message: redactKey(sdkErr.Message, a.apiKey)}
		if sdkErr.StatusCode >= 400 {
			apiErr.StatusCode = sdkErr.StatusCode
		}
		return apiErr
	}
	return fmt.Errorf("llm: anthropic: %w", err)
}

// anthropicAccumulator collects the events of one streamed message.
type anthropicAccumulator struct {
	onEvent    func(Event) error
	blocks     map[int64]*anthropicBlock
	calls      []indexedCall
	text       strings.Builder
	stopReason anthropic.StopReason
	usage      Usage
	stopped    bool
}

// anthropicBlock is a text or tool_use content block while it streams.
type anthropicBlock struct {
	toolUse    bool
	id, name   string
	startInput string // the input object of content_block_start, as JSON
	input      strings.Builder
}

// indexedCall is a completed tool call with the index of its block.
type indexedCall struct {
	index int64
	call  ToolCall
}

// add processes one stream event and emits its events.
func (a *anthropicAccumulator) add(event anthropic.MessageStreamEventUnion) error {
	switch event.Type {
	case "message_start":
		a.usage.InputTokens = int(event.Message.Usage.InputTokens)
		a.usage.OutputTokens = int(event.Message.Usage.OutputTokens)

	case "content_block_start":
		start := event.ContentBlock
		switch start.Type {
		case "text":
			a.blocks[event.Index] = &anthropicBlock{}
			return a.addText(start.Text)
		case "tool_use":
			a.blocks[event.Index] = &anthropicBlock{toolUse: true, id: start.ID, name: start.Name, startInput: start.JSON.Input.Raw()}
			return emit(a.onEvent, Event{Kind: EventToolCallStart, ToolCall: &ToolCall{ID: start.ID, Name: start.Name}})
		}
		// Other blocks, such as thinking, are not part of Message.

	case "content_block_delta":
		block, ok := a.blocks[event.Index]
		if !ok {
			return nil
		}
		switch event.Delta.Type {
		case "text_delta":
			return a.addText(event.Delta.Text)
		case "input_json_delta":
			block.input.WriteString(event.Delta.PartialJSON)
		}

	case "content_block_stop":
		block, ok := a.blocks[event.Index]
		if !ok || !block.toolUse {
			return nil
		}
		call := ToolCall{ID: block.id, Name: block.name, Arguments: block.arguments()}
		a.calls = append(a.calls, indexedCall{index: event.Index, call: call})
		return emit(a.onEvent, Event{Kind: EventToolCallDone, ToolCall: &call})

	case "message_delta":
		a.stopReason = event.Delta.StopReason
		if event.Usage.InputTokens > 0 {
			a.usage.InputTokens = int(event.Usage.InputTokens)
		}
		a.usage.OutputTokens = int(event.Usage.OutputTokens)

	case "message_stop":
		a.stopped = true
	}
	return nil
}

// addText appends text to the message and emits it.
func (a *anthropicAccumulator) addText(text string) error {
	if text == "" {
		return nil
	}
	a.text.WriteString(text)
	return emit(a.onEvent, Event{Kind: EventTextDelta, Text: text})
}

// arguments returns the block's tool input. The API sends an empty input
// object at content_block_start and the real input as input_json_delta
// fragments, so the start input counts only when no fragment arrived.
func (b *anthropicBlock) arguments() json.RawMessage {
	if b.input.Len() > 0 {
		return normalizeArguments(b.input.String())
	}
	if b.startInput == "null" {
		return normalizeArguments("")
	}
	return normalizeArguments(b.startInput)
}

// response returns the complete message.
func (a *anthropicAccumulator) response() *Response {
	sort.SliceStable(a.calls, func(i, j int) bool { return a.calls[i].index < a.calls[j].index })
	message := Message{Role: RoleAssistant, Text: a.text.String()}
	for _, c := range a.calls {
		message.ToolCalls = append(message.ToolCalls, c.call)
	}

	stop := StopOther
	switch a.stopReason {
	case anthropic.StopReasonEndTurn:
		stop = StopEndTurn
	case anthropic.StopReasonToolUse:
		stop = StopToolUse
	case anthropic.StopReasonMaxTokens:
		stop = StopMaxTokens
	}
	return &Response{Message: message, StopReason: stop, Usage: a.usage}
}
