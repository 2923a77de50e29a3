"""Jenkins' own Pipeline interpreter, groovy-cps, running our Jenkinsfiles and shared library: the Python side.

The JVM side lives in tests/jenkins/harness/: the jars (groovy-cps 1.31, the interpreter of Jenkins' workflow-cps
plugin; groovy-all 2.4.21, the Groovy Jenkins runs; guava 11.0.1) come from Maven Central through `mvn` and are
cached outside the repository, in a folder named by their versions, so a fresh machine fetches them once. One
JVM serves a whole test session: each scenario (one or more builds of one or more jobs) is a JSON line in, one
JSON line out. It is a harness on Jenkins' interpreter, not a Jenkins server: the declarative directives and
the steps are stubs that follow Jenkins' documented behaviour (each says which in a comment), while the
Groovy of the files runs as Jenkins runs it, CPS transformation and serialisation checks included.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness"
#: The versions of the pom beside the harness; the cache folder is named by them.
VERSIONS = {"groovy-cps": "1.31", "groovy-all": "2.4.21", "guava": "11.0.1"}
INSTALL_HINT = "needs java (17+) and mvn on PATH, and Maven Central reachable once to fetch the jars"

Build = dict[str, Any]  #: what one build did: result, stages, steps, sh runs, inputs, log... (see Build.summary)


def cache_root() -> Path:
    return Path(os.environ.get("PIPELINE_STEPS_CACHE") or Path.home() / ".cache" / "pipeline-steps")


def jar_dir() -> Path:
    """The interpreter's jars, fetched on the first call: `mvn dependency:copy-dependencies` of the harness's pom
    into a temporary folder, renamed into place when complete, so an interrupted fetch is simply redone."""
    key = "-".join(f"{name}-{version}" for name, version in VERSIONS.items())
    target = cache_root() / "jenkins-cps" / key
    if (target / ".complete").exists():
        return target
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed: the Jenkins harness {INSTALL_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.partial.", dir=target.parent))
    completed = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(HARNESS / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DexcludeTransitive=true"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    jars = sorted(p.name for p in staging.glob("*.jar"))
    expected = sorted(f"{name}-{version}.jar" for name, version in VERSIONS.items())
    if completed.returncode != 0 or jars != expected:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"fetching the harness jars failed ({INSTALL_HINT}):\n{completed.stdout}{completed.stderr}")
    (staging / ".complete").write_text("\n".join(jars) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


class HarnessError(Exception):
    """The harness itself broke (not a build of the scenario): its message carries the JVM's stack trace."""


@dataclasses.dataclass
class Jenkins:
    """One JVM running scenarios one after another."""

    process: subprocess.Popen[str]

    @classmethod
    def start(cls) -> Jenkins:
        command = ["java", "-Xss4m", f"-Dharness.dir={HARNESS}", "-cp", f"{jar_dir()}/*", "groovy.ui.GroovyMain",
                   str(HARNESS / "main.groovy")]  # fmt: skip
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, encoding="utf-8"
        )
        jenkins = cls(process)
        ready = jenkins._read()
        if not ready.get("ready"):
            raise HarnessError(f"the harness JVM did not start: {ready}")
        return jenkins

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise HarnessError(f"the harness JVM ended (exit {self.process.poll()}); its stderr is in the test output")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _write(self, data: dict[str, Any]) -> None:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(data) + "\n")
        stdin.flush()

    def run(self, scenario: dict[str, Any], on_event: Callable[[dict[str, Any]], None] | None = None) -> list[Build]:
        """Runs the scenario's builds to the end; `on_event` sees each event (e.g. before-sh) before it goes on."""
        self._write(scenario)
        while True:
            answer = self._read()
            if "event" in answer:
                if on_event is not None:
                    on_event(answer)
                self._write({"continue": True})
                continue
            if "harnessError" in answer:
                raise HarnessError(f"{answer['harnessError']}\n{answer.get('trace', '')}")
            builds: list[Build] = answer["builds"]
            return builds

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- reading what a build did --------------------------------------------------------------------------------


def stage_status(build: Build) -> dict[str, str]:
    """Stage name -> SUCCESS, FAILURE, ABORTED, NOT_BUILT, UNSTABLE or SKIPPED_FOR_{FAILURE,CONDITIONAL,RESTART}."""
    return {stage["name"]: stage["status"] for stage in build["stages"]}


def commands(build: Build) -> list[list[str]]:
    """The argv of every pipeline-steps run, read from the stand-in CLI's record or the real CLI's trace."""
    return [run["argv"] for run in build.get("cli", [])]


def sh_runs(build: Build, word: str | None = None) -> Iterator[dict[str, Any]]:
    for run in build["sh"]:
        if word is None or word in run["script"]:
            yield run
