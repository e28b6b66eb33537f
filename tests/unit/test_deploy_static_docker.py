"""Static checks of the images: every tag pinned (compose and k8s), and ``deploy/Dockerfile``.

Every checker runs on the real files and on deliberately broken samples (see
``tests/unit/test_deploy_static.py``).
"""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy_files import (
    DOCKERFILE,
    RECOVERY_INIT,
    Doc,
    containers_of,
    image_problems,
    load_compose,
    load_k8s,
    pod_specs,
)

pytestmark = pytest.mark.unit


def all_images(compose: Doc, docs: list[Doc]) -> dict[str, str]:
    images = {f"compose/{n}": str(s.get("image", "")) for n, s in compose["services"].items()}
    for name, pod in pod_specs(docs):
        for c in containers_of(pod):
            images[f"k8s/{name}/{c['name']}"] = str(c.get("image", ""))
    return images


def dockerfile_problems(text: str) -> list[str]:
    """Pinned python:3.11 slim base; the final stage runs as a non-root user."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    if not froms:
        return ["no FROM"]
    problems = [p for image in froms for p in image_problems(image)]
    if not re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:\w+)?", froms[-1]):
        problems.append(f"base image {froms[-1]} is not an exact python:3.11.x-slim tag")
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    users = [ln.split()[1] for ln in lines[last_from:] if ln.upper().startswith("USER ")]
    if not users:
        problems.append("no USER: the image runs as root")
    elif users[-1].split(":")[0] in {"root", "0"}:
        problems.append(f"USER {users[-1]} is root")
    return problems


# -- the real files --------------------------------------------------------------------


def test_every_image_is_pinned() -> None:
    images = all_images(load_compose(), load_k8s())
    assert images
    problems = [f"{where}: {p}" for where, img in images.items() for p in image_problems(img)]
    assert problems == []


def test_dockerfile() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []
    assert "deploy/bin/mlbsts-recovery-init" in DOCKERFILE.read_text()
    assert "python -m bytewax.recovery" in RECOVERY_INIT.read_text()


# -- every checker can fail ------------------------------------------------------------


def test_image_checker_fails_on_unpinned_images() -> None:
    assert image_problems("postgres:16.10") == []
    assert image_problems("registry:5000/team/app:1.2.3") == []
    assert image_problems("redis@sha256:" + "0" * 64) == []
    assert image_problems("mlbsts:${TAG:-0.1.0}") == []
    bad_images = ("redis", "redis:latest", "registry:5000/app", "python:slim", "postgres:16")
    for bad in (*bad_images, "app:${TAG}", "minio/minio:RELEASE"):
        assert image_problems(bad), bad


def test_dockerfile_checker_fails_on_root_or_unpinned_base() -> None:
    assert dockerfile_problems("FROM python:3.11.14-slim-bookworm\nUSER 10001\n") == []
    assert dockerfile_problems("FROM python:3.11-slim\nUSER app\n")
    assert dockerfile_problems("FROM python:3.11.14-slim\nRUN true\n") == [
        "no USER: the image runs as root"
    ]
    assert dockerfile_problems("FROM python:3.11.14-slim\nUSER root\n") == ["USER root is root"]
    multi = "FROM python:3.11.14-slim AS build\nUSER 1000\nFROM python:3.11.14-slim\n"
    assert dockerfile_problems(multi) == ["no USER: the image runs as root"]
