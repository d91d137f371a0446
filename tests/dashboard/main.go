// Command dashboard-check validates Grafana dashboards (JSON files) against
// Grafana's own schema, as published in grafana-foundation-sdk, and checks
// what that schema leaves open: panel types and data source references.
//
//	dashboard-check FILE...
//
// It prints one line per problem, "FILE: PATH: MESSAGE" with PATH a JSON path
// such as panels[3].targets[0].expr, and exits 1 when there is any; 0 when
// every file passes; 2 when a file cannot be read.
package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
)

// A problem in a dashboard: where, as a JSON path, and what.
type problem struct {
	path    string
	message string
}

func (p problem) String() string {
	if p.path == "" {
		return p.message
	}
	return p.path + ": " + p.message
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashboard-check FILE...")
		os.Exit(2)
	}
	// Without the panel and query plugins, panel options, field configs and
	// queries are decoded as free-form maps and nothing in them is checked.
	plugins.RegisterDefaultPlugins()

	failed := false
	for _, file := range os.Args[1:] {
		raw, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dashboard-check: %v\n", err)
			os.Exit(2)
		}
		problems := check(raw)
		for _, p := range problems {
			fmt.Printf("%s: %s\n", file, p)
		}
		if len(problems) > 0 {
			failed = true
			fmt.Fprintf(os.Stderr, "%s: %d problem(s)\n", file, len(problems))
		} else {
			fmt.Printf("%s: ok\n", file)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// check returns every problem of one dashboard, in document order.
func check(raw []byte) []problem {
	problems := append(schemaProblems(raw), panelProblems(raw)...)
	sort.SliceStable(problems, func(i, j int) bool {
		return sortKey(problems[i].path) < sortKey(problems[j].path)
	})
	return problems
}

var index = regexp.MustCompile(`\[(\d+)\]`)

// sortKey pads array indexes so that panels[2] sorts before panels[10].
func sortKey(path string) string {
	return index.ReplaceAllStringFunc(path, func(i string) string {
		n, _ := strconv.Atoi(i[1 : len(i)-1])
		return fmt.Sprintf("[%06d]", n)
	})
}
