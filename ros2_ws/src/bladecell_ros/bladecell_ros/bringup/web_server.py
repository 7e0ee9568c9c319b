"""The records API and web pages served beside a running cell (`bladecell up --sim --serve PORT`), with
the ROS cell link, so the station page's e-stop/reset/resume act on this cell."""

from __future__ import annotations

import threading
import time
from typing import Any

from bladecell_ros.transport.web_cell_link import RosCellLink


class CellWebServer:
    """uvicorn on a thread of the `up` process; `stop` ends it."""

    def __init__(self, client: Any, host: str, port: int) -> None:
        import uvicorn

        from database.api import create_app

        app = create_app(cell_link=RosCellLink(client))
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="web-server", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start on {self.url} (port in use?)")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
