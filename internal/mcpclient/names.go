package mcpclient

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Tool names offered to a model must match ^[a-zA-Z0-9_-]{1,64}$, the rule
// that openai-go v3 documents for function names (FunctionDefinition.Name).
// Toolgate applies it for every model API. MCP allows longer names and
// more characters (dots, slashes, any Unicode in older servers).
const (
	maxModelToolName = 64
	// nameSeparator joins the server id and the tool name. Server ids
	// contain no "_", so the first "__" in a model name ends the server
	// id.
	nameSeparator = "__"
	// nameHashLen is the number of hex digits of SHA-256 appended to an
	// altered name: 40 bits, so two altered names of one catalog collide
	// with a chance near 1 in 10^12.
	nameHashLen = 10
)

// ToolName returns the name under which a model is offered tool toolName
// of the server serverID: serverID + "__" + toolName when that matches
// ^[a-zA-Z0-9_-]{1,64}$. Otherwise it replaces each other character with
// "_", cuts the result to 53 bytes and appends "_" and 10 hex digits of
// SHA-256 over the server id and the original tool name. The result
// depends only on the two arguments, so it stays the same across
// catalogs, and two tools whose names differ only in replaced characters
// ("a.b" and "a/b") get different names.
//
// Only a Catalog maps an altered name back (see Catalog.ResolveToolName).
func ToolName(serverID, toolName string) string {
	name := sanitizeToolName(serverID) + nameSeparator + sanitizeToolName(toolName)
	if name == serverID+nameSeparator+toolName && len(name) <= maxModelToolName {
		return name
	}

	sum := sha256.Sum256([]byte(serverID + "\x00" + toolName))
	suffix := hex.EncodeToString(sum[:])[:nameHashLen]
	// The sanitized name is ASCII, so cutting at any byte is safe.
	if keep := maxModelToolName - 1 - nameHashLen; len(name) > keep {
		name = name[:keep]
	}
	return name + "_" + suffix
}

// sanitizeToolName replaces every character outside [a-zA-Z0-9_-] with
// "_", one "_" per character (not per byte).
func sanitizeToolName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isModelNameRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isModelNameRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
}
