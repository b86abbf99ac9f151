package main

// Driven by test/unit/read-at-start.test.ts: the process runtime (sandbox-starters.ts) and
// this agent each decide which variables an interpreter reads only as it starts, in two
// languages. The vitest test writes the TypeScript side's decisions for a list of names to
// the file READ_AT_START_CASES names; this test holds readAtStart to every one of them.

import (
	"encoding/json"
	"os"
	"testing"
)

type readAtStartCase struct {
	Lang   string `json:"lang"`
	Name   string `json:"name"`
	Expect bool   `json:"expect"`
}

func TestReadAtStartMatchesTheProcessRuntime(t *testing.T) {
	path := os.Getenv("READ_AT_START_CASES")
	if path == "" {
		t.Fatal("READ_AT_START_CASES is unset: run this test through test/unit/read-at-start.test.ts")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []readAtStartCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		if got := readAtStart(c.Lang, c.Name); got != c.Expect {
			t.Errorf("readAtStart(%q, %q) = %v, the process runtime says %v", c.Lang, c.Name, got, c.Expect)
		}
	}
}
