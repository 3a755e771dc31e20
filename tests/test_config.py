"""The launch schema and its loader: the shipped configs are complete, bad input gets a clear message.

Every file in tests/fixtures/bad_configs is tests/fixtures/minimal.yaml with one
thing broken; EXPECTED says what a user must read for it: file:line, the field
and the hint.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from warroom.config import ConfigError, Launch, load_launch, parse_launch
from warroom.core.units import parse_duration, parse_threshold

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
FIXTURES = ROOT / "tests" / "fixtures"
BAD = FIXTURES / "bad_configs"
SEEDS = FIXTURES / "seeds"

# fixture -> (line, field, words of the message, words of the hint)
EXPECTED: dict[str, tuple[int, str, str, str]] = {
    "unknown_key": (33, "criteria[0].stale_afer", "unknown key 'stale_afer'", "did you mean 'stale_after'?"),
    "threshold_unknown_unit": (
        32,
        "criteria[0].go",
        "unknown unit 'parsecs' in threshold '< 0.1 parsecs'",
        "e.g. '>= 99.8%' or '< 500ms'",
    ),
    "threshold_wrong_unit": (
        32,
        "criteria[0].go",
        "threshold '< 500ms' is in 'ms' but the criterion is measured in '%'",
        "e.g. '>= 99.8%' or '< 500ms'",
    ),
    "threshold_unparseable": (
        32,
        "criteria[0].go",
        "cannot read threshold 'about 0.1%'; accepted forms: '>= 99.8%'",
        "write the operator, the number and its unit",
    ),
    "naive_t0": (6, "launch.t0", "timezone", "2025-03-01T14:00:00Z"),
    "t0_date_only": (6, "launch.t0", "T-0 2026-03-01 has no time of day and no zone", "2025-03-01T14:00:00Z"),
    "unknown_owner_role": (
        17,
        "phases[0].sections[0].items[0].owner",
        "owner role 'qa-lead' is not defined",
        "defined: commander, cto",
    ),
    "unknown_source": (29, "criteria[0].source", "source 'prometheus' is not defined", "did you mean 'prom'?"),
    "duplicate_id": (35, "criteria[1].id", "criterion id 'error-rate' is used twice", "ids must be unique"),
    "duplicate_item_id": (
        18,
        "phases[0].sections[0].items[1].id",
        "checklist item id 'tests-green' is used twice",
        "ids must be unique",
    ),
    "duplicate_key": (34, "criteria[0].stale_after", "key given twice", "keep one of them"),
    "yaml_syntax": (10, "roles[1]", "YAML syntax: expected ',' or '}'", "brackets"),
    "yaml_tab": (12, "phases[0]", "YAML syntax: found character '\\t'", "spaces, not tabs"),
    "wrong_type": (17, "phases[0].sections[0].items[0].critical", "valid boolean", "use true or false"),
    "wrong_type_list": (36, "rollback.allowed_roles", "valid list", "give a list"),
    "missing_key": (27, "criteria[0].go", "Field required", "add 'go:' here"),
    "bad_duration": (13, "phases[0].at", "cannot read duration '-1 hour'", "offsets before T-0 are negative: -24h"),
    "unknown_criterion_link": (
        18,
        "phases[0].sections[0].items[1].criterion",
        "criterion 'errors' is not defined",
        "did you mean 'error-rate'?",
    ),
    "step_without_command": (
        38,
        "rollback.steps[0]",
        "needs exactly one of 'run' (argv list) or 'shell'",
        "prefer run: [kubectl",
    ),
    "step_with_both": (
        38,
        "rollback.steps[0]",
        "needs exactly one of 'run' (argv list) or 'shell'",
        "prefer run: [kubectl",
    ),
    "unknown_unit": (31, "criteria[0].unit", "unknown unit 'percent'", "use one of '%'"),
    "unknown_source_type": (
        24,
        "sources.prom.type",
        "unknown source type 'graphite'",
        "type is one of: prometheus, alertmanager, http, host, simulated",
    ),
    "bad_url": (25, "sources.prom.url", "should match pattern", "use a full http:// or https:// address"),
    "bad_id": (17, "phases[0].sections[0].items[0].id", "should match pattern", "ids are lower-case letters"),
    "phase_order": (21, "phases[1].at", "phase 't-0' starts before the phase above it", "list phases in time order"),
    "trigger_inside_go": (34, "criteria[0].trigger.when", "trigger '> 0.05%' fires at", "must lie beyond the GO"),
    "unknown_rollback_role": (36, "rollback.allowed_roles[1]", "role 'sre' is not defined", "defined: commander, cto"),
    "bad_number": (34, "criteria[0].breach_samples", "greater than or equal to 1", "use a number >= 1"),
    "bad_literal": (34, "criteria[0].trigger.mode", "'off', 'recommend' or 'auto'", "use one of the values listed"),
    "not_a_mapping": (1, "", "a launch file is a mapping", "configs/demo.yaml"),
    "empty": (1, "", "a launch file is a mapping", "configs/demo.yaml"),
    "alias_cycle": (14, "", "an alias refers to a value that contains it", "copy the value"),
    "several_problems": (17, "phases[0].sections[0].items[0].critical", "valid boolean", "use true or false"),
}


def _problem_text(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_launch(path)
    return str(exc.value)


def test_every_bad_fixture_has_an_expectation():
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


def test_the_fixtures_base_is_valid():
    launch = load_launch(FIXTURES / "minimal.yaml")
    assert [c.id for c in launch.criteria] == ["error-rate"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_message_names_file_line_field_and_hint(name):
    line, field, message, hint = EXPECTED[name]
    path = BAD / f"{name}.yaml"
    text = _problem_text(path)
    where = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    first = next(chunk for chunk in text.split("\n") if chunk.startswith(where))
    assert message in first, text
    hint_line = text.split("\n")[text.split("\n").index(first) + 1]
    assert hint_line.startswith("    hint: ") and hint in hint_line, text
    assert "Traceback" not in text


def test_type_errors_and_broken_references_are_reported_together():
    text = _problem_text(BAD / "several_problems.yaml")
    assert "items[0].critical: Input should be a valid boolean" in text
    assert "items[1].owner: owner role 'nobody' is not defined" in text
    # one problem per line pair (message, hint), in file order
    lines = [int(m) for m in re.findall(r"several_problems\.yaml:(\d+):", text)]
    assert lines == sorted(lines) == [17, 18]


def test_threshold_and_type_error_in_one_criterion_both_reported():
    text = (
        (FIXTURES / "minimal.yaml")
        .read_text()
        .replace('go: "< 0.1%"', 'go: "< 500ms"')
        .replace("stale_after: 1m", "stale_after: [1m]")
    )
    with pytest.raises(ConfigError) as exc:
        parse_launch(text, "two.yaml")
    msg = str(exc.value)
    assert "two.yaml:32: criteria[0].go: threshold '< 500ms' is in 'ms'" in msg
    assert "two.yaml:33: criteria[0].stale_after:" in msg


def test_unknown_key_hint_lists_the_keys_of_that_mapping():
    text = (FIXTURES / "minimal.yaml").read_text().replace("    url: http", "    colour: blue\n    url: http")
    with pytest.raises(ConfigError) as exc:
        parse_launch(text, "k.yaml")
    assert "k.yaml:25: sources.prom.colour: unknown key 'colour'" in str(exc.value)
    assert "hint: keys allowed here: url, auth, timeout, interval, tls_verify, ca_file, type" in str(exc.value)


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.append("roles: *a8")
    with pytest.raises(ConfigError) as exc:
        parse_launch("\n".join(lines), "bomb.yaml")
    assert "bomb.yaml: the file expands to more than 200,000 values" in str(exc.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"\xff\xfe launch", "not UTF-8 text"),
        ("dir", "cannot read file"),
    ],
)
def test_unreadable_files_get_a_message(tmp_path, content, message):
    path = tmp_path / "launch.yaml"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_launch(path)
    assert str(exc.value).startswith(f"{path}: {message}")
    assert "hint: " in str(exc.value)


def test_thresholds_convert_into_the_criterion_unit():
    assert parse_threshold("< 500ms", "s").value == 0.5
    assert parse_threshold("> 1s", "ms").value == 1000
    assert parse_threshold("≥ 99.8%", "ratio").value == pytest.approx(0.998)
    assert parse_threshold("> 1000 req/min", "rpm").value == 1000
    assert parse_threshold("< 70m", "s").value == 4200
    assert parse_threshold("<= +10% of T-1h", "ms").relative_to == -3600
    assert parse_duration("1h30m") == 5400 and parse_duration("-24h") == -86400
    with pytest.raises(ValueError, match="accepted forms"):
        parse_threshold("Hourly", "s")


# ------------------------------------------------------------------ the real command


def _warroom() -> str:
    exe = shutil.which("warroom")
    assert exe, "the warroom command is not installed (pip install -e '.[test]')"
    return exe


def test_validate_passes_the_shipped_configs():
    files = sorted(str(p) for p in CONFIGS.glob("*.yaml"))
    assert {Path(f).name for f in files} >= {"demo.yaml", "reconciliation-platform.yaml", "cv-management-api.yaml"}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's warroom, not the installed one
    r = subprocess.run([_warroom(), "validate", *files], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": OK") == len(files)
    assert "378 Reconciliation Platform: 7 phases, 36 items, 7 criteria, 5 roles, 2 rollback steps" in r.stdout


def _validate(name: str) -> subprocess.CompletedProcess[str]:
    # this checkout's package through the installed command, whatever an editable install points at
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [_warroom(), "validate", str(BAD / f"{name}.yaml")], capture_output=True, text=True, env=env, timeout=120
    )


def test_validate_exits_2_without_traceback_on_every_bad_fixture():
    # As many at once as there are cores: the point is what each prints, not how many fit in a minute.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(zip(sorted(EXPECTED), pool.map(_validate, sorted(EXPECTED)), strict=True))
    for name, r in results.items():
        line, field, message, _hint = EXPECTED[name]
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
        assert f"{name}.yaml:{line}: " in r.stderr and field in r.stderr and message in r.stderr, (name, r.stderr)
        assert "    hint: " in r.stderr


# ------------------------------------------------------------------ the seed launches are complete


def _seed_checkboxes(seed: str) -> list[str]:
    """The text of every checkbox in a seed, without markdown emphasis."""
    out = []
    for line in seed.splitlines():
        m = re.match(r"^\s*- \[[ x]\] (.+)$", line)
        if m:
            out.append(m.group(1).replace("**", "").replace("`", "").strip())
    return out


def _seed_bullets(seed: str) -> list[str]:
    """Plain sub-bullets ('  - text') under a checkbox: the recon seed's item details."""
    return [m.group(1).replace("`", "").strip() for m in re.finditer(r"(?m)^  - (?!\[)(.+)$", seed)]


