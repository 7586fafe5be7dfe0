package mcpclient

import (
	"regexp"
	"strings"
	"testing"
)

var modelNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func TestToolName(t *testing.T) {
	long := strings.Repeat("x", 70)
	maxServer := strings.Repeat("s", 64)
	tests := []struct {
		name       string
		server     string
		tool       string
		want       string // exact name, or "" to check only the prefix
		wantPrefix string
	}{
		{"plain", "calendar", "list_events", "calendar__list_events", ""},
		{"dashes", "my-server", "get-item", "my-server__get-item", ""},
		{"exactly 64", "s", strings.Repeat("t", 61), "s__" + strings.Repeat("t", 61), ""},
		{"dots", "calendar", "events.list", "", "calendar__events_list_"},
		{"slash and space", "fs", "read file/v2", "", "fs__read_file_v2_"},
		{"unicode", "cal", "événements", "", "cal___v_nements_"},
		{"too long", "calendar", long, "", "calendar__" + long[:53-len("calendar__")]},
		{"long server id", maxServer, "t", "", maxServer[:53]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToolName(tt.server, tt.tool)
			if !modelNamePattern.MatchString(got) {
				t.Fatalf("ToolName(%q, %q) = %q, which does not match %s", tt.server, tt.tool, got, modelNamePattern)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("ToolName(%q, %q): got %q, want %q", tt.server, tt.tool, got, tt.want)
			}
			if tt.wantPrefix != "" {
				if !strings.HasPrefix(got, tt.wantPrefix) {
					t.Errorf("ToolName(%q, %q): got %q, want prefix %q", tt.server, tt.tool, got, tt.wantPrefix)
				}
				if suffix := got[strings.LastIndexByte(got, '_')+1:]; len(suffix) != nameHashLen {
					t.Errorf("ToolName(%q, %q): got %q, want a %d-digit hash suffix", tt.server, tt.tool, got, nameHashLen)
				}
			}
			if again := ToolName(tt.server, tt.tool); again != got {
				t.Errorf("ToolName is not stable: got %q, then %q", got, again)
			}
		})
	}
}

func TestToolNameCollisionsStayUnique(t *testing.T) {
	prefix := strings.Repeat("p", 80)
	pairs := [][2]string{
		{"a", "x.y"}, {"a", "x/y"}, {"a", "x y"}, {"a", "x_y"}, {"a", "x:y"},
		{"a", prefix + "1"}, {"a", prefix + "2"},
		{"a", "x.y"}, // a repeat gives the same name, not a new one
		{"b", "x.y"},
		{"a-b", "c"}, {"a", "b-c"},
	}
	names := map[string][2]string{}
	for _, p := range pairs {
		name := ToolName(p[0], p[1])
		if other, exists := names[name]; exists && other != p {
			t.Errorf("ToolName%q and ToolName%q both give %q", other, p, name)
		}
		names[name] = p
	}
	if len(names) != len(pairs)-1 {
		t.Errorf("got %d distinct names for %d distinct pairs, want one each", len(names), len(pairs)-1)
	}
}

func TestCatalogResolveToolName(t *testing.T) {
	tools := [][2]string{{"calendar", "list_events"}, {"calendar", "events.create"}, {"files", strings.Repeat("r", 90)}}
	var cat Catalog
	for _, p := range tools {
		if !cat.add(Tool{Name: ToolName(p[0], p[1]), ServerID: p[0], ToolName: p[1]}) {
			t.Fatalf("add %q: the name is taken", p)
		}
	}
	for _, p := range tools {
		server, tool, ok := cat.ResolveToolName(ToolName(p[0], p[1]))
		if !ok || server != p[0] || tool != p[1] {
			t.Errorf("ResolveToolName(ToolName%q): got %q, %q, %v; want %q, %q, true", p, server, tool, ok, p[0], p[1])
		}
	}
	if _, _, ok := cat.ResolveToolName("calendar__missing"); ok {
		t.Error("ResolveToolName of an unknown name: got ok, want false")
	}
	if cat.add(Tool{Name: ToolName("calendar", "list_events"), ServerID: "other", ToolName: "x"}) {
		t.Error("add of a taken name: got true, want false")
	}
	if server, _, _ := cat.ResolveToolName("calendar__list_events"); server != "calendar" {
		t.Errorf("after a rejected add: got server %q, want calendar", server)
	}
}
