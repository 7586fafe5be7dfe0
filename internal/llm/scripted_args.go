package llm

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// How the scripted model fills in arguments
//
// The tool's input schema decides which arguments exist. Required properties
// come first, in the order of "required", then the optional ones sorted by
// name. Each value is taken from the request text in three passes, and a text
// span that one property used is not used again:
//
//  1. Values with a recognizable shape. "name: value", "name = value" or
//     "name is value" sets that property directly. An enum property takes
//     the first enum value that appears as a word. A date property (named
//     date, day or when, a name containing one of those words, or format
//     "date") takes the next ISO date such as 2026-12-24, or "today",
//     "tonight", "tomorrow" or "yesterday" as an ISO date. A number or
//     integer property takes the next number that is not part of a date.
//  2. Free text, for string properties without format or enum: the next
//     quoted text, then the next phrase after "called", "named", "titled",
//     "about", "saying" or "says". A phrase ends before a preposition such
//     as "on" or "at", before a date word, or at punctuation. The first
//     required string property that is still empty takes the rest of the
//     request after its verb, so "echo hello world" gives "hello world".
//  3. The schema's default for every property still without a value. A
//     required property without a default gets today's date when it is a
//     date property, and a zero value ("", 0, false, [] or {}) otherwise.
//
// Date-time properties (format "date-time") are not filled from the text.
// They get their default, or "" when they are required.

// objectSchema is the part of a tool's input schema that argument building
// reads.
type objectSchema struct {
	Properties map[string]propertySchema `json:"properties"`
	Required   []string                  `json:"required"`
}

// propertySchema is the part of a property's schema that argument building
// reads.
type propertySchema struct {
	Type    json.RawMessage `json:"type"`
	Format  string          `json:"format"`
	Enum    []any           `json:"enum"`
	Default json.RawMessage `json:"default"`
}

// kind returns the property's JSON type. A list of types gives its first
// type other than "null", and a property without a type counts as a string.
func (p propertySchema) kind() string {
	var single string
	if json.Unmarshal(p.Type, &single) == nil && single != "" {
		return single
	}
	var list []string
	if json.Unmarshal(p.Type, &list) == nil {
		for _, t := range list {
			if t != "null" {
				return t
			}
		}
	}
	return "string"
}

// isDate reports whether the property with name holds a date.
func (p propertySchema) isDate(name string) bool {
	if p.kind() != "string" || p.Format == "date-time" {
		return false
	}
	if p.Format == "date" {
		return true
	}
	for _, word := range splitName(name) {
		if word == "date" || word == "day" || word == "when" {
			return true
		}
	}
	return false
}

// buildArguments returns the JSON arguments for calling profile's tool to
// serve the request text. An unreadable schema gives "{}".
func buildArguments(text string, profile *toolProfile, now time.Time) json.RawMessage {
	var schema objectSchema
	if len(profile.tool.InputSchema) > 0 {
		if err := json.Unmarshal(profile.tool.InputSchema, &schema); err != nil {
			return json.RawMessage("{}")
		}
	}
	names := propertyOrder(schema)
	required := setOf(schema.Required...)
	ex := newExtractor(text, now)
	args := make(map[string]any)

	// Pass 1: values with a recognizable shape.
	for _, name := range names {
		if value, ok := ex.shapedValue(name, schema.Properties[name]); ok {
			args[name] = value
		}
	}

	// Pass 2: free text for plain string properties.
	restTaken := false
	for _, name := range names {
		prop := schema.Properties[name]
		if _, done := args[name]; done || prop.kind() != "string" || prop.Format != "" || len(prop.Enum) > 0 || prop.isDate(name) {
			continue
		}
		if value, ok := ex.nextQuoted(); ok {
			args[name] = value
		} else if value, ok := ex.nextMarkerPhrase(); ok {
			args[name] = value
		} else if required[name] && !restTaken {
			if value := ex.rest(profile); value != "" {
				args[name] = value
				restTaken = true
			}
		}
	}

	// Pass 3: defaults, and zero values for required properties.
	for _, name := range names {
		if _, done := args[name]; done {
			continue
		}
		prop := schema.Properties[name]
		switch {
		case len(prop.Default) > 0:
			args[name] = prop.Default
		case required[name] && prop.isDate(name):
			args[name] = now.Format(time.DateOnly)
		case required[name]:
			args[name] = zeroValue(prop.kind())
		}
	}

	encoded, err := json.Marshal(args)
	if err != nil {
		return json.RawMessage("{}")
	}
	return encoded
}

