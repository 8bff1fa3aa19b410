"""The CI step's reading of pip-audit's report (.ci/pip_audit_report.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def report(
    tmp_path: Path, deps: list[dict[str, Any]], rc: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"dependencies": deps, "fixes": []}))
    return subprocess.run(
        [sys.executable, str(ROOT / ".ci/pip_audit_report.py"), str(path), str(rc)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )


OK = {"name": "django", "version": "5.2.19", "vulns": []}
VULNERABLE = {
    "name": "requests",
    "version": "2.0.0",
    "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["2.32.0"], "aliases": [], "description": ""}],
}
SKIPPED = {"name": "rules", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def test_it_passes_when_every_package_is_audited_and_clean(tmp_path: Path) -> None:
    r = report(tmp_path, [OK, OK])
    assert r.returncode == 0 and "2 audited, 0 not audited, 0 with known" in r.stdout


def test_it_fails_on_a_known_vulnerability_and_names_the_fix(tmp_path: Path) -> None:
    r = report(tmp_path, [OK, VULNERABLE, SKIPPED], rc=1)
    assert r.returncode == 1
    assert "requests 2.0.0: PYSEC-0000-1 (fixed in: 2.32.0)" in r.stdout


def test_nothing_audited_is_said_loudly_and_fails_when_strict(tmp_path: Path) -> None:
    r = report(tmp_path, [SKIPPED, SKIPPED])
    assert r.returncode == 0 and "nothing was actually audited" in r.stdout
    assert report(tmp_path, [SKIPPED], PIP_AUDIT_STRICT="true").returncode == 1


def test_a_missing_report_or_a_crash_fails(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, str(ROOT / ".ci/pip_audit_report.py"), str(tmp_path / "none.json"), "2"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no report" in missing.stderr
    assert report(tmp_path, [OK], rc=2).returncode == 1
