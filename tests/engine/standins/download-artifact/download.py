"""Stand-in for actions/download-artifact@v4 under act: one artifact of this run from act's artifact server (API v4).

act copies an action's folder alone into the job, so this script carries its own few lines of the API
(upload-artifact's script has the same); it needs only Python's standard library.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, NoReturn

SERVICE = "twirp/github.actions.results.api.v1.ArtifactService"


def fail(message: str) -> NoReturn:
    print(f"::error title=download-artifact (stand-in)::{message}", flush=True)
    sys.exit(1)


def backend_ids() -> dict[str, str]:
    """The run and job ids the artifact API wants, from the runtime token's `scp` claim, as the real client reads
    them."""
    token = os.environ.get("ACTIONS_RUNTIME_TOKEN") or ""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        fail("ACTIONS_RUNTIME_TOKEN is not a JWT: is act's artifact server on (--artifact-server-path)?")
    for scope in str(claims.get("scp", "")).split():
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "Actions.Results":
            return {"workflowRunBackendId": parts[1], "workflowJobRunBackendId": parts[2]}
    fail("the runtime token has no Actions.Results scope")


def call(method: str, body: dict[str, Any]) -> dict[str, Any]:
    base = os.environ["ACTIONS_RESULTS_URL"].rstrip("/")
    request = urllib.request.Request(
        f"{base}/{SERVICE}/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['ACTIONS_RUNTIME_TOKEN']}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def main() -> None:
    name = os.environ["ARTIFACT_NAME"]
    target = Path(os.environ.get("ARTIFACT_PATH") or os.environ["GITHUB_WORKSPACE"]).absolute()
    ids = backend_ids()
    listed = call("ListArtifacts", {**ids, "nameFilter": name}).get("artifacts") or []
    if not listed:
        fail(f"Unable to download artifact(s): Artifact not found for name: {name}")
    signed = call("GetSignedArtifactURL", {**ids, "name": name})["signedUrl"]
    with urllib.request.urlopen(signed, timeout=30) as response:
        data = response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            destination = (target / member).resolve()
            if not destination.is_relative_to(target.resolve()):
                fail(f"the artifact's entry {member} would land outside {target}")
        archive.extractall(target)
        names = archive.namelist()
    print(f"downloaded {name} into {target}: {len(names)} files (stand-in for actions/download-artifact)")
    for member in names:
        print(f"  {member}")
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as outputs:
        outputs.write(f"download-path={target}\n")


if __name__ == "__main__":
    main()
