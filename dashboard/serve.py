"""Start the dashboard with its heavy parts loaded before the first visitor arrives.

``streamlit run`` executes ``dashboard/app.py`` in the server process on the first page load,
so that visit paid for importing pandas, pyarrow, DuckDB and Streamlit's chart and table
elements. This launcher does that work at start-up, then
hands over to Streamlit's own command line in the same process: ``python -m dashboard.serve
[streamlit run options]`` (what ``make dashboard`` runs).
"""

from __future__ import annotations

import http.client
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
REPO_ROOT = APP.parent.parent


def warm_up() -> None:
    """Import what app.py imports and serialise one small frame as Streamlit does (Arrow)."""
    import duckdb  # noqa: F401
    import pandas as pd
    import streamlit.elements.vega_charts  # noqa: F401
    from streamlit import dataframe_util

    from dashboard import kpis, queries  # noqa: F401

    frame = pd.DataFrame({"month": ["2024-01"], "amount": [1.0]})
    dataframe_util.convert_anything_to_arrow_bytes(frame)
    # Streamlit's first element of a run checks whether it runs in a REPL with
    # inspect.stack(), whose first call maps every loaded module to its file (0.12 s).
    # inspect caches that map, so a call here moves the cost out of the first visit.
    inspect.stack()


def send_small_writes_at_once() -> None:
    """Turn off Nagle's algorithm on the dashboard's connections (TCP_NODELAY).

    Streamlit 1.67 binds its listening socket as ``socket.socket(family)``, so accepted
    sockets report protocol 0 and asyncio's transport skips the TCP_NODELAY it sets on TCP
    sockets. Each response is written as headers, then body; with Nagle on, the body waits
    for the browser's delayed ACK of the headers, 40 ms on Linux, on every request after a
    connection's first. A first visit fetches about 120 static files over six connections;
    with the option its page load event comes about 0.25 s sooner (0.63 s instead of
    0.85-0.9 s on the build machine). Sockets accepted on Linux inherit the option from the
    listening socket, so it is set there.
    """
    from streamlit.web.server.starlette import starlette_server

    bind = getattr(starlette_server, "_bind_socket", None)
    if bind is None:  # a Streamlit that binds its socket another way: leave it as it is
        return

    def bind_without_delay(address: str, port: int, backlog: int) -> socket.socket:
        sock: socket.socket = bind(address, port, backlog)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    starlette_server._bind_socket = bind_without_delay


def main(argv: Sequence[str] | None = None) -> None:
    warm_up()
    send_small_writes_at_once()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/_stcore/health")
        return connection.getresponse().read().decode().strip() == "ok"
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def serving(warehouse: Path, log: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run the dashboard (as `make dashboard` does) over ``warehouse`` on a free local port;
    yield its URL once Streamlit reports healthy; stop it on exit. Output goes to ``log``."""
    port = free_port()
    env = {
        **os.environ,
        "RCM_WAREHOUSE_PATH": str(warehouse),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    command = [
        sys.executable,
        "-m",
        "dashboard.serve",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {process.returncode}: see {log}")
            if _healthy(port):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard was not healthy after {timeout:.0f} s: {log}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
