"""A tool server written straight on the wire (no SDK), to send what the SDK never would.

It answers the MCP handshake and ``tools/list``; its tools answer oddly on purpose:
``surrogate_text`` returns text holding the JSON escape of a lone surrogate
(``"\\ud800"``), ``garbage_then_echo`` prints a line of invalid UTF-8 before its
answer, ``echo`` answers plainly.
"""

import json
import sys

TOOLS = [
    {"name": name, "description": name, "inputSchema": {"type": "object"}}
    for name in ("echo", "surrogate_text", "garbage_then_echo")
]


def send(raw: bytes) -> None:
    sys.stdout.buffer.write(raw + b"\n")
    sys.stdout.buffer.flush()


def answer(id: object, result: dict[str, object]) -> None:
    send(json.dumps({"jsonrpc": "2.0", "id": id, "result": result}).encode())


def text(value: str) -> dict[str, object]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


for line in sys.stdin.buffer:
    message = json.loads(line)
    method, id = message.get("method"), message.get("id")
    if id is None:
        continue  # a notification
    if method == "initialize":
        answer(
            id,
            {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw_odd", "version": "1"},
            },
        )
    elif method == "tools/list":
        answer(id, {"tools": TOOLS})
    elif method == "tools/call":
        name = message["params"]["name"]
        if name == "surrogate_text":
            answer(id, text("a\ud800b"))  # json.dumps writes the escape "\ud800"
        elif name == "garbage_then_echo":
            send(b"\xff\xfe not json at all")
            answer(id, text("echo: after garbage"))
        else:
            answer(id, text("echo: plain"))
    else:
        send(
            json.dumps(
                {"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": method}}
            ).encode()
        )
