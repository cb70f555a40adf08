"""The OpenAI Batch API path: write the JSONL, upload, create, poll, ingest.

For large corpora at a lower price (see ``batch_discount`` in the price table)
and a completion window of up to 24 hours. The state (input hash, file id,
batch id, status) is saved in ``<run_dir>/batch_state.json`` after every step,
so an interrupted poll resumes the same batch instead of submitting it again;
the downloaded output is kept in ``<run_dir>/batch_output.jsonl`` (and
``batch_errors.jsonl``) so ingesting twice downloads nothing.

Progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ptmcoder.errors import ConfigError
from ptmcoder.files import write_atomic, write_json, write_text
from ptmcoder.llm.base import ChatModel, ChatRequest, Completion
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.openai_client import OpenAIChatModel, parse_completion
from ptmcoder.llm.redact import redact_completion, redact_secrets

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
STATE_FILE = "batch_state.json"
INPUT_FILE = "batch_input.jsonl"
OUTPUT_FILE = "batch_output.jsonl"
ERRORS_FILE = "batch_errors.jsonl"


def batch_lines(model: OpenAIChatModel, requests: Mapping[str, ChatRequest]) -> list[str]:
    """One Batch API JSONL line per request; ``custom_id`` is the unit id."""
    lines = []
    for custom_id, request in requests.items():
        lines.append(
            json.dumps(
                {
                    "custom_id": custom_id,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": model.request_params(request),
                },
                sort_keys=True,
                ensure_ascii=False,
            )
        )
    return lines


def parse_batch_output(
    text: str, *, model: str, secrets: list[str] | None = None
) -> dict[str, Completion | LLMError]:
    """Results by ``custom_id`` from an output or error file (pure); ``secrets`` (the
    endpoint's key) are taken out of every completion."""
    results: dict[str, Completion | LLMError] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            custom_id = str(item["custom_id"])
        except (ValueError, KeyError, TypeError):
            raise LLMError(
                f"batch output line {number} is not a batch result: {line[:120]!r}", kind="response"
            ) from None
        response = item.get("response") or {}
        status = response.get("status_code")
        body = response.get("body")
        if item.get("error") and not body:
            err = item["error"]
            message = err.get("message") if isinstance(err, dict) else str(err)
            results[custom_id] = LLMError(
                f"batch request {custom_id} failed: {message}", kind="client", status=status
            )
            continue
        if status != 200:
            message = ""
            if isinstance(body, dict):
                err = body.get("error", body)
                message = err.get("message", "") if isinstance(err, dict) else str(err)
            kind = (
                "rate_limit"
                if status == 429
                else "server"
                if isinstance(status, int) and status >= 500
                else "client"
            )
            results[custom_id] = LLMError(
                f"batch request {custom_id} failed with HTTP {status}: {message}",
                kind=kind,
                status=status,
            )
            continue
        try:
            results[custom_id] = redact_completion(
                parse_completion(body, model=model), secrets or ()
            )
        except ValueError as exc:
            results[custom_id] = LLMError(
                f"batch request {custom_id}: {exc}", kind="response", status=status
            )
    return results


class BatchRunner:
    """Runs a set of requests through the Batch API, resumable from ``run_dir``.
    ``model`` may be any chat model; one that is not an :class:`OpenAIChatModel` is
    refused with a :class:`~ptmcoder.errors.ConfigError`."""

    def __init__(
        self,
        model: ChatModel,
        run_dir: str | Path,
        *,
        poll_interval: float = 10.0,
        max_poll_interval: float = 300.0,
        timeout_s: float | None = None,
        completion_window: str = "24h",
        progress: IO[str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(model, OpenAIChatModel):
            raise ConfigError("--batch needs an openai:MODEL (the OpenAI Batch API)")
        self.model = model
        self.run_dir = Path(run_dir)
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.completion_window = completion_window
        self.progress = progress if progress is not None else sys.stderr
        self._sleep = sleep
        self.polls = 0

    # -- state
    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def load_state(self) -> dict[str, Any]:
        if self.state_path.is_file():
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        # durable: it holds the batch id of work already paid for
        write_json(self.state_path, dict(sorted(state.items())))

    def _say(self, message: str) -> None:
        print(f"batch: {message}", file=self.progress, flush=True)

    # -- steps
    def write_input(self, requests: Mapping[str, ChatRequest]) -> tuple[Path, str]:
        """Write the JSONL; returns its path and sha256."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = ("\n".join(batch_lines(self.model, requests)) + "\n").encode("utf-8")
        path = write_atomic(self.run_dir / INPUT_FILE, lambda fh: fh.write(data))
        return path, hashlib.sha256(data).hexdigest()

    async def submit(self, requests: Mapping[str, ChatRequest]) -> dict[str, Any]:
        """Upload and create the batch, or return the saved state of the same batch."""
        path, digest = self.write_input(requests)
        state = self.load_state()
        if state.get("input_sha256") == digest and state.get("batch_id"):
            self._say(f"resuming batch {state['batch_id']} ({state.get('status')})")
            return state
        state = {
            "input_sha256": digest,
            "requests": len(requests),
            "model": self.model.name,
            "base_url": self.model.base_url,
            "created_at": time.time(),
        }
        data = path.read_bytes()
        uploaded = await self.model.call_api(
            lambda c: c.files.create(file=(INPUT_FILE, data, "application/jsonl"), purpose="batch")
        )
        state["input_file_id"] = uploaded.id
        self._save_state(state)
        batch = await self.model.call_api(
            lambda c: c.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window=self.completion_window,
            )
        )
        state.update(batch_id=batch.id, status=batch.status)
        self._save_state(state)
        self._say(f"submitted {len(requests)} requests as {batch.id}")
        return state

    async def poll(self, state: dict[str, Any]) -> dict[str, Any]:
        """Poll with growing intervals until the batch reaches a terminal status."""
        interval = self.poll_interval
        start = time.monotonic()
        while state.get("status") not in TERMINAL:
            batch = await self.model.call_api(lambda c: c.batches.retrieve(state["batch_id"]))
            self.polls += 1
            counts = getattr(batch, "request_counts", None)
            done = f" {counts.completed + counts.failed}/{counts.total}" if counts else ""
            if batch.status != state.get("status") or self.polls % 10 == 0:
                self._say(f"{batch.id} {batch.status}{done}")
            state.update(
                status=batch.status,
                output_file_id=batch.output_file_id,
                error_file_id=batch.error_file_id,
            )
            self._save_state(state)
            if batch.status in TERMINAL:
                break
            if self.timeout_s is not None and time.monotonic() - start > self.timeout_s:
                raise LLMError(
                    f"batch {batch.id} still {batch.status} after "
                    f"{self.timeout_s:g} s; rerun to resume polling",
                    kind="timeout",
                )
            await self._sleep(interval)
            interval = min(self.max_poll_interval, interval * 1.5)
        return state

    async def _download(self, file_id: str | None, name: str) -> str:
        if not file_id:
            return ""
        local = self.run_dir / name
        if local.is_file():
            return local.read_text(encoding="utf-8")
        content = await self.model.call_api(lambda c: c.files.content(file_id))
        # the key never reaches the run directory, even inside a successful answer
        text = redact_secrets(content.content.decode("utf-8"), self.model.secrets())
        write_text(local, text)  # atomic: a torn download is never read back as whole
        return text

    async def ingest(
        self, state: dict[str, Any], custom_ids: list[str]
    ) -> dict[str, Completion | LLMError]:
        results: dict[str, Completion | LLMError] = {}
        results.update(
            parse_batch_output(
                await self._download(state.get("error_file_id"), ERRORS_FILE),
                model=self.model.model,
                secrets=self.model.secrets(),
            )
        )
        results.update(
            parse_batch_output(
                await self._download(state.get("output_file_id"), OUTPUT_FILE),
                model=self.model.model,
                secrets=self.model.secrets(),
            )
        )
        status = state.get("status")
        for custom_id in custom_ids:
            if custom_id not in results:
                results[custom_id] = LLMError(
                    f"batch {state.get('batch_id')} ended {status} without a result for "
                    f"{custom_id}",
                    kind="server" if status != "completed" else "response",
                )
        return results

    async def run(self, requests: Mapping[str, ChatRequest]) -> dict[str, Completion | LLMError]:
        """Submit (or resume), poll, download and parse: ``{custom_id: result}``."""
        if not requests:
            return {}
        state = await self.submit(requests)
        state = await self.poll(state)
        if state["status"] == "failed" and not state.get("output_file_id"):
            raise LLMError(
                f"the endpoint failed batch {state['batch_id']}",
                kind="client",
                hint=f"see the batch on the provider's dashboard; delete "
                f"{self.state_path} to submit again",
            )
        results = await self.ingest(state, list(requests))
        ok = sum(isinstance(r, Completion) for r in results.values())
        self._say(
            f"{state['batch_id']} {state['status']}: {ok} completed, {len(results) - ok} failed"
        )
        return results
