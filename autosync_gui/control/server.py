"""The control socket of a running instance (tray app or `run --headless`): owner-only,
one JSON line per request (protocol.py), answered by the ControlService. asyncio, so it
runs on qasync's loop and on plain asyncio alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from autosync_gui.control.instance import InstancePaths
from autosync_gui.control.protocol import (
    MAX_LINE,
    ProtocolError,
    Request,
    decode_request,
    encode,
    failure,
    ok,
)
from autosync_gui.control.runtime import UnsafeRuntimeError, check_peer, check_socket_file
from autosync_gui.control.service import CommandError, ControlService, activity_json
from autosync_gui.engine.events import Activity, ChannelState, FolderState

log = logging.getLogger(__name__)

FOLLOW_QUEUE = 1000  # events kept for a slow `activity --follow` reader before dropping


class _Feed:
    """An engine observer that hands activities to one following client."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Activity] = asyncio.Queue(FOLLOW_QUEUE)
        self.dropped = 0

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        pass

    def activity(self, event: Activity) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        pass


class ControlServer:
    """Listens on the instance's socket; start() after the instance lock is held."""

    def __init__(self, service: ControlService, paths: InstancePaths) -> None:
        self.service = service
        self.paths = paths
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (replacing the socket a crashed instance left: we hold the lock).
        Raises UnsafeRuntimeError when the socket's place is not ours."""
        path = self.paths.socket
        try:
            check_socket_file(path)
            path.unlink()
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(self._serve, path=str(path),
                                                       limit=MAX_LINE + 2)
        os.chmod(path, 0o600)
        check_socket_file(path)
        log.info("control socket: %s", path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
        with contextlib.suppress(FileNotFoundError):
            check_socket_file(self.paths.socket)
            self.paths.socket.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            check_peer(writer.get_extra_info("socket"), self.paths.socket)
        except (UnsafeRuntimeError, OSError) as exc:
            log.warning("control socket: refused a connection: %s", exc)
            writer.close()
            return
        self._writers.add(writer)
        try:
            await self._conversation(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _conversation(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        while self._server is not None:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # the client hung up
            except asyncio.LimitOverrunError:
                writer.write(failure(f"request longer than {MAX_LINE} bytes"))
                await writer.drain()
                return
            try:
                request = decode_request(line)
            except ProtocolError as exc:
                writer.write(failure(str(exc)))
                await writer.drain()
                continue
            if request.command == "activity" and request.follow:
                await self._follow(request, reader, writer)
                return
            writer.write(await self._answer(request))
            await writer.drain()

    async def _answer(self, request: Request) -> bytes:
        try:
            return ok(await self.service.run(request))
        except CommandError as exc:
            return failure(str(exc), exc.code)
        except Exception as exc:
            log.exception("control: %s failed", request.command)
            return failure(f"{request.command} failed inside autosync ({type(exc).__name__}); "
                           "see its log", 1)

    async def _follow(self, request: Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """Answer with the recent events, then send each new one until the client hangs
        up (noticed by its end of the stream) or the instance stops."""
        feed = _Feed()
        unsubscribe = self.service.engine.subscribe(feed)
        try:
            writer.write(await self._answer(request))
            await writer.drain()
            hangup = asyncio.ensure_future(reader.read())
            try:
                while True:
                    event = asyncio.ensure_future(feed.queue.get())
                    done, _ = await asyncio.wait({event, hangup},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if hangup in done:
                        event.cancel()
                        return
                    writer.write(encode({"event": activity_json(event.result())}))
                    await writer.drain()
            finally:
                hangup.cancel()
        finally:
            unsubscribe()
