"""A local OpenAI-compatible HTTP server for the LLM tests and benchmarks.

A real HTTP server (stdlib ``ThreadingHTTPServer`` in a daemon thread) bound to
127.0.0.1 on a free port. It answers ``POST /v1/chat/completions`` from a FIFO
of scripted :class:`Reply` objects, falling back to a *responder* callable, and
can inject faults: HTTP errors with ``Retry-After``, hangs (client timeouts),
malformed bodies, a fixed latency and a server-side requests-per-minute ceiling
(token bucket; over it the server answers 429 with ``Retry-After``).

The Batch API subset needed by ``ptmcoder.llm.batch`` is served too:
``POST /v1/files``, ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
``GET /v1/batches/{id}`` (a batch completes on its ``complete_after_polls``-th
poll, each line answered by the responder).

Use it as a context manager::

    with LLMServer(latency=0.05) as server:
        server.enqueue(Reply.error(429, retry_after=1), Reply.ok('{"codes": []}'))
        model = OpenAIChatModel("gpt-4o-mini", base_url=server.base_url)

or as a process (the first stdout line is the base URL)::

    python tests/llm_server.py --port 0 --responder empty
    python tests/llm_server.py --responder mypkg.mymodule:responder
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_CONTENT = '{"codes": []}'


@dataclass
class Reply:
    """One scripted answer to one chat-completions request."""

    status: int = 200
    #: texts of the choices (repeated to honour ``n`` when there is one)
    contents: list[str] | None = None
    usage: dict[str, int] | None = None
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    #: a JSON error body or raw bytes sent as is
    body: Any = None
    raw_bytes: bytes | None = None
    hang_s: float = 0.0

    @classmethod
    def ok(
        cls,
        content: str | list[str],
        usage: dict[str, int] | None = None,
        finish_reason: str = "stop",
    ) -> Reply:
        contents = [content] if isinstance(content, str) else list(content)
        return cls(contents=contents, usage=usage, finish_reason=finish_reason)

    @classmethod
    def error(cls, status: int, retry_after: float | str | None = None, body: Any = None) -> Reply:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if body is None:
            kind = {
                429: "rate_limit_exceeded",
                401: "invalid_api_key",
                400: "invalid_request_error",
            }.get(status, "server_error")
            body = {
                "error": {
                    "message": f"scripted {status}",
                    "type": kind,
                    "param": None,
                    "code": kind,
                }
            }
        return cls(status=status, headers=headers, body=body)

    @classmethod
    def hang(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Sleep ``seconds`` before answering (``then``, or the default content)."""
        r = then or cls.ok(DEFAULT_CONTENT)
        return cls(
            status=r.status,
            contents=r.contents,
            usage=r.usage,
            finish_reason=r.finish_reason,
            headers=r.headers,
            body=r.body,
            raw_bytes=r.raw_bytes,
            hang_s=seconds,
        )

    @classmethod
    def raw(cls, data: bytes, status: int = 200) -> Reply:
        """Send ``data`` as the body unchanged (e.g. malformed JSON)."""
        return cls(status=status, raw_bytes=data)


# -- responders -------------------------------------------------------------------------


def respond_empty(request: dict[str, Any]) -> Reply:
    """Every request gets ``{"codes": []}``."""
    return Reply.ok(DEFAULT_CONTENT)


def respond_echo(request: dict[str, Any]) -> Reply:
    """The content is a JSON object echoing the last user message (for cache tests)."""
    last = request.get("messages", [{}])[-1].get("content", "")
    return Reply.ok(json.dumps({"codes": [], "echo": last}))


RESPONDERS: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "empty": respond_empty,
    "echo": respond_echo,
}


def load_responder(name: str) -> Callable[[dict[str, Any]], Reply]:
    """A named responder, or ``package.module:function`` imported by path."""
    if name in RESPONDERS:
        return RESPONDERS[name]
    if ":" in name:
        module, func = name.split(":", 1)
        return getattr(importlib.import_module(module), func)
    raise SystemExit(
        f"unknown responder {name!r}; known: {', '.join(RESPONDERS)} or module:function"
    )


