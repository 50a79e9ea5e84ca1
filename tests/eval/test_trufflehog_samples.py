"""trufflehog's detector test tables read into samples (evaluation/trufflehog_samples.py), on small Go snippets;
and the committed evaluation/corpus/trufflehog/samples.jsonl holds what a sample promises."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from evaluation import trufflehog_samples as trufflehog

TEST_FILE = "pkg/detectors/acme/v2/acme_test.go"
KEY = "acme_Zx81kQ2mP7tR4vW9yB3n"
DECLARATIONS = f"""
const validKey = "{KEY}" // a constant of the file

var (
	keyword = "acme"
	validID = "4815162342108"
)
"""


def go_table(*rows: str) -> str:
    """A detector test file whose Pattern test's table holds the given rows."""
    body = "\n".join(f"\t\t{row}," for row in rows)
    return f"""package acme

import (
	"fmt"
	"testing"

	"github.com/brianvoe/gofakeit/v7"
)
{DECLARATIONS}
func TestAcme_Pattern(t *testing.T) {{
	tests := []struct {{
		name  string
		input string
		want  []string
	}}{{
{body}
	}}
	for _, test := range tests {{
		input := test.input
		_ = input
	}}
}}
"""


def read_rows(*rows: str) -> list[trufflehog.Row]:
    return list(trufflehog.file_rows(go_table(*rows), Counter()))


def records(source: str, name: str = TEST_FILE) -> list[dict[str, Any]]:
    samples = trufflehog.Samples()
    samples.add_file(name, source)
    return samples.records()


def test_a_literal_input_and_a_want_named_by_a_constant() -> None:
    row = f'{{name: "valid", input: "acme token = {KEY}", want: []string{{validKey}}}}'
    assert read_rows(row) == [trufflehog.Row(f"acme token = {KEY}", (KEY,))]


def test_a_raw_string_gives_a_sample_per_line_that_holds_a_secret() -> None:
    row = f'{{name: "valid", input: `# config\n\tACME_KEY={KEY}\n`, want: []string{{"{KEY}"}}}}'
    assert records(go_table(row)) == [
        {"rule": "trufflehog:acme/v2", "kind": "tp", "line": KEY, "secrets": [KEY], "template": "bare"},
        {
            "rule": "trufflehog:acme/v2",
            "kind": "tp",
            "line": f"\tACME_KEY={KEY}",
            "secrets": [KEY],
            "template": "trufflehog-test",
        },
    ]


def test_a_constant_joined_with_plus_and_an_fmt_sprintf() -> None:
    rows = (
        '{name: "plus", input: keyword + " key: " + validKey, want: []string{validKey}}',
        """{name: "sprintf", input: fmt.Sprintf("%s = %q (%-4d)", keyword, validKey, 7), want: []string{validKey}}""",
    )
    assert [row.input for row in read_rows(*rows)] == [f"acme key: {KEY}", f'acme = "{KEY}" (7   )']


def test_a_want_glued_from_two_parts_gives_both_in_the_wants_order() -> None:
    row = (
        '{name: "glued", input: fmt.Sprintf("key: %s, id: %s", validKey, validID), want: []string{validKey + validID}}'
    )
    [found] = read_rows(row)
    assert trufflehog.row_secrets(found, Counter()) == [KEY, "4815162342108"]


def test_a_want_split_on_a_colon_keeps_the_parts_and_not_the_host() -> None:
    text = "ACME_HOST=api.acme.example.com ACME_ID=4815162342108 ACME_SECRET=Qm9vM2x5c2VjcmV0"
    want = "api.acme.example.com:4815162342108:Qm9vM2x5c2VjcmV0"
    assert trufflehog.resolve_want(want, text) == ["4815162342108", "Qm9vM2x5c2VjcmV0"]


def test_a_url_want_keeps_only_its_credential() -> None:
    url = "postgres://admin:Pa55w0rdXyz@db.acme.example.com:5432/orders"
    assert trufflehog.resolve_want(url, f"DATABASE_URL={url}") == ["Pa55w0rdXyz"]
    hook = "https://hooks.acme.example.com/services/T0001/B0002/9f8e7d6c5b4a39281706"
    assert trufflehog.resolve_want(hook, f"webhook: {hook}") == ["9f8e7d6c5b4a39281706"]


def test_rows_it_cannot_compute_are_skipped_and_counted() -> None:
    notes: Counter[str] = Counter()
    rows = (
        '{name: "fake", input: fmt.Sprintf("key=%s", gofakeit.Password(true, true, true, false, false, 32)), '
        "want: []string{validKey}}",
        f'{{name: "valid", input: "key={KEY}", want: []string{{validKey}}}}',
        '{name: "invalid", input: "key=short", want: nil}',
    )
    found = list(trufflehog.file_rows(go_table(*rows), notes))
    assert found == [trufflehog.Row(f"key={KEY}", (KEY,)), trufflehog.Row("key=short", ())]
    assert notes == Counter({"rows not computable (input or want)": 1})


def test_negatives_and_integration_tests_give_no_sample() -> None:
    negative = go_table('{name: "invalid", input: "acme key = 1234", want: []string{}}')
    assert records(negative) == []
    positive = go_table(f'{{name: "valid", input: "{KEY}", want: []string{{validKey}}}}')
    assert records(positive, "pkg/detectors/acme/v2/acme_integration_test.go") == []
    assert records("//go:build detectors\n// +build detectors\n\n" + positive) == []


def test_the_committed_samples_hold_their_secrets() -> None:
    lines = (trufflehog.CORPUS / "samples.jsonl").read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    assert samples, "no samples: run python -m evaluation.trufflehog_samples <trufflehog git dir>"
    for sample in samples:
        assert set(sample) == {"rule", "kind", "line", "secrets", "template"}
        assert sample["rule"].startswith("trufflehog:")
        assert sample["kind"] == "tp"
        assert sample["template"] in {"trufflehog-test", "bare"}
        assert sample["secrets"]
        assert all(secret in sample["line"] for secret in sample["secrets"]), sample
        assert len(sample["line"]) <= trufflehog.MAX_LINE
    keys = [(s["rule"], s["template"], s["line"]) for s in samples]
    assert keys == sorted(set(keys)), "samples are sorted and each line is written once"
