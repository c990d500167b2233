"""`python -m simulator [options]` serves the platform; `python -m simulator bind ...` plays the
new unit connecting with its nodeId and verifyCode (an NB-IoT unit presents no code)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from simulator.certs import ensure_certificates
from simulator.server import Simulator, make_ssl_context
from simulator.state import Config


def serve_parser() -> argparse.ArgumentParser:
    defaults = Config()
    p = argparse.ArgumentParser(
        prog="python -m simulator",
        description="OceanConnect northbound API simulator (for tests and demos only). "
        "Sub-command: `python -m simulator bind --url URL NODE_ID [VERIFY_CODE]`.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8743)
    p.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    p.add_argument("--cert-dir", default="var/simulator", help="where the CA and certs are kept")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument(
        "--server-cert",
        default=None,
        help="serve this certificate (PEM, chain allowed) instead of the generated server.pem; "
        "tests: an expired CA, a certificate for another name (needs --server-key)",
    )
    p.add_argument("--server-key", default=None, help="the key of --server-cert (PEM)")
    p.add_argument(
        "--client-ca",
        default=None,
        help="with --require-client-cert: trust client certificates from this CA (PEM) instead "
        "of the generated ca.pem",
    )
    p.add_argument("--app-id", default=defaults.app_id)
    p.add_argument("--app-secret", default=defaults.app_secret)
    p.add_argument("--second-app-id", default=defaults.second_app_id)
    p.add_argument("--second-app-secret", default=defaults.second_app_secret)
    p.add_argument("--flow-limit", type=_positive_int, default=defaults.flow_limit)
    p.add_argument(
        "--flow-window-seconds",
        type=float,
        default=defaults.flow_window_seconds,
        help="length of the sliding flow-control window (60 on the platform)",
    )
    p.add_argument("--token-ttl", type=_positive_int, default=defaults.token_ttl)
    p.add_argument("--devices", type=_non_negative_int, default=defaults.devices)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--generated-devices",
        type=_non_negative_int,
        default=defaults.generated_devices,
        help="this many more devices of our app, made on demand (large-scale sync runs)",
    )
    p.add_argument("--push-retry-seconds", type=float, default=600.0)
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    p.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="shut down when the process that started us goes away (test fixtures)",
    )
    p.add_argument(
        "--startup-delay",
        type=float,
        default=0.0,
        help="tests: pause this many seconds during start-up (a slow start on a loaded machine)",
    )
    return p


def bind_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulator bind",
        description="Play the new unit: connect with NODE_ID and VERIFY_CODE. An NB-IoT unit "
        "(protocolType CoAP or LWM2M) attaches with its IMEI and presents no code: leave "
        "VERIFY_CODE out; it binds only when the pending verifyCode is its nodeId. Any other unit "
        "(MQTT, HTTP) must present the pending verifyCode.",
    )
    p.add_argument("--url", default="https://127.0.0.1:8743", help="the simulator's base URL")
    p.add_argument("--ca-file", default=None, help="CA bundle for HTTPS (the simulator's ca.pem)")
    p.add_argument("--client-cert", default=None, help="client certificate (PEM)")
    p.add_argument("--client-key", default=None, help="client key (PEM)")
    p.add_argument("node_id", metavar="NODE_ID")
    p.add_argument(
        "verify_code",
        metavar="VERIFY_CODE",
        nargs="?",
        default=None,
        help="the code the unit presents (none for an NB-IoT unit)",
    )
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def serve(argv: list[str], *, parent_pid: int) -> int:
    """`parent_pid`: the process that started us, noted before anything slow could happen."""
    args = serve_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    config = Config(
        app_id=args.app_id,
        app_secret=args.app_secret,
        second_app_id=args.second_app_id,
        second_app_secret=args.second_app_secret,
        flow_limit=args.flow_limit,
        flow_window_seconds=args.flow_window_seconds,
        token_ttl=args.token_ttl,
        devices=args.devices,
        seed=args.seed,
        generated_devices=args.generated_devices,
    )
    ssl_context = None
    cert_dir = Path(args.cert_dir).resolve()
    if bool(args.server_cert) != bool(args.server_key):
        print("simulator: --server-cert and --server-key go together", file=sys.stderr)
        return 2
    if not args.http:
        paths = ensure_certificates(cert_dir, client_cn=args.app_id)
        try:
            ssl_context = make_ssl_context(
                cert=args.server_cert or str(paths.server_cert),
                key=args.server_key or str(paths.server_key),
                ca=args.client_ca or str(paths.ca),
                require_client_cert=args.require_client_cert,
            )
        except (OSError, ssl.SSLError) as exc:
            print(f"simulator: cannot use the TLS certificate files: {exc}", file=sys.stderr)
            return 2
    try:
        sim = Simulator(
            config,
            host=args.host,
            port=args.port,
            ssl_context=ssl_context,
            push_retry_seconds=args.push_retry_seconds,
        )
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        print(f"simulator: {signal.Signals(signum).name}, shutting down", flush=True)
        sim.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.startup_delay > 0:
        print(f"simulator: start-up delayed {args.startup_delay:g}s", file=sys.stderr, flush=True)
        time.sleep(args.startup_delay)
    if args.exit_with_parent:
        _watch_parent(sim, parent_pid)

    scheme = "http" if args.http else "https"
    host = f"[{args.host}]" if ":" in args.host else args.host
    tls = (
        "plain HTTP"
        if args.http
        else ("HTTPS, client certificate required" if args.require_client_cert else "HTTPS")
    )
    print(f"OceanConnect simulator serving {scheme}://{host}:{sim.port} ({tls})", flush=True)
    if args.http:
        print("certificates: none (plain HTTP)", flush=True)
    else:
        print(
            f"certificates in {cert_dir}: ca.pem, server.pem, server-key.pem, "
            "client.pem, client-key.pem",
            flush=True,
        )
        if args.server_cert:
            print(f"serving the server certificate {args.server_cert}", flush=True)
        if args.client_ca:
            print(f"client certificates trusted from {args.client_ca}", flush=True)
    print(
        f"apps: {config.app_id} (ours), {config.second_app_id} (authorizes ours), "
        f"{config.foreign_app_id} (authorizes nobody); {config.devices} demo devices "
        f"(seed {config.seed}) and {config.generated_devices} generated; "
        f"flow limit {config.flow_limit}/{config.flow_window_seconds:g}s; "
        f"token ttl {config.token_ttl}s",
        flush=True,
    )
    print(
        "control endpoints under /simulator/ (health, reset, calls, faults, bind, devices, "
        "pushes, ...) are for tests and demos only: never part of a real platform",
        flush=True,
    )
    sim.serve_forever()
    print("simulator: stopped", flush=True)
    return 0


def _watch_parent(sim: Simulator, parent: int) -> None:
    """A killed test run must not leave its simulator behind: follow the parent out.

    `parent` was noted when the process started: read here, after a slow start-up, it would
    already be init's pid if the parent died meanwhile, and the simulator would never leave.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        print("simulator: parent process gone, shutting down", flush=True)
        sim.shutdown()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def bind(argv: list[str]) -> int:
    args = bind_parser().parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        print("bind: --url must start with http:// or https://", file=sys.stderr)
        return 2
    url = args.url.rstrip("/") + "/simulator/bind"
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context(cafile=args.ca_file)
        if args.client_cert:
            context.load_cert_chain(args.client_cert, args.client_key)
    payload = {"nodeId": args.node_id}
    if args.verify_code is not None:
        payload["verifyCode"] = args.verify_code
    data = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked upstream
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as answer:  # noqa: S310
            body = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {"error": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        print(f"bind: cannot reach the simulator at {args.url}: {exc}", file=sys.stderr)
        return 2
    if body.get("bound"):
        print(f"bound: device {body.get('deviceId')} is now online as {args.node_id}")
        return 0
    print(f"not bound: {body.get('error', 'unknown reason')}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parent_pid = os.getppid()  # first: the parent may die while we start up
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bind":
        return bind(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return serve(argv, parent_pid=parent_pid)


if __name__ == "__main__":
    sys.exit(main())