def _texts(launch: Launch) -> set[str]:
    texts = {i.text.lower() for _p, _s, i in launch.items}
    texts |= {s.name.lower() for p in launch.phases for s in p.sections}
    texts |= {d.lower() for r in launch.roles for d in r.duties}
    return texts


@pytest.fixture(scope="module")
def recon() -> Launch:
    return load_launch(CONFIGS / "reconciliation-platform.yaml")


@pytest.fixture(scope="module")
def cv() -> Launch:
    return load_launch(CONFIGS / "cv-management-api.yaml")


def test_recon_has_every_seed_checkbox_and_detail(recon):
    seed = (SEEDS / "reconciliation-platform.md").read_text()
    texts = _texts(recon)
    missing = [t for t in _seed_checkboxes(seed) if t.lower() not in texts]
    assert not missing
    details = {d.replace("`", "") for _p, _s, i in recon.items for d in i.details}
    runbook = {a for st in recon.rollback.runbook for a in st.actions}
    missing = [b for b in _seed_bullets(seed) if b not in details and b not in runbook]
    assert not missing
    assert len(recon.items) == len(_seed_checkboxes(seed)) == 36


def test_recon_go_no_go_table_triggers_and_rollback(recon):
    table = {c.name: c.threshold_text for c in recon.criteria}
    assert table["CFUR (crash-free user rate)"] == ">= 99.8%"
    assert table["API latency P95"] == "< 500ms"
    assert table["Error rate"] == "< 0.1%"
    assert table["Database CPU"] == "< 80%"
    assert table["Active backups"] == "Hourly"
    by_id = recon.criteria_by_id
    assert by_id["api-p95"].unit == "s" and by_id["api-p95"].go_threshold.value == 0.5
    assert "histogram_quantile(0.95" in by_id["api-p95"].query
    assert by_id["backup-age"].query.startswith("time() - ")
    triggers = {c.id: c.trigger.when for c in recon.criteria if c.trigger}
    assert triggers == {"cfur": "< 99.5%", "api-p95": "> 1s", "error-rate": "> 1%"}
    assert by_id["api-p95"].trigger_threshold.holds(1.2) and not by_id["api-p95"].trigger_threshold.holds(0.9)
    rb = recon.rollback
    assert rb.steps[0].run == ["kubectl", "rollout", "undo", "deployment/reconciliation-backend"]
    docker = rb.procedures["docker"]
    assert docker.steps[0].run == ["docker-compose", "down"]
    assert docker.steps[1].run == ["git", "checkout", "${PREVIOUS_STABLE_VERSION}"]
    assert [p.name for p in docker.params] == ["PREVIOUS_STABLE_VERSION"]
    assert docker.params[0].choices_command == ["git", "tag", "--list", "v*"]
    assert [s.name for s in rb.runbook] == [
        "Immediate actions",
        "Decision point",
        "Rollback execution",
        "Post-rollback",
    ]
    assert {r.title for r in recon.required_signoffs} == {"CPO", "CTO", "DevOps Lead", "Security Lead"}
    assert [(p.id, p.at) for p in recon.phases] == [
        ("pre-launch", -7 * 86400),
        ("t-24h", -86400),
        ("t-1h", -3600),
        ("t-0", 0),
        ("first-4h", 3600),
        ("first-24h", 4 * 3600),
        ("first-week", 86400),
    ]
    assert recon.launch.t0.tzinfo is not None
    metrics = {m.name: (m.target, m.check) for m in recon.success_metrics}
    assert metrics == {
        "CFUR": (">= 99.8%", "daily"),
        "P95 latency": ("< 500ms", "daily"),
        "Error rate": ("< 0.1%", "daily"),
        "Uptime": (">= 99.9%", "weekly"),
        "User satisfaction": (">= 4.5", "weekly"),
    }


