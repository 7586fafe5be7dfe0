package vault

import "slices"

// heldScopes returns the scopes a connection counts as holding: those the
// provider granted and those requested in the consent that made it.
//
// Requested scopes count because providers rename or drop scopes in
// their responses. Google may list
// "https://www.googleapis.com/auth/userinfo.email" for a request of
// "email", and Microsoft's token responses can leave out a requested
// "email" (Microsoft's own MSAL library adds it back). Comparing names
// with the response alone would call such connections incomplete and
// send their users round a consent loop. The cost is that a scope the user declined on a
// provider's consent screen still counts as held, so the provider, not
// the vault, rejects the call that needs it.
func heldScopes(granted, requested []string) []string {
	if len(requested) == 0 {
		return granted
	}
	held := slices.Clone(granted)
	for _, s := range requested {
		if !slices.Contains(held, s) {
			held = append(held, s)
		}
	}
	return held
}

// missingScopes returns the scopes of want that held lacks, in want's
// order, or nil.
func missingScopes(want, held []string) []string {
	var missing []string
	for _, s := range want {
		if s != "" && !slices.Contains(held, s) && !slices.Contains(missing, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// uniqueScopes returns scopes without empty strings and repeats, in their
// order.
func uniqueScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
