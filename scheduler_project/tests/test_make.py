"""The README's two commands: what `make run` checks before serving, and how `make test` gets
the system packages its tests need (``.ci/system-packages``, shared with ``.ci/run``)."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from schedule.models import Task
from scheduler_project.tests.subprocesses import skip_unless_available

SCRIPT = Path(settings.BASE_DIR) / ".ci" / "system-packages"


@pytest.fixture
def bare_path() -> Iterator[Path]:
    """A PATH directory readable by everyone with none of the packages' programs in it."""
    directory = Path(tempfile.mkdtemp(prefix="bare-path-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def run_script(profile: str, path: Path, *, as_other_user: bool = False, **env: str):
    command = ["/bin/bash", str(SCRIPT), profile]
    if as_other_user and os.geteuid() == 0:
        # As root the script would install; the case under test is a user who may not. That
        # user may not read a checkout only its owner can (a clone into a home or mktemp -d):
        # the script runs from a copy in the readable PATH directory.
        script = path / "system-packages"
        shutil.copyfile(SCRIPT, script)
        script.chmod(0o755)
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        command = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        command += ["/bin/bash", str(script), profile]
    return subprocess.run(
        command,
        env={"PATH": str(path), "HOME": "/", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_machine_without_apt_is_told_which_programs_to_install(bare_path):
    result = run_script("test", bare_path)

    assert result.returncode == 1
    assert "Missing system packages: gettext chromium redis-server" in result.stderr
    assert "not a Debian-like system" in result.stderr
    assert "SYSTEM_PACKAGES=skip make test" in result.stderr


def test_a_user_who_may_not_install_is_told_the_apt_command(bare_path):
    (bare_path / "apt-get").symlink_to(shutil.which("apt-get") or "/usr/bin/apt-get")
    (bare_path / "id").symlink_to(shutil.which("id") or "/usr/bin/id")

    result = run_script("run", bare_path, as_other_user=True)

    assert result.returncode == 1
    assert "Install them (this needs root):  sudo apt-get install gettext" in result.stderr


def test_skipping_the_system_packages_runs_on_and_says_what_is_missing(bare_path):
    result = run_script("test", bare_path, SYSTEM_PACKAGES="skip")

    assert result.returncode == 0
    assert "Missing system packages: gettext chromium redis-server" in result.stderr


def test_a_machine_with_every_package_installs_nothing():
    missing = [p for p in ("msgfmt", "chromium", "redis-server") if not shutil.which(p)]
    if missing:
        # `make test` installs them before the suite runs; plain pytest may not have them.
        skip_unless_available(f"not installed here: {', '.join(missing)}")
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT), "test"], capture_output=True, text=True, timeout=60
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_run_checks_exposure_before_serving():
    recipe = subprocess.run(
        ["make", "-n", "run", "HOST=0.0.0.0", "PORT=8123"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()

    check = recipe.index(".venv/bin/python manage.py check_demo_exposure --host 0.0.0.0")
    serve = next(i for i, line in enumerate(recipe) if "daphne -b 0.0.0.0 -p 8123" in line)
    assert check < serve


def test_make_lint_refuses_a_model_change_without_its_migration():
    recipe = subprocess.run(
        ["make", "-n", "lint"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()

    assert ".venv/bin/python manage.py makemigrations --check --dry-run" in recipe


@pytest.mark.django_db
def test_every_model_change_has_its_migration(monkeypatch):
    output = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=output)
    assert output.getvalue() == "No changes detected\n"

    # What the check refuses: a model that differs from its migrations.
    monkeypatch.setattr(Task._meta.get_field("name"), "max_length", 300)
    with pytest.raises(SystemExit) as refused:
        call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
    assert refused.value.code == 1
