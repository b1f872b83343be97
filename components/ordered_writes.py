"""Every change reaches the page in the order it was made.

Bokeh writes a change to the page as a message that defines each model the page does not
know yet and refers to every other model by its id; once a message is made, its models
count as known.  A page that receives a reference before the definition loses the change,
or (``reference p18651 isn't known``) refuses the message and stops following the
model for good.  So messages must reach the socket in the order they were made.

Two writers share a session's socket, and neither keeps that order against the other:

* Bokeh makes a message for each change made under the document's lock, but writes it
  only once the callback has returned;
* Panel's ``unlocked()`` (how every widget update is sent) makes one message when its
  block ends and writes it straight away if the socket is free, overtaking Bokeh's
  messages made earlier in the same callback; if the socket is busy, it polls for it
  every 10 ms, and Bokeh's later messages, queued on the socket's lock, overtake it.

A tab built in one step and filled in the next, or a preset's new figures updated as
they arrive, then leave a page that shows the previous model.  :func:`install` makes
both writers take their turn on the socket's lock (first come, first served) when they
make a message, not when they write it.  It changes Bokeh's
``ServerConnection.send_patch_document`` and Panel's ``write_events`` and
``schedule_write_events`` for this process, and is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import panel.io.document as panel_document
from bokeh.server.connection import ServerConnection
from bokeh.server.views.ws import WSHandler
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

__all__ = ["install", "send_in_order"]

log = logging.getLogger(__name__)

#: Panel's own writer, kept for sockets that are not Bokeh's websocket handler.
_panel_write_events = panel_document.write_events


def send_in_order(connection: ServerConnection, message: Any) -> asyncio.Future[None]:
    """Write ``message`` to ``connection`` after every message made before it.

    The socket's write lock is requested now (tornado's lock serves its waiters in the
    order they asked), and the message written when the lock is granted.

    Returns
    -------
    asyncio.Future
        Done once the message is written (or the socket found closed).
    """
    socket = connection._socket
    turn = socket.write_lock.acquire()

    async def write() -> None:
        with await turn:
            try:
                for part in (message.header_json, message.metadata_json, message.content_json):
                    await socket.write_message(part, locked=False)
                await message.write_buffers(socket, locked=False)
            except (WebSocketClosedError, StreamClosedError):
                log.debug("a message for a closed page was dropped")

    return asyncio.ensure_future(write())


def _send_patch_document(connection: ServerConnection, event: Any) -> asyncio.Future[None]:
    """Bokeh's change message, queued on the socket as it is made."""
    return send_in_order(connection, connection.protocol.create("PATCH-DOC", [event]))


def _write_events(doc: Any, connections: Sequence[ServerConnection], events: list) -> None:
    """Panel's change message (one per ``unlocked()`` block), queued as it is made."""
    for connection in connections:
        if not isinstance(connection._socket, WSHandler):
            _panel_write_events(doc, [connection], events)
            continue
        ws_connection = getattr(connection._socket, "ws_connection", None)
        if ws_connection is None or ws_connection.is_closing():
            continue
        send_in_order(connection, connection.protocol.create("PATCH-DOC", events))


def install() -> None:
    """Make this process's Bokeh and Panel write each session's messages in order."""
    ServerConnection.send_patch_document = _send_patch_document
    panel_document.write_events = _write_events
    panel_document.schedule_write_events = _write_events
