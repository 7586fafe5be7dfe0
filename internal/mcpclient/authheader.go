package mcpclient

import (
	"errors"
	"strings"
)

// challenge is one challenge of a WWW-Authenticate header (RFC 9110
// section 11.6.1), such as
//
//	Bearer realm="mcp", error="insufficient_scope", scope="a b"
type challenge struct {
	// Scheme is the auth scheme as sent, such as "Bearer". Compare it
	// case-insensitively.
	Scheme string
	// Params maps each auth-param name, in lower case, to its value with
	// quoting removed. A repeated name keeps its first value.
	Params map[string]string
	// Token68 is the token68 form of the credentials, which a challenge
	// carries in place of Params, as in "Negotiate abc==".
	Token68 string
}

// errMalformedChallenge reports a WWW-Authenticate value that does not
// follow RFC 9110's grammar. The challenges before the error are still
// returned.
var errMalformedChallenge = errors.New("mcpclient: malformed WWW-Authenticate header")

// parseChallenges parses the values of one or more WWW-Authenticate header
// fields. Each value may hold several challenges separated by commas,
// which also separate auth-params, so a name followed by "=" continues the
// current challenge and a bare name starts the next one:
//
//	challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// On malformed input it returns the challenges parsed so far and
// errMalformedChallenge.
func parseChallenges(values []string) ([]challenge, error) {
	var out []challenge
	for _, v := range values {
		p := challengeParser{s: v}
		cs, err := p.parse()
		out = append(out, cs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// bearerChallenge returns the first Bearer challenge among the header
// values, and whether there is one. A malformed value still yields the
// challenges before the fault.
func bearerChallenge(values []string) (challenge, bool) {
	challenges, _ := parseChallenges(values)
	for _, c := range challenges {
		if strings.EqualFold(c.Scheme, "Bearer") {
			return c, true
		}
	}
	return challenge{}, false
}

type challengeParser struct {
	s   string
	pos int
}

func (p *challengeParser) parse() ([]challenge, error) {
	var out []challenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, errMalformedChallenge
		}
		c := challenge{Scheme: scheme, Params: map[string]string{}}

		// A space separates the scheme from its parameters. Without one,
		// the challenge has none, and a comma or the end must follow.
		if !p.skipSpaces() {
			out = append(out, c)
			if !p.done() && p.peek() != ',' {
				return out, errMalformedChallenge
			}
			continue
		}
		if t68, ok := p.token68(); ok {
			c.Token68 = t68
			out = append(out, c)
			continue
		}
		if err := p.params(&c); err != nil {
			return append(out, c), err
		}
		out = append(out, c)
	}
}

// params reads the auth-params of one challenge. It stops before a name
// that has no "=" after it, which is the next challenge's scheme.
func (p *challengeParser) params(c *challenge) error {
	for {
		p.skipListSeparators()
		if p.done() {
			return nil
		}
		start := p.pos
		name := p.token()
		if name == "" {
			return errMalformedChallenge
		}
		p.skipSpaces()
		if p.done() || p.peek() != '=' {
			// A new challenge begins here.
			p.pos = start
			return nil
		}
		p.pos++ // "="
		p.skipSpaces()

		var value string
		if !p.done() && p.peek() == '"' {
			v, ok := p.quotedString()
			if !ok {
				return errMalformedChallenge
			}
			value = v
		} else {
			value = p.token()
			if value == "" {
				return errMalformedChallenge
			}
		}
		key := strings.ToLower(name)
		if _, seen := c.Params[key]; !seen {
			c.Params[key] = value
		}

		p.skipSpaces()
		if !p.done() && p.peek() != ',' {
			return errMalformedChallenge
		}
	}
}

// token68 reads credentials in token68 form when they, and only they,
// follow the scheme: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
// *"=", followed by a comma or the end. It consumes nothing otherwise.
func (p *challengeParser) token68() (string, bool) {
	i := p.pos
	for i < len(p.s) && isToken68Char(p.s[i]) {
		i++
	}
	if i == p.pos {
		return "", false
	}
	for i < len(p.s) && p.s[i] == '=' {
		i++
	}
	end := i
	for i < len(p.s) && (p.s[i] == ' ' || p.s[i] == '\t') {
		i++
	}
	// Anything else after the "=" padding, as the value in "error=x",
	// makes this an auth-param.
	if i < len(p.s) && p.s[i] != ',' {
		return "", false
	}
	t := p.s[p.pos:end]
	p.pos = i
	return t, true
}

func (p *challengeParser) quotedString() (string, bool) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		ch := p.s[p.pos]
		switch {
		case ch == '"':
			p.pos++
			return b.String(), true
		case ch == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(ch)
			p.pos++
		}
	}
	return "", false
}

func (p *challengeParser) token() string {
	start := p.pos
	for p.pos < len(p.s) && isTokenChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// skipSpaces skips spaces and tabs and reports whether there were any.
func (p *challengeParser) skipSpaces() bool {
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
	return p.pos > start
}

// skipListSeparators skips commas and whitespace, which RFC 9110's list
// syntax allows to repeat.
func (p *challengeParser) skipListSeparators() {
	for p.pos < len(p.s) && (p.s[p.pos] == ',' || p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *challengeParser) done() bool { return p.pos >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.pos] }

// isTokenChar reports whether c is a tchar (RFC 9110 section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
