package llm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ScriptedName is the model name of the scripted demo model.
const ScriptedName = "scripted"

// scriptedChunkDelay is the pause between two text chunks of the scripted
// model, so that the UI shows its text streaming in as it would for a real
// model.
const scriptedChunkDelay = 15 * time.Millisecond

// Scripted is a demo model without AI that sends no network request. It lets
// people try Toolgate's consent and tool flow without an API key, and it is
// deterministic: the same conversation, tools and date give the same reply.
//
// For a user message, Scripted picks the tool whose name and description
// share the most words with the message, fills the arguments from the
// message according to the tool's input schema, and calls it. It calls two
// tools when the message joins two requests that each start with a verb by
// "and", such as "list my events and echo hi". When no tool matches, it
// replies with a short description of what it can do. Once the tool results
// arrive, it replies with a summary of their first lines, or explains that
// the user has not authorized a provider. See scripted_match.go and
// scripted_args.go for the rules.
//
// Scripted never calls tools for a message that carries tool results, so a
// turn with it ends after one tool step. It is safe for concurrent use.
type Scripted struct {
	now        func() time.Time
	chunkDelay time.Duration
}

var _ Model = (*Scripted)(nil)

// NewScripted returns the scripted demo model. It resolves "today" and
// "tomorrow" with the local clock.
func NewScripted() *Scripted {
	return &Scripted{now: time.Now, chunkDelay: scriptedChunkDelay}
}

// Models returns the scripted model's Info, for Registry.Add.
func (s *Scripted) Models() []Info {
	return []Info{{
		Name:        ScriptedName,
		Provider:    ProviderScripted,
		Demo:        true,
		DisplayName: "Demo model (scripted, no AI)",
	}}
}

// scriptedReply is the text and the tool calls of one scripted model step.
type scriptedReply struct {
	text  string
	calls []ToolCall
}

// Stream computes the reply to the last user message of req and streams it:
// the text in small chunks, then the tool calls. It implements Model.
// Request.Model, Temperature and MaxTokens are ignored, and Usage is zero.
func (s *Scripted) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	if req == nil {
		return nil, errors.New("llm: scripted: request is nil")
	}
	if err := validateMessages(req.Messages); err != nil {
		return nil, fmt.Errorf("llm: scripted: %w", err)
	}

	reply := s.reply(req)

	for _, chunk := range textChunks(reply.text) {
		if err := s.pause(ctx); err != nil {
			return nil, fmt.Errorf("llm: scripted: %w", err)
		}
		if err := emit(onEvent, Event{Kind: EventTextDelta, Text: chunk}); err != nil {
			return nil, fmt.Errorf("llm: scripted: event handler: %w", err)
		}
	}
	for i := range reply.calls {
		start := ToolCall{ID: reply.calls[i].ID, Name: reply.calls[i].Name}
		if err := emit(onEvent, Event{Kind: EventToolCallStart, ToolCall: &start}); err != nil {
			return nil, fmt.Errorf("llm: scripted: event handler: %w", err)
		}
		done := reply.calls[i]
		if err := emit(onEvent, Event{Kind: EventToolCallDone, ToolCall: &done}); err != nil {
			return nil, fmt.Errorf("llm: scripted: event handler: %w", err)
		}
	}

	response := &Response{
		Message:    Message{Role: RoleAssistant, Text: reply.text, ToolCalls: reply.calls},
		StopReason: StopEndTurn,
	}
	if len(reply.calls) > 0 {
		response.StopReason = StopToolUse
	}
	return response, nil
}

// reply decides what to say to the last user message.
func (s *Scripted) reply(req *Request) scriptedReply {
	last := -1
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == RoleUser {
			last = i
			break
		}
	}
	if last < 0 {
		return scriptedReply{text: helpText(req.Tools)}
	}

	message := req.Messages[last]
	// A message with tool results and text carries the results of an
	// earlier, interrupted step followed by a new question: answer the
	// question.
	if len(message.ToolResults) > 0 && strings.TrimSpace(message.Text) == "" {
		return scriptedReply{text: summarizeResults(message.ToolResults, req.Messages[:last])}
	}
	return s.plan(message.Text, req.Tools, countToolCalls(req.Messages))
}