def test_recon_critical_items_are_the_must_complete_ones(recon):
    for _p, s, i in recon.items:
        if "MUST COMPLETE" in s.name:
            assert i.critical == ("optional" not in i.text.lower()), i.id
    assert not any(i.critical for p, _s, i in recon.items if p.id in ("first-4h", "first-24h"))


def test_cv_has_every_seed_checkbox(cv):
    seed = (SEEDS / "cv-management-api.md").read_text()
    texts = _texts(cv)
    missing = [t for t in _seed_checkboxes(seed) if t.lower() not in texts]
    assert not missing
    # nested checkboxes and the readiness ticks are items; top-level plain checkboxes are role duties
    nested = re.findall(r"(?m)^  - \[[ x]\] ", seed)
    readiness = re.findall(r"(?m)^- \[x\] \*\*\w+\*\*: ", seed)
    plain = re.findall(r"(?m)^- \[ \] (?!\*\*)", seed)
    assert len(cv.items) == len(nested) + len(readiness) == 250
    assert sum(len(r.duties) for r in cv.roles) == len(plain) == 25


def test_cv_roles_sections_and_criteria(cv):
    assert {r.title: len(r.duties) for r in cv.roles} == {
        "Technical Lead": 5,
        "DevOps Engineer": 5,
        "Security Engineer": 5,
        "QA Engineer": 5,
        "Project Manager": 5,
    }
    assert all(r.signoff == "required" for r in cv.roles)
    sec = next(s for p in cv.phases for s in p.sections if s.name == "Server Provisioning")
    assert sec.group == "Pre-Launch Checklist: Infrastructure & Environment" and len(sec.items) == 5
    assert [p.id for p in cv.phases] == [
        "pre-launch",
        "t-2h",
        "t-0",
        "t-plus-1h",
        "first-24h",
        "first-week",
        "first-month",
    ]
    by_id = cv.criteria_by_id
    assert by_id["response-time"].go == "< 2s" and by_id["throughput"].go_threshold.value == 1000
    assert by_id["uptime"].go == "> 99.9%" and by_id["error-rate"].go == "< 0.1%" and by_id["cpu"].go == "< 80%"
    assert by_id["health"].source == "api-health" and cv.sources["api-health"].type == "http"
    assert {s.type for s in cv.sources.values()} == {"prometheus", "alertmanager", "http", "host"}
    for c in cv.criteria:  # no trigger may fire while its criterion is still GO
        if c.trigger_threshold is not None:
            assert not c.go_threshold.holds(c.trigger_threshold.value + 1e-9)
    assert cv.rollback.verify.criterion == "health" and cv.rollback.steps
    assert sum(i.critical for _p, _s, i in cv.items) > 30