// propertyOrder returns the required property names in their order, then the
// other property names sorted.
func propertyOrder(schema objectSchema) []string {
	var names []string
	for _, name := range schema.Required {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var optional []string
	for name := range schema.Properties {
		if !slices.Contains(names, name) {
			optional = append(optional, name)
		}
	}
	sort.Strings(optional)
	return append(names, optional...)
}

// zeroValue returns the zero value of a JSON type.
func zeroValue(kind string) any {
	switch kind {
	case "integer", "number":
		return 0
	case "boolean":
		return false
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	default:
		return ""
	}
}

var (
	// isoDatePattern finds an ISO date with an optional preposition before
	// it, which is used up together with the date.
	isoDatePattern = regexp.MustCompile(`(?i)(?:\b(?:on|for|by|due|at)\s+)?\b(\d{4}-\d{2}-\d{2})\b`)
	// relativeDatePattern finds a date word with an optional preposition.
	relativeDatePattern = regexp.MustCompile(`(?i)(?:\b(?:on|for|by|due)\s+)?\b(today|tonight|tomorrow|yesterday)\b`)
	// numberPattern finds a number that does not continue a word.
	numberPattern = regexp.MustCompile(`(?:^|[^\w.-])(-?\d+(?:\.\d+)?)\b`)
	// quotedPatterns find quoted text. A single quote counts only at a word
	// boundary, so that "what's" does not open a quotation.
	quotedPatterns = []*regexp.Regexp{
		regexp.MustCompile(`"([^"]+)"`),
		regexp.MustCompile(`“([^”]+)”`),
		regexp.MustCompile(`(?:^|\s)'([^']+)'(?:$|[\s.,!?;:])`),
	}
	// markerPattern finds the words after which a name or a topic follows.
	markerPattern = regexp.MustCompile(`(?i)\b(?:called|named|titled|about|saying|says)\s+`)
	// phraseEndPattern finds where a phrase after a marker ends.
	phraseEndPattern = regexp.MustCompile(`(?i)\s+(?:on|at|for|from|with|in|by|due|until|today|tonight|tomorrow|yesterday)\b|\s+\d{4}-\d{2}-\d{2}|[,;!?]|\.(?:\s|$)`)
)

// extractor takes values out of a request text. It remembers the spans that
// it has used, so that no part of the text fills two properties.
type extractor struct {
	text string
	now  time.Time
	used [][2]int // byte ranges [start, end) of text already used
}

// newExtractor returns an extractor for text that resolves date words
// relative to now.
func newExtractor(text string, now time.Time) *extractor {
	return &extractor{text: text, now: now}
}

// free reports whether no used span overlaps [start, end).
func (e *extractor) free(start, end int) bool {
	for _, span := range e.used {
		if start < span[1] && span[0] < end {
			return false
		}
	}
	return true
}

// use marks [start, end) as used.
func (e *extractor) use(start, end int) {
	e.used = append(e.used, [2]int{start, end})
}

// shapedValue returns the value of pass 1 for a property, if the text has
// one.
func (e *extractor) shapedValue(name string, prop propertySchema) (any, bool) {
	kind := prop.kind()
	if raw, ok := e.named(name); ok {
		if value, ok := convertText(raw, kind); ok {
			return value, true
		}
	}
	switch {
	case len(prop.Enum) > 0:
		return e.enumValue(prop.Enum)
	case prop.isDate(name):
		return e.nextDate()
	case kind == "integer" || kind == "number":
		return e.nextNumber(kind)
	}
	return nil, false
}

// named returns the value given as "name: value", "name = value" or "name is
// value", with "_" in name also matching a space.
func (e *extractor) named(name string) (string, bool) {
	variants := []string{name}
	if spaced := strings.ReplaceAll(name, "_", " "); spaced != name {
		variants = append(variants, spaced)
	}
	for _, variant := range variants {
		pattern := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(variant) + `\s*(?::|=|\s+is\s+)\s*`)
		for _, loc := range pattern.FindAllStringIndex(e.text, -1) {
			if !e.free(loc[0], loc[1]) {
				continue
			}
			value, end := e.phraseAt(loc[1])
			if value == "" {
				continue
			}
			e.use(loc[0], end)
			return value, true
		}
	}
	return "", false
}

// phraseAt returns the quoted text or the phrase that starts at byte offset
// start, and the offset where it ends.
func (e *extractor) phraseAt(start int) (string, int) {
	rest := e.text[start:]
	for _, quote := range [][2]string{{`"`, `"`}, {`“`, `”`}, {`'`, `'`}} {
		if !strings.HasPrefix(rest, quote[0]) {
			continue
		}
		if end := strings.Index(rest[len(quote[0]):], quote[1]); end >= 0 {
			value := rest[len(quote[0]) : len(quote[0])+end]
			return strings.TrimSpace(value), start + len(quote[0]) + end + len(quote[1])
		}
	}
	end := len(rest)
	if loc := phraseEndPattern.FindStringIndex(rest); loc != nil {
		end = loc[0]
	}
	return strings.TrimSpace(rest[:end]), start + end
}

// enumValue returns the first enum value that appears in the text as a
// word.
func (e *extractor) enumValue(enum []any) (any, bool) {
	for _, option := range enum {
		text, ok := option.(string)
		if !ok || text == "" {
			continue
		}
		pattern := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(text) + `\b`)
		if loc := pattern.FindStringIndex(e.text); loc != nil && e.free(loc[0], loc[1]) {
			e.use(loc[0], loc[1])
			return text, true
		}
	}
	return nil, false
}

