"""Two Syncthing devices sharing one folder on this machine, for the propagation benchmark:
loopback only (listen and connect on 127.0.0.1), no global or local discovery, no relays,
no NAT traversal, no usage reporting, crash reporting or upgrades; each device's GUI/REST
API on its own 127.0.0.1 port (used only to see that the devices are connected and the
folder is idle). Syncthing's own defaults otherwise, except that it does not lower its
own CPU priority (setLowPriority false): autosync runs at normal priority too.

    pair = SyncthingPair(base, watcher_delay=10).start()   # fsWatcherDelayS
    ... write in pair.a, read in pair.b ...
    pair.stop()
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

FOLDER_ID = "bench"


def syncthing_binary() -> str | None:
    return shutil.which("syncthing")


def syncthing_version() -> str:
    binary = syncthing_binary()
    if binary is None:
        return "absent"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                         check=False).stdout
    match = re.search(r"v(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else out.strip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Device:
    name: str
    home: Path
    folder: Path
    listen: int = field(default_factory=_free_port)
    gui: int = field(default_factory=_free_port)
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    device_id: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def rest(self, path: str) -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{self.gui}{path}",
                                         headers={"X-API-Key": self.api_key})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())


class SyncthingPair:
    """Devices a and b, folder `FOLDER_ID` shared between base/st-a and base/st-b."""

    def __init__(self, base: Path, env: dict[str, str], *, watcher_delay: float) -> None:
        self.base = base
        self.env = {**env, "STNODEFAULTFOLDER": "1", "STNOUPGRADE": "1"}
        self.watcher_delay = watcher_delay
        tag = f"{watcher_delay:g}".replace(".", "_")
        self.devices = [_Device(n, base / f"st-{tag}-{n}-home", base / f"st-{tag}-{n}")
                        for n in ("a", "b")]

    @property
    def a(self) -> Path:
        return self.devices[0].folder

    @property
    def b(self) -> Path:
        return self.devices[1].folder

    def start(self, timeout: float = 60.0) -> SyncthingPair:
        binary = syncthing_binary()
        assert binary is not None, "no syncthing binary"
        for device in self.devices:
            device.folder.mkdir(parents=True)
            (device.folder / ".stfolder").mkdir()  # the folder marker Syncthing expects
            out = subprocess.run([binary, "generate", f"--home={device.home}",
                                  "--no-default-folder"], env=self.env, capture_output=True,
                                 text=True, check=True)
            match = re.search(r"Device ID: (\S+)", out.stdout + out.stderr)
            assert match, f"no device ID from syncthing generate: {out.stdout}{out.stderr}"
            device.device_id = match.group(1)
        for device in self.devices:
            (device.home / "config.xml").write_text(self._config(device))
        for device in self.devices:
            log = open(device.home / "syncthing.log", "wb")
            device.proc = subprocess.Popen(
                [binary, "serve", f"--home={device.home}", "--no-browser", "--no-restart",
                 "--no-upgrade"], env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
            log.close()
        self._wait_connected(timeout)
        return self

    def _config(self, me: _Device) -> str:
        peers = "\n".join(
            f'  <device id="{d.device_id}" name="{d.name}" compression="metadata" '
            f'introducer="false"><address>tcp://127.0.0.1:{d.listen}</address></device>'
            for d in self.devices)
        shared = "\n".join(f'    <device id="{d.device_id}"></device>' for d in self.devices)
        return f"""<configuration version="36">
  <folder id="{FOLDER_ID}" label="{FOLDER_ID}" path={quoteattr(str(me.folder))} type="sendreceive"
          rescanIntervalS="3600" fsWatcherEnabled="true"
          fsWatcherDelayS="{self.watcher_delay:g}" ignorePerms="false" autoNormalize="true">
    <filesystemType>basic</filesystemType>
{shared}
  </folder>
{peers}
  <gui enabled="true" tls="false"><address>127.0.0.1:{me.gui}</address>
    <apikey>{me.api_key}</apikey></gui>
  <options>
    <listenAddress>tcp://127.0.0.1:{me.listen}</listenAddress>
    <globalAnnounceEnabled>false</globalAnnounceEnabled>
    <localAnnounceEnabled>false</localAnnounceEnabled>
    <relaysEnabled>false</relaysEnabled>
    <natEnabled>false</natEnabled>
    <urAccepted>-1</urAccepted>
    <crashReportingEnabled>false</crashReportingEnabled>
    <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
    <startBrowser>false</startBrowser>
    <setLowPriority>false</setLowPriority>
  </options>
</configuration>
"""

    def _wait_connected(self, timeout: float) -> None:
        """Until each device sees the other connected and the folder idle on both."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                ok = True
                for me, other in (self.devices, self.devices[::-1]):
                    conns = me.rest("/rest/system/connections")
                    peer = conns["connections"].get(other.device_id, {})  # type: ignore[index]
                    state = me.rest(f"/rest/db/status?folder={FOLDER_ID}")["state"]  # type: ignore[index]
                    last = f"{me.name}: connected={peer.get('connected')} folder {state}"
                    ok = ok and bool(peer.get("connected")) and state == "idle"
                if ok:
                    return
            except (OSError, ValueError, KeyError):
                pass  # not listening yet
            time.sleep(0.1)  # polling another process's REST API
        raise TimeoutError(f"Syncthing devices did not connect in {timeout:g} s ({last}); "
                           f"log: {self.devices[0].home / 'syncthing.log'}")

    def stop(self) -> None:
        for device in self.devices:
            if device.proc is not None and device.proc.poll() is None:
                device.proc.terminate()
                try:
                    device.proc.wait(20)
                except subprocess.TimeoutExpired:
                    device.proc.kill()
                    device.proc.wait()
