"""Tables whose header names a secret's column (masking/tables.py): PowerShell's Format-Table and its like."""

from __future__ import annotations

import pytest
from sessionguard.masking.masker import SecretMasker

WINLOGON = [
    "PS C:\\> Get-ItemProperty $winlogon | Select DefaultUserName, DefaultPassword",
    "",
    "DefaultUserName DefaultPassword",
    "--------------- ---------------",
    "svc-auto        Zq8Lx2Rt9w!",
    "",
    "PS C:\\> ls",
]


def test_the_secret_column_of_a_format_table_row_is_masked_and_the_others_kept() -> None:
    out = SecretMasker().mask_lines(WINLOGON)
    assert out[4] == "svc-auto        [MASKED:password]"
    assert out[:4] == WINLOGON[:4]
    assert out[5:] == WINLOGON[5:]


def test_the_same_line_by_line_and_across_events() -> None:
    masker = SecretMasker()
    assert [masker.mask(line) for line in WINLOGON] == SecretMasker().mask_lines(WINLOGON)
    masker = SecretMasker()
    out = masker.mask_lines(WINLOGON[:3]) + masker.mask_lines(WINLOGON[3:])
    assert out == SecretMasker().mask_lines(WINLOGON)


def test_every_row_until_a_blank_line() -> None:
    out = SecretMasker().mask_lines(
        [
            "Name           Token          Expires",
            "----           -----          -------",
            "ci-bot         Zq8Lx2Rt9wKp   2026-12-31",
            "deploy         Hx3Vb8Nq2Ld5   2027-01-31",
            "",
            "after blank    Zq8Lx2Rt",
        ]
    )
    assert out[2:4] == ["ci-bot         [MASKED:token]   2026-12-31", "deploy         [MASKED:token]   2027-01-31"]
    assert out[5] == "after blank    Zq8Lx2Rt"


@pytest.mark.parametrize(
    "lines",
    [
        # no secret's name among the columns (a date after `set` or `used` is no secret)
        ["Name    Enabled PasswordLastSet", "----    ------- ---------------", "admin   True    1/1/2024 10:00:00 AM"],
        # a header without its line of dashes opens nothing
        ["DefaultUserName DefaultPassword", "svc-auto        not-a-table-row"],
        # dashes that do not start under the names
        ["User Password", "------ --------", "bob  plain-text-row"],
    ],
)
def test_tables_that_name_no_secret_or_are_no_table_stay(lines: list[str]) -> None:
    assert SecretMasker().mask_lines(lines) == lines


def test_a_long_line_of_names_is_no_header_and_costs_one_scan() -> None:
    """Session text is the attacker's: a 1 MiB line of names and blanks is refused at once (MAX_HEADER)."""
    line = "password " * 120_000
    assert SecretMasker().mask_lines([line, "-" * 10, "x"])[2] == "x"