def _estimate_tokens(request: dict[str, Any]) -> int:
    text = "".join(str(m.get("content", "")) for m in request.get("messages", []))
    return max(1, len(text) // 4) + 3 * len(request.get("messages", []))


class _Bucket:
    """Server-side RPM ceiling: a token bucket of ``burst`` requests."""

    def __init__(self, rpm: float, burst: float | None) -> None:
        self.rate = rpm / 60.0
        self.capacity = burst if burst is not None else max(1.0, self.rate)
        self.tokens = self.capacity
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0.0 when admitted, else the seconds until a request would be."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class LLMServer:
    """An OpenAI-compatible server on 127.0.0.1 with scripted replies and faults."""

    def __init__(
        self,
        *,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        latency: float = 0.0,
        rpm_limit: float | None = None,
        rpm_burst: float | None = None,
        port: int = 0,
        complete_after_polls: int = 2,
        max_hang_s: float = 30.0,
        echo_authorization: int | None = None,
    ) -> None:
        self.responder = responder or respond_empty
        self.latency = latency
        self.rpm_limit = rpm_limit
        self.complete_after_polls = complete_after_polls
        self.max_hang_s = max_hang_s
        #: answer every chat request with this HTTP status and an error body that
        #: echoes the request's Authorization header (as some proxies do)
        self.echo_authorization = echo_authorization
        self._bucket = _Bucket(rpm_limit, rpm_burst) if rpm_limit else None
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.headers: list[dict[str, str]] = []
        self.rate_limited = 0  # 429s the RPM ceiling produced (scripted ones not counted)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_polls: dict[str, int] = {}
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> LLMServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting
    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            self.headers.append(headers)

    # -- building bodies
    def completion_body(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = int(request.get("n") or 1)
        contents = reply.contents or [DEFAULT_CONTENT]
        if len(contents) == 1 and n > 1:
            contents = contents * n
        usage = dict(reply.usage or {})
        usage.setdefault("prompt_tokens", _estimate_tokens(request))
        usage.setdefault("completion_tokens", sum(max(1, len(c) // 4) for c in contents))
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "unknown"),
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
                for i, c in enumerate(contents)
            ],
            "usage": usage,
        }

    def _run_batch(self, batch: dict[str, Any]) -> None:
        out_lines, err_lines = [], []
        lines = self.files[batch["input_file_id"]].decode().splitlines()
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["body"]
            self._record(body, {})
            reply = self._next_reply(body)
            rid = f"req_{uuid.uuid4().hex[:10]}"
            if reply.raw_bytes is not None or reply.status != 200:
                err = (
                    reply.body
                    if isinstance(reply.body, dict)
                    else {"error": {"message": "malformed", "type": "server_error"}}
                )
                err_lines.append(
                    {
                        "id": f"batch_req_{uuid.uuid4().hex[:8]}",
                        "custom_id": item["custom_id"],
                        "response": {
                            "status_code": reply.status or 500,
                            "request_id": rid,
                            "body": err,
                        },
                        "error": None,
                    }
                )
                continue
            out_lines.append(
                {
                    "id": f"batch_req_{uuid.uuid4().hex[:8]}",
                    "custom_id": item["custom_id"],
                    "response": {
                        "status_code": 200,
                        "request_id": rid,
                        "body": self.completion_body(body, reply),
                    },
                    "error": None,
                }
            )
        out_id = self._store_file("".join(json.dumps(x) + "\n" for x in out_lines).encode())
        err_id = (
            self._store_file("".join(json.dumps(x) + "\n" for x in err_lines).encode())
            if err_lines
            else None
        )
        batch.update(
            status="completed",
            output_file_id=out_id,
            error_file_id=err_id,
            completed_at=int(time.time()),
            request_counts={
                "total": len(out_lines) + len(err_lines),
                "completed": len(out_lines),
                "failed": len(err_lines),
            },
        )

    def _store_file(self, data: bytes) -> str:
        fid = f"file-{uuid.uuid4().hex[:16]}"
        with self._lock:
            self.files[fid] = data
        return fid


def _parse_multipart(content_type: str, data: bytes) -> dict[str, bytes]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return {}
    boundary = b"--" + m.group(1).encode()
    fields: dict[str, bytes] = {}
    for part in data.split(boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, payload = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = payload.removesuffix(b"\r\n")
    return fields


def _make_handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        # -- helpers
        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers)

        def _not_found(self) -> None:
            self._json(
                404,
                {
                    "error": {
                        "message": f"no route {self.command} {self.path}",
                        "type": "invalid_request_error",
                    }
                },
            )

        # -- routes
        def do_POST(self) -> None:  # noqa: N802
            data = self._read()
            path = self.path.split("?")[0]
            if path == "/v1/chat/completions":
                return self._chat(data)
            if path == "/v1/files":
                return self._upload(data)
            if path == "/v1/batches":
                return self._create_batch(data)
            m = re.fullmatch(r"/v1/batches/([^/]+)/cancel", path)
            if m and m.group(1) in server.batches:
                server.batches[m.group(1)]["status"] = "cancelled"
                return self._json(200, server.batches[m.group(1)])
            return self._not_found()

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            m = re.fullmatch(r"/v1/files/([^/]+)/content", path)
            if m:
                if m.group(1) not in server.files:
                    return self._not_found()
                return self._send(
                    200, server.files[m.group(1)], content_type="application/octet-stream"
                )
            m = re.fullmatch(r"/v1/batches/([^/]+)", path)
            if m:
                return self._poll_batch(m.group(1))
            if path == "/v1/models":
                return self._json(200, {"object": "list", "data": []})
            return self._not_found()

        def _chat(self, data: bytes) -> None:
            try:
                body = json.loads(data or b"{}")
            except json.JSONDecodeError:
                return self._json(
                    400,
                    {
                        "error": {
                            "message": "request body is not JSON",
                            "type": "invalid_request_error",
                        }
                    },
                )
            server._record(body, {k.lower(): v for k, v in self.headers.items()})
            if server.echo_authorization is not None:
                auth = self.headers.get("Authorization", "")
                return self._json(
                    server.echo_authorization,
                    {
                        "error": {
                            "message": f"bad request; headers were Authorization: {auth}, "
                            f"raw {auth.split()[-1] if auth else ''}",
                            "type": "invalid_request_error",
                        }
                    },
                )
            if server._bucket is not None:
                wait = server._bucket.take()
                if wait > 0:
                    with server._lock:
                        server.rate_limited += 1
                    return self._json(
                        429,
                        {
                            "error": {
                                "message": "Rate limit reached (requests per minute)",
                                "type": "requests",
                                "code": "rate_limit_exceeded",
                            }
                        },
                        {
                            "Retry-After": str(max(1, math.ceil(wait))),
                            "retry-after-ms": str(int(math.ceil(wait * 1000))),
                        },
                    )
            reply = server._next_reply(body)
            if server.latency:
                server._stop.wait(server.latency)
            if reply.hang_s:
                server._stop.wait(min(reply.hang_s, server.max_hang_s))
            if reply.raw_bytes is not None:
                return self._send(reply.status, reply.raw_bytes, reply.headers)
            if reply.status != 200:
                return self._json(reply.status, reply.body, reply.headers)
            return self._json(200, server.completion_body(body, reply), reply.headers)

        def _upload(self, data: bytes) -> None:
            fields = _parse_multipart(self.headers.get("Content-Type", ""), data)
            if "file" not in fields:
                return self._json(
                    400, {"error": {"message": "no file part", "type": "invalid_request_error"}}
                )
            fid = server._store_file(fields["file"])
            self._json(
                200,
                {
                    "id": fid,
                    "object": "file",
                    "bytes": len(fields["file"]),
                    "created_at": int(time.time()),
                    "filename": "input.jsonl",
                    "purpose": fields.get("purpose", b"batch").decode(),
                    "status": "processed",
                },
            )

        def _create_batch(self, data: bytes) -> None:
            body = json.loads(data or b"{}")
            if body.get("input_file_id") not in server.files:
                return self._json(
                    400,
                    {
                        "error": {
                            "message": "unknown input_file_id",
                            "type": "invalid_request_error",
                        }
                    },
                )
            bid = f"batch_{uuid.uuid4().hex[:16]}"
            batch = {
                "id": bid,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window", "24h"),
                "status": "validating",
                "created_at": int(time.time()),
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "metadata": body.get("metadata"),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }
            with server._lock:
                server.batches[bid] = batch
                server.batch_polls[bid] = 0
            self._json(200, batch)

        def _poll_batch(self, bid: str) -> None:
            if bid not in server.batches:
                return self._not_found()
            batch = server.batches[bid]
            with server._lock:
                server.batch_polls[bid] += 1
                polls = server.batch_polls[bid]
            if batch["status"] not in ("completed", "cancelled", "failed"):
                if polls >= server.complete_after_polls:
                    server._run_batch(batch)
                else:
                    batch["status"] = "in_progress"
            self._json(200, batch)

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--responder", default="empty", help="empty | echo | package.module:function")
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--rpm-limit", type=float, default=None)
    args = p.parse_args(argv)
    server = LLMServer(
        responder=load_responder(args.responder),
        latency=args.latency,
        rpm_limit=args.rpm_limit,
        port=args.port,
    )
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