def test_every_owner_in_shipped_configs_is_a_role():
    for path in CONFIGS.glob("*.yaml"):
        launch = load_launch(path)
        roles = set(launch.roles_by_id)
        assert all(i.owner in roles for _p, _s, i in launch.items), path


def test_rollback_alternatives_are_named_procedures_checked_with_file_and_line(tmp_path: Path):
    """Bare list, reserved or repeated id, unsafe or unchecked param, spliced value: each named with its line."""
    import yaml

    doc = yaml.safe_load(Path("configs/demo.yaml").read_text())
    doc["rollback"]["alternatives"] = [
        [{"name": "x", "run": ["true"]}],
        {"id": "primary", "steps": [{"name": "a", "run": ["echo", "--v=${V}"]}]},
        {
            "id": "b",
            "params": [{"name": "LD_PRELOAD", "pattern": ".*"}, {"name": "V"}],
            "steps": [{"name": "a", "run": ["echo", "${W}"]}],
        },
        {"id": "b", "steps": []},
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ConfigError) as e:
        load_launch(path)
    text = str(e.value)
    for want in (
        "rollback.alternatives[0]: an alternative is a named procedure now",
        "rollback.alternatives[1].id: 'primary' is the procedure in rollback.steps",
        "rollback.alternatives[1].steps[0].run[1]: '--v=${V}' puts a value inside a longer argument",
        "params[0].name: param 'LD_PRELOAD' would set an environment variable",
        "params[1]: param 'V' accepts anything",
        "rollback.alternatives[2].steps[0].run[1]: '${W}' names no param of this procedure",
        "rollback.alternatives[3].id: rollback procedure id 'b' is used twice",
        "rollback.alternatives[3].steps: procedure 'b' has no steps",
    ):
        assert want in text, text
    assert all(p.line for p in e.value.problems), text