// nextDate returns the next unused date of the text as an ISO date.
func (e *extractor) nextDate() (any, bool) {
	for _, m := range isoDatePattern.FindAllStringSubmatchIndex(e.text, -1) {
		if e.free(m[0], m[1]) {
			e.use(m[0], m[1])
			return e.text[m[2]:m[3]], true
		}
	}
	for _, m := range relativeDatePattern.FindAllStringSubmatchIndex(e.text, -1) {
		if !e.free(m[0], m[1]) {
			continue
		}
		e.use(m[0], m[1])
		day := e.now
		switch strings.ToLower(e.text[m[2]:m[3]]) {
		case "tomorrow":
			day = day.AddDate(0, 0, 1)
		case "yesterday":
			day = day.AddDate(0, 0, -1)
		}
		return day.Format(time.DateOnly), true
	}
	return nil, false
}

// nextNumber returns the next unused number that is not part of a date, as
// an int64 for kind "integer" and a float64 otherwise.
func (e *extractor) nextNumber(kind string) (any, bool) {
	dates := isoDatePattern.FindAllStringIndex(e.text, -1)
	for _, m := range numberPattern.FindAllStringSubmatchIndex(e.text, -1) {
		start, end := m[2], m[3]
		inDate := slices.ContainsFunc(dates, func(d []int) bool { return start < d[1] && d[0] < end })
		if inDate || !e.free(start, end) {
			continue
		}
		if value, ok := convertText(e.text[start:end], kind); ok {
			e.use(start, end)
			return value, true
		}
	}
	return nil, false
}

// nextQuoted returns the next unused quoted text.
func (e *extractor) nextQuoted() (string, bool) {
	type quoted struct{ start, end, valueStart, valueEnd int }
	var found []quoted
	for _, pattern := range quotedPatterns {
		for _, m := range pattern.FindAllStringSubmatchIndex(e.text, -1) {
			found = append(found, quoted{m[0], m[1], m[2], m[3]})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].start < found[j].start })
	for _, q := range found {
		value := strings.TrimSpace(e.text[q.valueStart:q.valueEnd])
		if value != "" && e.free(q.start, q.end) {
			e.use(q.start, q.end)
			return value, true
		}
	}
	return "", false
}

// nextMarkerPhrase returns the next unused phrase after a marker word such
// as "called".
func (e *extractor) nextMarkerPhrase() (string, bool) {
	for _, loc := range markerPattern.FindAllStringIndex(e.text, -1) {
		value, end := e.phraseAt(loc[1])
		value = strings.Trim(value, `"'“”`)
		if value != "" && e.free(loc[0], end) {
			e.use(loc[0], end)
			return value, true
		}
	}
	return "", false
}

// wordPattern finds the whitespace-separated tokens of a text.
var wordPattern = regexp.MustCompile(`\S+`)

// tokenPunctuation is trimmed from a token before it is compared as a word.
const tokenPunctuation = ":,.!?;\"'“”"

// leadingArticles may stand between a verb and the rest of the name of a
// tool, as in "add a note".
var leadingArticles = setOf("a", "an", "the", "my", "some")

// rest returns the text after the request's verb and tool name words, without
// the spans that other properties used: "echo hello world" gives "hello
// world" for the echo tool.
func (e *extractor) rest(profile *toolProfile) string {
	blanked := []byte(e.text)
	for _, span := range e.used {
		for i := span[0]; i < span[1]; i++ {
			blanked[i] = ' '
		}
	}
	text := string(blanked)

	tokens := wordPattern.FindAllStringIndex(text, -1)
	coreWord := func(i int) string {
		return strings.ToLower(strings.Trim(text[tokens[i][0]:tokens[i][1]], tokenPunctuation))
	}
	start := len(text)
	sawToolWord := false
	for i, token := range tokens {
		word := coreWord(i)
		stemmed := stem(word)
		isToolWord := profile.nameStems[stemmed] || stemmed == profile.verb ||
			slices.Contains(verbSynonyms[stemmed], profile.verb)
		nextIsToolWord := i+1 < len(tokens) && profile.nameStems[stem(coreWord(i+1))]
		switch {
		case word == "":
			continue
		case !sawToolWord && fillerWords[word]:
			continue
		case isToolWord:
			sawToolWord = true
			continue
		case sawToolWord && (word == "back" || (leadingArticles[word] && nextIsToolWord)):
			continue
		}
		start = token[0]
		break
	}
	rest := strings.Join(strings.Fields(text[start:]), " ")
	return strings.TrimSpace(strings.TrimRight(rest, ".!?"))
}

// convertText converts text to a value of the JSON type kind.
func convertText(text, kind string) (any, bool) {
	switch kind {
	case "integer":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, false
		}
		return int64(f), true
	case "number":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, false
		}
		return f, true
	case "boolean":
		b, err := strconv.ParseBool(strings.ToLower(text))
		if err != nil {
			return nil, false
		}
		return b, true
	case "string":
		return text, true
	default:
		return nil, false
	}
}
