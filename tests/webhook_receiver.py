"""A webhook endpoint for the alarm tests and benchmark (issue 33): a local HTTP server in a thread."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Each POST takes the next answer of ``plan`` ('500', 'slow' or '200'; then ``otherwise``); ``got`` holds
    (alarm id, code, Idempotency-Key, body, wall time it arrived), code 0 for an answer sent after the sender's timeout."""

    def __init__(self, otherwise: str = "200", slow_s: float = 1.5) -> None:
        self.plan, self.otherwise, self.got = [], otherwise, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                arrived = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = receiver.plan.pop(0) if receiver.plan else receiver.otherwise
                code = 500 if answer == "500" else 200
                receiver.got.append((body["id"], 0 if answer == "slow" else code, self.headers.get("Idempotency-Key"), body, arrived))
                if answer == "slow":
                    time.sleep(slow_s)  # past the webhook's timeout
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[str]:
        return [got[0] for got in self.got if got[1] == 200]