@pytest.mark.parametrize(
    ("where", "key", "hint"),
    [
        ("criterion", "treshold", "did you mean go, warn or clear?"),
        ("criterion", "limit", "did you mean go, warn or clear?"),
        ("criterion", "stale_afer", "did you mean 'stale_after'?"),  # a plain typo still gets the real key
        ("criterion", "poll_every", "'interval:'"),
        ("trigger", "threshold", "a trigger's condition is 'when:'"),
        ("trigger", "duration", "'hold:'"),
    ],
)
def test_unknown_key_hints_know_what_the_schema_means(where: str, key: str, hint: str):
    trigger = f"trigger: {{when: '> 5', {key}: 1}}" if where == "trigger" else "trigger: {when: '> 5'}"
    extra = f", {key}: '< 1'" if where == "criterion" else ""
    text = (
        "version: 1\nlaunch: {id: x, name: X, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: c, title: C, members: [dana], commander: true}]\n"
        "phases: [{id: go, name: Go, at: -1d}]\n"
        "sources:\n  sim: {type: simulated, signals: {x: {base: 1}}}\n"
        f"criteria:\n  - {{id: x, name: X, source: sim, query: x, go: '< 5', {trigger}{extra}}}\n"
    )
    with pytest.raises(ConfigError) as e:
        parse_launch(text, "h.yaml")
    p = next(p for p in e.value.problems if p.field.endswith(key))
    assert p.message == f"unknown key '{key}'" and hint in p.hint, p.hint
