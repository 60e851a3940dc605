"""A real HTTP receiver standing in for the server's command endpoints (not built yet).

It speaks the device contract: ``POST /api/v1/ingest`` answers with the counts plus every
command not yet answered, and ``POST /api/v1/commands/<id>/result`` records a result and
stops handing that command out — as the server will.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: CommandServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            if self.path == "/api/v1/ingest":
                batch = body if isinstance(body, list) else [body]
                srv.batches.append(batch)
                answer: dict[str, Any] = {"accepted": len(batch), "duplicates": 0, "rejected": []}
                if srv.pending:
                    answer["commands"] = list(srv.pending)
            else:
                command_id = self.path.split("/")[-2]
                srv.results.append((command_id, body))
                srv.pending = [c for c in srv.pending if c["id"] != command_id]
                answer = {}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class CommandServer(ThreadingHTTPServer):
    """Start with ``with CommandServer() as srv:``; ``srv.url`` is its base URL."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.batches: list[list[dict[str, Any]]] = []
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.pending: list[dict[str, Any]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def issue(self, command_id: str, action: str) -> None:
        with self.lock:
            self.pending.append({"id": command_id, "action": action})

    def __enter__(self) -> CommandServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
