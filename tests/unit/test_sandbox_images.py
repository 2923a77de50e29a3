"""Which images a sandbox node cannot pull, and what the kubelet would say about them."""

from __future__ import annotations

import pytest

from pipeline_steps_sandbox.images import pull_failure


@pytest.mark.parametrize(
    "image",
    [
        "web:1",
        "registry.local/web:v2",
        "localhost:5000/team/web:1.4",
        "ghcr.io/org/app@sha256:" + "a" * 64,
        "docker.io/library/nginx",
    ],
)
def test_an_image_from_any_real_looking_registry_counts_as_pulled(image: str) -> None:
    assert pull_failure(image) is None


@pytest.mark.parametrize("image", ["registry.invalid/web:2", "mirror.example.invalid:5000/web:2"])
def test_an_image_from_an_invalid_host_fails_to_pull_as_a_missing_host_does(image: str) -> None:
    failure = pull_failure(image)

    assert failure is not None
    assert failure.reason == "ErrImagePull"
    host = image.split("/", 1)[0].split(":", 1)[0]
    assert f'failed to pull and unpack image "{image}"' in failure.message
    assert f"lookup {host}: no such host" in failure.message


@pytest.mark.parametrize("image", ["Web:2", "web:", "web::2", "", "registry.local/web:v2 ", "web@sha256:123"])
def test_a_reference_that_does_not_parse_is_an_invalid_image_name(image: str) -> None:
    failure = pull_failure(image)

    assert failure is not None
    assert failure.reason == "InvalidImageName"
    assert failure.message.endswith("invalid reference format")
