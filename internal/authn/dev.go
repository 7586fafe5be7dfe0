package authn

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/store"
)

// DevUser is a user who can sign in without a password in ModeDev.
type DevUser struct {
	// Name is the user's id and display name.
	Name string
	// Admin gives the user Options.AdminRole at sign-in.
	Admin bool
	// Roles are the user's other roles.
	Roles []string
}

// devNameRule describes valid dev user names.
const devNameRule = "want 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '@' and '-'"

// validDevName reports whether name matches ^[A-Za-z0-9_.@-]{1,64}$.
func validDevName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return !isASCIIAlnum(r) && !strings.ContainsRune("_.@-", r)
	}) < 0
}

// ParseDevUsers parses a list of dev users such as
// "alice:admin,bob:ops+audit,carol". Users are separated by commas. A user's
// roles follow a colon and are separated by '+'. The role word "admin" sets DevUser.Admin, which maps to
// Options.AdminRole at sign-in. Spaces around entries are ignored. An empty
// string gives no users. It rejects an empty or invalid name, an invalid or
// repeated role, and a repeated user, naming the entry.
func ParseDevUsers(s string) ([]DevUser, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}

	var users []DevUser
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		name, roleList, hasRoles := strings.Cut(entry, ":")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("authn: dev user %d of %q has no name: want name or name:role+role", i+1, s)
		}
		if !validDevName(name) {
			return nil, fmt.Errorf("authn: dev user name %q is invalid: %s", name, devNameRule)
		}
		if seen[name] {
			return nil, fmt.Errorf("authn: dev user %q is listed twice", name)
		}
		seen[name] = true

		u := DevUser{Name: name}
		if hasRoles {
			if err := parseDevRoles(&u, roleList); err != nil {
				return nil, err
			}
		}
		users = append(users, u)
	}
	return users, nil
}

// parseDevRoles parses the '+'-separated roles of dev user u.
func parseDevRoles(u *DevUser, roleList string) error {
	if strings.TrimSpace(roleList) == "" {
		return fmt.Errorf("authn: dev user %q has an empty role list after ':': remove the ':' or name a role", u.Name)
	}
	for role := range strings.SplitSeq(roleList, "+") {
		role = strings.TrimSpace(role)
		if role == "admin" {
			if u.Admin {
				return fmt.Errorf("authn: dev user %q lists role %q twice", u.Name, role)
			}
			u.Admin = true
			continue
		}
		if !validRole(role) {
			return fmt.Errorf("authn: dev user %q has invalid role %q: %s", u.Name, role, roleRule)
		}
		if slices.Contains(u.Roles, role) {
			return fmt.Errorf("authn: dev user %q lists role %q twice", u.Name, role)
		}
		u.Roles = append(u.Roles, role)
	}
	return nil
}

// CheckDevListen returns an error unless addr ("host:port") listens on a
// loopback address only: "localhost", an IPv4 address in 127.0.0.0/8 or
// "::1". ModeDev signs anyone in without a password, so it must not be
// reachable from other machines. Addresses such as ":8080" and "0.0.0.0:8080"
// listen on every interface and fail.
func CheckDevListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("authn: dev mode listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("authn: dev mode signs anyone in without a password, so it must listen on a loopback address such as 127.0.0.1:8080, not %q", addr)
}

// initDev validates Options.DevUsers and indexes them by name.
func (a *Authenticator) initDev() error {
	if len(a.opts.DevUsers) == 0 {
		return errors.New("authn: dev mode needs at least one dev user")
	}
	a.devUsers = make(map[string]DevUser, len(a.opts.DevUsers))
	for _, u := range a.opts.DevUsers {
		if !validDevName(u.Name) {
			return fmt.Errorf("authn: dev user name %q is invalid: %s", u.Name, devNameRule)
		}
		if _, dup := a.devUsers[u.Name]; dup {
			return fmt.Errorf("authn: dev user %q is listed twice", u.Name)
		}
		for _, role := range u.Roles {
			if !validRole(role) {
				return fmt.Errorf("authn: dev user %q has invalid role %q: %s", u.Name, role, roleRule)
			}
		}
		a.devUsers[u.Name] = u
	}
	return nil
}

// devUserRoles returns the roles that u gets at sign-in.
func (a *Authenticator) devUserRoles(u DevUser) []string {
	roles := slices.Clone(u.Roles)
	if u.Admin && !slices.Contains(roles, a.opts.AdminRole) {
		roles = append([]string{a.opts.AdminRole}, roles...)
	}
	return roles
}

// handleDevLoginPage serves GET /auth/login in ModeDev: a page with one
// button per dev user.
func (a *Authenticator) handleDevLoginPage(w http.ResponseWriter, r *http.Request) {
	type userView struct {
		Name  string
		Roles []string
	}
	data := struct {
		ReturnTo string
		Users    []userView
	}{ReturnTo: safeReturnTo(r.URL.Query().Get("return_to"))}
	for _, u := range a.opts.DevUsers {
		data.Users = append(data.Users, userView{Name: u.Name, Roles: a.devUserRoles(u)})
	}
	a.renderPage(w, r, http.StatusOK, devLoginPage, data)
}

// handleDevLogin serves POST /auth/login in ModeDev: it signs in the user
// named by the form field "user" and redirects to the form field "return_to".
// The request must pass the same-origin check, so another site cannot sign a
// browser in as a user of its choice.
func (a *Authenticator) handleDevLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !a.sameOrigin(r) {
		a.failSignIn(w, r, ModeDev, resultCSRFFailed, http.StatusForbidden,
			"The sign-in form was not sent from this site. Open the sign-in page and try again.",
			errors.New("authn: dev sign-in failed the same-origin check"))
		return
	}

	name := r.PostFormValue("user")
	u, ok := a.devUsers[name]
	if !ok {
		a.failSignIn(w, r, ModeDev, resultUnknownUser, http.StatusBadRequest,
			"There is no dev user with that name. Choose one of the users on the sign-in page.",
			fmt.Errorf("authn: unknown dev user %q", truncate(name, 64)))
		return
	}

	user := &store.User{ID: u.Name, Name: u.Name, Roles: a.devUserRoles(u)}
	if err := a.signIn(ctx, w, r, user, ModeDev, ""); err != nil {
		a.failSignIn(w, r, ModeDev, resultInternalError, http.StatusInternalServerError, reasonServerError, err)
		return
	}
	http.Redirect(w, r, safeReturnTo(r.PostFormValue("return_to")), http.StatusSeeOther)
}
