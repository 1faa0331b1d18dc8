"""A real sshd on 127.0.0.1 standing for a labgrid exporter's host: its own config, host key and authorized key
in a temp folder, on a free port, with a folder of stand-in programs first on the PATH of its sessions. ssh
reads ~/.ssh/config from the user's home, not $HOME, so clients reach it through an `ssh` wrapper (first on
the test's PATH) that adds `-F` with this host's client config; labgrid runs `ssh` by name and picks it up."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hil.targets.qemu import free_tcp_port
from tests.support.labgrid_lab import stop_process

SSHD = "/usr/sbin/sshd"
SSH_MISSING = not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen"))
SSH_SKIP_REASON = "openssh-server is not installed (tools/setup.sh --for-tests)"


@dataclass(frozen=True)
class SshHost:
    port: int
    remote_bin: Path  # first on the PATH of every session on this host
    client_bin: Path  # holds the `ssh` wrapper: put it first on the PATH of the processes that connect


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)


@contextmanager
def ssh_host(workdir: Path) -> Iterator[SshHost]:
    """Yields the host once its sshd accepts a login with the client key."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    remote_bin, client_bin = workdir / "remote-bin", workdir / "client-bin"
    remote_bin.mkdir()
    client_bin.mkdir()
    _keygen(workdir / "host_key")
    _keygen(workdir / "client_key")
    shutil.copy(workdir / "client_key.pub", workdir / "authorized_keys")
    (workdir / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\nPidFile {workdir / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"SetEnv PATH={remote_bin}:/usr/local/bin:/usr/bin:/bin\n"
    )
    (workdir / "ssh_config").write_text(
        f"Host 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n  IdentityFile {workdir / 'client_key'}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {workdir / 'known_hosts'}\n  BatchMode yes\n"
    )
    # labgrid asks for StrictHostKeyChecking=yes, so the host key is known beforehand.
    host_key = (workdir / "host_key.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    wrapper = client_bin / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {workdir / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    with open(workdir / "sshd.log", "wb") as log:
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(workdir / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [str(wrapper), "127.0.0.1", "true"], capture_output=True, text=True, timeout=30, check=False
            )
            if probe.returncode == 0:
                break
            if sshd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd on 127.0.0.1:{port} did not accept the client key: {probe.stderr.strip()} "
                    f"{(workdir / 'sshd.log').read_text()[-1500:]}"
                )
            time.sleep(0.2)
        yield SshHost(port, remote_bin, client_bin)
    finally:
        stop_process(sshd)
