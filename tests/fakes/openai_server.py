"""FAKE OpenAI-compatible server for tests: deterministic, scripted, named as a fake.

A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (JSON and SSE
streaming). What it answers is chosen by the test through ``POST /script``:

* ``{"mode": "answer", "text": "... [1] ..."}``  reply with that text (stream or not)
* ``{"mode": "error", "status": 500}``           HTTP error
* ``{"mode": "slow", "seconds": 5}``             sleep before answering (timeouts)
* ``{"mode": "condense", "text": "..."}``        answer condense prompts with this text, others as before

Every request body is kept in ``/requests`` so a test can check what the assistant sent.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def build_app() -> FastAPI:
    app = FastAPI()
    state: dict[str, Any] = {"script": {"mode": "answer", "text": "知识库中没有找到。"}, "condense": None,
                             "requests": []}

    @app.post("/script")
    async def script(req: Request) -> dict[str, str]:
        body = await req.json()
        if body.get("mode") == "condense":
            state["condense"] = body["text"]
        else:
            state["script"] = body
        return {"ok": "yes"}

    @app.get("/requests")
    def requests() -> list[Any]:
        return state["requests"]

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake", "object": "model"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: Request) -> Any:
        body = await req.json()
        state["requests"].append(body)
        prompt = body["messages"][-1]["content"]
        script = state["script"]
        text = script.get("text", "")
        if state["condense"] and "完整问题" in prompt:
            text = state["condense"]
        elif script["mode"] == "error":
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=script.get("status", 500))
        elif script["mode"] == "slow":
            time.sleep(float(script.get("seconds", 5)))
        if body.get("stream"):
            def gen():  # type: ignore[no-untyped-def]
                for i in range(0, len(text), 4):
                    delta = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                             "choices": [{"index": 0, "delta": {"content": text[i:i + 4]}, "finish_reason": None}]}
                    yield f"data: {json.dumps(delta, ensure_ascii=False)}\n\n"
                end = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    return app


class FakeOpenAIServer:
    """Runs :func:`build_app` with uvicorn in a thread on a free loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
