"""The XMPP password given in AUTOSYNC_XMPP_PASSWORD reaches no child process (git, the
ssh it runs, hooks) and no log line, even with -v and slixmpp's stanza logging."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.waiting import Changed

PASSWORD = "env-Secret-Zu81p"


async def test_password_reaches_no_child_and_no_log(prosody, remote: Remote,
                                                    tmp_path: Path) -> None:
    jid = prosody.register("alice", PASSWORD)
    folder = remote.clone("a")
    dump = tmp_path / "ssh-environment.txt"
    ssh = tmp_path / "fake-ssh.sh"
    ssh.write_text(f"#!/bin/sh\nenv > '{dump}'\nexit 255\n")
    ssh.chmod(0o755)
    git(folder, "config", "core.sshCommand", str(ssh))  # the user's own ssh command
    git(folder, "remote", "set-url", "origin", "ssh://git@127.0.0.1:9/shared.git")
    config = tmp_path / "config.toml"
    config.write_text(f'[[folder]]\npath = "{folder}"\ncommit_delay = 0.2\n'
                      f'poll_interval = 3600\n\n[xmpp]\njid = "{jid}"\nhost = "127.0.0.1"\n'
                      f'port = {prosody.port}\nca_file = "{prosody.ca_file}"\n')
    log = tmp_path / "headless.log"
    env = {**os.environ, "AUTOSYNC_XMPP_PASSWORD": PASSWORD}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "autosync_gui", "-v", "run",
                                 "--headless", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    try:
        waiting = Changed()
        await waiting.until(lambda: dump.exists() and "xmpp: connected" in log.read_text()
                            and "xmpp-sasl" in log.read_text(), timeout=30,
                            what="git ran ssh and XMPP logged in",
                            context=lambda: log.read_text()[-2000:])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    child_env = dump.read_text()
    assert "GIT_SSH_COMMAND" in child_env or "GIT_DIR" in child_env or "PATH" in child_env
    assert PASSWORD not in child_env
    assert "AUTOSYNC_XMPP_PASSWORD" not in child_env
    text = log.read_text()
    assert "xmpp-sasl" in text, "slixmpp's stanza log is on (-v)"
    assert PASSWORD not in text
