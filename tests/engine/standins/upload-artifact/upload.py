"""Stand-in for actions/upload-artifact@v4 under act: the files, zipped, to act's artifact server (API v4).

act copies an action's folder alone into the job, so this script carries its own few lines of the API
(download-artifact's script has the same); it needs only Python's standard library.
"""

from __future__ import annotations

import base64
import hashlib
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
    print(f"::error title=upload-artifact (stand-in)::{message}", flush=True)
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


def put(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass


def is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def files_under(root: Path, include_hidden: bool) -> list[Path]:
    """What @actions/glob yields for a literal path: the file, or every file below the folder, skipping any item
    whose own name starts with `.` (the path itself included) unless hidden files are wanted."""
    if not include_hidden and is_hidden(root):
        return []
    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        if not include_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(folder) / name for name in names if include_hidden or not name.startswith("."))
    return sorted(found)


def main() -> None:
    name = os.environ["ARTIFACT_NAME"]
    lines = [line.strip() for line in os.environ["ARTIFACT_PATHS"].splitlines()]
    paths = [Path(line).absolute() for line in lines if line and not line.startswith("#")]
    if not paths:
        fail("path names no file or folder")
    if any(ch in str(p) for p in paths for ch in "*?[") or any(line.startswith("!") for line in lines):
        fail("the stand-in takes literal paths only (no wildcards or ! exclusions)")
    include_hidden = os.environ.get("ARTIFACT_INCLUDE_HIDDEN", "false") == "true"
    existing = [p for p in paths if p.exists()]
    files = sorted({f for p in existing for f in files_under(p, include_hidden)})
    if not files:
        message = f"No files were found with the provided path: {' '.join(lines)}. No artifacts will be uploaded."
        mode = os.environ.get("ARTIFACT_IF_NO_FILES_FOUND", "warn")
        if mode == "error":
            fail(message)
        if mode == "warn":
            print(f"::warning title=upload-artifact (stand-in)::{message}", flush=True)
        return
    # The zip's root, the real action's rule: the common parent of every path given (found or not), or the one
    # folder given, or a single file's folder.
    if len(paths) > 1:
        root = Path(os.path.commonpath(paths))
    elif paths[0].is_dir():
        root = paths[0]
    else:
        root = paths[0].parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
    data = buffer.getvalue()

    ids = backend_ids()
    if os.environ.get("ARTIFACT_OVERWRITE", "false") == "true":
        call("DeleteArtifact", {**ids, "name": name})
    created = call("CreateArtifact", {**ids, "name": name, "version": 4})
    if not created.get("ok"):
        fail(f"CreateArtifact refused {name}: {created}")
    put(created["signedUploadUrl"] + "&comp=block", data)
    put(created["signedUploadUrl"] + "&comp=blocklist", b"")
    digest = hashlib.sha256(data).hexdigest()
    done = call("FinalizeArtifact", {**ids, "name": name, "size": str(len(data)), "hash": f"sha256:{digest}"})
    if not done.get("ok"):
        fail(f"FinalizeArtifact refused {name}: {done}")
    print(f"uploaded {len(files)} files as {name} ({len(data)} bytes, stand-in for actions/upload-artifact)")
    for file in files:
        print(f"  {file.relative_to(root).as_posix()}")
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as outputs:
        outputs.write(f"artifact-id={done.get('artifactId', '')}\nartifact-digest={digest}\n")


if __name__ == "__main__":
    main()
