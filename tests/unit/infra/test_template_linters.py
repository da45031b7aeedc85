"""cfn-lint (with the serverless rules) and checkov on every committed template: 0 unsuppressed findings,
and every suppression in a template silences a finding that would otherwise be reported.

One linter invocation per template and per question (a few seconds each). checkov lives in
its own virtualenv (``.venv-tools``, made by ``make setup``): it pins a boto3 far behind
the Lambda runtime's.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cloudformation.render import TEMPLATE_DIR, dump
from infra.policy_checks import load

ROOT = Path(__file__).resolve().parents[3]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
TEMPLATES = sorted(p.name for p in TEMPLATE_DIR.glob("*.yaml"))


def _suppressed(template: dict[str, Any], tool: str) -> set[tuple[str, str]]:
    pairs = set()
    for name, body in template["Resources"].items():
        metadata = body.get("Metadata") or {}
        if tool == "checkov":
            pairs |= {(s["id"], name) for s in (metadata.get("checkov") or {}).get("skip", [])}
        else:
            pairs |= {
                (r, name) for r in ((metadata.get("cfn-lint") or {}).get("config") or {}).get("ignore_checks", [])
            }
    return pairs


def _cfn_lint(path: Path) -> set[tuple[str, str]]:
    result = subprocess.run(
        [str(CFN_LINT), str(path), "--format", "json", "-a", "cfn_lint_serverless.rules"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr  # 1 would be cfn-lint's own failure
    return {(m["Rule"]["Id"], m["Location"]["Path"][1]) for m in json.loads(result.stdout or "[]")}


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_and_the_serverless_rules_report_nothing(name):
    assert _cfn_lint(TEMPLATE_DIR / name) == set()


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_cfn_lint_suppression_silences_a_real_finding(name, tmp_path):
    # GIVEN the template with its cfn-lint suppressions taken out
    template = load(TEMPLATE_DIR / name)
    stripped = copy.deepcopy(template)
    for body in stripped["Resources"].values():
        (body.get("Metadata") or {}).pop("cfn-lint", None)
    path = tmp_path / name
    path.write_text(dump(stripped))
    # WHEN cfn-lint runs on it THEN it reports exactly what the suppressions silence
    assert _cfn_lint(path) == _suppressed(template, "cfn-lint")


@pytest.mark.parametrize("name", TEMPLATES)
def test_checkov_fails_nothing_and_every_skip_is_used_and_explained(name):
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup` (checkov has a virtualenv of its own)")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(TEMPLATE_DIR / name),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and report["summary"]["parsing_errors"] == 0
    skipped = {(c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["skipped_checks"]}
    assert skipped == _suppressed(load(TEMPLATE_DIR / name), "checkov")
    assert all(len(c["check_result"]["suppress_comment"]) >= 20 for c in report["results"]["skipped_checks"])


def test_the_templates_are_plain_yaml_with_no_tags_or_aliases():
    for name in TEMPLATES:
        text = (TEMPLATE_DIR / name).read_text()
        assert "&id" not in text and "*id" not in text
        yaml.safe_load(text)  # long-form intrinsics only: any YAML reader can read it