// plan picks the tools for a request and builds their calls. previousCalls
// numbers the call IDs so that they stay unique in the conversation.
func (s *Scripted) plan(text string, tools []Tool, previousCalls int) scriptedReply {
	if len(tools) == 0 {
		return scriptedReply{text: helpText(tools)}
	}
	profiles := profileTools(tools)
	now := s.now()

	var calls []ToolCall
	for _, clause := range splitRequests(text, profiles) {
		profile := bestTool(clause, profiles)
		if profile == nil {
			// One clause without a match means the split was wrong or
			// the request is unknown, so the whole text decides.
			calls = nil
			break
		}
		calls = append(calls, ToolCall{Name: profile.tool.Name, Arguments: buildArguments(clause, profile, now)})
	}
	if len(calls) == 2 && calls[0].Name == calls[1].Name && string(calls[0].Arguments) == string(calls[1].Arguments) {
		calls = calls[:1]
	}
	if len(calls) == 0 {
		if profile := bestTool(text, profiles); profile != nil {
			calls = []ToolCall{{Name: profile.tool.Name, Arguments: buildArguments(text, profile, now)}}
		}
	}
	if len(calls) == 0 {
		return scriptedReply{text: helpText(tools)}
	}

	names := make([]string, len(calls))
	for i := range calls {
		calls[i].ID = fmt.Sprintf("call_scripted_%d", previousCalls+i+1)
		names[i] = calls[i].Name
	}
	return scriptedReply{text: fmt.Sprintf("I'll call %s.", strings.Join(names, " and ")), calls: calls}
}

