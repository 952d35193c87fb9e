"""scripts/install-system-deps.sh never kills or stops a process: while it installs, a
policy-rc.d refuses every service start, and afterwards only the units of packages it installed
are disabled for the next boot. Run for real with stand-ins for apt-get and systemctl."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.deploy.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install-system-deps.sh"


def test_nothing_is_killed_or_stopped() -> None:
    code = "\n".join(
        line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    # No command whose name holds "kill" (kill itself and every kill-by-name tool), no pgrep.
    assert not re.search(r"\b\w*kill\w*\b|\bpgrep\b", code)
    assert not re.search(r"systemctl\s+(\S+\s+)*stop\b|\bservice\s+\S+\s+stop\b", code)
    assert "--now" not in code


def staged_script(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """The script with every system path under tmp_path, and stand-ins that log their calls."""
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "run" / "systemd" / "system").mkdir(parents=True)
    calls = tmp_path / "calls"
    text = SCRIPT.read_text()
    for path in ("/usr/bin/chromium", "/usr/bin/prometheus", "/usr/lib/postgresql", "/run/systemd"):
        text = text.replace(path, f"{root}{path}")
    text = text.replace("policy=/usr/sbin/policy-rc.d", f"policy={root}/usr/sbin/policy-rc.d")
    script = tmp_path / "install.sh"
    script.write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    policy = root / "usr" / "sbin" / "policy-rc.d"
    stand_in = (
        "#!/bin/sh\n"
        f'echo "$(basename "$0") $* policy=$(test -x {shlex.quote(str(policy))} '
        f'&& {shlex.quote(str(policy))} start; echo $?)" >> {shlex.quote(str(calls))}\n'
    )
    # systemctl knows the units the Debian packages ship (not chromium's or git's: none).
    units = (
        'case "$*" in "cat prometheus.service"|"cat postgresql.service") exit 0;; '
        '"cat "*) exit 1;; esac\n'
    )
    stand_ins = {"apt-get": stand_in, "systemctl": stand_in + units, "id": "#!/bin/sh\necho 0\n"}
    for name, text in stand_ins.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    # Only these tools, so an installed prometheus on this machine's PATH is not found.
    for tool_name in ("ls", "tee", "chmod", "rm", "sh", "basename", "test"):
        (bin_dir / tool_name).symlink_to(shutil.which(tool_name))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return script, env, calls


def test_services_cannot_start_during_the_install_and_are_disabled_after(tmp_path: Path) -> None:
    script, env, calls = staged_script(tmp_path)
    done = subprocess.run(
        [shutil.which("bash"), str(script)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    install = next(line for line in lines if line.startswith("apt-get install"))
    packages = install.split(" policy=")[0].split("--no-install-recommends ")[1].split()
    assert {"git", "chromium", "prometheus", "postgresql"} <= set(packages)
    assert install.endswith("policy=101"), install  # every start refused while installing
    assert [line.split(" policy=")[0] for line in lines if "systemctl disable" in line] == [
        "systemctl disable prometheus.service",
        "systemctl disable postgresql.service",
    ]
    policy = tmp_path / "root" / "usr" / "sbin" / "policy-rc.d"
    assert not policy.exists()  # removed again


def test_an_existing_policy_is_kept(tmp_path: Path) -> None:
    script, env, _ = staged_script(tmp_path)
    policy = tmp_path / "root" / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o755)
    done = subprocess.run(
        [shutil.which("bash"), str(script)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    assert "keeping the existing" in done.stdout
