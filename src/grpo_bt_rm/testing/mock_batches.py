"""The mock server's batch endpoints, in each provider's wire format (used through `MockServer`):

- Anthropic Message Batches: POST /v1/messages/batches, GET /v1/messages/batches/{id}[/results] (JSONL results);
- OpenAI Batch: POST /v1/files (multipart JSONL upload), POST /v1/batches, GET /v1/batches/{id},
  GET /v1/files/{id}/content (output and error JSONL files);
- Gemini batch mode: POST /v1beta/models/{model}:batchGenerateContent (inlined requests), GET /v1beta/batches/{id}.

Every request is answered when the batch is created; a batch reports "in progress" for `Faults.batch_polls`
status checks, then ends. The first `Faults.batch_fail` requests of each batch fail inside it.
"""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import time


class BatchStore:
    """Batch jobs and uploaded files of one mock server; `server` must offer `answer_body(kind, req)`, `faults`
    and `stats` (a `MockServer`)."""

    def __init__(self, server):
        self.server = server
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.jobs: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}

    def handle(self, method: str, path: str, raw: bytes, headers) -> tuple[int, object] | None:
        """(status, JSON body or raw bytes) for a batch route, None for any other path."""
        if path.endswith("/messages/batches") and method == "POST":
            return 200, self._anthropic_create(json.loads(raw))
        if "/messages/batches/" in path and method == "GET":
            bid = path.split("/messages/batches/")[1]
            if bid.endswith("/results"):
                return 200, self._anthropic_results(bid[: -len("/results")])
            return 200, self._anthropic_status(bid, poll=True)
        if path.endswith("/v1/files") and method == "POST":
            return 200, self._openai_upload(raw, headers)
        if path.startswith("/v1/files/") and path.endswith("/content"):
            return 200, self.files[path.split("/")[3]]
        if path.endswith("/v1/batches") and method == "POST":
            return 200, self._openai_create(json.loads(raw))
        if ":batchGenerateContent" in path and method == "POST":
            return 200, self._gemini_create(path, json.loads(raw))
        if "/batches/" in path and method == "GET":  # /v1/batches/{id} (OpenAI) or /{version}/batches/{id} (Gemini)
            bid = path.split("/batches/")[1]
            if bid.startswith("gemini-"):
                return 200, self._gemini_status("batches/" + bid)
            return 200, self._openai_status(bid)
        return None

    # --- shared ------------------------------------------------------------------------------------------

    def _new(self, kind: str, requests: list[tuple[str, dict]]) -> str:
        """Answer every (custom_id, request body) now; keep (custom_id, answer or None) for the results."""
        faults = self.server.faults
        results = [(cid, None if i < faults.batch_fail else self.server.answer_body(kind, req))
                   for i, (cid, req) in enumerate(requests)]
        with self._lock:
            bid = f"{kind}-batch-{next(self._ids)}"
            self.jobs[bid] = {"kind": kind, "results": results, "polls": 0, "created": time.time()}
        with self.server.stats.lock:
            self.server.stats.batches += 1
            self.server.stats.batch_requests += len(requests)
        return bid

    def _ended(self, bid: str, poll: bool) -> bool:
        job = self.jobs[bid]
        with self._lock:
            if poll:
                job["polls"] += 1
            return job["polls"] > self.server.faults.batch_polls

    def _counts(self, bid: str) -> tuple[int, int]:
        results = self.jobs[bid]["results"]
        ok = sum(body is not None for _, body in results)
        return ok, len(results) - ok

    # --- Anthropic ---------------------------------------------------------------------------------------

    def _anthropic_create(self, req: dict) -> dict:
        bid = self._new("anthropic", [(r["custom_id"], r["params"]) for r in req["requests"]])
        return self._anthropic_status(bid, poll=False)

    def _anthropic_status(self, bid: str, poll: bool) -> dict:
        ended = self._ended(bid, poll)
        ok, failed = self._counts(bid)
        stamp = "2026-11-30T00:00:00Z"
        return {"id": bid, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": {"processing": 0 if ended else ok + failed, "succeeded": ok if ended else 0,
                                   "errored": failed if ended else 0, "canceled": 0, "expired": 0},
                "created_at": stamp, "expires_at": stamp, "ended_at": stamp if ended else None,
                "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{self.server.url}/v1/messages/batches/{bid}/results" if ended else None}

    def _anthropic_results(self, bid: str) -> bytes:
        lines = []
        for cid, body in self.jobs[bid]["results"]:
            if body is None:
                result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error",
                                                                                  "message": "injected failure"}}}
            else:
                result = {"type": "succeeded", "message": body}
            lines.append(json.dumps({"custom_id": cid, "result": result}))
        return ("\n".join(lines) + "\n").encode()

    # --- OpenAI ------------------------------------------------------------------------------------------

    def _file(self, data: bytes) -> str:
        with self._lock:
            fid = f"file-{next(self._ids)}"
            self.files[fid] = data
        return fid

    def _openai_upload(self, raw: bytes, headers) -> dict:
        msg = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + raw)
        data = next(part.get_payload(decode=True) for part in msg.get_payload() if part.get_filename())
        fid = self._file(data)
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}

    def _openai_create(self, req: dict) -> dict:
        rows = [json.loads(x) for x in self.files[req["input_file_id"]].decode().splitlines() if x.strip()]
        bid = self._new("openai", [(r["custom_id"], r["body"]) for r in rows])
        job = self.jobs[bid]
        out = [json.dumps({"id": f"req-{i}", "custom_id": cid, "error": None,
                           "response": {"status_code": 200, "request_id": f"req-{i}", "body": body}})
               for i, (cid, body) in enumerate(job["results"]) if body is not None]
        err = [json.dumps({"id": f"req-{i}", "custom_id": cid, "response": None,
                           "error": {"code": "server_error", "message": "injected failure"}})
               for i, (cid, body) in enumerate(job["results"]) if body is None]
        job["output_file_id"] = self._file("\n".join(out).encode()) if out else None
        job["error_file_id"] = self._file("\n".join(err).encode()) if err else None
        job["input_file_id"] = req["input_file_id"]
        return self._openai_status(bid, poll=False)

    def _openai_status(self, bid: str, poll: bool = True) -> dict:
        job = self.jobs[bid]
        ended = self._ended(bid, poll)
        ok, failed = self._counts(bid)
        return {"id": bid, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": job["input_file_id"], "completion_window": "24h",
                "status": "completed" if ended else "in_progress", "created_at": int(job["created"]),
                "output_file_id": job["output_file_id"] if ended else None,
                "error_file_id": job["error_file_id"] if ended else None,
                "request_counts": {"total": ok + failed, "completed": ok if ended else 0,
                                   "failed": failed if ended else 0}}

    # --- Gemini ------------------------------------------------------------------------------------------

    def _gemini_create(self, path: str, req: dict) -> dict:
        model = path.rsplit("/", 1)[-1].split(":")[0]
        inlined = req["batch"]["inputConfig"]["requests"]["requests"]
        requests = []
        for r in inlined:
            body = dict(r["request"])
            system = body.get("systemInstruction") or {}
            body["contents"] = [system, *body.get("contents", [])] if system else body.get("contents", [])
            requests.append(((r.get("metadata") or {}).get("key"), {**body, "model": model}))
        bid = self._new("gemini", requests)
        name = "batches/" + bid
        self.jobs[name] = self.jobs.pop(bid)
        return self._gemini_status(name, poll=False)

    def _gemini_status(self, name: str, poll: bool = True) -> dict:
        ended = self._ended(name, poll)
        meta = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                "displayName": "mock", "state": "BATCH_STATE_SUCCEEDED" if ended else "BATCH_STATE_RUNNING",
                "createTime": "2026-11-30T00:00:00Z"}
        if ended:
            meta["output"] = {"inlinedResponses": {"inlinedResponses": [
                {"metadata": {"key": cid}, **({"response": body} if body is not None else
                                               {"error": {"code": 500, "message": "injected failure"}})}
                for cid, body in self.jobs[name]["results"]]}}
        return {"name": name, "metadata": meta, "done": ended}
