package llm

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// How the scripted model picks a tool
//
// Words are lowercased, split at every character that is not a letter or a
// digit, and reduced to a stem by stem. Tool names are also split at "_", "-",
// "." and lower-to-upper case changes, so "list_events" and "listEvents" give
// "list" and "event". Stop words such as "the", "my" or "please" do not count.
//
// A tool scores 3 points for each distinct word of the request in its name and
// 1 point for each other word in its description. A word also matches through
// a small table of nouns that tools use for the same thing (nounSynonyms), so
// "meeting" matches "event".
//
// A tool that scored gets 2 more points when a word of the request is its
// name's verb or a synonym of that verb (verbSynonyms). For example, "show" and
// "what" stand for list, get and search, "make" and "schedule" for create and
// add, and "say" for echo.
//
// The highest score wins, and the earlier tool wins a tie. A tool whose score
// is zero is never called, so a verb alone does not pick a tool. The exception
// is a tool with a one-word name such as "echo". That name is its own verb, so
// a synonym such as "say" counts as a match of the name.
//
// When the request starts with a verb from verbSynonyms, a tool whose name
// verb is another known verb is not considered, so "delete my appointment"
// calls no listing tool.

// stopWords are the stems of words that carry no meaning for tool matching.
var stopWords = setOf(stems([]string{
	"a", "an", "the", "my", "me", "i", "you", "your", "our", "we", "us",
	"is", "are", "was", "be", "am", "to", "of", "on", "in", "at", "for", "with",
	"and", "or", "it", "its", "this", "that", "these", "those", "s", "please",
	"can", "could", "would", "will", "do", "does", "did", "there", "any", "some",
	"all", "user", "users", "from", "by", "as", "what", "whats", "which", "how",
	"called", "named", "titled", "about", "saying", "says", "hey", "hi", "ok",
	"just", "now", "then", "also", "up", "out", "into", "tool", "given",
})...)

// verbSynonyms maps a word of a request to the tool name verbs that it
// stands for. Keys and values are stems.
var verbSynonyms = stemKeys(map[string][]string{
	"list":     {"list", "get", "search", "show"},
	"show":     {"list", "get", "show", "search"},
	"what":     {"list", "get", "search", "show"},
	"which":    {"list", "get", "search"},
	"see":      {"list", "get", "show"},
	"view":     {"list", "get", "show"},
	"display":  {"list", "get", "show"},
	"get":      {"get", "list", "fetch", "read"},
	"fetch":    {"get", "fetch", "read"},
	"read":     {"read", "get", "list"},
	"find":     {"search", "find", "get", "list"},
	"look":     {"search", "find", "get"},
	"search":   {"search", "find"},
	"create":   {"create", "add", "new", "make"},
	"add":      {"add", "create", "new"},
	"make":     {"create", "add", "make"},
	"new":      {"create", "add", "new"},
	"schedule": {"create", "add", "schedule"},
	"book":     {"create", "add", "book"},
	"write":    {"create", "add", "write", "send"},
	"send":     {"send", "create", "post"},
	"post":     {"post", "send", "create"},
	"update":   {"update", "edit", "set"},
	"change":   {"update", "edit", "set"},
	"edit":     {"edit", "update"},
	"set":      {"set", "update"},
	"delete":   {"delete", "remove"},
	"remove":   {"remove", "delete"},
	"cancel":   {"cancel", "delete", "remove"},
	"echo":     {"echo"},
	"say":      {"echo", "say"},
	"repeat":   {"echo", "repeat"},
})

// nounSynonyms maps a word of a request to other words that tools often use
// for the same thing. Keys and values are stems.
var nounSynonyms = stemKeys(map[string][]string{
	"meeting":     {"event", "appointment"},
	"appointment": {"event", "meeting"},
	"event":       {"meeting", "appointment"},
	"schedule":    {"calendar", "event"},
	"agenda":      {"calendar", "event"},
	"calendar":    {"event", "schedule"},
	"mail":        {"email", "message"},
	"email":       {"mail", "message"},
	"text":        {"message"},
	"note":        {"memo"},
	"document":    {"file", "doc"},
	"doc":         {"file", "document"},
	"ticket":      {"issue"},
	"bug":         {"issue"},
	"task":        {"todo", "issue"},
	"todo":        {"task"},
})

// toolProfile is a tool with the stems that matching compares.
type toolProfile struct {
	tool      Tool
	nameStems map[string]bool
	descStems map[string]bool
	// verb is the stem of the first word of the name that some request
	// verb stands for, or of the name's first word when none does.
	verb string
	// knownVerb reports whether some request verb stands for verb.
	knownVerb bool
}

// profileTools prepares tools for matching.
func profileTools(tools []Tool) []*toolProfile {
	knownVerbs := make(map[string]bool)
	for _, verbs := range verbSynonyms {
		for _, verb := range verbs {
			knownVerbs[verb] = true
		}
	}

	profiles := make([]*toolProfile, 0, len(tools))
	for _, tool := range tools {
		nameWords := stems(splitName(tool.Name))
		profile := &toolProfile{
			tool:      tool,
			nameStems: setOf(nameWords...),
			descStems: setOf(stems(words(tool.Description))...),
		}
		for _, word := range nameWords {
			if knownVerbs[word] {
				profile.verb, profile.knownVerb = word, true
				break
			}
		}
		if profile.verb == "" && len(nameWords) > 0 {
			profile.verb = nameWords[0]
		}
		profiles = append(profiles, profile)
	}
	return profiles
}

