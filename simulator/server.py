"""HTTP(S) front of the simulator: the platform's paths, the /simulator/ control endpoints."""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from simulator.push import Pusher
from simulator.state import App, Config, ControlError, PlatformAnswer, PlatformState

log = logging.getLogger("simulator")

CONTROL_NOTE = "simulator control endpoint: for tests and demos only, never on a real platform"
MAX_BODY = 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0
NO_ANSWER_HOLD_SECONDS = 120.0
LAPSE_INTERVAL = 0.25
HTML_500 = b"<html><head><title>500 Internal Server Error</title></head><body><h1>500 Internal Server Error</h1></body></html>"  # noqa: E501

LOGIN = "/iocm/app/sec/v1.1.0/login"
REFRESH = "/iocm/app/sec/v1.1.0/refreshToken"
CREDENTIALS = "/iocm/app/reg/v1.1.0/deviceCredentials"
DEVICES = "/iocm/app/dm/v1.4.0/devices"
SUBSCRIPTIONS = "/iocm/app/sub/v1.2.0/subscriptions"
CONTROL_DEVICE = re.compile(r"^/simulator/devices/([^/]+)$")


class Answer:
    """What a platform call answers: status, JSON body (None = empty) and the error code."""

    def __init__(self, status: int, body: Any = None, code: str | None = None) -> None:
        self.status = status
        self.body = body
        self.code = code

    @classmethod
    def error(cls, exc: PlatformAnswer) -> Answer:
        return cls(exc.status, exc.body(), exc.code)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        *,
        state: PlatformState,
        pusher: Pusher,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.pusher = pusher
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # The handshake runs in the handler thread: a slow client must not block accept().
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError | ConnectionError | TimeoutError | OSError):
            log.info("connection from %s dropped: %s", client_address[0], type(exc).__name__)
        else:
            log.exception("unexpected error serving %s", client_address[0])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OceanConnect-Simulator/1.0"

    timeout = 60  # idle keep-alive connections are closed after this
    wbufsize = 64 * 1024  # headers and body leave in one segment (no Nagle/delayed-ACK stall)
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(HANDSHAKE_TIMEOUT)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per call is written by _finish_call instead

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing
    def _dispatch(self) -> None:
        arrived = time.time()
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send_json(400, {"error_code": "100007", "error_desc": str(exc)})
            self.close_connection = True
            return
        if path == "/simulator" or path.startswith("/simulator/"):
            self._control(path, query, body)
            return
        self._platform(path, query, body, arrived)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ValueError("chunked bodies are not supported; send Content-Length")
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError("Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, status: int, body: Any, *, control: bool = False, content_type: str = ""
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self._send_raw(
            status, data, content_type or "application/json;charset=UTF-8", control=control
        )

    def _send_raw(self, status: int, data: bytes, content_type: str, *, control: bool) -> None:
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if control:
            self.send_header("X-Simulator-Control", "for tests and demos only")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _drop_connection(self, *, reset: bool) -> None:
        """Close without answering; `reset` sends RST instead of FIN."""
        try:
            if reset:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        for stream in (self.rfile, self.wfile):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.connection.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ platform calls
    def _platform(self, path: str, query: dict[str, str], body: bytes, arrived: float) -> None:
        state = self.server.state
        released = state.released
        app_key = self.headers.get("app_key") or self.headers.get("x-app-key")
        fault = state.take_fault(path)
        if fault is not None and fault.latency_ms and released.wait(fault.latency_ms / 1000):
            # A reset (or shutdown) during the delay: the call belongs to the old registry.
            self._drop_connection(reset=False)
            return
        mode = fault.mode if fault is not None else "none"
        answer: Answer | None = None
        identity = app_key
        if mode == "no_answer" and fault is not None and fault.apply_after_seconds is not None:
            # Late application: the answer is lost and the call takes effect only later.
            self._finish_call(path, query, identity, arrived, None, None, mode)
            if not released.wait(fault.apply_after_seconds):
                self._route(path, query, body, app_key)
                log.info("%s %s applied late", self.command, path)
            self._drop_connection(reset=False)
            return
        if mode == "none" or fault is None or fault.processed:
            identity, answer = self._route(path, query, body, app_key)
        if mode == "none" and answer is not None:
            self._send_json(answer.status, answer.body)
            self._finish_call(path, query, identity, arrived, answer.status, answer.code, None)
            return
        if mode == "http500":
            self._send_raw(500, HTML_500, "text/html", control=False)
            self._finish_call(path, query, identity, arrived, 500, None, mode)
        elif mode == "50252":
            self._send_json(500, PlatformAnswer(500, "50252").body())
            self._finish_call(path, query, identity, arrived, 500, "50252", mode)
        elif mode == "answer" and fault is not None and fault.answer is not None:
            self._send_json(fault.answer.status, fault.answer.body())
            self._finish_call(
                path, query, identity, arrived, fault.answer.status, fault.answer.code, mode
            )
        elif mode == "reset":
            self._finish_call(path, query, identity, arrived, None, None, mode)
            self._drop_connection(reset=True)
        elif mode == "no_answer":
            self._finish_call(path, query, identity, arrived, None, None, mode)
            released.wait(NO_ANSWER_HOLD_SECONDS)
            self._drop_connection(reset=False)

    def _finish_call(
        self,
        path: str,
        query: dict[str, str],
        app_key: str | None,
        arrived: float,
        status: int | None,
        code: str | None,
        fault: str | None,
    ) -> None:
        self.server.state.record_call(
            method=self.command,
            path=path,
            query={k: v for k, v in query.items()},
            app_key=app_key,
            arrived=arrived,
            status=status,
            code=code,
            fault=fault,
        )
        log.info(
            "%s %s %s %s%s",
            self.command,
            path,
            status if status is not None else "-",
            code or "-",
            f" fault={fault}" if fault else "",
        )

    def _route(
        self, path: str, query: dict[str, str], body: bytes, app_key: str | None
    ) -> tuple[str | None, Answer]:
        """(the app the call counts against, the answer)."""
        state = self.server.state
        method = self.command
        app_id: str | None = None
        try:
            if path == LOGIN and method == "POST":
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                app_id = form.get("appId")
                state.admit(app_id or "")
                return app_id, Answer(200, state.login(app_id, form.get("secret")))
            if path == REFRESH and method == "POST":
                data = _json(body)
                app_id = data.get("appId") if isinstance(data, dict) else None
                app_id = app_id if isinstance(app_id, str) else None
                state.admit(app_id or "")
                return app_id, Answer(200, state.refresh_token(data))
        except PlatformAnswer as exc:
            return app_id, Answer.error(exc)
        try:
            handler = self._app_route(path, method)
            if handler is None:
                return app_key, Answer(
                    404,
                    {"error_code": "100007", "error_desc": f"No such API: {method} {path}"},
                    "100007",
                )
            if not app_key:
                raise PlatformAnswer(401, "100025")
            state.admit(app_key)
            caller = state.authenticate(app_key, self.headers.get("Authorization"))
            return app_key, handler(caller, path, query, body)
        except PlatformAnswer as exc:
            return app_key, Answer.error(exc)

    def _app_route(self, path: str, method: str) -> Any:
        state = self.server.state
        routes: dict[tuple[str, str], Any] = {
            (CREDENTIALS, "POST"): lambda c, p, q, b: Answer(
                200, state.register_device(c, q.get("appId"), _json(b))
            ),
            (DEVICES, "GET"): lambda c, p, q, b: Answer(200, state.list_devices(c, q)),
            (SUBSCRIPTIONS, "POST"): lambda c, p, q, b: Answer(201, state.subscribe(c, _json(b))),
            (SUBSCRIPTIONS, "GET"): lambda c, p, q, b: Answer(200, state.list_subscriptions(c, q)),
        }

        def unsubscribe_batch(c: App, p: str, q: dict[str, str], b: bytes) -> Answer:
            state.delete_subscriptions(c, q)
            return Answer(204)

        routes[(SUBSCRIPTIONS, "DELETE")] = unsubscribe_batch
        if (path.rstrip("/") or path, method) in routes:
            return routes[(path.rstrip("/"), method)]
        if path.startswith(CREDENTIALS + "/"):
            device_id = unquote(path[len(CREDENTIALS) + 1 :])
            if method == "PUT":
                return lambda c, p, q, b: Answer(
                    200, state.refresh_device_key(c, device_id, q.get("appId"), _json(b))
                )
            if method == "GET":
                return lambda c, p, q, b: Answer(
                    200, state.activation_status(c, device_id, q.get("appId"))
                )
        if path.startswith(DEVICES + "/"):
            device_id = unquote(path[len(DEVICES) + 1 :])
            if method == "GET":
                return lambda c, p, q, b: Answer(
                    200, state.get_device(c, device_id, q.get("appId"))
                )
            if method == "PUT":

                def modify(c: App, p: str, q: dict[str, str], b: bytes) -> Answer:
                    state.modify_device(c, device_id, q.get("appId"), _json(b))
                    return Answer(204)

                return modify
            if method == "DELETE":

                def delete(c: App, p: str, q: dict[str, str], b: bytes) -> Answer:
                    state.delete_device(c, device_id, q.get("appId"))
                    return Answer(204)

                return delete
        if path.startswith(SUBSCRIPTIONS + "/") and method == "GET":
            sub_id = unquote(path[len(SUBSCRIPTIONS) + 1 :])
            return lambda c, p, q, b: Answer(200, state.get_subscription(c, sub_id))
        if path.startswith(SUBSCRIPTIONS + "/") and method == "DELETE":
            sub_id = unquote(path[len(SUBSCRIPTIONS) + 1 :])

            def unsubscribe(c: App, p: str, q: dict[str, str], b: bytes) -> Answer:
                state.delete_subscription(c, sub_id)
                return Answer(204)

            return unsubscribe
        return None

    # ------------------------------------------------------------------ control endpoints
    def _control(self, path: str, query: dict[str, str], body: bytes) -> None:
        state = self.server.state
        pusher = self.server.pusher
        method = self.command
        status = 200
        try:
            data = _json(body) if body else {}
        except PlatformAnswer:
            self._send_json(400, {"error": "body must be JSON"}, control=True)
            return
        try:
            result: Any
            match (method, path):
                case ("GET", "/simulator/health"):
                    result = {"ok": True, "note": CONTROL_NOTE}
                case ("POST", "/simulator/reset"):
                    pusher.reset()
                    state.reset()
                    result = {"ok": True}
                case ("GET", "/simulator/calls"):
                    since = query.get("since")
                    result = {"calls": state.calls_json(since=float(since) if since else None)}
                case ("GET", "/simulator/journal"):
                    result = {"refreshes": state.journal_json()}
                case ("GET", "/simulator/faults"):
                    result = state.faults.as_json()
                case ("POST", "/simulator/faults"):
                    result = state.set_faults(data)
                case ("POST", "/simulator/invalidate-tokens"):
                    result = {"invalidated": state.invalidate_tokens()}
                case ("POST", "/simulator/flow-limit"):
                    limit = data.get("limit") if isinstance(data, dict) else None
                    result = {"limit": state.set_flow_limit(limit)}
                case ("POST", "/simulator/bind"):
                    if not isinstance(data, dict):
                        raise ControlError("body must be a JSON object")
                    push_device_info = data.get("pushDeviceInfo", True)
                    if not isinstance(push_device_info, bool):
                        raise ControlError("pushDeviceInfo must be true or false")
                    bound, result = state.bind(
                        data.get("nodeId"),
                        data.get("verifyCode"),
                        push_device_info=push_device_info,
                    )
                    status = 200 if bound else 400
                    log.info("device-side bind: %s", "bound" if bound else result["error"])
                case ("GET", "/simulator/devices"):
                    result = {"devices": state.control_devices(query)}
                case ("POST", "/simulator/expire-bindings"):
                    result = {"expired": state.expire_all_bindings()}
                case ("GET", "/simulator/pushes"):
                    result = {"pushes": pusher.records(), "pending": pusher.pending()}
                case ("GET", _) if device_path := CONTROL_DEVICE.match(path):
                    result = state.control_device(unquote(device_path[1]))
                    if result is None:
                        status, result = 404, {"error": "no such device"}
                case ("POST", _) if device_path := CONTROL_DEVICE.match(path):
                    result = state.control_set_device(unquote(device_path[1]), data)
                    if result is None:
                        status, result = 404, {"error": "no such device"}
                case _:
                    status, result = 404, {"error": f"no control endpoint {method} {path}"}
        except (ControlError, ValueError) as exc:
            status, result = 400, {"error": str(exc)}
        self._send_json(status, result, control=True)
        log.debug("control %s %s %s", method, path, status)


def _json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PlatformAnswer(400, "100007") from None


class Simulator:
    """The running simulator: state, pusher, the expiry thread and the HTTP(S) server."""

    def __init__(
        self,
        config: Config,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        push_retry_seconds: float,
    ) -> None:
        self.state = PlatformState(config)
        self.pusher = Pusher(
            retry_seconds=push_retry_seconds,
            urls_for=self.state.callback_urls,
            duplicates=self.state.duplicate_pushes,
        )
        self.state.set_push_sink(self.pusher.notify)
        self.server = SimulatorServer(
            (host, port), state=self.state, pusher=self.pusher, ssl_context=ssl_context
        )
        self._stop = threading.Event()
        self._lapser = threading.Thread(target=self._lapse_loop, name="lapse", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _lapse_loop(self) -> None:
        while not self._stop.wait(LAPSE_INTERVAL):
            try:
                self.state.lapse_expired()
            except Exception:
                log.exception("lapsing bindings failed")

    def serve_forever(self) -> None:
        self._lapser.start()
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self._stop.set()
            self.state.released.set()
            self.pusher.stop()
            self.server.server_close()

    def shutdown(self) -> None:
        """Safe from a signal handler: stops serve_forever from another thread."""
        self.state.released.set()
        threading.Thread(target=self.server.shutdown, daemon=True).start()


def make_ssl_context(*, cert: str, key: str, ca: str, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca)
    return context
