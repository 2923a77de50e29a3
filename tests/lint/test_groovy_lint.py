"""npm-groovy-lint (CodeNarc, with the recommended-jenkinsfile rules and .groovylintrc.json) over the
Jenkinsfile, the example Jenkinsfile and the shared library: no errors, parse errors included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.lint import REPO, require_tool

SOURCES = sorted(
    [REPO / "Jenkinsfile", REPO / "examples" / "jenkins" / "Jenkinsfile", *(REPO / "jenkins" / "vars").glob("*.groovy")]
)


def lint(paths: list[Path], cwd: Path) -> dict[str, list[dict[str, object]]]:
    """{file: findings} from npm-groovy-lint's JSON report. --noserver: no CodeNarc server outlives the test."""
    tool = require_tool("npm-groovy-lint")
    completed = subprocess.run(
        [tool, "--noserver", "--output", "json", "--failon", "none", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"npm-groovy-lint failed to run:\n{completed.stdout}\n{completed.stderr}"
    # Progress lines may come before the report; the report is the one JSON object on its own line.
    report = json.loads(next(line for line in completed.stdout.splitlines() if line.startswith("{")))
    return {name: data.get("errors", []) for name, data in report["files"].items()}


def test_jenkinsfiles_and_shared_library_have_no_lint_errors() -> None:
    assert len(SOURCES) >= 5
    findings = lint(SOURCES, REPO)
    assert {Path(name).resolve() for name in findings} == {path.resolve() for path in SOURCES}
    errors = [
        f"{Path(name).relative_to(REPO)}:{item.get('line')}: {item.get('rule')}: {item.get('msg')}"
        for name, items in findings.items()
        for item in items
        if item.get("severity") == "error"
    ]
    assert not errors, "\n".join(errors)


def test_the_linter_reports_a_broken_jenkinsfile(tmp_path: Path) -> None:
    """The check above can fail: a Jenkinsfile that does not parse is an error."""
    (tmp_path / ".groovylintrc.json").write_text((REPO / ".groovylintrc.json").read_text())
    broken = tmp_path / "Jenkinsfile"
    broken.write_text((REPO / "Jenkinsfile").read_text().replace("stage('Deploy') {", "stage('Deploy') {{", 1))
    findings = lint([broken], tmp_path)
    assert any(item.get("severity") == "error" for items in findings.values() for item in items), findings
