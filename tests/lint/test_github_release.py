"""The example release workflow's guards, read as GitHub evaluates them: which jobs run after which results, on a
dry run and on a real one, so that the workflow behaves as the Jenkinsfile does (no rollback or approval on a dry
run; the cluster's release lock given back however a run ends early). And what its comments and docs/ci.md promise
about `concurrency`, which GitHub does not queue."""

from __future__ import annotations

import itertools
import re
from typing import Any

import yaml

from tests.lint import REPO

WORKFLOW = REPO / "examples" / "github" / "release.yml"
DOCS = REPO / "docs" / "ci.md"
RESULTS = ["success", "failure", "cancelled", "skipped"]


def jobs() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    found: dict[str, Any] = data["jobs"]
    return found


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A GitHub expression's value over `context`, for the operators and functions the workflow uses. `&&` and
    `||` give an operand's value as GitHub's do (and Python's `and`/`or`), so `cond && 'a' || ''` works too."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    token = re.compile(r"\s*('[^']*'|always\(\)|[A-Za-z_][\w.-]*|&&|\|\||==|!=|!|\(|\))")
    words: list[str] = []
    position = 0
    while position < len(text.rstrip()):
        match = token.match(text, position)
        assert match, f"cannot read the expression at {text[position:]!r}"
        word = match.group(1)
        position = match.end()
        if word in ("&&", "||", "!"):
            words.append({"&&": "and", "||": "or", "!": "not"}[word])
        elif word in ("==", "!=", "(", ")") or word.startswith("'"):
            words.append(word)
        elif word == "always()":
            words.append("True")
        elif word in ("true", "false"):
            words.append(str(word == "true"))
        else:
            assert word in context, f"the expression reads {word}, which the test does not set"
            words.append(repr(context[word]))
    # Our own translation of the workflow expression, evaluated without builtins.
    return eval(" ".join(words), {"__builtins__": {}})


def test_a_dry_run_never_rolls_back() -> None:
    """rollback acts on the live Service: after a dry run (whose verify-prod may fail on a release that was never
    switched) it would switch production back. The Jenkinsfile guards its rollback the same way."""
    condition = jobs()["rollback-on-failure"]["if"]
    for release, needs_rollback, dry_run in itertools.product(RESULTS, ["true", "false", ""], [False, True]):
        context = {
            "needs.release.result": release,
            "needs.release.outputs.needs-rollback": needs_rollback,
            "inputs.dry-run": dry_run,
        }
        expected = release != "success" and needs_rollback == "true" and not dry_run
        assert bool(evaluate(condition, context)) == expected, context


def test_a_dry_run_waits_for_no_reviewer() -> None:
    """As the Jenkinsfile skips its `input` on a dry run, the confirm job of a dry run has no environment, so its
    required reviewers are not asked; a real run waits for them."""
    environment = jobs()["confirm"]["environment"]
    assert evaluate(environment, {"inputs.dry-run": False}) == "production-approval"
    assert evaluate(environment, {"inputs.dry-run": True}) == ""


def test_the_release_lock_is_given_back_however_the_run_ends_before_release_is_done() -> None:
    """Rejected or cancelled at the review, or cancelled after confirm and before release ran its steps: no
    running step gives back the lock the stage job took, so the unlock job does (it gives back only a lock this
    run holds, so it is harmless when a failing step already did). Not after a dry run, which takes no lock, nor
    when stage did not succeed (its step gave the lock back), nor after a release that went through."""
    job = jobs()["unlock-on-rejection"]
    assert set(job["needs"]) == {"stage", "confirm", "release"}
    for stage, confirm, release, dry_run in itertools.product(RESULTS, RESULTS, RESULTS, [False, True]):
        if confirm != "success" and release != "skipped":
            continue  # release needs confirm: it is skipped unless confirm succeeded
        context = {
            "needs.stage.result": stage,
            "needs.confirm.result": confirm,
            "needs.release.result": release,
            "inputs.dry-run": dry_run,
        }
        expected = stage == "success" and release != "success" and not dry_run
        assert bool(evaluate(job["if"], context)) == expected, context


def comment_above(text: str, key: str) -> str:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    block: list[str] = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        block.insert(0, line.lstrip("# "))
    return " ".join(block)


def test_concurrency_is_described_as_github_runs_it() -> None:
    """GitHub keeps one running and one pending run per concurrency group: a third dispatch cancels the pending
    second, it does not queue behind it. The workflow and docs/ci.md must say so, and what to do instead."""
    comment = comment_above(WORKFLOW.read_text(), "concurrency")
    docs = DOCS.read_text()
    [paragraph] = [p for p in docs.split("\n\n") if "`concurrency" in p and "cancel-in-progress" in p]
    for text in (comment, " ".join(paragraph.split())):
        assert not re.search(r"\bqueue[sd]?\b(?! \w+ not)", text.replace("not queue", "")), text
        assert "pending" in text and "cancel" in text, text
        assert "gh run watch" in text, text  # what to do instead: dispatch the next one when this one is done