// pause waits s.chunkDelay, or returns the cause when ctx ends first.
func (s *Scripted) pause(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if s.chunkDelay <= 0 {
		return nil
	}
	timer := time.NewTimer(s.chunkDelay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}

// countToolCalls returns the number of tool calls in a conversation.
func countToolCalls(messages []Message) int {
	n := 0
	for _, m := range messages {
		n += len(m.ToolCalls)
	}
	return n
}

// textChunks splits text after each run of spaces, so that each chunk is one
// word with the whitespace that follows it.
func textChunks(text string) []string {
	var chunks []string
	for text != "" {
		end := strings.IndexAny(text, " \n")
		if end < 0 {
			chunks = append(chunks, text)
			break
		}
		for end < len(text) && (text[end] == ' ' || text[end] == '\n') {
			end++
		}
		chunks = append(chunks, text[:end])
		text = text[end:]
	}
	return chunks
}

// helpText explains what the scripted model can do with tools.
func helpText(tools []Tool) string {
	var b strings.Builder
	b.WriteString("I'm the demo model: a script, not an AI. I match your words against the names and descriptions of the available tools and call the best match.")
	if len(tools) == 0 {
		b.WriteString(" No tools are available in this conversation, so there is nothing I can do yet.")
		return b.String()
	}
	b.WriteString(" I can call these tools:\n")
	for _, tool := range tools {
		fmt.Fprintf(&b, "- %s", tool.Name)
		if summary := firstSentence(tool.Description, 100); summary != "" {
			fmt.Fprintf(&b, ": %s", summary)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Try, for example: \"%s\".", strings.ReplaceAll(tools[0].Name, "_", " "))
	return b.String()
}

// summarizeResults writes the reply to tool results. history is the
// conversation before the results, used to name a result whose Name is empty.
func summarizeResults(results []ToolResult, history []Message) string {
	var paragraphs []string
	for _, result := range results {
		name := result.Name
		if name == "" {
			name = toolNameForCall(result.CallID, history)
		}
		paragraphs = append(paragraphs, summarizeResult(name, result))
	}
	return strings.Join(paragraphs, "\n\n")
}

// summarizeResult writes the reply to one tool result.
func summarizeResult(name string, result ToolResult) string {
	if isAuthorizationProblem(result) {
		provider := providerName(result.Content)
		if provider == "" {
			return fmt.Sprintf("I could not run %s because you have not authorized the provider that it needs. Connect that provider in Toolgate, then ask me again.", name)
		}
		return fmt.Sprintf("I could not run %s because you have not authorized %s. Connect %s in Toolgate, then ask me again.", name, provider, provider)
	}
	text := excerpt(result.Content, 6, 300)
	switch {
	case result.IsError && text == "":
		return fmt.Sprintf("The tool %s failed without an explanation.", name)
	case result.IsError:
		return fmt.Sprintf("The tool %s failed: %s", name, text)
	case text == "":
		return fmt.Sprintf("%s finished and returned nothing.", name)
	default:
		return fmt.Sprintf("Here is what %s returned:\n%s", name, text)
	}
}

// toolNameForCall returns the name of the call with id in history, or "the
// tool" when no call has that id.
func toolNameForCall(id string, history []Message) string {
	for i := len(history) - 1; i >= 0; i-- {
		for _, call := range history[i].ToolCalls {
			if call.ID == id {
				return call.Name
			}
		}
	}
	return "the tool"
}

// authorizationPhrases mark a failed tool result as a missing authorization
// of the user.
var authorizationPhrases = []string{
	"not authorized", "not authorised", "unauthorized", "unauthorised",
	"authorization required", "authorisation required", "consent required",
	"needs consent", "not connected", "no token", "401",
}

// strongAuthorizationPhrases mark a missing authorization even in a result
// without IsError, because they hardly occur in ordinary data.
var strongAuthorizationPhrases = []string{
	"has not authorized", "have not authorized", "authorization required", "consent required",
}

// isAuthorizationProblem reports whether a tool result states that the user
// has not authorized a provider.
func isAuthorizationProblem(result ToolResult) bool {
	content := strings.ToLower(result.Content)
	phrases := strongAuthorizationPhrases
	if result.IsError {
		phrases = authorizationPhrases
	}
	for _, phrase := range phrases {
		if strings.Contains(content, phrase) {
			return true
		}
	}
	return false
}

// providerPattern finds the provider in texts like `provider "github"`,
// "authorize Google" or "connect GitHub".
var providerPattern = regexp.MustCompile(`(?i)\b(?:provider|authorize|authorise|connect)\b\s*[:=]?\s*["'“]?([A-Za-z0-9][\w.-]*)`)

// notProviderNames are words that providerPattern may capture but that name
// no provider.
var notProviderNames = map[string]bool{
	"the": true, "a": true, "an": true, "your": true, "this": true, "that": true,
	"to": true, "it": true, "with": true, "for": true, "account": true, "first": true,
	"is": true, "has": true, "not": true, "and": true, "or": true,
}

// providerName returns the provider named in a tool result, or "".
func providerName(content string) string {
	for _, match := range providerPattern.FindAllStringSubmatch(content, -1) {
		name := strings.TrimRight(match[1], ".-")
		if name != "" && !notProviderNames[strings.ToLower(name)] {
			return name
		}
	}
	return ""
}

// excerpt returns the first maxLines non-empty lines of text, cut to
// maxBytes at a word boundary, with "…" when something was left out.
func excerpt(text string, maxLines, maxBytes int) string {
	var lines []string
	cut := false
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(lines) == maxLines {
			cut = true
			break
		}
		lines = append(lines, line)
	}
	result := strings.Join(lines, "\n")
	if len(result) > maxBytes {
		result = truncateAtWord(result, maxBytes)
		cut = true
	}
	if cut {
		result += " …"
	}
	return result
}

// truncateAtWord cuts text to at most maxBytes, at the last space when there
// is one in the second half, and otherwise at a rune boundary.
func truncateAtWord(text string, maxBytes int) string {
	if len(text) <= maxBytes {
		return text
	}
	end := maxBytes
	for end > 0 && !utf8.RuneStart(text[end]) {
		end--
	}
	if space := strings.LastIndexAny(text[:end], " \n"); space > maxBytes/2 {
		end = space
	}
	return strings.TrimRight(text[:end], " \n")
}

// firstSentence returns the first sentence or line of text, cut to maxBytes.
func firstSentence(text string, maxBytes int) string {
	text = strings.TrimSpace(text)
	if end := strings.IndexAny(text, "\n"); end >= 0 {
		text = text[:end]
	}
	if end := strings.Index(text, ". "); end >= 0 {
		text = text[:end+1]
	}
	if len(text) > maxBytes {
		return truncateAtWord(text, maxBytes) + " …"
	}
	return text
}