// bestTool returns the tool that matches text best, or nil when no tool
// scores above zero.
func bestTool(text string, profiles []*toolProfile) *toolProfile {
	requestStems := stems(words(text))
	verb := leadingVerb(text)
	var best *toolProfile
	bestScore := 0
	for _, profile := range profiles {
		if verb != "" && profile.knownVerb && verb != profile.verb && !slices.Contains(verbSynonyms[verb], profile.verb) {
			// "delete my appointment" must not list the events.
			continue
		}
		if score := scoreTool(profile, requestStems); score > bestScore {
			best, bestScore = profile, score
		}
	}
	return best
}

// scoreTool scores one tool against the stems of a request.
func scoreTool(profile *toolProfile, requestStems []string) int {
	score := 0
	seen := make(map[string]bool)
	for _, stem := range requestStems {
		if seen[stem] || stopWords[stem] {
			continue
		}
		seen[stem] = true
		candidates := append([]string{stem}, nounSynonyms[stem]...)
		switch {
		case slices.ContainsFunc(candidates, func(c string) bool { return profile.nameStems[c] }):
			score += 3
		case slices.ContainsFunc(candidates, func(c string) bool { return profile.descStems[c] }):
			score++
		}
	}
	if score == 0 && len(profile.nameStems) == 1 {
		// A one-word tool name such as "echo" is its own verb, so a
		// synonym of it counts as a name match: "say" calls echo.
		for _, stem := range requestStems {
			if slices.Contains(verbSynonyms[stem], profile.verb) {
				score = 3
				break
			}
		}
	}
	if score == 0 {
		return 0
	}
	for _, stem := range requestStems {
		if stem == profile.verb || slices.Contains(verbSynonyms[stem], profile.verb) {
			return score + 2
		}
	}
	return score
}

// andPattern finds the "and" that may join two requests.
var andPattern = regexp.MustCompile(`(?i)\s*,?\s+and\s+(?:then\s+|also\s+)?`)

// fillerWords may come before the verb of a request.
var fillerWords = setOf("please", "can", "could", "would", "will", "you", "kindly", "just", "now", "then", "also", "hey", "ok", "okay", "and", "i", "want", "need", "to", "like", "d")

// splitRequests splits text at the first "and" whose two sides both start
// with a verb, such as "list my events and echo hi". It returns text alone
// when there is no such "and".
func splitRequests(text string, profiles []*toolProfile) []string {
	for _, loc := range andPattern.FindAllStringIndex(text, -1) {
		first, second := strings.TrimSpace(text[:loc[0]]), strings.TrimSpace(text[loc[1]:])
		if startsWithVerb(first, profiles) && startsWithVerb(second, profiles) {
			return []string{first, second}
		}
	}
	return []string{text}
}

// startsWithVerb reports whether the first word of text after filler words
// is a request verb or the verb of a tool's name.
func startsWithVerb(text string, profiles []*toolProfile) bool {
	first := firstWord(text)
	if first == "" {
		return false
	}
	if _, ok := verbSynonyms[first]; ok {
		return true
	}
	return slices.ContainsFunc(profiles, func(p *toolProfile) bool { return p.verb == first })
}

// leadingVerb returns the stem of the first word of text after filler words
// when it is a request verb from verbSynonyms, and "" otherwise.
func leadingVerb(text string) string {
	first := firstWord(text)
	if _, ok := verbSynonyms[first]; ok {
		return first
	}
	return ""
}

// firstWord returns the stem of the first word of text that is not a filler
// word, or "".
func firstWord(text string) string {
	for _, word := range words(text) {
		if !fillerWords[word] {
			return stem(word)
		}
	}
	return ""
}

// words returns the lowercase words of text.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// splitName returns the lowercase words of a tool name, split at
// punctuation and at lower-to-upper case changes.
func splitName(name string) []string {
	var spaced strings.Builder
	var previous rune
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && unicode.IsLower(previous) {
			spaced.WriteRune(' ')
		}
		spaced.WriteRune(r)
		previous = r
	}
	return words(spaced.String())
}

// stems returns the stem of each word.
func stems(words []string) []string {
	out := make([]string, len(words))
	for i, word := range words {
		out[i] = stem(word)
	}
	return out
}

// stem removes common English endings, so that "events" and "event",
// "listing" and "list", "searches" and "search", "created" and "create" get
// the same stem. It is a small rule set, not a full stemmer.
func stem(word string) string {
	switch {
	case len(word) > 4 && strings.HasSuffix(word, "ies"):
		word = word[:len(word)-3] + "y"
	case len(word) > 5 && strings.HasSuffix(word, "ing"):
		word = word[:len(word)-3]
	case len(word) > 4 && strings.HasSuffix(word, "ed"):
		word = word[:len(word)-2]
	case len(word) > 4 && (strings.HasSuffix(word, "ches") || strings.HasSuffix(word, "shes") ||
		strings.HasSuffix(word, "xes") || strings.HasSuffix(word, "sses")):
		word = word[:len(word)-2]
	case len(word) > 3 && strings.HasSuffix(word, "s") && !strings.HasSuffix(word, "ss"):
		word = word[:len(word)-1]
	}
	if len(word) > 3 && strings.HasSuffix(word, "e") {
		word = word[:len(word)-1]
	}
	return word
}

// setOf returns a set of the given words.
func setOf(words ...string) map[string]bool {
	set := make(map[string]bool, len(words))
	for _, word := range words {
		set[word] = true
	}
	return set
}

// stemKeys stems the keys and values of a synonym table.
func stemKeys(table map[string][]string) map[string][]string {
	out := make(map[string][]string, len(table))
	for key, values := range table {
		out[stem(key)] = stems(values)
	}
	return out
}
